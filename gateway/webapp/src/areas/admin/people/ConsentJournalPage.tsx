// The consent journal of every athlete (`ConsentJournal`): each grant and withdrawal, who
// made it, for which group and purpose, under which policy version. Filters live in the
// address, so a view of one athlete or group can be linked to.

import { type FormEvent, useState } from 'react';
import { isUuid, localToIso, useUrlFilters, variablesOf } from '../../../core/filters';
import { fmtDateTime } from '../../../core/format';
import { usePagedQuery } from '../../../core/graphqlPaged';
import { useI18n } from '../../../core/i18n';
import { PagedList } from '../../../core/PagedList';
import { Link } from '../../../core/router';
import { Field, Page, Select } from '../../../core/ui';
import { ShortId } from './ShortId';
import './messages';
import { useRefusal } from './refusal';
import type { JournalEntry } from './types';

const KEYS = ['athlete', 'group', 'action', 'scope', 'since', 'until'] as const;
type Errors = Partial<Record<typeof KEYS[number], string>>;

export function ConsentJournalPage() {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const filters = useUrlFilters(KEYS);
  const [errors, setErrors] = useState<Errors>({});
  const a = filters.applied;
  const journal = usePagedQuery<JournalEntry>('ConsentJournal', 'consentJournal', {
    ...variablesOf({ athleteId: a.athlete, groupId: a.group }),
    action: a.action ? a.action.toUpperCase() : null, scope: a.scope ? a.scope.toUpperCase() : null,
    since: localToIso(a.since), until: localToIso(a.until),
  }, !(a.athlete && !isUuid(a.athlete)) && !(a.group && !isUuid(a.group)));

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    const d = filters.draft;
    const found: Errors = {};
    if (d.athlete.trim() && !isUuid(d.athlete)) found.athlete = t('admin.filter.badId');
    if (d.group.trim() && !isUuid(d.group)) found.group = t('admin.filter.badId');
    setErrors(found);
    if (Object.keys(found).length === 0) filters.apply();
  };
  const who = (id: string | null) => (id ? <Link to={`/app/admin/users/${id}`}><ShortId id={id} /></Link> : '–');
  return (
    <Page title={t('admin.consents.title')}>
      <p className="hint">{t('admin.consents.intro')}</p>
      <form className="card admin-filters" onSubmit={submit} aria-label={t('admin.filter.label')}>
        <div className="admin-filter-grid">
          <Field label={t('admin.consents.athlete')} hint={t('admin.filter.idHint')} value={filters.draft.athlete}
            error={errors.athlete} onChange={(e) => filters.set('athlete', e.target.value)} autoComplete="off" />
          <Field label={t('admin.consents.group')} hint={t('admin.filter.idHint')} value={filters.draft.group}
            error={errors.group} onChange={(e) => filters.set('group', e.target.value)} autoComplete="off" />
          <Select label={t('admin.consents.action')} value={filters.draft.action} onChange={(v) => filters.set('action', v)}
            options={[['', t('admin.filter.any')], ['granted', t('admin.consents.action.granted')],
              ['withdrawn', t('admin.consents.action.withdrawn')]]} />
          <Select label={t('admin.consents.scope')} value={filters.draft.scope} onChange={(v) => filters.set('scope', v)}
            options={[['', t('admin.filter.any')], ['live', t('admin.consents.scope.live')],
              ['history', t('admin.consents.scope.history')],
              ['health_processing', t('admin.consents.scope.health_processing')],
              ['guardian', t('admin.consents.scope.guardian')]]} />
          <Field label={t('admin.filter.since')} type="datetime-local" value={filters.draft.since}
            onChange={(e) => filters.set('since', e.target.value)} />
          <Field label={t('admin.filter.until')} hint={t('admin.filter.untilHint')} type="datetime-local"
            value={filters.draft.until} onChange={(e) => filters.set('until', e.target.value)} />
        </div>
        <div className="row">
          <button type="submit" className="primary">{t('admin.filter.apply')}</button>
          <button type="button" className="secondary" onClick={() => { setErrors({}); filters.clear(); }}>
            {t('admin.filter.clear')}</button>
        </div>
      </form>
      <section className="card" aria-labelledby="consents-list">
        <h2 id="consents-list">{t('admin.consents.list')}</h2>
        <PagedList paged={journal} empty={t('admin.consents.none')} errorText={refusal}>
          {(items) => (
            <div className="table-wrap admin-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('admin.when')}</th>
                    <th scope="col">{t('admin.consents.athlete')}</th>
                    <th scope="col">{t('admin.consents.action')}</th>
                    <th scope="col">{t('admin.consents.scope')}</th>
                    <th scope="col">{t('admin.consents.group')}</th>
                    <th scope="col">{t('admin.consents.purpose')}</th>
                    <th scope="col">{t('admin.consents.policy')}</th>
                    <th scope="col">{t('admin.consents.by')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((e) => (
                    <tr key={e.id}>
                      <th scope="row">{fmtDateTime(e.at, locale)}</th>
                      <td>{who(e.athleteId)}</td>
                      <td><span className="badge">{t(`admin.consents.action.${e.action}`)}</span></td>
                      <td>{t(`admin.consents.scope.${e.scope}`)}</td>
                      <td>{e.groupId ? <Link to={`/app/admin/groups/${e.groupId}`}><ShortId id={e.groupId} /></Link> : '–'}</td>
                      <td>{e.purpose}</td>
                      <td>{e.policyVersion}</td>
                      <td>{e.actorId === e.athleteId ? t('admin.consents.self') : who(e.actorId)}</td>
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
