// The athlete's workouts as the API sends them (gateway/workouts_api.py, workout_splits_api.py,
// workout_import_api.py) and the calls that read and change them.

import { ApiError, tokenStore } from '../../../core/api';

export const SPORTS = ['run', 'ride', 'walk', 'swim', 'row', 'hike', 'ski', 'other'] as const;
export const STATUSES = ['created', 'active', 'paused', 'finished'] as const;
/** A workout still recording: its sport stays and it cannot be deleted (409 workout_active). */
export const LIVE_STATUSES = ['created', 'active', 'paused'];

export type { Risk, Workout } from '../../../core/workout';
import type { Workout } from '../../../core/workout';

/** A stored sample, or (downsampled) one time bucket of them. */
export interface SampleRow {
  seq: number;
  t: string;
  lat: number | null;
  lon: number | null;
  alt_m: number | null;
  hr_bpm: number | null;
  spo2_pct: number | null;
  speed_mps: number | null;
  samples: number;
}

export interface SplitRow {
  km: number;
  distance_m: number;
  time_s: number;
  elapsed_s: number;
  pace_s_per_km: number | null;
  elevation_gain_m: number;
  elevation_loss_m: number;
  avg_hr: number | null;
}

export interface Splits { splits: SplitRow[]; hr_zone_s: number[] | null; distance_m: number }

/** GET /v1/workouts/{id}/path: a GeoJSON Feature; geometry null until the route is stored. */
export interface PathFeature {
  geometry: { type: 'LineString'; coordinates: [number, number][] } | { type: 'GeometryCollection' } | null;
  properties: { ready: boolean };
}

/** The list's filters, as in the page's URL and the API's query. */
export interface Filters { sport: string; from: string; to: string; status: string; q: string }

export const FILTER_KEYS: (keyof Filters)[] = ['sport', 'from', 'to', 'status', 'q'];

export function filtersOf(params: URLSearchParams): Filters {
  const get = (k: string) => (params.get(k) ?? '').trim();
  return { sport: get('sport'), from: get('from'), to: get('to'), status: get('status'), q: get('q') };
}

export function toQuery(f: Partial<Filters>): string {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) q.set(k, f[k] as string);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Elapsed seconds of an ISO time since the workout's start. */
export const elapsedS = (iso: string, startMs: number): number => (Date.parse(iso) - startMs) / 1000;

/**
 * POST /v1/workouts/import with upload progress (fetch cannot report it): resolves with the
 * new workout, rejects with ApiError (the API's {code, message}; status 0: no answer).
 */
export function uploadWorkout(form: FormData, onProgress: (fraction: number) => void,
  signal?: AbortSignal): Promise<Workout> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/workouts/import');
    xhr.setRequestHeader('Accept', 'application/json');
    const token = tokenStore.get();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) onProgress(ev.loaded / ev.total); };
    xhr.onload = () => {
      let body: unknown = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as Workout);
      else reject(new ApiError(xhr.status, body, xhr.getResponseHeader('Retry-After')));
    };
    xhr.onerror = () => reject(new ApiError(0, null, null));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}
