// An account's roles: grant one it lacks, revoke one it holds (after a confirmation). The API
// re-checks the account's open connections at once (gateway/access_watch.py).

import { type FormEvent, useRef, useState } from 'react';
import { graphql } from '../../../core/api';
import { Confirm } from '../../../core/Confirm';
import { useT } from '../../../core/i18n';
import { Alert, Select } from '../../../core/ui';
import { useRefusal } from './refusal';
import { ROLES, type User } from './types';

type Message = { kind: 'ok' | 'error'; text: string } | null;

export function RolesCard({ user, onChanged }: { user: User; onChanged: () => void }) {
  const t = useT();
  const refusal = useRefusal();
  const heading = useRef<HTMLHeadingElement>(null);
  const [message, setMessage] = useState<Message>(null);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const missing = ROLES.filter((r) => !user.roles.includes(r));
  const [chosen, setChosen] = useState('');
  const grant = missing.includes(chosen as typeof ROLES[number]) ? chosen : (missing[0] ?? '');
  const label = (role: string) => t(`admin.role.${role}`);

  async function change(operation: 'GrantRole' | 'RevokeRole', role: string) {
    setRevoking(null);
    setBusy(true);
    setMessage(null);
    try {
      await graphql(operation, { userId: user.id, role: role.toUpperCase() });
      setMessage({ kind: 'ok', text: t(operation === 'GrantRole' ? 'admin.roles.granted' : 'admin.roles.revoked',
        { role: label(role), email: user.email }) });
      onChanged();
    } catch (err) {
      setMessage({ kind: 'error', text: refusal(err) });
    } finally {
      setBusy(false);
      heading.current?.focus();
    }
  }

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    if (grant) void change('GrantRole', grant);
  };
  return (
    <section className="card" aria-labelledby="user-roles">
      <h2 id="user-roles" ref={heading} tabIndex={-1}>{t('admin.roles.title')}</h2>
      {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
      {user.roles.length === 0 ? <p>{t('admin.roles.none')}</p> : (
        <ul className="admin-roles">
          {user.roles.map((r) => (
            <li key={r}>
              <span className="badge admin-badge">{label(r)}</span>
              <button type="button" className="danger" disabled={busy} onClick={() => setRevoking(r)}
                aria-label={t('admin.roles.revokeNamed', { role: label(r) })}>{t('admin.roles.revoke')}</button>
            </li>
          ))}
        </ul>
      )}
      {revoking ? (
        <Confirm confirmLabel={t('admin.roles.revokeConfirm', { role: label(revoking) })}
          onConfirm={() => void change('RevokeRole', revoking)}
          onCancel={() => { setRevoking(null); heading.current?.focus(); }}>
          <p>{t('admin.roles.revokeAsk', { role: label(revoking), email: user.email })}</p>
        </Confirm>
      ) : null}
      {missing.length === 0 ? <p className="hint">{t('admin.roles.all')}</p> : (
        <form className="row" onSubmit={submit}>
          <Select label={t('admin.roles.grantLabel')} value={grant} onChange={setChosen}
            options={missing.map((r) => [r, label(r)])} />
          <div className="field">
            <button type="submit" className="primary" disabled={busy}>{t('admin.roles.grant')}</button>
          </div>
        </form>
      )}
    </section>
  );
}
