// Client events that carry a message_id and have not been answered yet.  They are resent with
// the same ids after a reconnect; the service answers a resend again without storing it twice
// (docs/protocol.md "Client events").  Pure: no chrome.* and no timers, so it is easy to test.

// client frame type -> the server frame that answers it
export const ANSWERED_BY = Object.freeze({
  buyer_message: 'coaching',
  agent_reply: 'reply_recorded',
  feedback: 'ack',
  suggestion_used: 'ack',
});

export function isIdempotent(frame) {
  return Boolean(frame && ANSWERED_BY[frame.type] && frame.message_id);
}

export function outboxKey(frame) {
  return `${frame.type}:${frame.message_id}`;
}

export class Outbox {
  constructor(items = []) {
    this.items = items.filter((item) => item && item.key && item.frame);
  }

  // Add (or replace, keeping its place) a client event; returns its key.
  add(frame, now = Date.now()) {
    const key = outboxKey(frame);
    const existing = this.items.find((item) => item.key === key);
    if (existing) {
      existing.frame = frame;
    } else {
      this.items.push({ key, frame, queuedAt: now, sends: 0 });
    }
    return key;
  }

  markSent(key) {
    const item = this.items.find((i) => i.key === key);
    if (item) item.sends += 1;
  }

  // Remove what a server frame answers; returns the removed items.
  settle(serverFrame) {
    let keys = [];
    switch (serverFrame && serverFrame.type) {
      case 'coaching':
        keys = [`buyer_message:${serverFrame.message_id}`];
        break;
      case 'reply_recorded':
        keys = [`agent_reply:${serverFrame.message_id}`];
        break;
      case 'ack':
        keys = [`${serverFrame.for}:${serverFrame.message_id}`];
        break;
      case 'error':
        // The service names the offending frame by type or message_id.  A frame it refused
        // (bad_frame, forbidden ...) would be refused again: drop it.  A frame dropped by the
        // flood limit is kept and resent later.
        if (serverFrame.code === 'rate_limited' || !serverFrame.ref) return [];
        return this.remove((item) => item.frame.message_id === serverFrame.ref);
      default:
        return [];
    }
    return this.remove((item) => keys.includes(item.key));
  }

  remove(predicate) {
    const removed = this.items.filter(predicate);
    this.items = this.items.filter((item) => !predicate(item));
    return removed;
  }

  get size() {
    return this.items.length;
  }

  frames() {
    return this.items.map((item) => item.frame);
  }

  toJSON() {
    return this.items;
  }
}

// Reconnect delay: 0.5 s, 1 s, 2 s, 4 s, 8 s, then 10 s, with ±20 % jitter so that agents of
// one shop do not all reconnect in the same instant after the service restarts.
export function backoffDelay(attempt, random = Math.random, baseMs = 500, capMs = 10000) {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  const jitter = 0.8 + 0.4 * random();
  return Math.round(Math.min(capMs, raw * jitter));
}
