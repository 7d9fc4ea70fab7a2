// Every account, newest first, found by e-mail or name (the `SearchUsers` operation); each
// opens its page (roles, sessions, lock). The search is in the address (?q=…).

import type { FormEvent } from 'react';
import { useUrlFilters } from '../../../core/filters';
import { fmtDateTime } from '../../../core/format';
import { usePagedQuery } from '../../../core/graphqlPaged';
import { useI18n } from '../../../core/i18n';
import { PagedList } from '../../../core/PagedList';
import { Link } from '../../../core/router';
import { Field, Page } from '../../../core/ui';
import './messages';
import { useRefusal } from './refusal';
import { fullName, type User } from './types';

const KEYS = ['q'] as const;

export function UsersPage() {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const filters = useUrlFilters(KEYS);
  const users = usePagedQuery<User>('SearchUsers', 'users', { search: filters.applied.q.trim() || null });

  const submit = (ev: FormEvent) => { ev.preventDefault(); filters.apply(); };
  return (
    <Page title={t('admin.users.title')}>
      <form role="search" className="row card" onSubmit={submit} aria-label={t('admin.users.searchLabel')}>
        <Field label={t('admin.users.search')} hint={t('admin.users.searchHint')} type="search"
          value={filters.draft.q} onChange={(e) => filters.set('q', e.target.value)} maxLength={200} />
        <div className="field"><button type="submit" className="primary">{t('admin.search')}</button></div>
      </form>
      <section className="card" aria-labelledby="users-found">
        <h2 id="users-found">{filters.applied.q ? t('admin.users.found', { q: filters.applied.q }) : t('admin.users.all')}</h2>
        <PagedList paged={users} empty={t('admin.users.none')} errorText={refusal}>
          {(items) => (
            <div className="table-wrap admin-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('admin.users.email')}</th>
                    <th scope="col">{t('admin.users.name')}</th>
                    <th scope="col">{t('admin.users.roles')}</th>
                    <th scope="col">{t('admin.users.state')}</th>
                    <th scope="col">{t('admin.users.mfa')}</th>
                    <th scope="col">{t('admin.users.registered')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((u) => (
                    <tr key={u.id}>
                      <th scope="row"><Link to={`/app/admin/users/${u.id}`}>{u.email}</Link></th>
                      <td>{fullName(u) || '–'}</td>
                      <td>{u.roles.map((r) => <span key={r} className="badge admin-badge">{t(`admin.role.${r}`)}</span>)}</td>
                      <td>{u.lockedAt
                        ? <span className="badge admin-locked">{t('admin.users.locked')}</span>
                        : t('admin.users.active')}</td>
                      <td>{u.mfa ? t('common.yes') : t('common.no')}</td>
                      <td>{fmtDateTime(u.createdAt, locale)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </PagedList>
      </section>
    </Page>
  );
}
