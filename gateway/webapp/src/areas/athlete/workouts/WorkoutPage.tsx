// `/app/workouts/:id`: one workout — its facts, route, charts over elapsed time, splits, time
// in heart-rate zones and risk. Each part loads on its own, so a slow one holds up no other.
// Samples come from the API already thinned to about the chart's width in pixels (it
// averages them into time buckets), so a 3-hour 1 Hz workout draws from ~1,000 points,
// not 10,800. Once the charts are drawn the page sets the performance mark
// `stride:charts-drawn` (the browser tests read it).

import { Fragment, useEffect, useMemo } from 'react';
import { api, ApiError, tokenStore } from '../../../core/api';
import { LineChart } from '../../../core/charts';
import { clock, fmtDateTime, fmtDistance, fmtDuration, fmtInt, fmtPace, fmtSpeed, num } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { Alert, Card, type Loaded, LoadState, Page, useErrorText, useLoad } from '../../../core/ui';
import { RouteMap } from './RouteMap';
import { hasReadings, seriesOf, type WorkoutSeries } from './series';
import type { PathFeature, SampleRow, Splits, Workout } from './model';
import { SplitsTable, ZonesTable } from './SplitsTables';
import { sportName, titleOf, isSpeedSport } from './names';

const MAX_PAGES = 5;

/** The samples thinned by the API to about `points` buckets (following its cursor, bounded). */
async function loadSamples(base: string, points: number): Promise<{ rows: SampleRow[]; bucketS: number }> {
  const rows: SampleRow[] = [];
  let bucketS = 0;
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const resp: Response = await fetchPage(`${base}/samples?limit=${points}${q}`);
    rows.push(...((await resp.json()) as SampleRow[]));
    bucketS = Number(resp.headers.get('X-Bucket-Seconds') ?? '0') || 0;
    cursor = resp.headers.get('X-Next-Cursor');
    if (!cursor) break;
  }
  return { rows, bucketS };
}

async function fetchPage(path: string): Promise<Response> {
  // api() keeps only the body; the bucket width is in a header, so this reads the response.
  const token = tokenStore.get();
  const resp = await fetch(path, { headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, cache: 'no-store' });
  if (!resp.ok) {
    let body: unknown = null;
    try { body = await resp.json(); } catch { body = null; }
    throw new ApiError(resp.status, body, resp.headers.get('Retry-After'));
  }
  return resp;
}

/** About one point per CSS pixel of the widest chart the window can show. */
const chartPoints = () => Math.max(300, Math.min(1600, Math.round(window.innerWidth)));

export function WorkoutPage({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const base = `/v1/workouts/${encodeURIComponent(id)}`;
  // All at once (they need only the id), but the splits after the samples: the server
  // works them out from every sample, which for a long workout takes it a second of CPU
  // that the charts need not wait behind.
  const workout = useLoad(() => api<Workout>('GET', base), [base]);
  const path = useLoad(() => api<PathFeature>('GET', `${base}/path`), [base]);
  const samples = useLoad(() => loadSamples(base, chartPoints()), [base]);
  const samplesDone = samples.data !== null || samples.error !== null;
  const splits = useLoad(() => (samplesDone ? api<Splits>('GET', `${base}/splits`) : new Promise<Splits>(() => {})),
    [base, samplesDone]);
  useEffect(() => { performance.mark('stride:workout-page'); }, []);
  const w = workout.data;
  const title = w ? titleOf(w, t, locale) : workout.error ? t('athlete.workout.title') : t('common.loading');
  return (
    <Page title={title} actions={<Link to="/app/workouts" className="secondary">{t('athlete.workout.back')}</Link>}>
      {workout.error ? (
        <Alert>{workout.error instanceof ApiError && workout.error.status === 404 ? t('athlete.workout.notFound') : errorText(workout.error)}</Alert>
      ) : null}
      {w ? <WorkoutBody w={w} path={path} samples={samples} splits={splits} /> : workout.error ? null : <p role="status" className="hint">{t('common.loading')}</p>}
    </Page>
  );
}

function WorkoutBody({ w, path, samples, splits }: {
  w: Workout; path: Loaded<PathFeature>; samples: Loaded<{ rows: SampleRow[]; bucketS: number }>; splits: Loaded<Splits>;
}) {
  const { t, locale } = useI18n();
  const speedSport = isSpeedSport(w.sport);
  const startMs = Date.parse(w.started_at);
  const series = useMemo(() => (samples.data ? seriesOf(samples.data.rows, startMs, samples.data.bucketS, w.sport) : null),
    [samples.data, startMs, w.sport]);
  return (
    <>
      <p className="hint">
        {fmtDateTime(w.started_at, locale)} · {sportName(t, w.sport)} · <span className="badge">{t(`athlete.status.${w.status}`)}</span>
      </p>
      <div className="grid">
        <Card title={t('athlete.workout.summary')}>
          <Facts w={w} speedSport={speedSport} />
        </Card>
        <Card title={t('athlete.workout.risk')}>
          <RiskPart w={w} />
        </Card>
      </div>
      <Card title={t('athlete.workout.route')}>
        <LoadState loaded={path}>
          {(p) => (p.geometry?.type === 'LineString' && p.geometry.coordinates.length > 1
            ? <RouteMap coords={p.geometry.coordinates} distanceM={w.distance_m} />
            : <p className="hint">{p.properties.ready ? t('athlete.workout.noRoute') : t('athlete.workout.routeLater')}</p>)}
        </LoadState>
      </Card>
      <Card title={t('athlete.workout.charts')} className="charts-card">
        <LoadState loaded={samples}>
          {() => (series ? <Charts s={series} durationS={w.duration_s} speedSport={speedSport} /> : null)}
        </LoadState>
      </Card>
      <div className="grid">
        <Card title={t('athlete.workout.splits')}>
          <LoadState loaded={splits}>{(sp) => <SplitsTable rows={sp.splits} speedSport={speedSport} />}</LoadState>
        </Card>
        <Card title={t('athlete.workout.zones')}>
          <LoadState loaded={splits}>{(sp) => <ZonesTable zones={sp.hr_zone_s ?? w.hr_zone_s} />}</LoadState>
        </Card>
      </div>
    </>
  );
}

function Facts({ w, speedSport }: { w: Workout; speedSport: boolean }) {
  const { t } = useI18n();
  const rows: [string, string][] = [
    ['athlete.fact.distance', fmtDistance(w.distance_m)],
    ['athlete.fact.duration', fmtDuration(w.duration_s)],
    ['athlete.fact.moving', fmtDuration(w.moving_time_s)],
    speedSport ? ['athlete.fact.avgSpeed', fmtSpeed(w.avg_speed_mps)] : ['athlete.fact.avgPace', fmtPace(w.avg_pace_s_per_km)],
    ['athlete.fact.gain', fmtInt(w.elevation_gain_m, ' m')],
    ['athlete.fact.loss', fmtInt(w.elevation_loss_m, ' m')],
    ['athlete.fact.avgHr', fmtInt(w.avg_hr, ' bpm')],
    ['athlete.fact.maxHr', fmtInt(w.max_hr, ' bpm')],
    ['athlete.fact.calories', fmtInt(w.calories_kcal, ' kcal')],
    ['athlete.fact.trimp', fmtInt(w.trimp)],
    ['athlete.fact.minSpo2', fmtInt(w.min_spo2, ' %')],
  ];
  if (num(w.cardiac_drift_pct) !== null) rows.push(['athlete.fact.drift', `${(w.cardiac_drift_pct as number).toFixed(1)} %`]);
  return (
    <>
      <dl className="facts">
        {rows.map(([k, v]) => (<Fragment key={k}><dt>{t(k)}</dt><dd>{v}</dd></Fragment>))}
      </dl>
      {w.sport_mismatch ? <Alert kind="info">{t('athlete.workout.mismatch', { sport: sportName(t, w.sport_mismatch) })}</Alert> : null}
    </>
  );
}

function RiskPart({ w }: { w: Workout }) {
  const { t } = useI18n();
  if (!w.risk) return <p className="hint">{t('athlete.workout.noRisk')}</p>;
  const { level, acwr, reasons } = w.risk;
  return (
    <>
      <p><span className={`badge risk-${level}`}>{t(`athlete.risk.${level}`)}</span></p>
      {num(acwr) !== null ? <p>{t('athlete.workout.acwr', { acwr: (acwr as number).toFixed(2) })}</p> : null}
      {reasons.length ? (
        <>
          <h3>{t('athlete.workout.reasons')}</h3>
          <ul className="risk-reasons">{reasons.map((r) => <li key={r}>{r}</li>)}</ul>
        </>
      ) : <p className="hint">{t('athlete.workout.noReasons')}</p>}
    </>
  );
}

function Charts({ s, durationS, speedSport }: { s: WorkoutSeries; durationS: number; speedSport: boolean }) {
  const { t } = useI18n();
  const domain = useMemo(() => [0, Math.max(durationS, s.lastX, 1)] as const, [durationS, s.lastX]);
  const charts = [
    speedSport
      ? { key: 'speed', title: t('athlete.chart.speed'), points: s.speed, format: (v: number) => fmtSpeed(v), invert: false, span: 2 }
      : { key: 'pace', title: t('athlete.chart.pace'), points: s.pace, format: (v: number) => `${clock(v)} /km`, invert: true, time: true, span: 30 },
    { key: 'hr', title: t('athlete.chart.hr'), points: s.hr, format: (v: number) => `${Math.round(v)} bpm`, invert: false, span: 10 },
    { key: 'alt', title: t('athlete.chart.alt'), points: s.alt, format: (v: number) => `${Math.round(v)} m`, invert: false, span: 10 },
    { key: 'spo2', title: t('athlete.chart.spo2'), points: s.spo2, format: (v: number) => `${v.toFixed(1)} %`, invert: false, span: 4 },
  ];
  const shown = charts.filter((c) => hasReadings(c.points));
  const missing = charts.filter((c) => !hasReadings(c.points));
  useEffect(() => {
    // After the browser has laid out and painted the charts: what a person waits for.
    const frame = requestAnimationFrame(() => {
      performance.mark('stride:charts-drawn');
      document.querySelector('.charts-card')?.setAttribute('data-charts-drawn', 'true');
    });
    return () => cancelAnimationFrame(frame);
  }, [s]);
  return (
    <div className="charts">
      <p className="hint">{t('athlete.chart.shared')}</p>
      {shown.map((c) => (
        <LineChart key={c.key} className={`chart-${c.key}`} title={c.title} xDomain={domain} invertY={c.invert} yTime={'time' in c} minSpan={c.span}
          series={[{ label: c.title, points: c.points, format: c.format }]} tableRows={24} />
      ))}
      {missing.length ? <p className="hint">{t('athlete.chart.none', { what: missing.map((c) => c.title).join(', ') })}</p> : null}
    </div>
  );
}
