// The one websocket to the service (docs/protocol.md), owned by the background worker.
//
//   idle ──configure(token)──▶ connecting ──open──▶ authenticating ──welcome──▶ connected
//     ▲                            ▲                      │                        │
//     │                            └──── waiting ◀────────┴──── close / dead ──────┘
//     └── no token                  (backoff 0.5 s … 10 s)     4401 ▶ auth_failed, 4403 ▶ origin_refused
//
// Client events with a message_id go through the Outbox and are resent with the same ids after
// every reconnect until the service answers them.  Drafts are not queued: only the latest draft
// of each conversation is sent once the connection is back.

import { backoffDelay, isIdempotent, Outbox } from './outbox.js';
import { websocketUrl } from './config.js';

export const PING_INTERVAL_MS = 20000;
const DEAD_AFTER_MS = 50000;      // no frame at all for this long: the connection is dead
const WELCOME_TIMEOUT_MS = 10000;

const TERMINAL = { 4401: 'auth_failed', 4403: 'origin_refused' };

export class CoachConnection {
  constructor({ onFrame, onStatus, onOutbox, getLastSeq, outboxItems = [], WebSocketImpl = globalThis.WebSocket }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onOutbox = onOutbox || (() => {});
    this.getLastSeq = getLastSeq || (() => null);
    this.WebSocketImpl = WebSocketImpl;
    this.outbox = new Outbox(outboxItems);
    this.pendingDrafts = new Map();
    this.config = null;
    this.ws = null;
    this.generation = 0;
    this.attempt = 0;
    this.status = 'idle';
    this.timers = { retry: null, ping: null, welcome: null };
    this.lastFrameAt = 0;
  }

  // (Re)connect when what identifies the connection changed.
  configure(config) {
    const key = JSON.stringify([config.serverUrl, config.token, config.agentId]);
    const oldKey = this.config ? JSON.stringify([this.config.serverUrl, this.config.token, this.config.agentId]) : null;
    this.config = config;
    if (key !== oldKey || this.status === 'idle' || this.status === 'auth_failed' || this.status === 'origin_refused') {
      this.attempt = 0;
      this.connect();
    }
  }

  reconnectNow() {
    this.attempt = 0;
    this.connect();
  }

  connect() {
    this.teardown();
    if (!this.config || !this.config.token) {
      this.setStatus('idle', '请在设置中填写令牌');
      return;
    }
    let url;
    try {
      url = websocketUrl(this.config.serverUrl);
    } catch (err) {
      this.setStatus('idle', `服务地址无效：${this.config.serverUrl}`);
      return;
    }
    const generation = ++this.generation;
    this.setStatus('connecting', url);
    let ws;
    try {
      ws = new this.WebSocketImpl(url);
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (generation !== this.generation) return;
      this.lastFrameAt = Date.now();
      const hello = { type: 'hello', token: this.config.token, agent_id: this.config.agentId || 'agent' };
      const lastSeq = this.getLastSeq();
      if (typeof lastSeq === 'number') hello.last_seq = lastSeq;
      this.setStatus('authenticating', '');
      ws.send(JSON.stringify(hello));
      this.timers.welcome = setTimeout(() => {
        if (generation === this.generation && this.status === 'authenticating') {
          this.dropSocket('服务端未在 10 秒内回应 hello');
        }
      }, WELCOME_TIMEOUT_MS);
    };
    ws.onmessage = (event) => {
      if (generation !== this.generation) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (!frame || typeof frame.type !== 'string') return;
      if (frame.type === 'welcome') this.onWelcome();
      if (this.outbox.settle(frame).length) this.onOutbox(this.outbox.toJSON());
      if (frame.type === 'error' && frame.code === 'rate_limited') this.scheduleFlush(1000);
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (generation !== this.generation) return;
      this.ws = null;
      this.clearTimers();
      const terminal = TERMINAL[event.code];
      if (terminal) {
        const detail = event.code === 4401 ? '令牌无效或握手超时（4401）' : '服务端不允许此来源连接（4403）';
        this.setStatus(terminal, event.reason ? `${detail}：${event.reason}` : detail);
        return;
      }
      this.scheduleReconnect(event.reason || `连接断开（${event.code}）`);
    };
    ws.onerror = () => {
      // onclose follows and does the work
    };
  }

  onWelcome() {
    clearTimeout(this.timers.welcome);
    this.attempt = 0;
    this.setStatus('connected', '');
    this.flush();
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => this.keepAlive(), PING_INTERVAL_MS);
  }

  keepAlive() {
    if (!this.ws || this.status !== 'connected') return;
    if (Date.now() - this.lastFrameAt > DEAD_AFTER_MS) {
      this.dropSocket('长时间没有收到服务端消息');
      return;
    }
    this.rawSend({ type: 'ping' });
  }

  // Resend every unanswered client event (same ids), then the latest draft of each conversation.
  flush() {
    for (const item of this.outbox.items) {
      if (!this.rawSend(item.frame)) return;
      this.outbox.markSent(item.key);
    }
    for (const [id, frame] of this.pendingDrafts) {
      if (!this.rawSend(frame)) return;
      this.pendingDrafts.delete(id);
    }
  }

  scheduleFlush(ms) {
    clearTimeout(this.timers.flush);
    this.timers.flush = setTimeout(() => {
      if (this.status === 'connected') this.flush();
    }, ms);
  }

  send(frame) {
    if (frame.type === 'draft') {
      if (this.status === 'connected' && this.rawSend(frame)) {
        this.pendingDrafts.delete(frame.conversation_id);
      } else {
        this.pendingDrafts.set(frame.conversation_id, frame);
      }
      return;
    }
    if (isIdempotent(frame)) {
      const key = this.outbox.add(frame);
      this.onOutbox(this.outbox.toJSON());
      if (this.status === 'connected' && this.rawSend(frame)) this.outbox.markSent(key);
      return;
    }
    if (this.status === 'connected') this.rawSend(frame);
  }

  rawSend(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch (err) {
      return false;
    }
  }

  dropSocket(reason) {
    const ws = this.ws;
    this.generation += 1; // ignore whatever the old socket still reports
    this.ws = null;
    this.clearTimers();
    if (ws) {
      try { ws.close(4000, 'client reconnect'); } catch (err) { /* already closed */ }
    }
    this.scheduleReconnect(reason);
  }

  scheduleReconnect(reason) {
    this.clearTimers();
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setStatus('waiting', `${reason}；${(delay / 1000).toFixed(1)} 秒后重连`, { retryAt: Date.now() + delay });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  teardown() {
    const ws = this.ws;
    this.generation += 1;
    this.ws = null;
    this.clearTimers();
    if (ws) {
      try { ws.close(1000, 'reconfigure'); } catch (err) { /* ignore */ }
    }
  }

  clearTimers() {
    clearTimeout(this.timers.retry);
    clearTimeout(this.timers.welcome);
    clearTimeout(this.timers.flush);
    clearInterval(this.timers.ping);
    this.timers = { retry: null, ping: null, welcome: null, flush: null };
  }

  setStatus(status, detail, extra = {}) {
    this.status = status;
    this.onStatus(status, detail, extra);
  }
}
