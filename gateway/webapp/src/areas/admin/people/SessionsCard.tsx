// An account's open sessions on both gateways (`UserSessions`); ending one signs that browser
// or app out at once (`RevokeSession`, audited).

import { useRef, useState } from 'react';
import { graphql } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { usePagedQuery } from '../../../core/graphqlPaged';
import { useI18n } from '../../../core/i18n';
import { PagedList } from '../../../core/PagedList';
import { Alert } from '../../../core/ui';
import { useRefusal } from './refusal';
import type { Session, User } from './types';

export function SessionsCard({ user }: { user: User }) {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const heading = useRef<HTMLHeadingElement>(null);
  const sessions = usePagedQuery<Session>('UserSessions', 'userSessions', { userId: user.id });
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const when = (iso: string) => fmtDateTime(iso, locale);

  async function end(s: Session) {
    setBusy(s.id);
    setMessage(null);
    try {
      await graphql('RevokeSession', { userId: user.id, sessionId: s.id });
      setMessage({ kind: 'ok', text: t('admin.sessions.ended', { when: when(s.createdAt) }) });
    } catch (err) {
      setMessage({ kind: 'error', text: refusal(err) });
    } finally {
      setBusy(null);
      sessions.reload();
      heading.current?.focus();
    }
  }

  return (
    <section className="card" aria-labelledby="user-sessions">
      <h2 id="user-sessions" ref={heading} tabIndex={-1}>{t('admin.sessions.title')}</h2>
      <p className="hint">{t('admin.sessions.intro')}</p>
      {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
      <PagedList paged={sessions} empty={t('admin.sessions.none')} errorText={refusal}>
        {(items) => (
          <div className="table-wrap admin-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('admin.sessions.started')}</th>
                  <th scope="col">{t('admin.sessions.gateway')}</th>
                  <th scope="col">{t('admin.sessions.mfa')}</th>
                  <th scope="col">{t('admin.sessions.seen')}</th>
                  <th scope="col">{t('admin.sessions.expires')}</th>
                  <th scope="col"><span className="visually-hidden">{t('admin.actions')}</span></th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.id}>
                    <th scope="row">{when(s.createdAt)}</th>
                    <td>{t(`admin.sessions.audience.${s.audience}`)}</td>
                    <td>{s.mfaVerified ? t('common.yes') : t('common.no')}</td>
                    <td>{when(s.lastSeenAt)}</td>
                    <td>{when(s.expiresAt)}</td>
                    <td>
                      <button type="button" className="danger" disabled={busy !== null} onClick={() => void end(s)}
                        aria-label={t('admin.sessions.endNamed', { when: when(s.createdAt) })}>
                        {busy === s.id ? t('admin.working') : t('admin.sessions.end')}</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </PagedList>
    </section>
  );
}
