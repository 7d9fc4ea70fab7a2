// Your open sessions (GET /v1/sessions): where you are signed in, this one marked. Ending
// another one signs that browser or app out at once; ending this one is signing out.

import { useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { useSession } from '../../../core/session';
import { Alert, useErrorText } from '../../../core/ui';
import { AccountPage } from './AccountShell';
import { usePaged } from './paged';

interface SessionRow { id: string; created_at: string; last_seen_at: string; expires_at: string; current: boolean }

export function SessionsPage() {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const { signOut } = useSession();
  const sessions = usePaged<SessionRow>('/v1/sessions');
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  async function end(s: SessionRow) {
    setMessage(null);
    try {
      await api('DELETE', `/v1/sessions/${s.id}`);
      setMessage({ kind: 'ok', text: t('account.sessions.ended') });
    } catch (err) {
      const gone = err instanceof ApiError && err.code === 'not_found';
      setMessage({ kind: 'error', text: gone ? t('account.sessions.gone') : errorText(err) });
    }
    sessions.reload();
    heading.current?.focus();
  }

  const when = (iso: string) => fmtDateTime(iso, locale);
  return (
    <AccountPage title={t('account.sessions.title')}>
      <p className="hint">{t('account.sessions.intro')}</p>
      <section className="card" aria-labelledby="sessions-list">
        <h2 id="sessions-list" ref={heading} tabIndex={-1}>{t('account.sessions.list')}</h2>
        {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
        {sessions.error ? <Alert>{errorText(sessions.error)}</Alert> : null}
        {sessions.items === null ? (sessions.error ? null : <p role="status" className="hint">{t('common.loading')}</p>) : (
          <div className="table-wrap account-table">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('account.sessions.started')}</th>
                  <th scope="col">{t('account.sessions.seen')}</th>
                  <th scope="col">{t('account.sessions.expires')}</th>
                  <th scope="col"><span className="visually-hidden">{t('account.actions')}</span></th>
                </tr>
              </thead>
              <tbody>
                {sessions.items.map((s) => (
                  <tr key={s.id} className={s.current ? 'account-current' : undefined}>
                    <th scope="row">
                      {when(s.created_at)}
                      {s.current ? <> <span className="badge">{t('account.sessions.this')}</span></> : null}
                    </th>
                    <td>{when(s.last_seen_at)}</td>
                    <td>{when(s.expires_at)}</td>
                    <td>
                      {s.current ? (
                        <button type="button" className="secondary" onClick={() => void signOut()}>
                          {t('session.signOut')}</button>
                      ) : (
                        <button type="button" className="danger" onClick={() => void end(s)}
                          aria-label={t('account.sessions.endNamed', { when: when(s.created_at) })}>
                          {t('account.sessions.end')}</button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {sessions.more ? <button type="button" className="secondary" onClick={sessions.loadMore}>{t('common.more')}</button> : null}
      </section>
    </AccountPage>
  );
}
