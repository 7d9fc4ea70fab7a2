// Stride live coach view: log in, choose a group, watch its athletes live.
//
// REST gives the login, the groups and a selected athlete's samples so far; the live feed
// (feed.js) everything else. Messages only change plain objects and mark what changed; one
// requestAnimationFrame callback then writes the changed text nodes (tiles.js), so 50
// tiles updating every second cost a few dozen text writes per frame. Everything received
// goes into the DOM as text or SVG attributes: nothing is ever parsed as HTML.

import { api, session } from './api.js';
import { DetailPanel } from './detail.js';
import { LiveFeed } from './feed.js';
import { num, timeOfDay } from './format.js';
import {
  clearWorkout, connectionState, learnZone, newTile, renderTile, RISK_RANK, sampleTime, sortTiles,
} from './tiles.js';

const MAX_ALERTS = 200;

const $ = (id) => document.getElementById(id);
const el = Object.fromEntries([
  'conn', 'session-nav', 'change-group', 'logout', 'login-view', 'login-form', 'email', 'password',
  'login-error', 'login-submit', 'otp', 'otp-field', 'groups-view', 'group-form', 'group-select', 'groups-error',
  'group-open', 'dashboard-view', 'group-title', 'counts', 'ended', 'tiles', 'no-athletes',
  'detail', 'detail-title', 'detail-close', 'detail-summary', 'route', 'route-cap', 'hr-chart',
  'hr-cap', 'alerts', 'no-alerts', 'tile-template',
].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));

const S = {
  groups: [],
  group: null,                 // {id, name, sport}
  feed: null,
  tiles: new Map(),            // athlete_id -> tile (tiles.js)
  rosterKnown: false,          // the feed said which athletes it shows
  snapshotSeen: false,
  alertKeys: new Set(),        // workout:level, so a level is listed once per workout
  dirtyTiles: new Set(),
  dirty: { detail: false, counts: false },
  frame: 0,
  refusal: null,               // why the server last refused the feed
};

// -------------------------------------------------------------------------- views

function show(view) {
  for (const v of [el.loginView, el.groupsView, el.dashboardView]) v.hidden = v !== view;
  el.sessionNav.hidden = view === el.loginView;
  el.changeGroup.hidden = view !== el.dashboardView;
  view.querySelector('h1')?.focus();   // screen readers and keyboards start at the new view
}

function setConn(text, kind) {
  if (el.conn.textContent !== text) el.conn.textContent = text;
  el.conn.dataset.kind = kind || '';
}

async function onLogin(ev) {
  ev.preventDefault();
  el.loginError.textContent = '';
  const email = el.email.value.trim();
  const password = el.password.value;
  if (!email || !password) {
    el.loginError.textContent = 'Enter your e-mail and password.';
    (email ? el.password : el.email).focus();
    return;
  }
  el.loginSubmit.disabled = true;
  try {
    const otp = el.otp.value.trim();
    const body = otp ? { email, password, otp } : { email, password };
    session.set((await api('POST', '/v1/auth/login', body)).token);
    el.password.value = '';
    el.otp.value = '';
    await loadGroups();
  } catch (err) {
    const code = err.body && err.body.code;
    if (code === 'mfa_required' || code === 'invalid_otp') {   // the password was right
      el.otpField.hidden = false;
      el.loginError.textContent = code === 'mfa_required' ? 'Enter the code from your app.'
        : 'Wrong or already used code.';
      el.otp.focus();
      return;
    }
    el.loginError.textContent = err.status === 401 ? 'Wrong e-mail or password.'
      : err.status === 429 ? `Too many attempts; try again in ${err.retryAfter || 'a few'} s.`
        : `Could not log in: ${err.message}`;
    el.password.focus();
  } finally {
    el.loginSubmit.disabled = false;
  }
}

async function loadGroups() {
  el.groupsError.textContent = '';
  let groups;
  try {
    groups = await api('GET', '/v1/groups?limit=200');
  } catch (err) {
    if (err.status === 401) { toLogin('Your session has ended; log in again.'); return; }
    show(el.groupsView);
    el.groupsError.textContent = `Could not load your groups: ${err.message}`;
    return;
  }
  S.groups = groups.filter((g) => g.role === 'coach');
  el.groupSelect.replaceChildren(...S.groups.map((g) => {
    const option = document.createElement('option');
    option.value = g.id;
    option.textContent = `${g.name} (${g.sport})`;
    return option;
  }));
  el.groupOpen.disabled = S.groups.length === 0;
  show(el.groupsView);
  if (S.groups.length === 0) el.groupsError.textContent = 'You coach no group yet.';
  const wanted = sessionStorage.getItem('stride.group');   // a reload reopens it
  if (wanted && S.groups.some((g) => g.id === wanted)) openGroup(wanted);
}

function openGroup(id) {
  S.group = S.groups.find((g) => g.id === id) || { id, name: 'Group', sport: '' };
  sessionStorage.setItem('stride.group', id);
  resetDashboard();
  el.groupTitle.textContent = S.group.name;
  document.title = `${S.group.name} — Stride live`;
  show(el.dashboardView);
  S.feed = new LiveFeed({
    url: () => {
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const query = new URLSearchParams({ group: S.group.id });
      return `${proto}://${location.host}/v1/live?${query}`;
    },
    token: () => session.token,
    onMessage: handle, onStatus: setConn, onAccessEnded: accessEnded, onRefused: checkAccess,
  });
  S.feed.start();
}

function stopFeed() {
  if (S.feed) S.feed.stop();
  S.feed = null;
}

function leaveGroup() {
  stopFeed();
  S.group = null;
  sessionStorage.removeItem('stride.group');
  resetDashboard();
  setConn('');
  loadGroups();
}

async function onLogout() {
  stopFeed();
  if (session.token) { try { await api('POST', '/v1/auth/logout'); } catch { /* ends anyway */ } }
  toLogin('You are logged out.');
}

function toLogin(message) {
  stopFeed();
  S.group = null;
  session.set(null);
  sessionStorage.removeItem('stride.group');
  resetDashboard();
  setConn('');
  document.title = 'Stride — live coach view';
  show(el.loginView);
  el.loginError.textContent = message || '';
}

// The feed was refused before it opened: REST tells whether the session or access ended.
async function checkAccess() {
  const feed = S.feed;
  try {
    const groups = await api('GET', '/v1/groups?limit=200');
    if (S.feed !== feed) return false;
    if (!groups.some((g) => g.id === S.group.id && g.role === 'coach')) {
      stopFeed();
      accessEnded();
      return false;
    }
  } catch (err) {
    if (S.feed !== feed) return false;
    if (err.status === 401) { toLogin('Your session has ended; log in again.'); return false; }
  }
  return true;   // a network failure or a restarting gateway: try again later
}

// The server refused the feed (it then closes it with 1008): why, for accessEnded().
function onRefusal(msg) {
  if (msg.code === 'unauthorized') {
    stopFeed();
    toLogin('Your session has ended; log in again.');
    return;
  }
  S.refusal = typeof msg.message === 'string' ? msg.message : null;
}

function accessEnded() {
  S.feed = null;
  resetDashboard();
  el.ended.textContent = S.refusal ? `Live view refused: ${S.refusal}.`
    : 'Access ended: you may no longer watch this group live '
      + '(a consent was withdrawn, your role changed or your session ended).';
  S.refusal = null;
  el.ended.hidden = false;
  setConn('Access ended', 'bad');
}

function resetDashboard() {
  for (const t of S.tiles.values()) t.view.item.remove();
  S.tiles.clear();
  S.rosterKnown = false;
  S.snapshotSeen = false;
  S.alertKeys.clear();
  el.alerts.replaceChildren();
  el.noAlerts.hidden = false;
  el.ended.hidden = true;
  detail.close(false);
  S.dirty.counts = true;
  schedule();
}

// -------------------------------------------------------------------------- messages

function handle(msg) {
  if (msg.type === 'snapshot') onSnapshot(msg);
  else if (msg.type === 'update') onUpdate(msg);
  else if (msg.type === 'alert') onAlert(msg);
  else if (msg.type === 'athletes') onRoster(msg.athletes);
  else if (msg.type === 'error') onRefusal(msg);
  // heartbeats keep the feed alive (feed.js); other types are for newer pages: ignored
}

function onSnapshot(msg) {
  S.feed?.caughtUp();
  const workouts = Array.isArray(msg.workouts) ? msg.workouts : [];
  const roster = Array.isArray(msg.athletes) ? msg.athletes : null;
  // Rebuild from the snapshot, keeping the DOM of the athletes still shown (no flicker).
  const keep = new Set((roster || workouts).map((a) => a.athlete_id));
  for (const [id, t] of S.tiles) if (!keep.has(id)) removeTile(id, t);
  for (const t of S.tiles.values()) clearWorkout(t);
  S.rosterKnown = roster !== null;
  if (roster) onRoster(roster);
  const shownBefore = detail.workoutId;
  const now = Date.now();
  for (const w of workouts) applyWorkout(w, now, null);
  for (const t of S.tiles.values()) markTile(t);
  S.snapshotSeen = true;
  // The samples may have grown while disconnected (a workout opened anew loads its own).
  if (detail.athleteId && detail.workoutId === shownBefore) detail.reload();
  S.dirty.counts = true;
  schedule();
}

function onRoster(athletes) {
  if (!Array.isArray(athletes)) return;
  S.rosterKnown = true;
  const listed = new Set();
  let renamed = false;
  for (const a of athletes) {
    if (!a || !a.athlete_id) continue;
    listed.add(a.athlete_id);
    const t = tileFor(a.athlete_id, a.name);
    if (a.name && t.name !== a.name) { t.name = a.name; renamed = true; }
    markTile(t);
  }
  for (const [id, t] of S.tiles) if (!listed.has(id)) removeTile(id, t);
  if (renamed) sortTiles(el.tiles, S.tiles.values());
  S.dirty.counts = true;
}

function onUpdate(msg) {
  if (!msg.athlete_id || !msg.workout_id) return;
  if (S.rosterKnown && !S.tiles.has(msg.athlete_id)) return;   // not (or no longer) shown
  applyWorkout(msg, Date.now(), msg.event || null);
}

function onAlert(msg) {
  const t = S.tiles.get(msg.athlete_id);
  if (!t) return;
  if (t.workoutId === msg.workout_id && RISK_RANK[msg.level] > RISK_RANK[t.riskLevel]) {
    t.riskLevel = msg.level;
    t.riskReasons = Array.isArray(msg.reasons) ? msg.reasons : [];
    markTile(t);
  }
  addAlert(t, msg.workout_id, msg.level, msg.reasons, num(msg.at_ms) ?? Date.now());
}

function tileFor(athleteId, name) {
  let t = S.tiles.get(athleteId);
  if (!t) {
    t = newTile(el.tileTemplate, athleteId, name || `Athlete ${String(athleteId).slice(0, 8)}`,
      toggleDetail);
    S.tiles.set(athleteId, t);
    sortTiles(el.tiles, S.tiles.values());
  }
  return t;
}

function removeTile(id, t) {
  t.view.item.remove();
  S.tiles.delete(id);
  S.dirtyTiles.delete(t);
  if (detail.athleteId === id) detail.close(false);
  S.dirty.counts = true;
}

// A snapshot entry or an update: both carry workout_id, athlete_id and summary.
function applyWorkout(w, now, event) {
  const t = tileFor(w.athlete_id);
  const s = w.summary && typeof w.summary === 'object' ? w.summary : {};
  const started = num(s.started_at_ms) ?? 0;
  if (t.workoutId !== w.workout_id) {
    if (t.workoutId && started < t.startedAtMs) return;   // an older workout of the athlete
    clearWorkout(t);
    t.workoutId = w.workout_id;
    t.startedAtMs = started;
    if (detail.athleteId === t.id && detail.workoutId !== w.workout_id) openDetail(t.id, false);
  }
  const version = num(s.version);
  if (version === null || version >= t.version) {   // summaries may arrive out of order
    t.summary = s;
    if (version !== null) t.version = version;
    if (s.risk && typeof s.risk === 'object' && s.risk.level in RISK_RANK) {
      const rose = RISK_RANK[s.risk.level] > RISK_RANK[t.riskLevel];
      t.riskLevel = s.risk.level;
      t.riskReasons = Array.isArray(s.risk.reasons) ? s.risk.reasons : [];
      // The feed's own `alert` may come too: both land on one entry per workout and level.
      if (rose) addAlert(t, w.workout_id, s.risk.level, t.riskReasons, sampleTime(s) ?? Date.now());
    }
  }
  if (event === 'WorkoutCompleted') t.summary = { ...t.summary, status: 'finished' };
  if (t.summary.status === 'finished') {
    t.live = {};   // no current reading once it is over: the tile shows averages
  } else if (event === 'WorkoutMetricsUpdated' || 'hr_bpm' in w || 'speed_mps' in w) {
    t.live = { hr_bpm: num(w.hr_bpm), hr_zone: num(w.hr_zone), spo2_pct: num(w.spo2_pct),
      speed_mps: num(w.speed_mps), pace_s_per_km: num(w.pace_s_per_km) };
    if (t.live.hr_zone !== null && t.live.hr_bpm !== null) learnZone(t, t.live.hr_bpm, t.live.hr_zone);
    if (detail.workoutId === w.workout_id) detail.addLivePoint(w);
  }
  t.seenAt = now;
  markTile(t);
  S.dirty.counts = true;
  if (detail.athleteId === t.id) S.dirty.detail = true;
}

function addAlert(t, workoutId, level, reasons, atMs) {
  if (!(level in RISK_RANK) || level === 'low') return;
  const key = `${workoutId}:${level}`;
  if (S.alertKeys.has(key)) return;
  S.alertKeys.add(key);
  const make = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const li = make('li', 'alert-item');
  li.dataset.level = level;
  li.dataset.athleteId = t.id;
  const badge = make('span', 'risk-badge', `${level} risk`);
  badge.dataset.level = level;
  const when = make('time', '', timeOfDay(atMs));
  when.dateTime = new Date(atMs).toISOString();
  const head = make('p', 'alert-head');
  head.append(badge, make('strong', '', ` ${t.name} `), when);
  const why = (Array.isArray(reasons) && reasons.length ? reasons : ['no reason given']).join('; ');
  li.append(head, make('p', 'alert-reasons', why));
  el.alerts.prepend(li);
  while (el.alerts.childElementCount > MAX_ALERTS) el.alerts.lastElementChild.remove();
  el.noAlerts.hidden = true;
}

// -------------------------------------------------------------------------- frames

function markTile(t) {
  S.dirtyTiles.add(t);
  schedule();
}

function schedule() {
  if (!S.frame) S.frame = requestAnimationFrame(flush);
}

function flush() {
  S.frame = 0;
  const now = Date.now();
  for (const t of S.dirtyTiles) renderTile(t, now);
  S.dirtyTiles.clear();
  if (S.dirty.counts) { S.dirty.counts = false; renderCounts(now); }
  if (S.dirty.detail) { S.dirty.detail = false; detail.render(); }
}

function renderCounts(now) {
  const by = { live: 0, stale: 0, paused: 0, finished: 0, none: 0 };
  for (const t of S.tiles.values()) by[connectionState(t, now).key] += 1;
  const n = S.tiles.size;
  const parts = [`${n} athlete${n === 1 ? '' : 's'}`];
  for (const k of ['live', 'stale', 'paused', 'finished']) if (by[k]) parts.push(`${by[k]} ${k}`);
  const text = parts.join(' · ');
  if (el.counts.textContent !== text) el.counts.textContent = text;
  el.noAthletes.hidden = n > 0 || !S.snapshotSeen || !el.ended.hidden;
}

// A tile goes stale without any message: look once a second.
setInterval(() => {
  const now = Date.now();
  for (const t of S.tiles.values()) {
    if (t.shown.state !== connectionState(t, now).text) markTile(t);
  }
  S.dirty.counts = true;
  schedule();
}, 1000);

// -------------------------------------------------------------------------- detail

const detail = new DetailPanel({
  panel: el.detail, title: el.detailTitle, summary: el.detailSummary, route: el.route,
  routeCap: el.routeCap, hrChart: el.hrChart, hrCap: el.hrCap,
}, {
  tileOf: (id) => S.tiles.get(id),
  redraw: () => { S.dirty.detail = true; schedule(); },
});

function openDetail(athleteId, focus) {
  const t = S.tiles.get(athleteId);
  if (t) detail.open(t, focus);
}

function toggleDetail(athleteId) {
  if (detail.athleteId === athleteId) detail.close(true);
  else openDetail(athleteId, true);
}

// -------------------------------------------------------------------------- start

el.loginForm.addEventListener('submit', onLogin);
el.groupForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (el.groupSelect.value) openGroup(el.groupSelect.value);
});
el.logout.addEventListener('click', onLogout);
el.changeGroup.addEventListener('click', leaveGroup);
el.detailClose.addEventListener('click', () => detail.close(true));
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && detail.athleteId) detail.close(true);
});

if (session.token) loadGroups();
else show(el.loginView);
