// What the side panel shows, as one plain object the background worker keeps (and saves in
// chrome.storage.session so that a suspended service worker comes back with it).  Pure: the
// reducers take the time as an argument and touch no chrome.* API.

const MAX_NOTICES = 5;
const MAX_ALERTS = 8;
const ROUND_MATCH_S = 0.5; // two deadlines this close are the same round

export function emptyState() {
  return {
    conn: { status: 'idle', detail: '', agentName: '', role: '', phrasebookRevision: null, clockOffset: 0, since: null },
    lastSeq: null,
    focus: null,
    conversations: {},
    notices: [],
    outboxSize: 0,
  };
}

export function conversation(state, id) {
  let conv = state.conversations[id];
  if (!conv) {
    conv = state.conversations[id] = {
      id, tabId: null, buyerName: '', variables: {}, updatedAt: 0,
      lastBuyer: null, coaching: null, correction: null, round: null,
      draft: null, seenFlags: [], alerts: [], lastReply: null, used: null, obligations: null,
    };
  }
  return conv;
}

export function addNotice(state, text, level = 'error', now = Date.now()) {
  state.notices = [...state.notices, { text, level, at: now }].slice(-MAX_NOTICES);
}

// A flag is alerted once per rule and flagged span of a draft, however often the agent keeps
// typing around it.  A span is known by its matched words; a rule about the whole draft (no
// honorific, too long: the span is the entire text and changes with every keystroke) by its id.
export function flagKey(flag, text = '') {
  const length = Array.from(text || '').length;
  if (flag.start === 0 && length && flag.end >= length) return `${flag.rule}@*`;
  return `${flag.rule}@${flag.match}`;
}

// ---------------------------------------------------------------- events from the shop page
export function applyPageEvent(state, event, tabId, now = Date.now()) {
  const id = event.conversation_id;
  if (!id) return state;
  const conv = conversation(state, id);
  conv.updatedAt = now;
  if (tabId != null) conv.tabId = tabId;
  if (event.buyer_name) conv.buyerName = event.buyer_name;
  if (event.variables && typeof event.variables === 'object') conv.variables = { ...conv.variables, ...event.variables };
  switch (event.kind) {
    case 'focus':
      state.focus = id;
      break;
    case 'buyer_message':
      state.focus = id;
      conv.lastBuyer = { message_id: event.message_id, text: event.text, ts: event.ts ?? null };
      break;
    case 'agent_reply':
      conv.lastReply = { message_id: event.message_id, text: event.text, template_id: event.template_id || null, status: 'sent' };
      conv.draft = null;
      conv.seenFlags = [];
      conv.used = null;
      break;
    case 'draft':
      if (!event.text) {
        conv.draft = null;
      } else {
        conv.draft = { draft_id: event.draft_id, text: event.text, check: conv.draft ? conv.draft.check : null };
      }
      break;
    default:
      break;
  }
  return state;
}

// ---------------------------------------------------------------- frames from the service
export function applyServerFrame(state, frame, now = Date.now()) {
  const nowS = now / 1000;
  if (typeof frame.seq === 'number' && frame.type !== 'welcome') {
    state.lastSeq = Math.max(state.lastSeq ?? 0, frame.seq);
  }
  switch (frame.type) {
    case 'welcome': {
      const hadSeq = state.lastSeq != null;
      state.conn = {
        ...state.conn, status: 'connected', detail: '', agentName: frame.name || frame.agent_id || '',
        agentId: frame.agent_id || '', role: frame.role || '', phrasebookRevision: frame.phrasebook_revision ?? null,
        clockOffset: typeof frame.server_time === 'number' ? frame.server_time - nowS : 0, since: now,
      };
      if (Array.isArray(frame.intents)) state.intents = frame.intents.map((i) => [i.id, i.name]);
      if (!hadSeq || !frame.resumed || (typeof frame.seq === 'number' && frame.seq < state.lastSeq)) {
        if (hadSeq && !frame.resumed) addNotice(state, '断线时间较长，期间的超时提醒可能未补发；计时以服务端为准。', 'info', now);
        state.lastSeq = typeof frame.seq === 'number' ? frame.seq : state.lastSeq;
      }
      break;
    }
    case 'coaching': {
      const conv = conversation(state, frame.conversation_id);
      conv.updatedAt = now;
      conv.coaching = {
        message_id: frame.message_id, intent: frame.intent, intents: frame.intents || [],
        evidence: frame.evidence || [], suggestions: frame.suggestions || [], reminders: frame.reminders || [],
      };
      conv.correction = null;
      conv.obligations = null;
      if (frame.deadline == null) {
        conv.round = null; // e.g. the buyer only said thanks: no round is running
      } else if (!conv.round || Math.abs(conv.round.deadline - frame.deadline) > ROUND_MATCH_S) {
        conv.round = { deadline: frame.deadline, limit_s: frame.limit_s ?? null, state: 'running' };
      }
      break;
    }
    case 'draft_check': {
      const conv = conversation(state, frame.conversation_id);
      const draft = conv.draft;
      if (!draft || (frame.draft_id != null && draft.draft_id != null && frame.draft_id !== draft.draft_id)) break; // stale
      const flags = frame.flags || [];
      draft.check = { draft_id: frame.draft_id, text: frame.text, flags, ok: frame.ok !== false };
      const seen = new Set(conv.seenFlags);
      for (const flag of flags) {
        const key = flagKey(flag, frame.text);
        if (seen.has(key)) continue;
        seen.add(key);
        conv.alerts = [...conv.alerts, { key, at: now, draft_id: frame.draft_id, ...flag }].slice(-MAX_ALERTS);
      }
      conv.seenFlags = [...seen];
      break;
    }
    case 'reply_recorded': {
      const conv = conversation(state, frame.conversation_id);
      conv.lastReply = {
        ...(conv.lastReply && conv.lastReply.message_id === frame.message_id ? conv.lastReply : {}),
        message_id: frame.message_id, status: 'recorded', latency_s: frame.latency_s, limit_s: frame.limit_s,
        on_time: frame.on_time, fine_yuan: frame.fine_yuan, flags: frame.flags || [],
      };
      if (frame.latency_s != null) conv.round = null;
      break;
    }
    case 'sla_warning':
    case 'sla_breach': {
      const conv = conversation(state, frame.conversation_id);
      const level = frame.type === 'sla_warning' ? 'warning' : 'breach';
      if (conv.round && Math.abs(conv.round.deadline - frame.deadline) > ROUND_MATCH_S && frame.deadline < conv.round.deadline) {
        break; // a resent push about an earlier round
      }
      if (!conv.round || Math.abs(conv.round.deadline - frame.deadline) > ROUND_MATCH_S) {
        conv.round = { deadline: frame.deadline, limit_s: null, state: level };
      } else if (!(level === 'warning' && conv.round.state === 'breach')) {
        conv.round.state = level;
      }
      conv.round[`${level}At`] = now;
      break;
    }
    case 'conversation_closed': {
      const conv = conversation(state, frame.conversation_id);
      conv.round = null;
      conv.obligations = frame.obligations || [];
      break;
    }
    case 'ack': {
      if (frame.for === 'feedback') {
        for (const conv of Object.values(state.conversations)) {
          if (conv.correction && conv.correction.message_id === frame.message_id) conv.correction.status = 'acked';
        }
      }
      break;
    }
    case 'phrasebook_updated':
      state.conn = { ...state.conn, phrasebookRevision: frame.revision };
      addNotice(state, `话术库已更新（第 ${frame.revision} 版），之后的推荐将使用新话术。`, 'info', now);
      break;
    case 'pong':
      if (typeof frame.server_time === 'number') state.conn = { ...state.conn, clockOffset: frame.server_time - nowS };
      break;
    case 'error':
      addNotice(state, `服务端报错 ${frame.code}：${frame.message}`, 'error', now);
      break;
    default:
      break;
  }
  return state;
}

// Seconds until the focused round's deadline on the service's clock (negative when overdue).
export function secondsLeft(round, clockOffset, now = Date.now()) {
  if (!round) return null;
  return round.deadline - (now / 1000 + (clockOffset || 0));
}
