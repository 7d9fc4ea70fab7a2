import { Fragment, type ReactNode } from 'react';
import { api } from '../../core/api';
import { fmtDateTime, fmtDistance, fmtDuration, fmtPace, fmtSpeed, num } from '../../core/format';
import { useI18n } from '../../core/i18n';
import { Link } from '../../core/router';
import { Alert, Card, Page, useErrorText, useLoad } from '../../core/ui';
import { noAccess, type Workout } from './data';
import { sportName } from './words';

/**
 * `/app/coach/athletes/:id/workouts/:workoutId`: one past workout's summary, as the API
 * gives it to the coach (health fields it withheld show as "–", never worked out here).
 */
export function WorkoutSummary({ athleteId, workoutId }: { athleteId: string; workoutId: string }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const loaded = useLoad(() => api<Workout>('GET', `/v1/workouts/${encodeURIComponent(workoutId)}`), [workoutId]);
  const w = loaded.data;
  const back = (
    <Link to={`/app/coach/athletes/${encodeURIComponent(athleteId)}`} className="button">{t('coach.workout.back')}</Link>
  );
  if (!w) {
    let body: ReactNode = <p role="status" className="hint">{t('common.loading')}</p>;
    if (noAccess(loaded.error)) body = <Alert kind="info">{t('coach.workout.noAccess')}</Alert>;
    else if (loaded.error) body = <Alert>{errorText(loaded.error)}</Alert>;
    return <Page title={t('coach.workout.summary')} actions={back}>{body}</Page>;
  }
  const unit = (key: string, v: unknown) => (num(v) === null ? '–' : t(key, { n: Math.round(v as number) }));
  const ride = w.sport === 'ride';
  const facts: [string, ReactNode][] = [
    ['coach.workout.status', t(`coach.status.${w.status}`)],
    ['coach.workout.distance', fmtDistance(w.distance_m)],
    ['coach.workout.duration', fmtDuration(w.duration_s)],
    ['coach.workout.moving', fmtDuration(w.moving_time_s)],
    ride ? ['coach.workout.speed', fmtSpeed(w.avg_speed_mps)] : ['coach.workout.pace', fmtPace(w.avg_pace_s_per_km)],
    ['coach.workout.climb', unit('coach.unit.m', w.elevation_gain_m)],
    ['coach.workout.avgHr', unit('coach.unit.bpm', w.avg_hr)],
    ['coach.workout.maxHr', unit('coach.unit.bpm', w.max_hr)],
    ['coach.workout.calories', unit('coach.tile.kcal', w.calories_kcal)],
    ['coach.workout.trimp', num(w.trimp) === null ? '–' : (w.trimp as number).toFixed(0)],
    ['coach.workout.minSpo2', unit('coach.unit.pct', w.min_spo2)],
    ['coach.workout.risk', w.risk ? t(`coach.risk.${w.risk.level}`) : '–'],
  ];
  if (w.risk && w.risk.reasons.length) facts.push(['coach.workout.reasons', w.risk.reasons.join('; ')]);
  const title = w.title || t('coach.workout.title', { sport: sportName(t, w.sport), date: fmtDateTime(w.started_at, locale) });
  return (
    <Page title={title} actions={back}>
      <Card title={t('coach.workout.summary')}>
        <dl className="facts">
          {facts.map(([key, value]) => (
            <Fragment key={key}><dt>{t(key)}</dt><dd>{value}</dd></Fragment>
          ))}
        </dl>
      </Card>
      <div className="grid">
        {w.hr_zone_s ? (
          <Card title={t('coach.workout.zones')}>
            <div className="table-wrap">
              <table>
                <thead><tr><th scope="col">{t('coach.workout.zone')}</th><th scope="col" className="num">{t('coach.workout.time')}</th></tr></thead>
                <tbody>
                  {w.hr_zone_s.map((s, i) => (
                    <tr key={i}><td>{t('coach.tile.zone', { n: i + 1 })}</td><td className="num">{fmtDuration(s)}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Card>
        ) : null}
        {w.splits.length ? (
          <Card title={t('coach.workout.splits')}>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col" className="num">{t('coach.workout.km')}</th>
                    <th scope="col" className="num">{t('coach.workout.splitTime')}</th>
                    <th scope="col" className="num">{t('coach.workout.splitHr')}</th>
                  </tr>
                </thead>
                <tbody>
                  {w.splits.map((s) => (
                    <tr key={s.km}>
                      <td className="num">{s.km}</td>
                      <td className="num">{fmtDuration(s.time_s)}</td>
                      <td className="num">{num(s.avg_hr) === null ? '–' : Math.round(s.avg_hr as number)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Card>
        ) : null}
      </div>
    </Page>
  );
}
