// How numbers read on the coach page: SI in, people's units out ('–' for no value).

export const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** h:mm:ss (or m:ss under an hour) of a duration in seconds. */
export function clock(totalS) {
  const s = Math.max(0, Math.floor(totalS));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
    : `${m}:${String(sec).padStart(2, '0')}`;
}

export const fmtDistance = (m) => (num(m) === null ? '–'
  : m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(2)} km`);

export const fmtDuration = (s) => (num(s) === null ? '–' : clock(s));

/** Pace from s/km; slower than an hour per km reads as no pace (standing still). */
export const fmtPace = (sPerKm) => (num(sPerKm) === null || sPerKm <= 0 || sPerKm > 3600 ? '–'
  : `${clock(sPerKm)} /km`);

export const fmtSpeed = (mps) => (num(mps) === null ? '–' : `${(mps * 3.6).toFixed(1)} km/h`);

export const fmtInt = (v, unit) => (num(v) === null ? '–' : `${Math.round(v)}${unit}`);

export const timeOfDay = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
