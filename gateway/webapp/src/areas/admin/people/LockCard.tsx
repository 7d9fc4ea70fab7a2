// Lock an account (a reason, then a confirmation): its sessions end at once and no login or
// token works on either gateway until it is unlocked. The reason goes into the audit log.

import { type FormEvent, useRef, useState } from 'react';
import { graphql } from '../../../core/api';
import { Confirm } from '../../../core/Confirm';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Alert, Field } from '../../../core/ui';
import { useRefusal } from './refusal';
import type { User } from './types';

const REASON_MAX = 500;

export function LockCard({ user, onChanged }: { user: User; onChanged: () => void }) {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const heading = useRef<HTMLHeadingElement>(null);
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | null>(null);
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const locked = user.lockedAt !== null;

  const ask = (ev: FormEvent) => {
    ev.preventDefault();
    setMessage(null);
    if (!locked && !reason.trim()) {
      setReasonError(t('admin.lock.reasonMissing'));
      document.getElementById('lock-reason')?.focus();
      return;
    }
    setReasonError(null);
    setAsking(true);
  };

  async function act() {
    setAsking(false);
    setBusy(true);
    try {
      if (locked) await graphql('UnlockUser', { userId: user.id });
      else await graphql('LockUser', { userId: user.id, reason: reason.trim() });
      setMessage({ kind: 'ok', text: t(locked ? 'admin.lock.unlocked' : 'admin.lock.locked', { email: user.email }) });
      setReason('');
      onChanged();
    } catch (err) {
      setMessage({ kind: 'error', text: refusal(err) });
    } finally {
      setBusy(false);
      heading.current?.focus();
    }
  }

  return (
    <section className="card" aria-labelledby="user-lock">
      <h2 id="user-lock" ref={heading} tabIndex={-1}>{t('admin.lock.title')}</h2>
      {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
      <p>{locked ? t('admin.user.lockedSince', { when: fmtDateTime(user.lockedAt, locale) }) : t('admin.lock.intro')}</p>
      <form onSubmit={ask}>
        {locked ? null : (
          <Field id="lock-reason" label={t('admin.lock.reason')} hint={t('admin.lock.reasonHint')} value={reason}
            onChange={(e) => setReason(e.target.value)} maxLength={REASON_MAX} error={reasonError}
            aria-required="true" autoComplete="off" />
        )}
        {asking ? null : (
          <button type="submit" className={locked ? 'primary' : 'danger'} disabled={busy}>
            {t(locked ? 'admin.lock.unlock' : 'admin.lock.lock')}</button>
        )}
      </form>
      {asking ? (
        <Confirm kind={locked ? 'primary' : 'danger'}
          confirmLabel={t(locked ? 'admin.lock.unlockConfirm' : 'admin.lock.lockConfirm')}
          onConfirm={() => void act()} onCancel={() => { setAsking(false); heading.current?.focus(); }}>
          <p>{t(locked ? 'admin.lock.unlockAsk' : 'admin.lock.lockAsk', { email: user.email })}</p>
          {locked ? null : <p>{t('admin.lock.reasonIs', { reason: reason.trim() })}</p>}
        </Confirm>
      ) : null}
      {busy ? <p role="status" className="hint">{t('admin.working')}</p> : null}
    </section>
  );
}
