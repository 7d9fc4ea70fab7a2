// The selected athlete's panel (rendered by React, hidden until an athlete is chosen):
// summary line, route and heart-rate chart. The samples so far come from REST (5 s
// buckets); live points from the feed carry on from their end.

import { api, ApiError } from '../../../core/api';
import { fmtDuration, num } from '../../../core/format';
import { sportName, timeOfDay, type Words } from '../words';
import { drawHeartRate, drawRoute, fitZoneBounds, type Point } from './charts';
import { connectionState, sampleTime, stateText, type Summary, type Tile } from './tiles';

const MAX_POINTS = 4_000;

export interface DetailElements {
  panel: HTMLElement;
  title: HTMLElement;
  summary: HTMLElement;
  route: SVGSVGElement;
  routeCap: HTMLElement;
  hrChart: SVGSVGElement;
  hrCap: HTMLElement;
}

interface Shown {
  athleteId: string;
  workoutId: string | null;
  points: Point[];
  pending: Point[];
  loading: boolean;
  error: string | null;
}

interface SampleRow { t: string; lat: unknown; lon: unknown; hr_bpm: unknown }

export class DetailPanel {
  private d: Shown | null = null;

  /** `tileOf(athleteId)`; `redraw()` asks for a render at the next animation frame. */
  constructor(private readonly els: DetailElements, private readonly tileOf: (id: string) => Tile | undefined,
    private readonly redraw: () => void, private readonly words: () => Words) {}

  get athleteId(): string | null { return this.d?.athleteId ?? null; }

  get workoutId(): string | null { return this.d?.workoutId ?? null; }

  open(tile: Tile, focus: boolean): void {
    const before = this.d && this.tileOf(this.d.athleteId);
    if (before && before !== tile) before.view.button.setAttribute('aria-pressed', 'false');
    tile.view.button.setAttribute('aria-pressed', 'true');
    this.d = { athleteId: tile.id, workoutId: tile.workoutId, points: [], pending: [],
      loading: true, error: null };
    this.els.panel.hidden = false;
    this.redraw();
    if (focus) this.els.title.focus();
    void this.reload();
  }

  close(returnFocus: boolean): void {
    const tile = this.d && this.tileOf(this.d.athleteId);
    if (tile) tile.view.button.setAttribute('aria-pressed', 'false');
    this.d = null;
    this.els.panel.hidden = true;
    if (returnFocus && tile) tile.view.button.focus();
  }

  async reload(): Promise<void> {
    const d = this.d;
    if (!d) return;
    d.loading = Boolean(d.workoutId);
    d.pending = [];
    if (d.workoutId) {
      try {
        const rows = await api<SampleRow[]>('GET',
          `/v1/workouts/${encodeURIComponent(d.workoutId)}/samples?bucket_s=5`);
        if (this.d !== d) return;
        d.points = rows.map((r) => ({ t: Date.parse(r.t), lat: num(r.lat), lon: num(r.lon), hr: num(r.hr_bpm) }));
        const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
        d.points.push(...d.pending.filter((p) => p.t > last));
      } catch (err) {
        if (this.d !== d) return;
        d.points = d.pending;   // a workout not stored yet answers 404: live points only
        d.error = err instanceof ApiError && err.status === 404 ? null
          : this.words().t('coach.detail.samplesFailed', { reason: err instanceof Error ? err.message : String(err) });
      }
    }
    d.pending = [];
    d.loading = false;
    this.trim();
    this.redraw();
  }

  /** A live update of the shown workout (it carries lat, lon, hr_bpm). */
  addLivePoint(w: Record<string, unknown>): void {
    const d = this.d;
    if (!d) return;
    const summary = (w.summary && typeof w.summary === 'object' ? w.summary : {}) as Summary;
    const p = { t: sampleTime(summary) ?? num(w.t_ms) ?? Date.now(), lat: num(w.lat),
      lon: num(w.lon), hr: num(w.hr_bpm) };
    if (d.loading) { d.pending.push(p); return; }
    const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
    if (p.t <= last) return;
    d.points.push(p);
    this.trim();
  }

  private trim(): void {
    const d = this.d;
    if (d && d.points.length > MAX_POINTS) {
      d.points = d.points.filter((_, i) => i % 2 === 0 || i === d.points.length - 1);
    }
  }

  render(): void {
    const d = this.d;
    const t = d && this.tileOf(d.athleteId);
    if (!d || !t) return;
    const w = this.words();
    const { els } = this;
    if (els.title.textContent !== t.name) els.title.textContent = t.name;
    const s = t.summary;
    const facts: string[] = [];
    if (!t.workoutId) facts.push(w.t('coach.detail.noWorkout'));
    else {
      const sport = typeof s.sport === 'string' ? sportName(w.t, s.sport) : '';
      facts.push(`${sport || w.t('coach.detail.workout')} · ${stateText(w, connectionState(t, Date.now()))}`);
      const started = num(s.started_at_ms);
      if (started) facts.push(w.t('coach.detail.started', { time: timeOfDay(started, w.locale) }));
      const moving = num(s.moving_time_s);
      if (moving !== null) facts.push(w.t('coach.detail.moving', { time: fmtDuration(moving) }));
      const said: [string, unknown][] = [['coach.detail.avgHr', s.avg_hr], ['coach.detail.maxHr', s.max_hr],
        ['coach.detail.minSpo2', s.min_spo2], ['coach.detail.climb', s.elevation_gain_m]];
      for (const [key, value] of said) {
        const v = num(value);
        if (v !== null) facts.push(w.t(key, { n: Math.round(v) }));
      }
    }
    els.summary.textContent = facts.join(' · ');
    drawRoute(els.route, els.routeCap, d.points, { loading: d.loading, error: d.error,
      finished: s.status === 'finished', distanceM: s.distance_m }, w);
    if (!t.bounds) t.bounds = fitZoneBounds(t.zoneSeen);
    drawHeartRate(els.hrChart, els.hrCap, d.points, t.bounds, d.loading, w);
  }
}
