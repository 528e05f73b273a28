// The live stream (docs/protocol.md), written once: connect to /ws with the session cookie,
// resume from the highest event id seen, reconnect with backoff and jitter, close a socket
// that stays silent past 2.5 heartbeats, and stop for good on 1008 (refused or signed out),
// except a 1008 about last_event_id, which starts afresh. A 1012 (its process is restarting)
// reconnects at once, once: another process takes the socket from the same id.

export const POLICY_VIOLATION = 1008;
/** The stream protocol these pages speak (docs/protocol.md, Versions); the hello says which
 * one the server answers in, the highest it speaks up to this. */
export const PROTOCOL = 2;

export const SERVICE_RESTART = 1012;
const RESTART_SPREAD_MS = 300; // the sockets of a stopping process do not all land at one instant
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 15000;
const HELLO_WAIT_MS = 15000;

function storage() {
  try {
    const s = window.sessionStorage;
    s.setItem("tw.probe", "1");
    s.removeItem("tw.probe");
    return s;
  } catch {
    const memory = new Map();
    return {
      getItem: (k) => (memory.has(k) ? memory.get(k) : null),
      setItem: (k, v) => memory.set(k, String(v)),
      removeItem: (k) => memory.delete(k),
    };
  }
}

/** The delay before reconnect attempt n (0, 1, …): doubling from 1 s to 15 s, ±20 %. */
export function backoff(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  return Math.round(base * (0.8 + random() * 0.4));
}

/**
 * One socket of the stream. Callbacks:
 *  onHello(hello, {resumed})   — after each (re)connect; resumed: the replay of what was missed follows
 *  onEvent(event, {replayed})  — each event once, in id order
 *  onStatus({state, reason, retryIn, since}) — state: connecting | online | reconnecting | refused
 */
export class Stream {
  constructor({ key = "stream", onHello, onEvent, onStatus, url } = {}) {
    this.key = "tw.last." + key;
    this.store = storage();
    this.lastId = Number(this.store.getItem(this.key)) || 0;
    this.callbacks = { onHello, onEvent, onStatus };
    this.url = url || ((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws");
    this.ws = null;
    this.attempts = 0;
    this.heartbeat = 0;
    this.protocol = 0;
    this.replayLeft = 0;
    this.timer = null;
    this.watchdog = null;
    this.stopped = true;
    this.downSince = null;
    this.state = "connecting";
    this.wake = () => this.check();
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
  }

  status(state, extra = {}) {
    this.state = state;
    if (state === "online") this.downSince = null;
    else if (this.downSince === null) this.downSince = Date.now();
    this.callbacks.onStatus?.({ state, since: this.downSince, ...extra });
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.drop(1000, "page closed", true);
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
  }

  open() {
    clearTimeout(this.timer);
    this.timer = null;
    const resume = this.lastId > 0 ? this.lastId : null;
    const url =
      this.url +
      (this.url.includes("?") ? "&" : "?") +
      "protocol=" +
      PROTOCOL +
      (resume !== null ? "&last_event_id=" + resume : "");
    this.status(this.attempts ? "reconnecting" : "connecting");
    this.heartbeat = 0;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      this.closed(0, String(error?.message || error));
      return;
    }
    this.ws = ws;
    this.kick();
    ws.onmessage = (m) => this.ws === ws && this.receive(m.data, resume);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(e.code, e.reason);
    };
  }

  limit() {
    return this.heartbeat ? this.heartbeat * 2500 : HELLO_WAIT_MS;
  }

  kick() {
    this.lastMessageAt = Date.now();
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.drop(4000, "no heartbeat"), this.limit());
  }

  /** Close a socket no longer trusted without waiting for its close handshake. */
  drop(code, reason, quiet = false) {
    const ws = this.ws;
    clearTimeout(this.watchdog);
    if (!ws) return;
    this.ws = null;
    ws.onmessage = ws.onclose = null;
    try {
      ws.close(code === 4000 ? 4000 : 1000, reason);
    } catch {
      /* already closing */
    }
    if (!quiet) this.closed(code, reason);
  }

  /** Back from the background or the network: a silent socket is dropped, a wait cut short. */
  check() {
    if (this.stopped || document.visibilityState === "hidden") return;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      if (Date.now() - this.lastMessageAt > this.limit()) this.drop(4000, "no heartbeat");
    } else if (!this.ws && this.timer) {
      this.attempts = 0;
      this.open();
    }
  }

  receive(text, resume) {
    this.kick();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!message || typeof message !== "object" || message.type === "heartbeat") return;
    if (message.type === "hello") {
      this.attempts = 0;
      this.protocol = Number(message.protocol) || 1; // a server from before versions says none
      this.heartbeat = Number(message.heartbeat) > 0 ? Number(message.heartbeat) : 20;
      this.kick();
      this.replayLeft = Number(message.replayed) || 0;
      // Fresh: everything up to the channel's head is history (the page loads it); resumed:
      // the replay follows, so the id must not move yet.
      if (resume === null && typeof message.last_event_id === "number") this.remember(message.last_event_id);
      this.status("online");
      this.callbacks.onHello?.(message, { resumed: resume !== null });
      return;
    }
    if (typeof message.id !== "number") return;
    const replayed = this.replayLeft > 0;
    if (replayed) this.replayLeft -= 1;
    if (message.id <= this.lastId) return; // seen already
    this.remember(message.id);
    this.callbacks.onEvent?.(message, { replayed });
  }

  remember(id) {
    if (id > this.lastId) {
      this.lastId = id;
      this.store.setItem(this.key, String(id));
    }
  }

  closed(code, reason) {
    clearTimeout(this.watchdog);
    if (this.stopped) return;
    if (code === POLICY_VIOLATION) {
      if (/last_event_id/i.test(reason || "")) {
        // The server does not know our id (a reset database): start afresh.
        this.lastId = 0;
        this.store.removeItem(this.key);
        this.status("reconnecting", { reason, retryIn: 0 });
        this.timer = setTimeout(() => this.open(), 200);
        return;
      }
      this.stopped = true;
      this.status("refused", { reason: reason || "" });
      return;
    }
    if (code === SERVICE_RESTART && this.attempts === 0) {
      // Its process is stopping (a drain): another one serves the socket now. Refused again
      // before a hello (it reached the same process), the usual backoff follows.
      this.attempts = 1;
      const soon = Math.round(Math.random() * RESTART_SPREAD_MS);
      this.status("reconnecting", { reason, retryIn: soon });
      this.timer = setTimeout(() => this.open(), soon);
      return;
    }
    const delay = backoff(this.attempts);
    this.attempts += 1;
    this.status("reconnecting", { reason, retryIn: delay });
    this.timer = setTimeout(() => this.open(), delay);
  }
}
