// The selected athlete's route and heart-rate chart, drawn as SVG into elements React
// rendered (no map tiles: the page works without internet). Both are redrawn whole, at most
// once per animation frame, and only while an athlete is selected.

import { clock, fmtDistance } from '../../../core/format';
import type { Words } from '../words';

const SVG_NS = 'http://www.w3.org/2000/svg';
const M_PER_DEG = 111_195.08;     // metres per degree of latitude (IUGG mean sphere)
const ZONE_FRACTIONS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];   // zone z spans [F[z-1], F[z])
const DEFAULT_HR_MAX = 183.5;     // the platform's default: Tanaka's 208 - 0.7 x age 35

/** A point of the shown workout: sample time (ms), position and heart rate, each may be null. */
export interface Point {
  t: number;
  lat: number | null;
  lon: number | null;
  hr: number | null;
}

function svg(name: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function note(W: number, H: number, text: string): SVGElement[] {
  return [svg('rect', { x: 0, y: 0, width: W, height: H, class: 'plot-bg' }),
    svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'plot-note' }, text)];
}

/**
 * Zone bounds in bpm (6 values: zones 1-5 lie between them). The platform's zones are
 * fractions F of the heart-rate reserve, rest + (max - rest)·F (Karvonen; rest = 0, i.e.
 * % of HRmax, when the athlete gave none). The page does not know the athlete's rest and
 * max, so it takes the pair closest to the defaults (rest 0, max 183.5) that puts every
 * (bpm, zone) the feed reported in its band. `seen`: {zone: {lo, hi}} of reported bpm.
 */
export function fitZoneBounds(seen: Record<number, { lo: number; hi: number }>): number[] {
  const ranges = Object.entries(seen).map(([z, r]) => [Number(z), r.lo, r.hi] as const);
  let best = [0, DEFAULT_HR_MAX];
  let bestCost = Infinity;
  for (let rest = 0; rest <= 90; rest += 2) {
    for (let max = 120; max <= 230; max += 1) {
      const span = max - rest;
      let misses = 0;
      for (const [z, lo, hi] of ranges) {
        if (rest + span * ZONE_FRACTIONS[z - 1] > lo) misses += 1;
        if (z < 5 && rest + span * ZONE_FRACTIONS[z] <= hi) misses += 1;
      }
      const cost = misses * 1000 + (rest / 60) ** 2 + ((max - DEFAULT_HR_MAX) / 25) ** 2;
      if (cost < bestCost) { bestCost = cost; best = [rest, span]; }
    }
  }
  return ZONE_FRACTIONS.map((f) => best[0] + best[1] * f);
}

type XY = [number, number];

// A GPS spike averaged into a 5 s bucket still juts out: a point much farther from both
// neighbours than they are from each other (beyond a usual step) is moved between them.
function despike(xy: XY[]): void {
  const dist = (a: XY, b: XY) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const steps = xy.slice(1).map((p, i) => dist(p, xy[i])).sort((a, b) => a - b);
  const slack = Math.max(20, 1.5 * (steps[Math.floor(steps.length / 2)] || 0));
  for (let i = 1; i + 1 < xy.length; i += 1) {
    const gap = dist(xy[i - 1], xy[i + 1]);
    const off = Math.min(dist(xy[i - 1], xy[i]), dist(xy[i], xy[i + 1]));
    if (off > gap + slack) {
      xy[i] = [(xy[i - 1][0] + xy[i + 1][0]) / 2, (xy[i - 1][1] + xy[i + 1][1]) / 2];
    }
  }
}

function extent(xy: XY[]): { minX: number; minY: number; w: number; h: number } {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const [x, y] of xy) {
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  return { minX, minY, w: maxX - minX, h: maxY - minY };
}

export interface RouteState {
  loading: boolean;
  error: string | null;
  finished: boolean;
  distanceM: unknown;
}

/** The route so far, north up, scaled to its bounding box. */
export function drawRoute(target: SVGSVGElement, caption: HTMLElement, points: Point[],
  { loading, error, finished, distanceM }: RouteState, w: Words): void {
  const W = 400, H = 260, PAD = 14;
  const pts = points.filter((p): p is Point & { lat: number; lon: number } => p.lat !== null && p.lon !== null);
  if (pts.length < 2) {
    target.replaceChildren(...note(W, H, loading ? w.t('coach.route.loading') : error || w.t('coach.route.none')));
    caption.textContent = w.t('coach.route.capNone');
    return;
  }
  // Local metres east/south of the first point: an equirectangular projection is exact
  // enough over a workout's few kilometres.
  const lat0 = pts[0].lat, lon0 = pts[0].lon, k = Math.cos((lat0 * Math.PI) / 180);
  const xy = pts.map((p): XY => [(p.lon - lon0) * k * M_PER_DEG, -(p.lat - lat0) * M_PER_DEG]);
  despike(xy);
  const box = extent(xy);
  const spanM = Math.max(box.w, box.h, 50);
  const scale = Math.min((W - 2 * PAD) / Math.max(box.w, 1), (H - 2 * PAD) / Math.max(box.h, 1),
    (Math.min(W, H) - 2 * PAD) / 50);   // at least 50 m across: no zooming into GPS noise
  const ox = (W - box.w * scale) / 2, oy = (H - box.h * scale) / 2;
  const px = xy.map(([x, y]): XY => [ox + (x - box.minX) * scale, oy + (y - box.minY) * scale]);
  const [sx, sy] = px[0], [ex, ey] = px[px.length - 1];
  const span = spanM >= 1000 ? `${(spanM / 1000).toFixed(1)} km` : `${Math.round(spanM)} m`;
  target.replaceChildren(
    svg('rect', { x: 0, y: 0, width: W, height: H, class: 'plot-bg' }),
    svg('polyline', { points: px.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '),
      class: 'route-line' }),
    svg('circle', { cx: sx.toFixed(1), cy: sy.toFixed(1), r: 5, class: 'route-start' }),
    svg('circle', { cx: ex.toFixed(1), cy: ey.toFixed(1), r: 6, class: 'route-now' }),
    svg('text', { x: W - PAD, y: H - 6, 'text-anchor': 'end', class: 'plot-note' },
      w.t('coach.route.across', { span })),
  );
  caption.textContent = w.t('coach.route.cap', {
    end: w.t(finished ? 'coach.route.finish' : 'coach.route.now'), distance: fmtDistance(distanceM) });
}

/** Heart rate over the workout on zone bands. `bounds` from fitZoneBounds. Each band
 *  carries its zone number: colour is never the only signal. */
export function drawHeartRate(target: SVGSVGElement, caption: HTMLElement, points: Point[],
  bounds: number[], loading: boolean, w: Words): void {
  const W = 400, H = 180, L = 34, R = 8, T = 8, B = 20;
  const pts = points.filter((p): p is Point & { hr: number } => p.hr !== null);
  if (pts.length < 2) {
    target.replaceChildren(...note(W, H, w.t(loading ? 'coach.hr.loading' : 'coach.hr.none')));
    caption.textContent = w.t('coach.hr.capNone');
    return;
  }
  let least = Infinity, most = -Infinity;
  for (const p of pts) {
    if (p.hr < least) least = p.hr;
    if (p.hr > most) most = p.hr;
  }
  const lo = Math.floor(Math.min(least, bounds[1]) / 10) * 10 - 5;
  const hi = Math.ceil(Math.max(most, bounds[3]) / 10) * 10 + 5;
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const x = (t: number) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (bpm: number) => T + (1 - (bpm - lo) / (hi - lo)) * (H - T - B);
  const nodes = [svg('rect', { x: 0, y: 0, width: W, height: H, class: 'plot-bg' })];
  for (let z = 1; z <= 5; z += 1) {
    const top = Math.max(lo, Math.min(hi, z === 5 ? hi : bounds[z]));
    const bottom = Math.max(lo, Math.min(hi, bounds[z - 1]));   // below zone 1: no band
    if (top <= bottom) continue;
    nodes.push(svg('rect', { x: L, y: y(top), width: W - L - R, height: y(bottom) - y(top),
      class: `band z${z}` }));
    if (y(bottom) - y(top) >= 11) {
      nodes.push(svg('text', { x: W - R - 4, y: (y(top) + y(bottom)) / 2 + 4, 'text-anchor': 'end',
        class: 'band-label' }, w.t('coach.tile.zone', { n: z })));
    }
  }
  for (const v of [lo + 5, hi - 5]) {
    nodes.push(svg('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' },
      String(Math.round(v))));
  }
  const span = clock((t1 - t0) / 1000);
  nodes.push(
    svg('text', { x: L, y: H - 5, class: 'axis' }, '0:00'),
    svg('text', { x: W - R, y: H - 5, 'text-anchor': 'end', class: 'axis' }, span),
    svg('polyline', { class: 'hr-line',
      points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.hr).toFixed(1)}`).join(' ') }),
  );
  target.replaceChildren(...nodes);
  caption.textContent = w.t('coach.hr.cap', { time: span, now: Math.round(pts[pts.length - 1].hr),
    lo: Math.round(least), hi: Math.round(most) });
}
