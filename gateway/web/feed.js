// The coach's live feed (`WS /v1/live?group=…`): one connection at a time, kept open until
// stopped. The token goes in the first frame (`{"type":"auth","token":…}`), never in the URL
// (URLs end up in logs and histories). Close codes: 1008 = access ended (never reconnect), 1013 = the page
// read too slowly (reconnect at once for a fresh snapshot); any other close: reconnect with
// exponential backoff (1 s doubling to 30 s, jittered), reset by the next snapshot.

export const POLICY_VIOLATION = 1008;
export const TRY_AGAIN_LATER = 1013;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const SILENT_FEED_MS = 35_000;    // the server sends a heartbeat every ~10 s

export class LiveFeed {
  /**
   * url(): the URL to open (read at every attempt).
   * token(): the bearer token, sent as the first frame (read at every attempt).
   * onMessage(msg): every JSON message (heartbeats included).
   * onStatus(text, kind): connection state for people ('ok' | 'wait' | 'bad').
   * onAccessEnded(): after a 1008 close; the feed has stopped.
   * onRefused(): a connection closed before it opened (the server refuses before the
   *   handshake, so the browser cannot tell why); resolves true to keep trying.
   */
  constructor({ url, token, onMessage, onStatus, onAccessEnded, onRefused }) {
    Object.assign(this, { url, token, onMessage, onStatus, onAccessEnded, onRefused });
    this.ws = null;
    this.stopped = true;
    this.attempt = 0;
    this.timer = 0;
    this.watchdog = 0;
    this.lastMessageAt = 0;
    this.heartbeats = false;
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.watchdog = setInterval(() => this.checkSilence(), 5_000);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'bye');
  }

  /** A snapshot arrived: the next failure starts the backoff from the beginning. */
  caughtUp() {
    this.attempt = 0;
    this.onStatus('Live', 'ok');
  }

  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(this.url());
    let opened = false;
    this.ws = ws;
    this.heartbeats = false;
    this.onStatus(this.attempt ? 'Reconnecting…' : 'Connecting…', 'wait');
    ws.onopen = () => {
      opened = true;
      this.lastMessageAt = Date.now();
      ws.send(JSON.stringify({ type: 'auth', token: this.token() }));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastMessageAt = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'heartbeat') this.heartbeats = true;
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;   // stopped, or replaced
      this.ws = null;
      this.closed(ev.code, opened);
    };
  }

  async closed(code, opened) {
    if (code === POLICY_VIOLATION) {
      this.stop();
      this.onAccessEnded();
      return;
    }
    if (code === TRY_AGAIN_LATER && this.attempt === 0) {   // at once; then back off
      this.attempt = 1;
      this.onStatus('Catching up…', 'wait');
      this.timer = setTimeout(() => this.connect(), 200);
      return;
    }
    if (!opened && !(await this.onRefused())) return;
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    this.attempt += 1;
    this.onStatus(`Disconnected; reconnecting in ${Math.ceil(wait / 1000)} s`, 'bad');
    this.timer = setTimeout(() => this.connect(), wait);
  }

  // Heartbeats prove the feed alive; without them for a while, the connection is dead
  // even if the browser has not noticed (a sleeping laptop, a dropped route).
  checkSilence() {
    if (this.ws && this.heartbeats && Date.now() - this.lastMessageAt > SILENT_FEED_MS) {
      this.ws.close(4000, 'silent');
    }
  }
}
