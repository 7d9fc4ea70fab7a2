// A workout's samples (raw, or the API's time buckets) as chart series over elapsed time.
// Heart rate, SpO2 and elevation are the API's readings as they come; pace is worked out
// here from the positions (a device's own speed when it sent one), over a window of at
// least PACE_WINDOW_S so GPS jitter does not read as sprints and stops.

import type { Point } from '../../../core/charts';
import { elapsedS, type SampleRow } from './model';

const PACE_WINDOW_S = 30;
/** Slower than this reads as standing, not as a pace (the chart would be all scale). */
const SLOWEST_PACE_S_PER_KM = 1200;
/** A position implying more than this from the last one is a GPS spike: left out. */
const TOP_SPEED_MPS: Record<string, number> = { run: 12, walk: 5, hike: 5, swim: 4, row: 8, ride: 35, ski: 40, other: 40 };
const EARTH_M = 6_371_008.8;

export interface WorkoutSeries {
  pace: Point[];   // s/km
  speed: Point[];  // m/s
  hr: Point[];
  alt: Point[];
  spo2: Point[];
  lastX: number;
}

function haversineM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2
    + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * EARTH_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Series of the samples; x is seconds from `startMs` (a bucket's middle when bucketed). */
export function seriesOf(rows: SampleRow[], startMs: number, bucketS: number, sport: string): WorkoutSeries {
  const n = rows.length;
  const x = new Float64Array(n);
  const cum = new Float64Array(n); // metres along, from accepted positions
  const top = TOP_SPEED_MPS[sport] ?? 40;
  let lastLat: number | null = null, lastLon: number | null = null, lastX = 0, along = 0;
  const hr: Point[] = [], alt: Point[] = [], spo2: Point[] = [];
  for (let i = 0; i < n; i += 1) {
    const r = rows[i];
    x[i] = elapsedS(r.t, startMs) + bucketS / 2;
    if (r.lat !== null && r.lon !== null) {
      if (lastLat === null || lastLon === null) {
        lastLat = r.lat; lastLon = r.lon; lastX = x[i];
      } else {
        const d = haversineM(lastLat, lastLon, r.lat, r.lon);
        const dt = Math.max(x[i] - lastX, 1e-3);
        if (d / dt <= top) { along += d; lastLat = r.lat; lastLon = r.lon; lastX = x[i]; }
      }
    }
    cum[i] = along;
    hr.push([x[i], r.hr_bpm]);
    alt.push([x[i], r.alt_m]);
    spo2.push([x[i], r.spo2_pct]);
  }
  const speed: Point[] = [];
  const pace: Point[] = [];
  let j = 0;
  for (let i = 0; i < n; i += 1) {
    let v: number | null = rows[i].speed_mps;
    if (v === null) {
      while (j < i && x[i] - x[j + 1] >= PACE_WINDOW_S) j += 1;
      const dt = x[i] - x[j];
      v = dt >= PACE_WINDOW_S / 2 || (i > 0 && dt > 0 && bucketS >= PACE_WINDOW_S) ? (cum[i] - cum[j]) / dt : null;
    }
    speed.push([x[i], v]);
    pace.push([x[i], v !== null && v > 0 && 1000 / v <= SLOWEST_PACE_S_PER_KM ? 1000 / v : null]);
  }
  return { pace, speed, hr, alt, spo2, lastX: n ? x[n - 1] : 0 };
}

/** Whether any point has a reading. */
export const hasReadings = (points: Point[]): boolean => points.some((p) => p[1] !== null);
