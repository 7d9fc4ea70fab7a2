// A group's live view, on the elements React rendered for it. The feed (core/liveFeed.ts) brings
// everything; messages only change plain objects and mark what changed; one
// requestAnimationFrame callback then writes the changed text nodes (tiles.ts), so 50 tiles
// updating every second cost a few dozen text writes per frame and no React render.

import { api, ApiError, tokenStore } from '../../../core/api';
import { num } from '../../../core/format';
import type { Words } from '../words';
import { AlertList } from './alerts';
import { DetailPanel, type DetailElements } from './detail';
import { type FeedMessage, type FeedState, LiveFeed } from '../../../core/liveFeed';
import {
  clearWorkout, connectionState, countsText, isRisk, newTile, renderTile, RISK_RANK, sampleTime, sortTiles,
  stateText, strings, type Summary, takeReadings, takeSummary, type Tile,
} from './tiles';

export interface BoardElements {
  tiles: HTMLUListElement;
  counts: HTMLElement;
  noAthletes: HTMLElement;
  alerts: HTMLOListElement;
  noAlerts: HTMLElement;
  detail: DetailElements;
}

export interface BoardHooks {
  groupId: string;
  words: () => Words;
  onStatus: (state: FeedState) => void;
  /** The server ended access (1008), or the group is no longer one the user coaches;
   *  `reason`: what the server said, if it said. The feed has stopped for good. */
  onAccessEnded: (reason: string | null) => void;
  /** The server refused the session itself: sign in again. */
  onSessionEnded: () => void;
}

export class LiveBoard {
  private feed: LiveFeed | null = null;
  private readonly tiles = new Map<string, Tile>();
  private rosterKnown = false;   // the feed said which athletes it shows
  private snapshotSeen = false;
  private ended = false;
  private refusal: string | null = null;   // why the server last refused the feed
  private readonly dirtyTiles = new Set<Tile>();
  private dirtyCounts = false;
  private dirtyDetail = false;
  private frame = 0;
  private ticker = 0;
  private readonly detail: DetailPanel;
  private readonly alerts: AlertList;

  constructor(private readonly els: BoardElements, private readonly hooks: BoardHooks) {
    this.detail = new DetailPanel(els.detail, (id) => this.tiles.get(id),
      () => { this.dirtyDetail = true; this.schedule(); }, hooks.words);
    this.alerts = new AlertList(els.alerts, els.noAlerts, hooks.words);
  }

  start(): void {
    this.reset();
    document.addEventListener('keydown', this.onKey);
    // A tile goes stale without any message: look once a second.
    this.ticker = window.setInterval(() => this.tick(), 1000);
    const feed: LiveFeed = new LiveFeed({
      query: () => new URLSearchParams({ group: this.hooks.groupId }).toString(),
      token: () => tokenStore.get(),
      onMessage: (msg) => this.handle(msg),
      // 1008: access ended; the feed has stopped for good.
      onState: (state) => (state.kind === 'ended' ? this.accessEnded() : this.hooks.onStatus(state)),
      onRefused: (): Promise<boolean> => this.checkAccess(feed),
    });
    this.feed = feed;
    feed.start();
  }

  stop(): void {
    this.feed?.stop();
    this.feed = null;
    window.clearInterval(this.ticker);
    document.removeEventListener('keydown', this.onKey);
    this.reset();
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  /** The language changed: every string again, at the next frame. */
  relabel(): void {
    for (const t of this.tiles.values()) this.dirtyTiles.add(t);
    this.alerts.relabel();
    this.dirtyCounts = true;
    this.dirtyDetail = true;
    this.schedule();
  }

  closeDetail(returnFocus: boolean): void {
    this.detail.close(returnFocus);
  }

  private readonly onKey = (ev: KeyboardEvent): void => {
    if (ev.key === 'Escape' && this.detail.athleteId) this.detail.close(true);
  };

  // -- access ---------------------------------------------------------------------------

  /** The feed was refused before it opened: REST tells whether the session or access ended. */
  private async checkAccess(feed: LiveFeed): Promise<boolean> {
    try {
      const groups = await api<{ id: string; role: string }[]>('GET', '/v1/groups?limit=200');
      if (this.feed !== feed) return false;
      if (!groups.some((g) => g.id === this.hooks.groupId && g.role === 'coach')) {
        feed.stop();
        this.accessEnded();
        return false;
      }
    } catch (err) {
      // 401: the session ended (the app signs in again); a network failure or a restarting
      // gateway: try again later.
      if (this.feed !== feed || (err instanceof ApiError && err.status === 401)) return false;
    }
    return true;
  }

  /** The server refused the feed (it then closes it with 1008): why, for accessEnded(). */
  private onRefusal(msg: FeedMessage): void {
    if (msg.code === 'unauthorized') {
      this.feed?.stop();
      this.feed = null;
      this.hooks.onSessionEnded();
      return;
    }
    this.refusal = typeof msg.message === 'string' ? msg.message : null;
  }

  private accessEnded(): void {
    this.feed = null;
    this.reset();
    this.ended = true;
    this.hooks.onAccessEnded(this.refusal);
    this.refusal = null;
    this.hooks.onStatus({ kind: 'ended' });
  }

  private reset(): void {
    for (const t of this.tiles.values()) t.view.item.remove();
    this.tiles.clear();
    this.dirtyTiles.clear();
    this.rosterKnown = false;
    this.snapshotSeen = false;
    this.ended = false;
    this.alerts.clear();
    this.detail.close(false);
    this.dirtyCounts = true;
    this.schedule();
  }

  // -- messages -------------------------------------------------------------------------

  private handle(msg: FeedMessage): void {
    if (msg.type === 'snapshot') this.onSnapshot(msg);
    else if (msg.type === 'update') this.onUpdate(msg);
    else if (msg.type === 'alert') this.onAlert(msg);
    else if (msg.type === 'athletes') this.onRoster(msg.athletes);
    else if (msg.type === 'error') this.onRefusal(msg);
    // heartbeats keep the feed alive (feed.ts); other types are for newer pages: ignored
  }

  private onSnapshot(msg: FeedMessage): void {
    this.feed?.caughtUp();
    const workouts = (Array.isArray(msg.workouts) ? msg.workouts : []) as Record<string, unknown>[];
    const roster = Array.isArray(msg.athletes) ? msg.athletes as Record<string, unknown>[] : null;
    // Rebuild from the snapshot, keeping the DOM of the athletes still shown (no flicker).
    const keep = new Set((roster ?? workouts).map((a) => String(a?.athlete_id)));
    for (const [id, t] of this.tiles) if (!keep.has(id)) this.removeTile(id, t);
    for (const t of this.tiles.values()) clearWorkout(t);
    this.rosterKnown = roster !== null;
    if (roster) this.onRoster(roster);
    const shownBefore = this.detail.workoutId;
    const now = Date.now();
    for (const w of workouts) if (w && typeof w === 'object') this.applyWorkout(w, now, null);
    for (const t of this.tiles.values()) this.markTile(t);
    this.snapshotSeen = true;
    // The samples may have grown while disconnected (a workout opened anew loads its own).
    if (this.detail.athleteId && this.detail.workoutId === shownBefore) void this.detail.reload();
    this.dirtyCounts = true;
    this.schedule();
  }

  private onRoster(athletes: unknown): void {
    if (!Array.isArray(athletes)) return;
    this.rosterKnown = true;
    const listed = new Set<string>();
    let renamed = false;
    for (const a of athletes as Record<string, unknown>[]) {
      if (!a || typeof a.athlete_id !== 'string') continue;
      listed.add(a.athlete_id);
      const name = typeof a.name === 'string' && a.name ? a.name : null;
      const t = this.tileFor(a.athlete_id, name);
      if (name && t.name !== name) { t.name = name; renamed = true; }
      this.markTile(t);
    }
    for (const [id, t] of this.tiles) if (!listed.has(id)) this.removeTile(id, t);
    if (renamed) sortTiles(this.els.tiles, this.tiles.values());
    this.dirtyCounts = true;
  }

  private onUpdate(msg: FeedMessage): void {
    if (typeof msg.athlete_id !== 'string' || typeof msg.workout_id !== 'string') return;
    if (this.rosterKnown && !this.tiles.has(msg.athlete_id)) return;   // not (or no longer) shown
    this.applyWorkout(msg, Date.now(), typeof msg.event === 'string' ? msg.event : null);
  }

  private onAlert(msg: FeedMessage): void {
    const t = typeof msg.athlete_id === 'string' ? this.tiles.get(msg.athlete_id) : undefined;
    if (!t || typeof msg.workout_id !== 'string' || !isRisk(msg.level)) return;
    const reasons = strings(msg.reasons);
    if (t.workoutId === msg.workout_id && RISK_RANK[msg.level] > RISK_RANK[t.riskLevel]) {
      t.riskLevel = msg.level;
      t.riskReasons = reasons;
      this.markTile(t);
    }
    this.alerts.add({ athleteId: t.id, name: t.name, workoutId: msg.workout_id, level: msg.level,
      reasons, atMs: num(msg.at_ms) ?? Date.now() });
  }

  private tileFor(athleteId: string, name: string | null = null): Tile {
    let t = this.tiles.get(athleteId);
    if (!t) {
      t = newTile(athleteId, name ?? this.hooks.words().t('coach.tile.unnamed', { id: athleteId.slice(0, 8) }),
        (id) => this.toggleDetail(id));
      this.tiles.set(athleteId, t);
      sortTiles(this.els.tiles, this.tiles.values());
    }
    return t;
  }

  private removeTile(id: string, t: Tile): void {
    t.view.item.remove();
    this.tiles.delete(id);
    this.dirtyTiles.delete(t);
    if (this.detail.athleteId === id) this.detail.close(false);
    this.dirtyCounts = true;
  }

  /** A snapshot entry or an update: both carry workout_id, athlete_id and summary. */
  private applyWorkout(w: Record<string, unknown>, now: number, event: string | null): void {
    if (typeof w.athlete_id !== 'string' || typeof w.workout_id !== 'string') return;
    const t = this.tileFor(w.athlete_id);
    const s = (w.summary && typeof w.summary === 'object' ? w.summary : {}) as Summary;
    const started = num(s.started_at_ms) ?? 0;
    if (t.workoutId !== w.workout_id) {
      if (t.workoutId && started < t.startedAtMs) return;   // an older workout of the athlete
      clearWorkout(t);
      t.workoutId = w.workout_id;
      t.startedAtMs = started;
      if (this.detail.athleteId === t.id && this.detail.workoutId !== w.workout_id) this.detail.open(t, false);
    }
    const rose = takeSummary(t, s);
    // The feed's own `alert` may come too: both land on one entry per workout and level.
    if (rose) {
      this.alerts.add({ athleteId: t.id, name: t.name, workoutId: w.workout_id, level: rose,
        reasons: t.riskReasons, atMs: sampleTime(s) ?? Date.now() });
    }
    if (takeReadings(t, w, event) && this.detail.workoutId === w.workout_id) this.detail.addLivePoint(w);
    t.seenAt = now;
    this.markTile(t);
    this.dirtyCounts = true;
    if (this.detail.athleteId === t.id) this.dirtyDetail = true;
  }

  private toggleDetail(athleteId: string): void {
    if (this.detail.athleteId === athleteId) this.detail.close(true);
    else {
      const t = this.tiles.get(athleteId);
      if (t) this.detail.open(t, true);
    }
  }

  // -- frames ---------------------------------------------------------------------------

  private markTile(t: Tile): void {
    this.dirtyTiles.add(t);
    this.schedule();
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(this.flush);
  }

  private readonly flush = (): void => {
    this.frame = 0;
    const now = Date.now();
    const w = this.hooks.words();
    for (const t of this.dirtyTiles) renderTile(t, now, w);
    this.dirtyTiles.clear();
    if (this.dirtyCounts) { this.dirtyCounts = false; this.renderCounts(now, w); }
    if (this.dirtyDetail) { this.dirtyDetail = false; this.detail.render(); }
  };

  private tick(): void {
    const now = Date.now();
    const w = this.hooks.words();
    for (const t of this.tiles.values()) {
      if (t.shown.state !== stateText(w, connectionState(t, now))) this.markTile(t);
    }
    this.dirtyCounts = true;
    this.schedule();
  }

  private renderCounts(now: number, w: Words): void {
    const text = countsText(this.tiles.values(), now, w);
    if (this.els.counts.textContent !== text) this.els.counts.textContent = text;
    this.els.noAthletes.hidden = this.tiles.size > 0 || !this.snapshotSeen || this.ended;
  }
}
