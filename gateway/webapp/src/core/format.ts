// How numbers read: SI in, people's units out ('–' for no value).

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** h:mm:ss (or m:ss under an hour) of a duration in seconds. */
export function clock(totalS: number): string {
  const s = Math.max(0, Math.floor(totalS));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
    : `${m}:${String(sec).padStart(2, '0')}`;
}

export const fmtDistance = (m: unknown): string => {
  const v = num(m);
  return v === null ? '–' : v < 1000 ? `${Math.round(v)} m` : `${(v / 1000).toFixed(2)} km`;
};

export const fmtDuration = (s: unknown): string => (num(s) === null ? '–' : clock(s as number));

/** Pace from s/km; slower than an hour per km reads as no pace (standing still). */
export const fmtPace = (sPerKm: unknown): string => {
  const v = num(sPerKm);
  return v === null || v <= 0 || v > 3600 ? '–' : `${clock(v)} /km`;
};

export const fmtSpeed = (mps: unknown): string => (num(mps) === null ? '–' : `${((mps as number) * 3.6).toFixed(1)} km/h`);

export const fmtInt = (v: unknown, unit = ''): string => (num(v) === null ? '–' : `${Math.round(v as number)}${unit}`);

export const fmtDateTime = (iso: string | number | null | undefined, locale: string): string => {
  if (iso === null || iso === undefined || iso === '') return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' });
};
