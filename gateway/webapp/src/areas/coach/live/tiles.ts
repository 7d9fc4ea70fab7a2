// One tile per athlete: a button built once (inside the list React rendered), whose text
// nodes are then rewritten only when the string they show changes.

import { fmtDistance, fmtDuration, fmtPace, fmtSpeed, num } from '../../../core/format';
import { plural, sportName, type Words } from '../words';

export const STALE_MS = 10_000;   // "live" means an update within the last 10 s
export type RiskLevel = 'low' | 'moderate' | 'high';
export const RISK_RANK: Record<RiskLevel, number> = { low: 0, moderate: 1, high: 2 };
export const isRisk = (v: unknown): v is RiskLevel => v === 'low' || v === 'moderate' || v === 'high';

/** A workout's summary as the feed sends it (fields are read through num()/String()). */
export type Summary = Record<string, unknown>;

export interface LiveReadings {
  hr_bpm: number | null;
  hr_zone: number | null;
  spo2_pct: number | null;
  speed_mps: number | null;
  pace_s_per_km: number | null;
}

type NodeKey = 'name' | 'sport' | 'state' | 'hrK' | 'hr' | 'bpm' | 'zone' | 'paceK' | 'pace' | 'distK'
  | 'dist' | 'timeK' | 'time' | 'kcalK' | 'kcal' | 'spo2' | 'risk' | 'reasons';

interface TileView {
  item: HTMLLIElement;
  button: HTMLButtonElement;
  nodes: Record<NodeKey, Text>;
}

export interface Tile {
  id: string;
  name: string;
  workoutId: string | null;
  startedAtMs: number;
  version: number;
  summary: Summary;
  live: Partial<LiveReadings>;
  seenAt: number;
  riskLevel: RiskLevel;
  riskReasons: string[];
  /** bpm the feed put in each zone: {zone: {lo, hi}} (the chart fits its bands to them). */
  zoneSeen: Record<number, { lo: number; hi: number }>;
  bounds: number[] | null;
  view: TileView;
  /** What each text node and data attribute shows now. */
  shown: Record<string, string>;
}

/** A new athlete's model with its DOM; `onSelect` runs on click, Enter or Space. */
export function newTile(athleteId: string, name: string, onSelect: (id: string) => void): Tile {
  return {
    id: athleteId, name, workoutId: null, startedAtMs: 0, version: -1, summary: {}, live: {},
    seenAt: 0, riskLevel: 'low', riskReasons: [], zoneSeen: {}, bounds: null,
    view: buildView(athleteId, onSelect), shown: {},
  };
}

export const strings = (v: unknown): string[] =>
  (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Forget the workout (the athlete stays). */
export function clearWorkout(t: Tile): void {
  Object.assign(t, { workoutId: null, startedAtMs: 0, version: -1, summary: {}, live: {},
    riskLevel: 'low', riskReasons: [] });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string,
  ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function buildView(athleteId: string, onSelect: (id: string) => void): TileView {
  const nodes = {} as Record<NodeKey, Text>;
  const text = (key: NodeKey, className: string): HTMLSpanElement => {
    nodes[key] = document.createTextNode('');
    return el('span', className, nodes[key]);
  };
  const metric = (k: HTMLElement, v: HTMLElement, extra = ''): HTMLSpanElement =>
    el('span', `m${extra}`, k, ' ', v);
  const spo2Label = el('span', 'k', 'SpO', el('sub', '', '2'));
  const button = el('button', 'tile',
    el('span', 'tile-head', text('name', 'name'), text('sport', 'sport')),
    el('span', 'state', el('span', 'state-dot'), text('state', 'state-text')),
    el('span', 'hr', text('hrK', 'k hr-k'), ' ', text('hr', 'v hr-v'), ' ', text('bpm', 'u'), ' ',
      text('zone', 'zone')),
    el('span', 'metrics',
      metric(text('paceK', 'k pace-k'), text('pace', 'v pace-v')),
      metric(text('distK', 'k'), text('dist', 'v dist-v')),
      metric(text('timeK', 'k'), text('time', 'v time-v')),
      metric(text('kcalK', 'k'), text('kcal', 'v kcal-v')),
      metric(spo2Label, text('spo2', 'v spo2-v'), ' spo2')),
    el('span', 'risk', text('risk', 'risk-badge'), ' ', text('reasons', 'risk-reasons')));
  button.type = 'button';
  button.setAttribute('aria-pressed', 'false');
  button.dataset.athleteId = athleteId;
  (button.querySelector('.state-dot') as HTMLElement).setAttribute('aria-hidden', 'true');
  button.addEventListener('click', () => onSelect(athleteId));
  return { item: el('li', 'tile-item', button), button, nodes };
}

/** Sample time (ms) of a workout's newest reading: what stored samples and alerts use (a
 *  device catching up sends readings older than the clock). */
export function sampleTime(s: Summary): number | null {
  const started = num(s.started_at_ms);
  const duration = num(s.duration_s);
  if (started === null || duration === null) return null;
  return num(s.ended_at_ms) ?? started + duration * 1000;
}

export type StateKey = 'live' | 'stale' | 'paused' | 'finished' | 'none';

/** live | stale (with how long it has been quiet) | paused | finished | none. */
export function connectionState(t: Tile, now: number): { key: StateKey; quietMs: number } {
  const status = t.summary.status;
  const quietMs = now - t.seenAt;
  if (!t.workoutId) return { key: 'none', quietMs };
  if (status === 'finished') return { key: 'finished', quietMs };
  if (status === 'paused') return { key: 'paused', quietMs };
  return { key: quietMs > STALE_MS ? 'stale' : 'live', quietMs };
}

/** The tiles' words in the current language, looked up once per language rather than for
 *  every tile in every frame; templates keep their `{n}` for fill(). */
interface Labels {
  state: Record<StateKey, string>;
  hr: string; hrAvg: string; bpm: string; zone: string; pace: string; speed: string;
  distance: string; time: string; calories: string; kcal: string; spo2Min: string; spo2: string;
  spo2Low: string; risk: Record<RiskLevel | 'unknown', string>;
  sports: Map<string, string>;
}

let cached: { t: Words['t']; labels: Labels } | null = null;

function labels(w: Words): Labels {
  if (cached?.t === w.t) return cached.labels;
  const t = w.t;
  const states: StateKey[] = ['live', 'stale', 'paused', 'finished', 'none'];
  const tile = (k: string) => t(`coach.tile.${k}`);
  const made: Labels = {
    state: Object.fromEntries(states.map((k) => [k, t(`coach.state.${k}`)])) as Record<StateKey, string>,
    hr: tile('hr'), hrAvg: tile('hrAvg'), bpm: tile('bpm'), zone: tile('zone'), pace: tile('pace'),
    speed: tile('speed'), distance: tile('distance'), time: tile('time'), calories: tile('calories'),
    kcal: tile('kcal'), spo2Min: tile('spo2Min'), spo2: tile('spo2'), spo2Low: tile('spo2Low'),
    risk: { low: t('coach.risk.low'), moderate: t('coach.risk.moderate'), high: t('coach.risk.high'),
      unknown: t('coach.risk.unknown') },
    sports: new Map(),
  };
  cached = { t, labels: made };
  return made;
}

const fill = (template: string, key: string, value: string | number): string =>
  template.replace(`{${key}}`, String(value));

function sport(l: Labels, w: Words, name: string): string {
  let text = l.sports.get(name);
  if (text === undefined) {
    text = sportName(w.t, name);
    l.sports.set(name, text);
  }
  return text;
}

export function stateText(w: Words, state: { key: StateKey; quietMs: number }): string {
  const text = labels(w).state[state.key];
  return state.key === 'stale' ? fill(text, 'time', fmtDuration(state.quietMs / 1000)) : text;
}

function put(t: Tile, key: NodeKey, value: string): void {
  if (t.shown[key] !== value) { t.shown[key] = value; t.view.nodes[key].data = value; }
}

function attr(t: Tile, name: string, value: string): void {
  const key = `@${name}`;
  if (t.shown[key] !== value) { t.shown[key] = value; t.view.button.dataset[name] = value; }
}

const round = (v: number | null, template: string): string =>
  (v === null ? '–' : fill(template, 'n', Math.round(v)));

export function renderTile(t: Tile, now: number, w: Words): void {
  const l = labels(w);
  const s = t.summary;
  const live = t.live;
  const ride = s.sport === 'ride';
  const state = connectionState(t, now);
  put(t, 'name', t.name);
  put(t, 'sport', typeof s.sport === 'string' ? sport(l, w, s.sport) : '');
  put(t, 'state', stateText(w, state));
  attr(t, 'state', state.key);
  const hr = live.hr_bpm ?? null;
  const avgHr = hr === null && t.workoutId ? num(s.avg_hr) : null;   // e.g. once finished
  put(t, 'hrK', avgHr === null ? l.hr : l.hrAvg);
  const shownHr = hr ?? avgHr;
  put(t, 'hr', shownHr === null ? '–' : String(Math.round(shownHr)));
  put(t, 'bpm', l.bpm);
  const zone = hr === null ? null : live.hr_zone ?? null;
  put(t, 'zone', zone ? fill(l.zone, 'n', zone) : '');   // the number, not only a colour
  attr(t, 'zone', zone ? String(zone) : '');
  put(t, 'paceK', ride ? l.speed : l.pace);
  const pace = live.pace_s_per_km ?? num(s.avg_pace_s_per_km);
  const speed = live.speed_mps ?? num(s.avg_speed_mps);
  put(t, 'pace', ride ? fmtSpeed(speed) : fmtPace(pace));
  put(t, 'distK', l.distance);
  put(t, 'dist', t.workoutId ? fmtDistance(s.distance_m) : '–');
  put(t, 'timeK', l.time);
  put(t, 'time', t.workoutId ? fmtDuration(s.duration_s) : '–');
  put(t, 'kcalK', l.calories);
  put(t, 'kcal', round(num(s.calories_kcal), l.kcal));
  const spo2 = live.spo2_pct ?? null;
  const low = s.spo2_low_alert === true;
  put(t, 'spo2', spo2 === null ? round(num(s.min_spo2), l.spo2Min) : round(spo2, low ? l.spo2Low : l.spo2));
  attr(t, 'spo2Low', low ? 'true' : 'false');
  const hasRisk = t.workoutId !== null && s.risk !== undefined;   // absent for viewers without health data
  put(t, 'risk', l.risk[hasRisk ? t.riskLevel : 'unknown']);
  attr(t, 'risk', hasRisk ? t.riskLevel : 'unknown');
  put(t, 'reasons', t.riskLevel !== 'low' ? t.riskReasons.join('; ') : '');
}

/** Keep the tiles in name order, moving only the nodes out of place. */
export function sortTiles(list: HTMLElement, tiles: Iterable<Tile>): void {
  const sorted = [...tiles].sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1));
  let prev: Tile | null = null;
  for (const t of sorted) {
    const want = prev ? prev.view.item.nextSibling : list.firstChild;
    if (want !== t.view.item) list.insertBefore(t.view.item, want);
    prev = t;
  }
}

/** Remember which bpm the feed put in which zone (the chart fits its bands to them). */
export function learnZone(t: Tile, hr: number, zone: number): void {
  if (!(zone >= 1 && zone <= 5)) return;
  const seen = t.zoneSeen[zone];
  if (!seen) t.zoneSeen[zone] = { lo: hr, hi: hr };
  else if (hr < seen.lo || hr > seen.hi) {
    seen.lo = Math.min(seen.lo, hr);
    seen.hi = Math.max(seen.hi, hr);
  } else return;
  t.bounds = null;   // refit when next drawn
}

/** Takes a workout's summary unless a newer one is shown (they may arrive out of order);
 *  returns the risk level when it rose (an alert to list), else null. */
export function takeSummary(t: Tile, s: Summary): RiskLevel | null {
  const version = num(s.version);
  if (version !== null && version < t.version) return null;
  t.summary = s;
  if (version !== null) t.version = version;
  const risk = (s.risk && typeof s.risk === 'object' ? s.risk : {}) as Record<string, unknown>;
  if (!isRisk(risk.level)) return null;
  const rose = RISK_RANK[risk.level] > RISK_RANK[t.riskLevel];
  t.riskLevel = risk.level;
  t.riskReasons = strings(risk.reasons);
  return rose ? risk.level : null;
}

/** The current readings of an update (none once the workout is over: the tile shows its
 *  averages); true when it carried some. */
export function takeReadings(t: Tile, w: Record<string, unknown>, event: string | null): boolean {
  if (event === 'WorkoutCompleted') t.summary = { ...t.summary, status: 'finished' };
  if (t.summary.status === 'finished') {
    t.live = {};
    return false;
  }
  if (event !== 'WorkoutMetricsUpdated' && !('hr_bpm' in w) && !('speed_mps' in w)) return false;
  t.live = { hr_bpm: num(w.hr_bpm), hr_zone: num(w.hr_zone), spo2_pct: num(w.spo2_pct),
    speed_mps: num(w.speed_mps), pace_s_per_km: num(w.pace_s_per_km) };
  if (t.live.hr_zone != null && t.live.hr_bpm != null) learnZone(t, t.live.hr_bpm, t.live.hr_zone);
  return true;
}

/** "50 athletes · 48 live · 2 stale". */
export function countsText(tiles: Iterable<Tile>, now: number, w: Words): string {
  const by: Record<StateKey, number> = { live: 0, stale: 0, paused: 0, finished: 0, none: 0 };
  let n = 0;
  for (const t of tiles) {
    by[connectionState(t, now).key] += 1;
    n += 1;
  }
  const parts = [plural(w, 'coach.count.athletes', n)];
  for (const k of ['live', 'stale', 'paused', 'finished'] as const) {
    if (by[k]) parts.push(w.t(`coach.count.${k}`, { n: by[k] }));
  }
  return parts.join(' · ');
}
