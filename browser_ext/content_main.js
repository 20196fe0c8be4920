// Content script: watches the shop console through a site adapter and reports to the background
// worker.  New buyer messages -> buyer_message; the agent's sent messages -> agent_reply (with the
// template_id when the text came from a suggestion); typing -> draft (debounced).  Nothing is
// ever sent to the buyer from here; in watch-only mode the page is not modified at all.
import { pickAdapter, validateAdapter } from './adapters/index.js';
import { DEFAULT_CONFIG } from './lib/config.js';

export const DRAFT_DEBOUNCE_MS = 150;
const HISTORY_AGE_S = 600; // messages older than this when first seen are history, not news

function bigrams(text) {
  const chars = Array.from(text.replace(/\s+/g, ''));
  const out = new Map();
  for (let i = 0; i < chars.length - 1; i += 1) {
    const gram = chars[i] + chars[i + 1];
    out.set(gram, (out.get(gram) || 0) + 1);
  }
  return out;
}

// Dice similarity of character bigrams: did the agent send (roughly) the inserted suggestion?
export function similarity(a, b) {
  const x = bigrams(a);
  const y = bigrams(b);
  let both = 0;
  let total = 0;
  for (const [gram, n] of x) {
    both += Math.min(n, y.get(gram) || 0);
    total += n;
  }
  for (const n of y.values()) total += n;
  return total ? (2 * both) / total : a === b ? 1 : 0;
}

export async function start() {
  let config = { ...DEFAULT_CONFIG, ...((await chrome.storage.local.get('config')).config || {}) };
  let adapter = pickAdapter(location.href, config.adapter);
  if (!adapter) return;
  validateAdapter(adapter);

  let alive = true;
  const seen = new Set();
  let current = null;       // {id, buyerName, variables} of the conversation on screen
  let currentKey = '';
  let draftTimer = null;
  let pending = null;       // {conversationId, templateId, text}: last inserted suggestion
  let observer = null;

  function post(message) {
    if (!alive) return Promise.resolve(null);
    return chrome.runtime.sendMessage({ ...message, adapter: { id: adapter.id, version: adapter.version } })
      .catch((err) => {
        if (String(err && err.message).includes('Extension context invalidated')) {
          alive = false; // the extension was reloaded: this copy of the script is an orphan
          if (observer) observer.disconnect();
        }
        return null;
      });
  }

  function conversationNow() {
    try {
      return adapter.conversation(document);
    } catch (err) {
      return null;
    }
  }

  function reportFocus() {
    if (!current) return;
    post({
      kind: 'focus', conversation_id: current.id, buyer_name: current.buyerName, variables: current.variables,
      url: location.href,
    });
  }

  function baseline() {
    const root = adapter.root(document);
    if (!root) return;
    for (const el of adapter.messages(root)) {
      const id = adapter.messageId(el);
      if (id) seen.add(id);
    }
  }

  function scan() {
    if (!alive) return;
    const conv = conversationNow();
    if (!conv) return;
    const key = JSON.stringify(conv);
    if (!current || conv.id !== current.id) {
      // Another conversation was opened: what is on screen now is its history.
      current = conv;
      currentKey = key;
      baseline();
      reportFocus();
      scheduleDraft();
      return;
    }
    if (key !== currentKey) {
      current = conv;
      currentKey = key;
      reportFocus();
    }
    const root = adapter.root(document);
    if (!root) return;
    const nowS = Date.now() / 1000;
    for (const el of adapter.messages(root)) {
      const id = adapter.messageId(el);
      if (!id || seen.has(id)) continue;
      const role = adapter.role(el);
      const text = adapter.text(el);
      if (!role || !text) continue; // not rendered yet, or a system notice: look again next time
      seen.add(id);
      const ts = adapter.ts ? adapter.ts(el) : null;
      if (ts && nowS - ts > HISTORY_AGE_S) continue;
      const conversationId = (adapter.conversationId && adapter.conversationId(el)) || current.id;
      const base = { conversation_id: conversationId, message_id: id, text };
      if (ts) base.ts = ts;
      if (role === 'buyer') {
        post({ kind: 'buyer_message', ...base, buyer_name: current.buyerName, variables: current.variables });
      } else {
        const event = { kind: 'agent_reply', ...base };
        if (role === 'auto') event.auto = true;
        if (pending && pending.conversationId === conversationId && similarity(pending.text, text) >= 0.5) {
          event.template_id = pending.templateId;
        }
        if (pending && pending.conversationId === conversationId) pending = null;
        post(event);
      }
    }
  }

  function sendDraftNow() {
    draftTimer = null;
    if (!current) return;
    const input = adapter.input(document);
    const text = input ? adapter.readInput(input) : '';
    post({ kind: 'draft', conversation_id: current.id, text: text.trim() ? text : '' });
  }

  function scheduleDraft() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(sendDraftNow, DRAFT_DEBOUNCE_MS);
  }

  // -------------------------------------------------------------- watching the page
  let scanQueued = false;
  observer = new MutationObserver(() => {
    if (scanQueued) return;
    scanQueued = true;
    queueMicrotask(() => {
      scanQueued = false;
      scan();
    });
  });
  observer.observe(document.documentElement, {
    childList: true, subtree: true, characterData: true, attributes: true,
    attributeFilter: ['data-conversation-id', 'data-message-id'],
  });

  document.addEventListener('input', (event) => {
    const input = adapter.input(document);
    if (input && (event.target === input || input.contains(event.target))) scheduleDraft();
  }, true);
  window.addEventListener('focus', () => reportFocus());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') reportFocus();
  });

  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && changes.config) {
      config = { ...DEFAULT_CONFIG, ...(changes.config.newValue || {}) };
    }
  });

  // -------------------------------------------------------------- requests from the panel
  chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
    if (!message || message.kind !== 'insert') return false;
    if (config.watchOnly) {
      sendResponse({ ok: false, reason: '只看模式：不修改页面' });
      return false;
    }
    const conv = conversationNow();
    if (!conv || conv.id !== message.conversation_id) {
      sendResponse({ ok: false, reason: '页面上打开的不是这个会话' });
      return false;
    }
    const input = adapter.input(document);
    if (!input) {
      sendResponse({ ok: false, reason: '找不到输入框' });
      return false;
    }
    const before = adapter.readInput(input);
    // Replace an untouched earlier suggestion; otherwise add the piece after what the agent wrote.
    const replace = !before.trim() || (pending && before === pending.text);
    const text = replace ? message.text : before + message.text;
    adapter.writeInput(input, text);
    input.focus();
    pending = { conversationId: conv.id, templateId: message.template_id, text };
    sendResponse({ ok: true, text });
    return false;
  });

  scan();
}
