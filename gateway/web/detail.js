// The selected athlete's panel: summary line, route and heart-rate chart. The samples so
// far come from REST (5 s buckets); live points from the feed carry on from their end.

import { api } from './api.js';
import { drawHeartRate, drawRoute, fitZoneBounds } from './charts.js';
import { fmtDuration, num, timeOfDay } from './format.js';
import { connectionState, sampleTime } from './tiles.js';

const MAX_POINTS = 4_000;

export class DetailPanel {
  /** els: {panel, title, summary, route, routeCap, hrChart, hrCap}; tileOf(athleteId);
   *  redraw(): ask for a render at the next animation frame. */
  constructor(els, { tileOf, redraw }) {
    Object.assign(this, { els, tileOf, redraw });
    this.d = null;   // {athleteId, workoutId, points, pending, loading, error}
  }

  get athleteId() { return this.d?.athleteId ?? null; }

  get workoutId() { return this.d?.workoutId ?? null; }

  open(tile, focus) {
    const before = this.d && this.tileOf(this.d.athleteId);
    if (before && before !== tile) before.view.button.setAttribute('aria-pressed', 'false');
    tile.view.button.setAttribute('aria-pressed', 'true');
    this.d = { athleteId: tile.id, workoutId: tile.workoutId, points: [], pending: [],
      loading: true, error: null };
    this.els.panel.hidden = false;
    this.redraw();
    if (focus) this.els.title.focus();
    this.reload();
  }

  close(returnFocus) {
    const tile = this.d && this.tileOf(this.d.athleteId);
    if (tile) tile.view.button.setAttribute('aria-pressed', 'false');
    this.d = null;
    this.els.panel.hidden = true;
    if (returnFocus && tile) tile.view.button.focus();
  }

  async reload() {
    const d = this.d;
    if (!d) return;
    d.loading = Boolean(d.workoutId);
    d.pending = [];
    if (d.workoutId) {
      try {
        const rows = await api('GET', `/v1/workouts/${encodeURIComponent(d.workoutId)}/samples?bucket_s=5`);
        if (this.d !== d) return;
        d.points = rows.map((r) => ({ t: Date.parse(r.t), lat: num(r.lat), lon: num(r.lon), hr: num(r.hr_bpm) }));
        const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
        d.points.push(...d.pending.filter((p) => p.t > last));
      } catch (err) {
        if (this.d !== d) return;
        d.points = d.pending;   // a workout not stored yet answers 404: live points only
        d.error = err.status === 404 ? null : `Samples could not be loaded (${err.message}).`;
      }
    }
    d.pending = [];
    d.loading = false;
    this.trim();
    this.redraw();
  }

  /** A live update of the shown workout (it carries lat, lon, hr_bpm). */
  addLivePoint(w) {
    const d = this.d;
    const p = { t: sampleTime(w.summary || {}) ?? num(w.t_ms) ?? Date.now(), lat: num(w.lat),
      lon: num(w.lon), hr: num(w.hr_bpm) };
    if (d.loading) { d.pending.push(p); return; }
    const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
    if (p.t <= last) return;
    d.points.push(p);
    this.trim();
  }

  trim() {
    const d = this.d;
    if (d.points.length > MAX_POINTS) {
      d.points = d.points.filter((_, i) => i % 2 === 0 || i === d.points.length - 1);
    }
  }

  render() {
    const d = this.d;
    const t = d && this.tileOf(d.athleteId);
    if (!t) return;
    const { els } = this;
    els.title.textContent = t.name;
    const s = t.summary;
    const facts = [];
    if (!t.workoutId) facts.push('No workout to show.');
    else {
      facts.push(`${s.sport || 'workout'} · ${connectionState(t, Date.now()).text}`);
      if (num(s.started_at_ms)) facts.push(`started ${timeOfDay(s.started_at_ms)}`);
      if (num(s.moving_time_s) !== null) facts.push(`moving ${fmtDuration(s.moving_time_s)}`);
      if (num(s.avg_hr) !== null) facts.push(`avg HR ${Math.round(s.avg_hr)}`);
      if (num(s.max_hr) !== null) facts.push(`max HR ${Math.round(s.max_hr)}`);
      if (num(s.min_spo2) !== null) facts.push(`min SpO2 ${Math.round(s.min_spo2)} %`);
      if (num(s.elevation_gain_m) !== null) facts.push(`climb ${Math.round(s.elevation_gain_m)} m`);
    }
    els.summary.textContent = facts.join(' · ');
    drawRoute(els.route, els.routeCap, d.points, { loading: d.loading, error: d.error,
      finished: s.status === 'finished', distanceM: s.distance_m });
    if (!t.bounds) t.bounds = fitZoneBounds(t.zoneSeen);
    drawHeartRate(els.hrChart, els.hrCap, d.points, t.bounds, d.loading);
  }
}
