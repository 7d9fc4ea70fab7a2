// The live feed `WS /v1/live?athlete=…` or `?group=…` (gateway/live.py) for any area: one
// connection kept open until stopped. The token goes in the first frame
// (`{"type":"auth","token":…}`), never in the URL (URLs end up in logs). Close codes
// (gateway/live.py): 1008 = access ended (never reconnect); 1013 =
// the page read too slowly (reconnect at once for a fresh snapshot); any other close:
// reconnect with exponential backoff (1 s doubling to 30 s, jittered), reset by the next
// snapshot. Without a heartbeat for 35 s the connection is taken for dead and replaced.

export const POLICY_VIOLATION = 1008;
export const TRY_AGAIN_LATER = 1013;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const SILENT_FEED_MS = 35_000;

export type FeedState =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'catching-up' }
  | { kind: 'waiting'; retryInS: number }
  | { kind: 'ended' };

export type FeedMessage = { type: string } & Record<string, unknown>;

export interface LiveFeedOptions {
  /** The query of the feed, e.g. `athlete=<id>` (read at every attempt). */
  query: () => string;
  /** The bearer token, sent as the first frame (read at every attempt). */
  token: () => string | null;
  onMessage: (msg: FeedMessage) => void;
  onState: (state: FeedState) => void;
  /** A connection closed before it opened (the server refuses before the handshake, so
   *  the browser cannot tell why): resolves true to keep trying. */
  onRefused?: () => Promise<boolean>;
}

export class LiveFeed {
  private ws: WebSocket | null = null;
  private stopped = true;
  private attempt = 0;
  private timer = 0;
  private watchdog = 0;
  private lastMessageAt = 0;
  private heartbeats = false;

  private readonly opts: LiveFeedOptions;

  constructor(opts: LiveFeedOptions) {
    this.opts = opts;
  }

  start(): void {
    this.stopped = false;
    this.attempt = 0;
    this.watchdog = window.setInterval(() => this.checkSilence(), 5_000);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    window.clearInterval(this.watchdog);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'bye');
  }

  /** A snapshot arrived: the next failure starts the backoff from the beginning. */
  caughtUp(): void {
    this.attempt = 0;
    this.opts.onState({ kind: 'live' });
  }

  private connect(): void {
    if (this.stopped) return;
    const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${window.location.host}/v1/live?${this.opts.query()}`);
    let opened = false;
    this.ws = ws;
    this.heartbeats = false;
    if (this.attempt === 0) this.opts.onState({ kind: 'connecting' });
    ws.onopen = () => {
      opened = true;
      this.lastMessageAt = Date.now();
      ws.send(JSON.stringify({ type: 'auth', token: this.opts.token() }));
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws) return;
      this.lastMessageAt = Date.now();
      let msg: unknown;
      try { msg = JSON.parse(String(ev.data)); } catch { return; }
      if (!msg || typeof msg !== 'object' || typeof (msg as FeedMessage).type !== 'string') return;
      if ((msg as FeedMessage).type === 'heartbeat') this.heartbeats = true;
      this.opts.onMessage(msg as FeedMessage);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return; // stopped, or replaced
      this.ws = null;
      void this.closed(ev.code, opened);
    };
  }

  private async closed(code: number, opened: boolean): Promise<void> {
    if (code === POLICY_VIOLATION) {
      this.stop();
      this.opts.onState({ kind: 'ended' });
      return;
    }
    if (code === TRY_AGAIN_LATER && this.attempt === 0) { // at once; then back off
      this.attempt = 1;
      this.opts.onState({ kind: 'catching-up' });
      this.timer = window.setTimeout(() => this.connect(), 200);
      return;
    }
    if (!opened && this.opts.onRefused && !(await this.opts.onRefused())) return;
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    this.attempt += 1;
    this.opts.onState({ kind: 'waiting', retryInS: Math.ceil(wait / 1000) });
    this.timer = window.setTimeout(() => this.connect(), wait);
  }

  // Heartbeats prove the feed alive; without them for a while the connection is dead even
  // if the browser has not noticed (a sleeping laptop, a dropped route).
  private checkSilence(): void {
    if (this.ws && this.heartbeats && Date.now() - this.lastMessageAt > SILENT_FEED_MS) {
      this.ws.close(4000, 'silent');
    }
  }
}
