// `/app/workouts`: the athlete's workouts, newest first, a page at a time ("Show more"
// follows the API's cursor), filtered by sport, day range, status and title — the filters
// live in the page's URL, so a filtered list can be bookmarked, shared and gone back to.
// Each workout links to its page and can be renamed, given its right sport or deleted
// (after a confirmation); a GPX or FIT file can be uploaded as a new one.

import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, apiPage } from '../../../core/api';
import { fmtDateTime, fmtDistance, fmtDuration, fmtPace, fmtSpeed } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link, navigate, useSearchParams } from '../../../core/router';
import { Alert, Field, Page, Select, useErrorText } from '../../../core/ui';
import { DeleteDialog, EditForm } from './WorkoutEdit';
import { UploadCard } from './UploadCard';
import { type Filters, filtersOf, SPORTS, STATUSES, toQuery, type Workout } from './model';
import { isSpeedSport, sportName, titleOf } from './names';

const PAGE_SIZE = 20;

interface Listing { items: Workout[]; next: string | null; loading: boolean; error: unknown }

/** The list for the filters: the first page, then more on request; reloaded when they change. */
function useWorkoutPages(filters: Filters) {
  const key = toQuery(filters);
  const [state, setState] = useState<Listing>({ items: [], next: null, loading: true, error: null });
  const [tick, setTick] = useState(0);
  const query = useCallback((cursor?: string) => {
    const q = new URLSearchParams(key.slice(1));
    q.set('limit', String(PAGE_SIZE));
    if (cursor) q.set('cursor', cursor);
    return `/v1/workouts?${q.toString()}`;
  }, [key]);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    apiPage<Workout>(query()).then(
      (page) => { if (live) setState({ items: page.items, next: page.next, loading: false, error: null }); },
      (error: unknown) => { if (live) setState({ items: [], next: null, loading: false, error }); },
    );
    return () => { live = false; };
  }, [query, tick]);
  const more = useCallback(async () => {
    if (!state.next) return;
    setState((s) => ({ ...s, loading: true, error: null }));
    try {
      const page = await apiPage<Workout>(query(state.next));
      setState((s) => {
        const seen = new Set(s.items.map((w) => w.id));
        return { items: [...s.items, ...page.items.filter((w) => !seen.has(w.id))], next: page.next, loading: false, error: null };
      });
    } catch (error) {
      setState((s) => ({ ...s, loading: false, error }));
    }
  }, [query, state.next]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const replace = useCallback((w: Workout) => setState((s) => ({ ...s, items: s.items.map((x) => (x.id === w.id ? w : x)) })), []);
  const remove = useCallback((id: string) => setState((s) => ({ ...s, items: s.items.filter((x) => x.id !== id) })), []);
  return { ...state, more, reload, replace, remove };
}

export function WorkoutsPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const params = useSearchParams();
  const filters = filtersOf(params);
  const list = useWorkoutPages(filters);
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Workout | null>(null);
  const listHeading = useRef<HTMLHeadingElement>(null);
  const filtered = toQuery(filters) !== '';

  const deleted = (w: Workout, title: string) => {
    list.remove(w.id);
    setDeleting(null);
    setNotice(t('athlete.workouts.deleted', { title }));
    listHeading.current?.focus();
  };

  return (
    <Page title={t('athlete.workouts.title')}>
      <UploadCard onUploaded={() => list.reload()} />
      <FilterForm filters={filters} />
      <section className="card" aria-labelledby="workout-list-title">
        <h2 id="workout-list-title" ref={listHeading} tabIndex={-1}>
          {filtered ? t('athlete.workouts.listFiltered') : t('athlete.workouts.list')}
        </h2>
        <Alert kind="ok">{notice}</Alert>
        {list.error ? <Alert>{list.error instanceof ApiError && list.error.status === 400
          ? t('athlete.filters.invalid', { message: list.error.message }) : errorText(list.error)}</Alert> : null}
        {!list.loading && !list.error && list.items.length === 0 ? (
          <p className="hint">{filtered ? t('athlete.workouts.noneFiltered') : t('athlete.workouts.none')}</p>
        ) : null}
        <ul className="plain workout-list">
          {list.items.map((w) => (
            <WorkoutItem key={w.id} w={w} onChanged={(c) => { list.replace(c); setNotice(null); }}
              onDelete={() => { setNotice(null); setDeleting(w); }} />
          ))}
        </ul>
        {list.loading ? <p role="status" className="hint">{t('common.loading')}</p> : null}
        {list.next && !list.loading ? (
          <button type="button" className="secondary more" onClick={() => void list.more()}>{t('common.more')}</button>
        ) : null}
      </section>
      {deleting ? <DeleteDialog w={deleting} onCancel={() => setDeleting(null)} onDeleted={deleted} /> : null}
    </Page>
  );
}

function FilterForm({ filters }: { filters: Filters }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<Filters>(filters);
  const [error, setError] = useState<string | null>(null);
  const key = toQuery(filters);
  useEffect(() => { setDraft(filtersOf(new URLSearchParams(key.slice(1)))); setError(null); }, [key]);
  const set = (k: keyof Filters) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    if (draft.from && draft.to && draft.to < draft.from) {
      setError(t('athlete.filters.badRange'));
      document.getElementById('filter-to')?.focus();
      return;
    }
    setError(null);
    navigate(`/app/workouts${toQuery({ ...draft, q: draft.q.trim() })}`);
  };
  const clear = () => { setError(null); navigate('/app/workouts'); };
  return (
    <section className="card" aria-labelledby="filters-title">
      <h2 id="filters-title">{t('athlete.filters.title')}</h2>
      <form className="filters" onSubmit={submit} role="search" aria-labelledby="filters-title">
        <div className="row">
          <Select id="filter-sport" label={t('athlete.filters.sport')} value={draft.sport} onChange={set('sport')}
            options={[['', t('athlete.filters.any')], ...SPORTS.map((s): [string, string] => [s, sportName(t, s)])]} />
          <Field id="filter-from" type="date" label={t('athlete.filters.from')} value={draft.from}
            onChange={(e) => set('from')(e.target.value)} />
          <Field id="filter-to" type="date" label={t('athlete.filters.to')} value={draft.to} error={error}
            onChange={(e) => set('to')(e.target.value)} />
          <Select id="filter-status" label={t('athlete.filters.status')} value={draft.status} onChange={set('status')}
            options={[['', t('athlete.filters.any')], ...STATUSES.map((s): [string, string] => [s, t(`athlete.status.${s}`)])]} />
          <Field id="filter-q" type="search" label={t('athlete.filters.q')} value={draft.q} maxLength={120}
            onChange={(e) => set('q')(e.target.value)} />
        </div>
        <div className="row">
          <button type="submit" className="primary">{t('athlete.filters.apply')}</button>
          {key ? <button type="button" className="secondary" onClick={clear}>{t('athlete.filters.clear')}</button> : null}
        </div>
      </form>
    </section>
  );
}

function WorkoutItem({ w, onChanged, onDelete }: { w: Workout; onChanged: (w: Workout) => void; onDelete: () => void }) {
  const { t, locale } = useI18n();
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  const title = titleOf(w, t, locale);
  // Focus goes back to "Edit" once the form has closed: an effect after the commit that
  // renders the button again (a timer or animation frame can run before that commit).
  const returnFocus = useRef(false);
  useEffect(() => {
    if (!editing && returnFocus.current) { returnFocus.current = false; editButton.current?.focus(); }
  }, [editing]);
  const close = () => { returnFocus.current = true; setEditing(false); };
  return (
    <li className="workout-item" data-workout-id={w.id}>
      <div className="workout-head">
        <h3 className="workout-name"><Link to={`/app/workouts/${w.id}`}>{title}</Link></h3>
        <p className="hint workout-meta">
          <span>{fmtDateTime(w.started_at, locale)}</span> · <span>{sportName(t, w.sport)}</span>
          {w.status !== 'finished' ? <> · <span className="badge">{t(`athlete.status.${w.status}`)}</span></> : null}
        </p>
      </div>
      <dl className="workout-numbers">
        <div><dt>{t('athlete.fact.distance')}</dt><dd>{fmtDistance(w.distance_m)}</dd></div>
        <div><dt>{t('athlete.fact.duration')}</dt><dd>{fmtDuration(w.duration_s)}</dd></div>
        {isSpeedSport(w.sport)
          ? <div><dt>{t('athlete.fact.avgSpeed')}</dt><dd>{fmtSpeed(w.avg_speed_mps)}</dd></div>
          : <div><dt>{t('athlete.fact.avgPace')}</dt><dd>{fmtPace(w.avg_pace_s_per_km)}</dd></div>}
      </dl>
      {saved && !editing ? <Alert kind="ok">{t('common.saved')}</Alert> : null}
      {editing ? (
        <EditForm w={w} onCancel={close} onSaved={(c) => { onChanged(c); setSaved(true); close(); }} />
      ) : (
        <div className="workout-actions">
          <button type="button" ref={editButton} className="secondary" aria-label={t('athlete.workouts.editOf', { title })}
            onClick={() => { setSaved(false); setEditing(true); }}>{t('athlete.workouts.edit')}</button>
          <button type="button" className="danger" aria-label={t('athlete.workouts.deleteOf', { title })}
            onClick={onDelete}>{t('common.delete')}</button>
        </div>
      )}
    </li>
  );
}
