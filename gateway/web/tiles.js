// One tile per athlete: a button built once from the page's <template>, whose text nodes
// are then rewritten only when the string they show changes.

import { fmtDistance, fmtDuration, fmtInt, fmtPace, fmtSpeed, num } from './format.js';

export const STALE_MS = 10_000;   // "live" means an update within the last 10 s
export const RISK_RANK = { low: 0, moderate: 1, high: 2 };

/** A new athlete's model with its DOM; `onSelect` runs on click, Enter or Space. */
export function newTile(template, athleteId, name, onSelect) {
  return {
    id: athleteId, name, workoutId: null, startedAtMs: 0, version: -1, summary: {}, live: {},
    seenAt: 0, riskLevel: 'low', riskReasons: [], zoneSeen: {}, bounds: null,
    view: buildView(template, athleteId, onSelect), shown: {},
  };
}

/** Forget the workout (the athlete stays). */
export function clearWorkout(t) {
  Object.assign(t, { workoutId: null, startedAtMs: 0, version: -1, summary: {}, live: {},
    riskLevel: 'low', riskReasons: [] });
}

function buildView(template, athleteId, onSelect) {
  const item = template.content.firstElementChild.cloneNode(true);
  const button = item.querySelector('.tile');
  button.dataset.athleteId = athleteId;
  button.addEventListener('click', () => onSelect(athleteId));
  const text = (sel) => item.querySelector(sel).appendChild(document.createTextNode(''));
  return {
    item, button,
    nodes: {
      name: text('.name'), sport: text('.sport'), state: text('.state-text'), hrK: text('.hr-k'),
      hr: text('.hr-v'), zone: text('.zone'), paceK: text('.pace-k'), pace: text('.pace-v'),
      dist: text('.dist-v'), time: text('.time-v'), kcal: text('.kcal-v'), spo2: text('.spo2-v'),
      risk: text('.risk-badge'), reasons: text('.risk-reasons'),
    },
  };
}

/** Sample time (ms) of a workout's newest reading: what stored samples and alerts use (a
 *  device catching up sends readings older than the clock). */
export function sampleTime(s) {
  if (num(s.started_at_ms) === null || num(s.duration_s) === null) return null;
  return s.ended_at_ms ?? s.started_at_ms + s.duration_s * 1000;
}

/** live | stale | paused | finished | none, with the words shown for it. */
export function connectionState(t, now) {
  const status = t.summary.status;
  if (!t.workoutId) return { key: 'none', text: 'no workout' };
  if (status === 'finished') return { key: 'finished', text: 'finished' };
  if (status === 'paused') return { key: 'paused', text: 'paused' };
  const quiet = now - t.seenAt;
  if (quiet > STALE_MS) return { key: 'stale', text: `stale (${fmtDuration(quiet / 1000)})` };
  return { key: 'live', text: 'live' };
}

function put(t, key, value) {
  if (t.shown[key] !== value) { t.shown[key] = value; t.view.nodes[key].data = value; }
}

function attr(t, name, value) {
  const key = `@${name}`;
  if (t.shown[key] !== value) { t.shown[key] = value; t.view.button.dataset[name] = value; }
}

export function renderTile(t, now) {
  const s = t.summary, live = t.live;
  const ride = s.sport === 'ride';
  const state = connectionState(t, now);
  put(t, 'name', t.name);
  put(t, 'sport', s.sport || '');
  put(t, 'state', state.text);
  attr(t, 'state', state.key);
  const hr = live.hr_bpm ?? null;
  const avgHr = hr === null && t.workoutId ? num(s.avg_hr) : null;   // e.g. once finished
  put(t, 'hrK', avgHr === null ? 'HR' : 'HR avg');
  put(t, 'hr', fmtInt(hr ?? avgHr, ''));
  const zone = hr === null ? null : live.hr_zone;
  put(t, 'zone', zone ? `Z${zone}` : '');   // the zone's number, not only its colour
  attr(t, 'zone', zone ? String(zone) : '');
  put(t, 'paceK', ride ? 'Speed' : 'Pace');
  const pace = live.pace_s_per_km ?? s.avg_pace_s_per_km ?? null;
  const speed = live.speed_mps ?? s.avg_speed_mps ?? null;
  put(t, 'pace', ride ? fmtSpeed(speed) : fmtPace(pace));
  put(t, 'dist', t.workoutId ? fmtDistance(s.distance_m) : '–');
  put(t, 'time', t.workoutId ? fmtDuration(s.duration_s) : '–');
  put(t, 'kcal', fmtInt(s.calories_kcal, ' kcal'));
  const spo2 = live.spo2_pct ?? null;
  put(t, 'spo2', spo2 === null ? (num(s.min_spo2) === null ? '–' : `min ${Math.round(s.min_spo2)} %`)
    : `${Math.round(spo2)} %${s.spo2_low_alert ? ' low' : ''}`);
  attr(t, 'spo2Low', s.spo2_low_alert ? 'true' : 'false');
  const hasRisk = t.workoutId && s.risk !== undefined;   // absent for viewers without health data
  put(t, 'risk', hasRisk ? `${t.riskLevel} risk` : 'risk –');
  attr(t, 'risk', hasRisk ? t.riskLevel : 'unknown');
  put(t, 'reasons', t.riskLevel !== 'low' ? t.riskReasons.join('; ') : '');
}

/** Keep the tiles in name order, moving only the nodes out of place. */
export function sortTiles(list, tiles) {
  const sorted = [...tiles].sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1));
  let prev = null;
  for (const t of sorted) {
    const want = prev ? prev.view.item.nextSibling : list.firstChild;
    if (want !== t.view.item) list.insertBefore(t.view.item, want);
    prev = t;
  }
}

/** Remember which bpm the feed put in which zone (the chart fits its bands to them). */
export function learnZone(t, hr, zone) {
  if (!(zone >= 1 && zone <= 5)) return;
  const seen = t.zoneSeen[zone];
  if (!seen) t.zoneSeen[zone] = { lo: hr, hi: hr };
  else if (hr < seen.lo || hr > seen.hi) {
    seen.lo = Math.min(seen.lo, hr);
    seen.hi = Math.max(seen.hi, hr);
  } else return;
  t.bounds = null;   // refit when next drawn
}
