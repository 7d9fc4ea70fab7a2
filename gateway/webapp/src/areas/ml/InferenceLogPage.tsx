// The inference log (`InferenceLog`): which model version answered, when, for whom, for which
// workout, and how fast — newest first, filtered, a page at a time. Inputs and outputs are
// health-derived and are not shown (the API does not carry them). Filters live in the address.

import { type FormEvent, useState } from 'react';
import { isUuid, localToIso, useUrlFilters, variablesOf } from '../../core/filters';
import { fmtDateTime } from '../../core/format';
import { usePagedQuery } from '../../core/graphqlPaged';
import { useI18n } from '../../core/i18n';
import { PagedList } from '../../core/PagedList';
import { Field, Page, Select } from '../../core/ui';
import './messages';
import { Scroll } from './Scroll';
import { fmtMs, type Inference, MODEL_TYPES, useTypeLabel } from './types';

const KEYS = ['type', 'version', 'user', 'workout', 'slower', 'since', 'until'] as const;
type Key = typeof KEYS[number];
type Errors = Partial<Record<Key, string>>;

function Id({ id }: { id: string | null }) {
  if (!id) return <>–</>;
  return <code className="ml-code">{id.slice(0, 8)}<span aria-hidden="true">…</span><span className="visually-hidden">{id.slice(8)}</span></code>;
}

export function InferenceLogPage() {
  const { t, locale } = useI18n();
  const typeLabel = useTypeLabel();
  const filters = useUrlFilters(KEYS);
  const [errors, setErrors] = useState<Errors>({});
  const a = filters.applied;
  const valid = (!a.user || isUuid(a.user)) && (!a.workout || isUuid(a.workout))
    && (!a.slower || Number.isFinite(Number(a.slower)));
  const log = usePagedQuery<Inference>('InferenceLog', 'inferenceLog', {
    ...variablesOf({ modelType: a.type, modelVersion: a.version, userId: a.user, workoutId: a.workout }),
    minLatencyMs: a.slower ? Number(a.slower) : null,
    since: localToIso(a.since), until: localToIso(a.until),
  }, valid);

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    const d = filters.draft;
    const found: Errors = {};
    if (d.user.trim() && !isUuid(d.user)) found.user = t('ml.filter.badId');
    if (d.workout.trim() && !isUuid(d.workout)) found.workout = t('ml.filter.badId');
    if (d.slower.trim() && !(Number(d.slower) >= 0)) found.slower = t('ml.filter.badMs');
    setErrors(found);
    if (Object.keys(found).length === 0) filters.apply();
  };
  const types: string[] = [...MODEL_TYPES];
  if (filters.draft.type && !types.includes(filters.draft.type)) types.push(filters.draft.type);
  return (
    <Page title={t('ml.log.title')}>
      <p className="hint">{t('ml.log.intro')}</p>
      <form className="card ml-filters" onSubmit={submit} aria-label={t('ml.filter.label')}>
        <div className="ml-filter-grid">
          <Select label={t('ml.type')} value={filters.draft.type} onChange={(v) => filters.set('type', v)}
            options={[['', t('ml.filter.any')], ...types.map((x): [string, string] => [x, typeLabel(x)])]} />
          <Field label={t('ml.version')} value={filters.draft.version} maxLength={100} autoComplete="off"
            onChange={(e) => filters.set('version', e.target.value)} />
          <Field label={t('ml.log.user')} hint={t('ml.filter.idHint')} value={filters.draft.user} error={errors.user}
            autoComplete="off" onChange={(e) => filters.set('user', e.target.value)} />
          <Field label={t('ml.log.workout')} hint={t('ml.filter.idHint')} value={filters.draft.workout}
            error={errors.workout} autoComplete="off" onChange={(e) => filters.set('workout', e.target.value)} />
          <Field label={t('ml.log.slower')} type="number" min={0} step="any" inputMode="decimal"
            value={filters.draft.slower} error={errors.slower} onChange={(e) => filters.set('slower', e.target.value)} />
          <Field label={t('ml.filter.since')} type="datetime-local" value={filters.draft.since}
            onChange={(e) => filters.set('since', e.target.value)} />
          <Field label={t('ml.filter.until')} hint={t('ml.filter.untilHint')} type="datetime-local"
            value={filters.draft.until} onChange={(e) => filters.set('until', e.target.value)} />
        </div>
        <div className="row">
          <button type="submit" className="primary">{t('ml.filter.apply')}</button>
          <button type="button" className="secondary" onClick={() => { setErrors({}); filters.clear(); }}>
            {t('ml.filter.clear')}</button>
        </div>
      </form>
      <section className="card" aria-labelledby="log-list">
        <h2 id="log-list">{t('ml.log.list')}</h2>
        <PagedList paged={log} empty={t('ml.log.none')}>
          {(items) => (
            <Scroll label={t('ml.log.list')}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('ml.when')}</th>
                    <th scope="col">{t('ml.type')}</th>
                    <th scope="col">{t('ml.version')}</th>
                    <th scope="col" className="num">{t('ml.log.latency')}</th>
                    <th scope="col">{t('ml.log.user')}</th>
                    <th scope="col">{t('ml.log.workout')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((i) => (
                    <tr key={i.id}>
                      <th scope="row">{fmtDateTime(i.at, locale)}</th>
                      <td>{typeLabel(i.modelType)}</td>
                      <td>{i.modelVersion}</td>
                      <td className="num">{fmtMs(i.latencyMs)}</td>
                      <td><Id id={i.userId} /></td>
                      <td><Id id={i.workoutId} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scroll>
          )}
        </PagedList>
      </section>
    </Page>
  );
}
