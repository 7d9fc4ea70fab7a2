// `/app/live`: the athlete's own workout in progress, its numbers following the live feed
// (`WS /v1/live?athlete=<me>`: a snapshot, then ~1 Hz updates; core/liveFeed.ts reconnects).
// The API's list says which workout is in progress when the page opens; the feed then
// brings its updates — and a workout started while the page is open, and its finish.

import { useEffect, useMemo, useRef, useState } from 'react';
import { api, apiPage, tokenStore } from '../../../core/api';
import { LineChart, type Point } from '../../../core/charts';
import { clock, fmtDistance, fmtDuration, fmtInt, fmtPace, fmtSpeed, num } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { type FeedMessage, type FeedState, LiveFeed } from '../../../core/liveFeed';
import { Link } from '../../../core/router';
import { useSession } from '../../../core/session';
import { Alert, Card, Page } from '../../../core/ui';
import type { Workout } from './model';
import { isSpeedSport, sportName } from './names';

/** The workout's summary as the live feed sends it (streams/events.py WorkoutSummary). */
interface LiveSummary {
  status: string;
  sport: string;
  started_at_ms: number;
  ended_at_ms?: number | null;
  distance_m?: number;
  duration_s?: number;
  avg_pace_s_per_km?: number | null;
  avg_speed_mps?: number;
  elevation_gain_m?: number;
  avg_hr?: number | null;
  calories_kcal?: number | null;
  min_spo2?: number | null;
  version?: number;
  risk?: { level: string; reasons: string[] } | null;
}

interface Current {
  workoutId: string;
  summary: LiveSummary;
  hr: number | null;
  zone: number | null;
  spo2: number | null;
  pace: number | null;
  speed: number | null;
  tMs: number | null;
}

const MAX_TRACE = 3600;
const IN_PROGRESS = ['created', 'active', 'paused'];

/** The newest workout in progress, by the API's list (active, then paused). */
async function inProgress(): Promise<Workout | null> {
  const [active, paused] = await Promise.all([
    apiPage<Workout>('/v1/workouts?status=active&limit=1'),
    apiPage<Workout>('/v1/workouts?status=paused&limit=1'),
  ]);
  const found = [...active.items, ...paused.items];
  found.sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
  return found[0] ?? null;
}

function fromRest(w: Workout): Current {
  return {
    workoutId: w.id,
    summary: {
      status: w.status, sport: w.sport, started_at_ms: Date.parse(w.started_at), distance_m: w.distance_m,
      duration_s: w.duration_s, avg_pace_s_per_km: w.avg_pace_s_per_km, avg_speed_mps: w.avg_speed_mps,
      elevation_gain_m: w.elevation_gain_m, avg_hr: w.avg_hr, calories_kcal: w.calories_kcal, min_spo2: w.min_spo2,
      risk: w.risk,
    },
    hr: null, zone: null, spo2: null, pace: null, speed: null, tMs: null,
  };
}

export function LivePage() {
  const { t } = useI18n();
  const { me, signOut } = useSession();
  const [current, setCurrent] = useState<Current | null>(null);
  const [looked, setLooked] = useState(false);
  const [lookError, setLookError] = useState(false);
  const [feed, setFeed] = useState<FeedState>({ kind: 'connecting' });
  const [trace, setTrace] = useState<{ hr: Point[]; pace: Point[] }>({ hr: [], pace: [] });
  const currentRef = useRef<Current | null>(null);
  currentRef.current = current;

  useEffect(() => {
    let live = true;
    inProgress().then(
      (w) => {
        if (!live) return;
        setLooked(true);
        if (w && !currentRef.current) setCurrent(fromRest(w));
      },
      () => { if (live) { setLooked(true); setLookError(true); } },
    );
    return () => { live = false; };
  }, []);

  useEffect(() => {
    if (!me) return undefined;
    const apply = (m: FeedMessage, fresh: boolean) => {
      const workoutId = typeof m.workout_id === 'string' ? m.workout_id : null;
      const s = (m.summary && typeof m.summary === 'object' ? m.summary : null) as LiveSummary | null;
      if (!workoutId || !s) return;
      const was = currentRef.current;
      if (was && was.workoutId !== workoutId) {
        // Another workout: only a newer one that is in progress takes the place.
        if (s.started_at_ms < was.summary.started_at_ms || !IN_PROGRESS.includes(s.status)) return;
      }
      if (!was && !IN_PROGRESS.includes(s.status)) return; // a workout that had finished already
      const same = was?.workoutId === workoutId;
      if (same && num(s.version) !== null && num(was.summary.version) !== null && (s.version as number) < (was.summary.version as number)) return;
      const finished = m.event === 'WorkoutCompleted' || s.status === 'finished';
      const metrics = m.event === 'WorkoutMetricsUpdated' || 'hr_bpm' in m;
      const next: Current = {
        workoutId,
        summary: finished ? { ...s, status: 'finished' } : s,
        hr: finished ? null : metrics ? num(m.hr_bpm) : same ? was.hr : null,
        zone: finished ? null : metrics ? num(m.hr_zone) : same ? was.zone : null,
        spo2: finished ? null : metrics ? num(m.spo2_pct) : same ? was.spo2 : null,
        pace: finished ? null : metrics ? num(m.pace_s_per_km) : same ? was.pace : null,
        speed: finished ? null : metrics ? num(m.speed_mps) : same ? was.speed : null,
        tMs: metrics ? num(m.t_ms) : same ? was.tMs : null,
      };
      currentRef.current = next;
      setCurrent(next);
      if (!same) setTrace({ hr: [], pace: [] });
      if (metrics && !finished && fresh) {
        const x = num(s.duration_s);
        if (x !== null) {
          setTrace((tr) => ({
            hr: [...tr.hr, [x, next.hr] as Point].slice(-MAX_TRACE),
            pace: [...tr.pace, [x, next.pace !== null && next.pace <= 1200 ? next.pace : null] as Point].slice(-MAX_TRACE),
          }));
        }
      }
    };
    const f = new LiveFeed({
      query: () => `athlete=${encodeURIComponent(me.id)}`,
      token: () => tokenStore.get(),
      onState: setFeed,
      onMessage: (m) => {
        if (m.type === 'snapshot') {
          f.caughtUp();
          const list = Array.isArray(m.workouts) ? (m.workouts as FeedMessage[]) : [];
          const ordered = [...list].sort((a, b) => ((a.summary as LiveSummary)?.started_at_ms ?? 0) - ((b.summary as LiveSummary)?.started_at_ms ?? 0));
          for (const w of ordered) apply(w, false);
        } else if (m.type === 'update') {
          apply(m, true);
        } else if (m.type === 'alert' && m.workout_id === currentRef.current?.workoutId) {
          const was = currentRef.current;
          if (was) setCurrent({ ...was, summary: { ...was.summary, risk: { level: String(m.level), reasons: Array.isArray(m.reasons) ? m.reasons as string[] : [] } } });
        } else if (m.type === 'error' && m.code === 'unauthorized') {
          f.stop();
          void signOut('session.ended');
        }
      },
      onRefused: async () => {
        try { await api('GET', '/v1/users/me'); } catch { /* a 401 ends the session (core/api) */ }
        return tokenStore.get() !== null;
      },
    });
    f.start();
    return () => f.stop();
  }, [me, signOut]);

  return (
    <Page title={t('athlete.live.title')}>
      <p className="live-conn" role="status">
        <span className={`conn conn-${feed.kind}`} aria-hidden="true" /> {feedText(t, feed)}
      </p>
      {feed.kind === 'ended' ? <Alert>{t('athlete.live.ended')}</Alert> : null}
      {lookError ? <Alert>{t('error.network')}</Alert> : null}
      {current ? <LiveWorkout c={current} trace={trace} /> : looked ? (
        <Card><p className="live-none">{t('athlete.live.none')}</p></Card>
      ) : <p role="status" className="hint">{t('common.loading')}</p>}
    </Page>
  );
}

function feedText(t: (k: string, v?: Record<string, string | number>) => string, s: FeedState): string {
  switch (s.kind) {
    case 'live': return t('athlete.live.connected');
    case 'connecting': return t('athlete.live.connecting');
    case 'catching-up': return t('athlete.live.catchingUp');
    case 'waiting': return t('athlete.live.waiting', { s: s.retryInS });
    default: return t('athlete.live.disconnected');
  }
}

function LiveWorkout({ c, trace }: { c: Current; trace: { hr: Point[]; pace: Point[] } }) {
  const { t } = useI18n();
  const s = c.summary;
  const speedSport = isSpeedSport(s.sport);
  const finished = s.status === 'finished';
  const facts: [string, string, string][] = [
    ['time', t('athlete.fact.duration'), fmtDuration(s.duration_s)],
    ['distance', t('athlete.fact.distance'), fmtDistance(s.distance_m)],
    speedSport
      ? ['speed', t('athlete.live.speedNow'), fmtSpeed(c.speed)]
      : ['pace', t('athlete.live.paceNow'), fmtPace(c.pace)],
    ['hr', t('athlete.live.hrNow'), c.hr === null ? '–' : `${Math.round(c.hr)} bpm${c.zone ? ` · ${t('athlete.zones.name', { n: c.zone })}` : ''}`],
    ['spo2', t('athlete.live.spo2Now'), fmtInt(c.spo2, ' %')],
    speedSport
      ? ['avg', t('athlete.fact.avgSpeed'), fmtSpeed(s.avg_speed_mps)]
      : ['avg', t('athlete.fact.avgPace'), fmtPace(s.avg_pace_s_per_km)],
    ['gain', t('athlete.fact.gain'), fmtInt(s.elevation_gain_m, ' m')],
    ['kcal', t('athlete.fact.calories'), fmtInt(s.calories_kcal, ' kcal')],
  ];
  const risk = s.risk;
  const domain = useMemo(() => [0, Math.max(60, num(s.duration_s) ?? 0)] as const, [s.duration_s]);
  return (
    <>
      <Card title={`${sportName(t, s.sport)} · ${t(`athlete.status.${s.status}`)}`} className="live-card">
        <dl className="live-numbers" data-workout-id={c.workoutId}>
          {facts.map(([k, label, value]) => (
            <div key={k} className={`live-fact live-${k}`}><dt>{label}</dt><dd>{value}</dd></div>
          ))}
        </dl>
        {c.tMs !== null ? <p className="hint">{t('athlete.live.at', { time: new Date(c.tMs).toLocaleTimeString() })}</p> : null}
        {risk && risk.level !== 'low' ? (
          <Alert kind="info">
            <span className={`badge risk-${risk.level}`}>{t(`athlete.risk.${risk.level}`)}</span>{' '}
            {risk.reasons.join('; ')}
          </Alert>
        ) : null}
        {finished ? (
          <Alert kind="ok">{t('athlete.live.finished')} <Link to={`/app/workouts/${c.workoutId}`}>{t('athlete.live.open')}</Link></Alert>
        ) : <p><Link to={`/app/workouts/${c.workoutId}`}>{t('athlete.live.open')}</Link></p>}
      </Card>
      {trace.hr.length > 1 ? (
        <Card title={t('athlete.live.sinceOpen')}>
          <LineChart title={t('athlete.chart.hr')} xDomain={domain} height={140} minSpan={10}
            series={[{ label: t('athlete.chart.hr'), points: trace.hr, format: (v) => `${Math.round(v)} bpm` }]} />
          {!speedSport ? (
            <LineChart title={t('athlete.chart.pace')} xDomain={domain} height={140} invertY yTime minSpan={30}
              series={[{ label: t('athlete.chart.pace'), points: trace.pace, format: (v) => `${clock(v)} /km` }]} />
          ) : null}
        </Card>
      ) : null}
    </>
  );
}
