import { useCallback, useEffect, useState } from 'react';
import { apiPage, query } from '../../core/api';
import { fmtDateTime, fmtDistance, fmtDuration, num } from '../../core/format';
import { useI18n } from '../../core/i18n';
import { Link } from '../../core/router';
import { Alert, Card, Page, useErrorText, useLoad } from '../../core/ui';
import { athleteLabel, coachedAthletes, noAccess, type Workout } from './data';
import { sportName } from './words';

const PAGE = 20;

interface Listed { items: Workout[]; next: string | null; error: unknown; loading: boolean }

/**
 * `/app/coach/athletes/:id`: an athlete's past workouts, as far as a consent they gave a
 * group you coach covers them (the API decides; where nothing does it answers 404, shown
 * as "no access", not as an error).
 */
export function AthleteHistory({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const groups = useLoad(coachedAthletes, []);
  const member = groups.data?.flatMap((g) => g.athletes).filter((m) => m.user_id === id)
    .sort((a, b) => Number(Boolean(b.name)) - Number(Boolean(a.name)))[0];
  const name = athleteLabel(member, id, (short) => t('coach.tile.unnamed', { id: short }));
  const [list, setList] = useState<Listed>({ items: [], next: null, error: null, loading: true });

  const load = useCallback(async (cursor: string | null, live: () => boolean) => {
    setList((l) => ({ ...l, loading: true, error: null }));
    try {
      const page = await apiPage<Workout>(`/v1/workouts${query({ athlete: id, limit: PAGE, cursor })}`);
      if (live()) setList((l) => ({ items: cursor ? [...l.items, ...page.items] : page.items, next: page.next, error: null, loading: false }));
    } catch (error) {
      if (live()) setList((l) => ({ ...l, error, loading: false }));
    }
  }, [id]);

  useEffect(() => {
    let live = true;
    void load(null, () => live);
    return () => { live = false; };
  }, [load]);

  let body;
  if (noAccess(list.error)) body = <Alert kind="info">{t('coach.history.noAccess')}</Alert>;
  else if (list.error && list.items.length === 0) body = <Alert>{errorText(list.error)}</Alert>;
  else if (list.loading && list.items.length === 0) body = <p role="status" className="hint">{t('common.loading')}</p>;
  else if (list.items.length === 0) body = <p className="hint">{t('coach.history.empty')}</p>;
  else {
    body = (
      <>
        <div className="table-wrap">
          <table className="coach-history">
            <thead>
              <tr>
                <th scope="col">{t('coach.history.started')}</th>
                <th scope="col">{t('coach.history.sport')}</th>
                <th scope="col">{t('coach.history.name')}</th>
                <th scope="col" className="num">{t('coach.history.distance')}</th>
                <th scope="col" className="num">{t('coach.history.duration')}</th>
                <th scope="col" className="num">{t('coach.history.avgHr')}</th>
                <th scope="col">{t('coach.history.risk')}</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((w) => (
                <tr key={w.id} data-workout-id={w.id}>
                  <td>
                    <Link to={`/app/coach/athletes/${encodeURIComponent(id)}/workouts/${encodeURIComponent(w.id)}`}>
                      {fmtDateTime(w.started_at, locale)}
                    </Link>
                  </td>
                  <td>{sportName(t, w.sport)}</td>
                  <td>{w.title ?? '–'}</td>
                  <td className="num">{fmtDistance(w.distance_m)}</td>
                  <td className="num">{fmtDuration(w.duration_s)}</td>
                  <td className="num">{num(w.avg_hr) === null ? '–' : Math.round(w.avg_hr as number)}</td>
                  <td>{w.risk ? t(`coach.risk.${w.risk.level}`) : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {list.error ? <Alert>{errorText(list.error)}</Alert> : null}
        {list.next ? (
          <button type="button" className="secondary" disabled={list.loading}
            onClick={() => void load(list.next, () => true)}>{t('common.more')}</button>
        ) : null}
      </>
    );
  }
  return (
    <Page title={name} actions={<Link to="/app/coach/athletes" className="button">{t('coach.history.back')}</Link>}>
      <Card title={t('coach.history.workouts')}>{body}</Card>
    </Page>
  );
}
