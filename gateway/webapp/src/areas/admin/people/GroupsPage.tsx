// Every group, newest first, found by name (`Groups`); each opens its members. The search is
// in the address (?q=…).

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
import type { Group } from './types';

const KEYS = ['q'] as const;

export function GroupsPage() {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const filters = useUrlFilters(KEYS);
  const groups = usePagedQuery<Group>('Groups', 'groups', { search: filters.applied.q.trim() || null });

  const submit = (ev: FormEvent) => { ev.preventDefault(); filters.apply(); };
  return (
    <Page title={t('admin.groups.title')}>
      <form role="search" className="row card" onSubmit={submit} aria-label={t('admin.groups.searchLabel')}>
        <Field label={t('admin.groups.search')} type="search" value={filters.draft.q}
          onChange={(e) => filters.set('q', e.target.value)} maxLength={200} />
        <div className="field"><button type="submit" className="primary">{t('admin.search')}</button></div>
      </form>
      <section className="card" aria-labelledby="groups-found">
        <h2 id="groups-found">{filters.applied.q ? t('admin.groups.found', { q: filters.applied.q }) : t('admin.groups.all')}</h2>
        <PagedList paged={groups} empty={t('admin.groups.none')} errorText={refusal}>
          {(items) => (
            <div className="table-wrap admin-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('admin.groups.name')}</th>
                    <th scope="col">{t('admin.groups.sport')}</th>
                    <th scope="col" className="num">{t('admin.groups.athletes')}</th>
                    <th scope="col" className="num">{t('admin.groups.coaches')}</th>
                    <th scope="col">{t('admin.groups.created')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((g) => (
                    <tr key={g.id}>
                      <th scope="row"><Link to={`/app/admin/groups/${g.id}`}>{g.name}</Link></th>
                      <td>{t(`admin.sport.${g.sport}`)}</td>
                      <td className="num">{g.athletes}</td>
                      <td className="num">{g.coaches}</td>
                      <td>{fmtDateTime(g.createdAt, locale)}</td>
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
