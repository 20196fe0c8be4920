// Background service worker (ES module): owns the one websocket to the service, the state the
// side panel shows, and the routing between content scripts and the panel.
//
// MV3 may suspend this worker whenever it is idle.  Everything needed to carry on (the state,
// unanswered client events, the last push seq) is saved in chrome.storage.session and read back
// on start; the websocket keep-alive ping (every 20 s) and the open side panel's port keep the
// worker awake while there is something to coach.
import { CoachConnection } from './lib/connection.js';
import { loadConfig } from './lib/config.js';
import { addNotice, applyPageEvent, applyServerFrame, conversation, emptyState } from './lib/state.js';

const SESSION_KEY = 'coachState';
const MAX_CONVERSATIONS = 60;

let state = emptyState();
let config = null;
const ports = new Set();
let draftCounter = 0;

const connection = new CoachConnection({
  onFrame(frame) {
    applyServerFrame(state, frame);
    changed();
  },
  onStatus(status, detail, extra) {
    state.conn = { ...state.conn, status, detail, retryAt: extra && extra.retryAt ? extra.retryAt : null };
    changed();
  },
  onOutbox() {
    changed();
  },
  getLastSeq: () => state.lastSeq,
});

// ---------------------------------------------------------------- start-up
const ready = (async () => {
  try {
    const saved = await chrome.storage.session.get(SESSION_KEY);
    if (saved[SESSION_KEY]) {
      const { state: savedState, outbox } = saved[SESSION_KEY];
      state = { ...emptyState(), ...savedState };
      state.conn = { ...emptyState().conn, clockOffset: savedState.conn ? savedState.conn.clockOffset : 0 };
      connection.outbox.items = Array.isArray(outbox) ? outbox : [];
    }
  } catch (err) {
    // a fresh state is fine
  }
  config = await loadConfig();
  connection.configure(config);
  if (chrome.sidePanel && chrome.sidePanel.setPanelBehavior) {
    chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
  }
})();

chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== 'local' || !changes.config) return;
  ready.then(async () => {
    config = await loadConfig();
    connection.configure(config);
    changed();
  });
});

// ---------------------------------------------------------------- state fan-out
let flushQueued = false;
function changed() {
  state.outboxSize = connection.outbox.size;
  if (flushQueued) return;
  flushQueued = true;
  setTimeout(() => {
    flushQueued = false;
    prune();
    const snapshot = publicState();
    for (const port of ports) {
      try {
        port.postMessage({ kind: 'state', state: snapshot });
      } catch (err) {
        ports.delete(port);
      }
    }
    updateBadge();
    chrome.storage.session.set({ [SESSION_KEY]: { state, outbox: connection.outbox.toJSON() } }).catch(() => {});
  }, 0);
}

function publicState() {
  return {
    ...state,
    config: config ? {
      serverUrl: config.serverUrl, agentId: config.agentId, watchOnly: Boolean(config.watchOnly),
      adapter: config.adapter, hasToken: Boolean(config.token),
    } : null,
  };
}

function prune() {
  const ids = Object.keys(state.conversations);
  if (ids.length <= MAX_CONVERSATIONS) return;
  ids.sort((a, b) => state.conversations[a].updatedAt - state.conversations[b].updatedAt);
  for (const id of ids.slice(0, ids.length - MAX_CONVERSATIONS)) {
    if (id !== state.focus) delete state.conversations[id];
  }
}

function updateBadge() {
  if (!chrome.action) return;
  const rounds = Object.values(state.conversations).map((c) => c.round).filter(Boolean);
  const breach = rounds.filter((r) => r.state === 'breach').length;
  const warning = rounds.filter((r) => r.state === 'warning').length;
  const count = breach + warning;
  chrome.action.setBadgeText({ text: count ? String(count) : '' }).catch(() => {});
  chrome.action.setBadgeBackgroundColor({ color: breach ? '#d93025' : '#f29900' }).catch(() => {});
}

// ---------------------------------------------------------------- content scripts
function cleanVariables(variables) {
  const out = {};
  for (const [k, v] of Object.entries(variables || {})) {
    if (v != null && String(v).trim()) out[k] = String(v).trim();
  }
  return out;
}

function onPageEvent(message, sender) {
  const tabId = sender.tab ? sender.tab.id : null;
  const event = { ...message };
  switch (message.kind) {
    case 'focus':
      applyPageEvent(state, event, tabId);
      break;
    case 'buyer_message': {
      event.variables = cleanVariables(message.variables);
      applyPageEvent(state, event, tabId);
      const frame = {
        type: 'buyer_message', conversation_id: message.conversation_id, message_id: message.message_id,
        text: message.text,
      };
      if (message.ts) frame.ts = message.ts;
      if (message.buyer_name) frame.buyer_name = message.buyer_name;
      if (Object.keys(event.variables).length) frame.variables = event.variables;
      connection.send(frame);
      break;
    }
    case 'agent_reply': {
      applyPageEvent(state, event, tabId);
      const frame = {
        type: 'agent_reply', conversation_id: message.conversation_id, message_id: message.message_id,
        text: message.text,
      };
      if (message.ts) frame.ts = message.ts;
      if (message.template_id) frame.template_id = message.template_id;
      if (message.auto) frame.auto = true;
      connection.send(frame);
      break;
    }
    case 'draft': {
      const text = message.text || '';
      draftCounter += 1;
      event.draft_id = `d${Date.now().toString(36)}${draftCounter}`;
      const conv = state.conversations[message.conversation_id];
      const sameText = conv && conv.draft && conv.draft.text === text;
      if (sameText) break; // nothing changed (e.g. a caret move)
      applyPageEvent(state, event, tabId);
      if (text) {
        connection.send({ type: 'draft', conversation_id: message.conversation_id, text, draft_id: event.draft_id });
      } else {
        connection.pendingDrafts.delete(message.conversation_id);
      }
      break;
    }
    default:
      return;
  }
  changed();
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (!message || !message.kind || !sender.tab) return false;
  ready.then(() => {
    onPageEvent(message, sender);
    sendResponse({ ok: true });
  });
  return true;
});

chrome.tabs.onRemoved.addListener((tabId) => {
  ready.then(() => {
    for (const conv of Object.values(state.conversations)) {
      if (conv.tabId === tabId) conv.tabId = null;
    }
    changed();
  });
});

// ---------------------------------------------------------------- the side panel
async function onPanelRequest(port, request) {
  const reply = (body) => {
    try {
      port.postMessage({ kind: 'result', reqId: request.reqId, ...body });
    } catch (err) {
      // panel closed
    }
  };
  switch (request.kind) {
    case 'keepalive':
      return;
    case 'insert': {
      const conv = state.conversations[request.conversation_id];
      if (config.watchOnly) return reply({ ok: false, reason: '只看模式：不修改页面，请用“复制”。' });
      if (!conv || conv.tabId == null) return reply({ ok: false, reason: '找不到这个会话所在的页面' });
      let answer;
      try {
        answer = await chrome.tabs.sendMessage(conv.tabId, {
          kind: 'insert', conversation_id: conv.id, text: request.text, template_id: request.template_id,
        });
      } catch (err) {
        answer = { ok: false, reason: '页面没有响应（请刷新店铺页面）' };
      }
      if (answer && answer.ok) {
        conv.used = { template_id: request.template_id, message_id: request.message_id };
        if (request.message_id) {
          connection.send({
            type: 'suggestion_used', message_id: request.message_id, template_id: request.template_id,
            conversation_id: conv.id,
          });
        }
        changed();
      }
      return reply(answer || { ok: false, reason: '页面没有响应' });
    }
    case 'feedback': {
      const conv = conversation(state, request.conversation_id);
      conv.correction = { message_id: request.message_id, intent: request.intent, status: 'sent' };
      connection.send({
        type: 'feedback', message_id: request.message_id, intent: request.intent, conversation_id: request.conversation_id,
      });
      changed();
      return reply({ ok: true });
    }
    case 'focus':
      if (state.conversations[request.conversation_id]) state.focus = request.conversation_id;
      changed();
      return reply({ ok: true });
    case 'reconnect':
      connection.reconnectNow();
      return reply({ ok: true });
    case 'dismiss_notices':
      state.notices = [];
      changed();
      return reply({ ok: true });
    default:
      addNotice(state, `未知请求 ${request.kind}`);
      return reply({ ok: false, reason: 'unknown request' });
  }
}

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== 'panel') return;
  ports.add(port);
  port.onDisconnect.addListener(() => ports.delete(port));
  port.onMessage.addListener((request) => {
    ready.then(() => onPanelRequest(port, request));
  });
  ready.then(() => port.postMessage({ kind: 'state', state: publicState() }));
});
