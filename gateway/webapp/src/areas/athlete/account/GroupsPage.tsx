// My groups (GET /v1/groups), invitations to coach one (GET /v1/invitations, accept or
// decline), and leaving a group (POST /v1/groups/{id}/leave: your consents to it end).
// As an athlete, a group's coaches see your data only through your consents; as a coach,
// you see the athletes who consent (the coach area has the members).

import { useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { Alert, Page, useErrorText } from '../../../core/ui';
import { usePaged } from './paged';

export interface Group { id: string; name: string; sport: string; role: string; joined_at: string }
interface Invitation { id: string; group_id: string; group_name: string; role: string; created_at: string; status: string }

export function GroupsPage() {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const groups = usePaged<Group>('/v1/groups');
  const invitations = usePaged<Invitation>('/v1/invitations');
  const [leaving, setLeaving] = useState<Group | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const groupsHeading = useRef<HTMLHeadingElement>(null);

  /** The API's refusal as people read it: by its code where we know it. */
  const refusal = (err: unknown) => {
    const code = err instanceof ApiError ? err.code : '';
    if (code === 'last_coach') return t('account.groups.lastCoach');
    if (code === 'not_found') return t('account.groups.gone');
    return errorText(err);
  };

  async function answer(inv: Invitation, accept: boolean) {
    setMessage(null);
    try {
      await api('POST', `/v1/invitations/${inv.id}/${accept ? 'accept' : 'decline'}`);
      setMessage({ kind: 'ok', text: t(accept ? 'account.groups.accepted' : 'account.groups.declined', { name: inv.group_name }) });
    } catch (err) {
      setMessage({ kind: 'error', text: refusal(err) });
    }
    invitations.reload();
    groups.reload();
    groupsHeading.current?.focus();
  }

  async function leave(g: Group) {
    setLeaving(null);
    setMessage(null);
    try {
      await api('POST', `/v1/groups/${g.id}/leave`);
      setMessage({ kind: 'ok', text: t('account.groups.left', { name: g.name }) });
    } catch (err) {
      setMessage({ kind: 'error', text: refusal(err) });
    }
    groups.reload();
    groupsHeading.current?.focus();
  }

  const pending = invitations.items?.filter((i) => i.status === 'pending') ?? [];
  return (
    <Page title={t('account.groups.title')}>
      <p className="hint">{t('account.groups.intro')}</p>
      {invitations.error ? <Alert>{errorText(invitations.error)}</Alert> : null}
      {pending.length > 0 ? (
        <section className="card" aria-labelledby="invitations-heading">
          <h2 id="invitations-heading">{t('account.groups.invitations')}</h2>
          <ul className="plain">
            {pending.map((inv) => (
              <li key={inv.id} className="account-invitation">
                <p>{t('account.groups.invitedAs', { name: inv.group_name, role: t(`account.role.${inv.role}`) })}
                  {' '}<span className="hint">{fmtDateTime(inv.created_at, locale)}</span></p>
                <div className="row">
                  <button type="button" className="primary" onClick={() => void answer(inv, true)}
                    aria-label={t('account.groups.acceptNamed', { name: inv.group_name })}>{t('account.groups.accept')}</button>
                  <button type="button" className="secondary" onClick={() => void answer(inv, false)}
                    aria-label={t('account.groups.declineNamed', { name: inv.group_name })}>{t('account.groups.decline')}</button>
                </div>
              </li>
            ))}
          </ul>
          {invitations.more ? <button type="button" className="secondary" onClick={invitations.loadMore}>{t('common.more')}</button> : null}
        </section>
      ) : null}
      <section className="card" aria-labelledby="groups-heading">
        <h2 id="groups-heading" ref={groupsHeading} tabIndex={-1}>{t('account.groups.mine')}</h2>
        {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
        {groups.error ? <Alert>{errorText(groups.error)}</Alert> : null}
        {groups.items === null ? (groups.error ? null : <p role="status" className="hint">{t('common.loading')}</p>)
          : groups.items.length === 0 ? <p>{t('account.groups.none')}</p> : (
            <div className="table-wrap account-table">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('account.groups.name')}</th>
                    <th scope="col">{t('account.groups.sport')}</th>
                    <th scope="col">{t('account.groups.role')}</th>
                    <th scope="col">{t('account.groups.joined')}</th>
                    <th scope="col"><span className="visually-hidden">{t('account.actions')}</span></th>
                  </tr>
                </thead>
                <tbody>
                  {groups.items.map((g) => (
                    <tr key={g.id}>
                      <th scope="row">{g.name}</th>
                      <td>{t(`account.sport.${g.sport}`)}</td>
                      <td><span className="badge">{t(`account.role.${g.role}`)}</span></td>
                      <td>{fmtDateTime(g.joined_at, locale)}</td>
                      <td className="account-cell-actions">
                        {g.role === 'athlete' ? (
                          <Link to={`/app/consents?group=${encodeURIComponent(g.id)}`} className="button">
                            {t('account.groups.share')}<span className="visually-hidden"> — {g.name}</span></Link>
                        ) : null}
                        <button type="button" className="danger" onClick={() => setLeaving(g)}
                          aria-label={t('account.groups.leaveNamed', { name: g.name })}>{t('account.groups.leave')}</button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        {groups.more ? <button type="button" className="secondary" onClick={groups.loadMore}>{t('common.more')}</button> : null}
        {leaving ? (
          <div className="account-confirm" role="group" aria-labelledby="leave-ask">
            <p id="leave-ask">{t(leaving.role === 'coach' ? 'account.groups.leaveAskCoach' : 'account.groups.leaveAsk',
              { name: leaving.name })}</p>
            <div className="row">
              <button type="button" className="danger" autoFocus onClick={() => void leave(leaving)}>
                {t('account.groups.leaveConfirm')}</button>
              <button type="button" className="secondary"
                onClick={() => { setLeaving(null); groupsHeading.current?.focus(); }}>{t('common.cancel')}</button>
            </div>
          </div>
        ) : null}
      </section>
    </Page>
  );
}
