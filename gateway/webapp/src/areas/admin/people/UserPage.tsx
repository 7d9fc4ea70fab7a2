// One account (`UserDetail`): who it is and its state, its roles (grant, revoke), its open
// sessions on either gateway (end one), and locking it. Every change is audited by the API;
// the links at the top open the audit log on this account.

import { graphql } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { LoadState, Page, useLoad } from '../../../core/ui';
import { LockCard } from './LockCard';
import './messages';
import { RolesCard } from './RolesCard';
import { SessionsCard } from './SessionsCard';
import { fullName, type User } from './types';

export function UserPage({ id }: { id: string }) {
  const { t, locale } = useI18n();
  // The answer itself (not the user) is what loads, so a missing account is not "loading".
  const loaded = useLoad(() => graphql<{ user: User | null }>('UserDetail', { id }), [id]);
  const found = loaded.data?.user;
  const title = found ? found.email : loaded.data ? t('admin.user.missing') : t('admin.user.title');
  return (
    <Page title={title}>
      <p><Link to="/app/admin/users">{t('admin.user.back')}</Link></p>
      <LoadState loaded={loaded}>
        {({ user: u }) => (u === null ? <p>{t('admin.user.missingBody')}</p> : (
          <>
            <section className="card" aria-labelledby="user-facts">
              <h2 id="user-facts">{t('admin.user.facts')}</h2>
              <dl className="facts admin-facts">
                <dt>{t('admin.users.name')}</dt><dd>{fullName(u) || '–'}</dd>
                <dt>{t('admin.user.place')}</dt><dd>{[u.city, u.country].filter(Boolean).join(', ') || '–'}</dd>
                <dt>{t('admin.users.registered')}</dt><dd>{fmtDateTime(u.createdAt, locale)}</dd>
                <dt>{t('admin.users.mfa')}</dt><dd>{u.mfa ? t('common.yes') : t('common.no')}</dd>
                <dt>{t('admin.users.state')}</dt>
                <dd>{u.lockedAt ? t('admin.user.lockedSince', { when: fmtDateTime(u.lockedAt, locale) }) : t('admin.users.active')}</dd>
                <dt>{t('admin.user.id')}</dt><dd><code className="admin-id">{u.id}</code></dd>
              </dl>
              <ul className="admin-links">
                <li><Link to={`/app/admin/audit?target=${encodeURIComponent(`user:${u.id}`)}`}>{t('admin.user.auditOn')}</Link></li>
                <li><Link to={`/app/admin/audit?actor=${encodeURIComponent(u.id)}`}>{t('admin.user.auditBy')}</Link></li>
                <li><Link to={`/app/admin/consents?athlete=${encodeURIComponent(u.id)}`}>{t('admin.user.consents')}</Link></li>
              </ul>
            </section>
            <RolesCard user={u} onChanged={loaded.reload} />
            <LockCard user={u} onChanged={loaded.reload} />
            {/* Locking ends the sessions: the list starts over when the lock changes. */}
            <SessionsCard key={u.lockedAt ?? 'open'} user={u} />
          </>
        ))}
      </LoadState>
    </Page>
  );
}
