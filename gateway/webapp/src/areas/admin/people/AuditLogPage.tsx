// The audit log (`AuditLog`): every change made through the internal API — who, what, on
// what, from where, and how it ended (`ok` or the code it was refused with) — newest first,
// filtered by actor, action, target and time. Filters live in the address.

import { type FormEvent, useState } from 'react';
import { isUuid, localToIso, useUrlFilters, variablesOf } from '../../../core/filters';
import { fmtDateTime } from '../../../core/format';
import { usePagedQuery } from '../../../core/graphqlPaged';
import { useI18n } from '../../../core/i18n';
import { PagedList } from '../../../core/PagedList';
import { Link } from '../../../core/router';
import { Field, Page, Select } from '../../../core/ui';
import './messages';
import { useRefusal } from './refusal';
import { ShortId } from './ShortId';
import { AUDITED_ACTIONS, type AuditEntry } from './types';

const KEYS = ['actor', 'action', 'target', 'since', 'until'] as const;

/** Where a target (`kind:id`) has a page here. */
function targetPage(target: string): string | null {
  const [kind, id] = target.split(':', 2);
  if (!id || !isUuid(id)) return null;
  if (kind === 'user') return `/app/admin/users/${id}`;
  if (kind === 'group') return `/app/admin/groups/${id}`;
  return null;
}

function detailText(detail: unknown): string {
  if (detail === null || detail === undefined) return '';
  if (typeof detail !== 'object') return String(detail);
  return Object.entries(detail as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ');
}

export function AuditLogPage() {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const filters = useUrlFilters(KEYS);
  const [actorError, setActorError] = useState<string | null>(null);
  const a = filters.applied;
  const log = usePagedQuery<AuditEntry>('AuditLog', 'auditLog', {
    ...variablesOf({ actorId: a.actor, action: a.action, target: a.target }),
    since: localToIso(a.since), until: localToIso(a.until),
  }, !(a.actor && !isUuid(a.actor)));

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    const bad = filters.draft.actor.trim() !== '' && !isUuid(filters.draft.actor);
    setActorError(bad ? t('admin.filter.badId') : null);
    if (!bad) filters.apply();
  };
  const actionLabel = (x: string) => {
    const key = `admin.audit.action.${x}`;
    const text = t(key);
    return text === key ? x : text;
  };
  const actions: string[] = [...AUDITED_ACTIONS];
  if (filters.draft.action && !actions.includes(filters.draft.action)) actions.push(filters.draft.action);
  return (
    <Page title={t('admin.audit.title')}>
      <p className="hint">{t('admin.audit.intro')}</p>
      <form className="card admin-filters" onSubmit={submit} aria-label={t('admin.filter.label')}>
        <div className="admin-filter-grid">
          <Field label={t('admin.audit.actor')} hint={t('admin.filter.idHint')} value={filters.draft.actor}
            error={actorError} onChange={(e) => filters.set('actor', e.target.value)} autoComplete="off" />
          <Select label={t('admin.audit.action')} value={filters.draft.action} onChange={(v) => filters.set('action', v)}
            options={[['', t('admin.filter.any')], ...actions.map((x): [string, string] => [x, actionLabel(x)])]} />
          <Field label={t('admin.audit.target')} hint={t('admin.audit.targetHint')} value={filters.draft.target}
            onChange={(e) => filters.set('target', e.target.value)} autoComplete="off" maxLength={200} />
          <Field label={t('admin.filter.since')} type="datetime-local" value={filters.draft.since}
            onChange={(e) => filters.set('since', e.target.value)} />
          <Field label={t('admin.filter.until')} hint={t('admin.filter.untilHint')} type="datetime-local"
            value={filters.draft.until} onChange={(e) => filters.set('until', e.target.value)} />
        </div>
        <div className="row">
          <button type="submit" className="primary">{t('admin.filter.apply')}</button>
          <button type="button" className="secondary" onClick={() => { setActorError(null); filters.clear(); }}>
            {t('admin.filter.clear')}</button>
        </div>
      </form>
      <section className="card" aria-labelledby="audit-list">
        <h2 id="audit-list">{t('admin.audit.list')}</h2>
        <PagedList paged={log} empty={t('admin.audit.none')} errorText={refusal}>
          {(items) => (
            <div className="table-wrap admin-wrap">
              <table className="admin-audit">
                <thead>
                  <tr>
                    <th scope="col">{t('admin.when')}</th>
                    <th scope="col">{t('admin.audit.actor')}</th>
                    <th scope="col">{t('admin.audit.action')}</th>
                    <th scope="col">{t('admin.audit.target')}</th>
                    <th scope="col">{t('admin.audit.outcome')}</th>
                    <th scope="col">{t('admin.audit.address')}</th>
                    <th scope="col">{t('admin.audit.detail')}</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((e) => {
                    const page = targetPage(e.target);
                    return (
                      <tr key={e.id}>
                        <th scope="row">{fmtDateTime(e.at, locale)}</th>
                        <td><Link to={`/app/admin/users/${e.actorId}`}><ShortId id={e.actorId} /></Link></td>
                        <td>{actionLabel(e.action)} <code className="admin-code">{e.action}</code></td>
                        <td>{page ? <Link to={page}><code className="admin-code">{e.target}</code></Link>
                          : <code className="admin-code">{e.target}</code>}</td>
                        <td>{e.outcome === 'ok'
                          ? <span className="badge admin-ok">{t('admin.audit.ok')}</span>
                          : <span className="badge admin-refused">{t('admin.audit.refused', { code: e.outcome })}</span>}</td>
                        <td>{e.address}</td>
                        <td>{detailText(e.detail) || '–'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </PagedList>
      </section>
    </Page>
  );
}
