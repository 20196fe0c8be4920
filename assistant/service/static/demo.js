// The /demo shop console: a 千牛-style reception desk with three sample buyers, a buyer
// simulator (so one person can play both sides) and the page's own coaching pane, which talks to
// /ws/agent exactly as docs/protocol.md says.  The DOM contract the browser extension's adapter
// relies on is documented in docs/extension.md; keep the two in step.

const STORAGE_KEY = 'coach-demo-chat-v1';
const DRAFT_DEBOUNCE_MS = 150;
const PING_MS = 20000;
const params = new URLSearchParams(location.search);
const $ = (sel) => document.querySelector(sel);

const INTENT_NAMES = {
  bargaining: '议价', colour_difference: '色差', delivery_chase: '催发货/催物流', damage: '破损',
  missing_item: '少件/漏发', quality_issue: '质量问题', not_as_described: '与想象不符', return_exchange: '退换货',
  service_complaint: '服务投诉', order_change: '改订单', product_inquiry: '商品咨询', shipping_inquiry: '发货咨询',
  greeting: '问候', other: '其他',
};
const CATEGORY_NAMES = {
  taboo: '服务禁语', shift_blame: '推卸责任', blame_buyer: '指责买家', insult: '侮辱粗话', off_platform: '站外引流',
  absolute_claim: '广告法极限词', categorical_promise: '绝对化承诺', negative: '否定语气', review_manipulation: '好评返现',
  brush_off: '敷衍回复', one_char: '单字回复', no_honorific: '缺少敬语', too_long: '回复过长',
};

// ------------------------------------------------------------------ sample shop data
function seed() {
  const now = Math.floor(Date.now() / 1000);
  const h = 3600;
  return [
    {
      id: 'tb-conv-1001', buyerName: '小鹿乱撞', orderNo: '3987654321012345678', trackingNo: '78512345678901', courier: '中通快递',
      messages: [
        { id: 'hist-1001-1', role: 'buyer', text: '在吗？这款沙发套有米白色吗', ts: now - 26 * h },
        { id: 'hist-1001-2', role: 'agent', text: '亲，在的呢～米白色有现货哦，您看好的话可以直接拍下呢', ts: now - 26 * h + 40 },
        { id: 'hist-1001-3', role: 'buyer', text: '好的，已经拍了', ts: now - 26 * h + 300 },
      ],
    },
    {
      id: 'tb-conv-1002', buyerName: '阿May', orderNo: '3981122334455667788', trackingNo: 'YT7412589630147', courier: '圆通速递',
      messages: [
        { id: 'hist-1002-1', role: 'buyer', text: '请问 1.8 米的床用哪个尺寸的床笠？', ts: now - 5 * h },
        { id: 'hist-1002-2', role: 'agent', text: '亲，1.8 米的床建议选 180×200cm 的规格哦，您可以量一下床垫厚度再选呢', ts: now - 5 * h + 25 },
      ],
    },
    {
      id: 'tb-conv-1003', buyerName: '王先生', orderNo: '3975566778899001122', trackingNo: 'SF1402233445566', courier: '顺丰速运',
      messages: [
        { id: 'hist-1003-1', role: 'buyer', text: '发票可以开公司抬头吗', ts: now - 2 * h },
        { id: 'hist-1003-2', role: 'agent', text: '您好，可以的呢，确认收货后在订单里申请电子发票就可以了哦', ts: now - 2 * h + 30 },
      ],
    },
  ];
}

function loadChats() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
    if (Array.isArray(saved) && saved.length) return saved;
  } catch (err) { /* fall through */ }
  return seed();
}

let chats = loadChats();
let activeId = chats[0].id;
const saveChats = () => sessionStorage.setItem(STORAGE_KEY, JSON.stringify(chats));
const chatById = (id) => chats.find((c) => c.id === id);
const activeChat = () => chatById(activeId);

function newId(prefix) {
  const rand = Math.random().toString(36).slice(2, 8);
  return `${prefix}-${Date.now().toString(36)}-${rand}`;
}

function clock(ts) {
  const d = new Date(ts * 1000);
  const today = new Date();
  const hm = d.toLocaleTimeString('zh-CN', { hour: '2-digit', minute: '2-digit', hour12: false });
  if (d.toDateString() === today.toDateString()) return hm;
  return `${d.getMonth() + 1}月${d.getDate()}日 ${hm}`;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// ------------------------------------------------------------------ the console
function messageElement(chat, m) {
  const name = m.role === 'buyer' ? chat.buyerName : '客服';
  return h('div', {
    class: 'msg', dataset: { messageId: m.id, role: m.role, conversationId: chat.id, ts: String(m.ts) },
  },
  h('span', { class: 'avatar' }, name.slice(0, 1)),
  h('div', { class: 'bubble-wrap' },
    h('span', { class: 'msg-time' }, `${m.role === 'buyer' ? chat.buyerName : '小鹿家居:客服'} ${clock(m.ts)}`),
    h('div', { class: 'msg-text' }, m.text)));
}

function renderList() {
  const list = $('#conv-list');
  list.replaceChildren(...chats.map((chat) => {
    const last = chat.messages[chat.messages.length - 1];
    const waiting = coach.rounds(chat.id);
    return h('li', {
      class: `conv-item${chat.id === activeId ? ' active' : ''}`, dataset: { conversationId: chat.id },
      onclick: () => select(chat.id),
    },
    h('span', { class: 'avatar' }, chat.buyerName.slice(0, 1)),
    h('div', { class: 'body' },
      h('div', { class: 'line1' },
        h('span', {}, h('span', { class: 'name' }, chat.buyerName), chat.unread ? h('span', { class: 'badge' }, chat.unread) : null),
        h('span', { class: 'time' }, last ? clock(last.ts) : '')),
      h('div', { class: 'preview' }, last ? last.text : ''),
      waiting ? h('div', { class: 'wait', dataset: { state: waiting.state, deadline: String(waiting.deadline) } }, '') : null));
  }));
  tickList();
}

function renderChat() {
  const chat = activeChat();
  const section = $('#chat');
  section.dataset.conversationId = chat.id;
  $('#buyer-name').textContent = chat.buyerName;
  $('#buyer-avatar').textContent = chat.buyerName.slice(0, 1);
  $('#order-no').textContent = chat.orderNo;
  $('#tracking-no').textContent = chat.trackingNo;
  $('#courier').textContent = chat.courier;
  const box = $('#messages');
  box.replaceChildren(h('div', { class: 'day-sep' }, '以下为历史消息'), ...chat.messages.map((m) => messageElement(chat, m)));
  box.scrollTop = box.scrollHeight;
  $('#agent-input').value = chat.draft || '';
}

function select(id) {
  if (id === activeId) return;
  activeChat().draft = $('#agent-input').value;
  activeId = id;
  activeChat().unread = 0;
  saveChats();
  renderChat();
  renderList();
  coach.render();
}

function addMessage(role, text) {
  const chat = activeChat();
  // Millisecond precision: the reply timer is measured from these times.
  const m = { id: newId(role === 'buyer' ? 'b' : 'a'), role, text, ts: Math.round(Date.now()) / 1000 };
  chat.messages.push(m);
  saveChats();
  const box = $('#messages');
  box.append(messageElement(chat, m));
  box.scrollTop = box.scrollHeight;
  return { chat, message: m };
}

function sendAsAgent() {
  const input = $('#agent-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  activeChat().draft = '';
  const { chat, message } = addMessage('agent', text);
  coach.agentReply(chat, message);
  renderList();
}

function sendAsBuyer() {
  const input = $('#buyer-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  const { chat, message } = addMessage('buyer', text);
  coach.buyerMessage(chat, message);
  renderList();
}

function enterSends(el, send) {
  el.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      send();
    }
  });
}

// ------------------------------------------------------------------ the page's own coach
class DemoCoach {
  constructor() {
    this.ws = null;
    this.status = 'off';
    this.enabled = false;
    this.attempt = 0;
    this.lastSeq = null;
    this.outbox = new Map(); // "type:message_id" -> frame, until the service answers it
    this.byConv = new Map(); // conversation_id -> {coaching, round, draft, reply, used}
    this.clockOffset = 0;
    this.timers = {};
    this.draftSeq = 0;
  }

  conv(id) {
    if (!this.byConv.has(id)) this.byConv.set(id, { coaching: null, round: null, draft: null, reply: null, used: null });
    return this.byConv.get(id);
  }

  rounds(id) {
    const c = this.byConv.get(id);
    return c && c.round ? c.round : null;
  }

  token() {
    return $('#token-input').value.trim();
  }

  setStatus(status, text) {
    this.status = status;
    const el = $('#coach-status');
    el.dataset.status = status;
    el.textContent = text;
  }

  start() {
    this.enabled = true;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.enabled = false;
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.ping);
    this.dropSocket('pane off');
    this.setStatus('off', '话术教练未连接');
  }

  // Close the current socket on purpose: its onclose must not schedule a reconnect.
  dropSocket(reason) {
    if (!this.ws) return;
    const ws = this.ws;
    this.ws = null;
    ws.onclose = null;
    ws.close(1000, reason);
  }

  connect() {
    clearTimeout(this.timers.retry);
    this.dropSocket('reconnect');
    if (!this.enabled) return;
    if (!this.token()) {
      this.setStatus('off', '填写令牌后点“连接”');
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/agent`);
    this.ws = ws;
    this.setStatus('connecting', '连接中…');
    ws.onopen = () => {
      const hello = { type: 'hello', token: this.token(), agent_id: $('#agent-id').value.trim() || 'demo' };
      if (this.lastSeq != null) hello.last_seq = this.lastSeq;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (err) { return; }
      if (frame && typeof frame.type === 'string') this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.timers.ping);
      if (event.code === 4401) {
        this.setStatus('auth_failed', '令牌无效（4401）');
        return;
      }
      if (event.code === 4403) {
        this.setStatus('error', '来源不被允许（4403）');
        return;
      }
      const delay = Math.min(10000, 500 * 2 ** this.attempt) * (0.8 + 0.4 * Math.random());
      this.attempt += 1;
      this.setStatus('waiting', `连接断开，${(delay / 1000).toFixed(1)} 秒后重连`);
      this.timers.retry = setTimeout(() => this.connect(), delay);
    };
  }

  send(frame) {
    if (frame.message_id && frame.type !== 'draft') this.outbox.set(`${frame.type}:${frame.message_id}`, frame);
    if (this.ws && this.ws.readyState === 1 && this.status === 'connected') {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // ------------------------------------------------ events from the console
  buyerMessage(chat, m) {
    if (!this.enabled) return;
    this.send({
      type: 'buyer_message', conversation_id: chat.id, message_id: m.id, text: m.text, ts: m.ts, buyer_name: chat.buyerName,
      variables: { order_no: chat.orderNo, tracking_no: chat.trackingNo, courier: chat.courier },
    });
  }

  agentReply(chat, m) {
    if (!this.enabled) return;
    const c = this.conv(chat.id);
    const frame = { type: 'agent_reply', conversation_id: chat.id, message_id: m.id, text: m.text, ts: m.ts };
    if (c.used && c.used.text && similar(c.used.text, m.text)) frame.template_id = c.used.template_id;
    c.used = null;
    c.draft = null;
    c.reply = { message_id: m.id, status: 'sent' };
    this.send(frame);
    this.render();
  }

  draft(chatId, text) {
    if (!this.enabled) return;
    const c = this.conv(chatId);
    if (!text.trim()) {
      c.draft = null;
      this.render();
      return;
    }
    this.draftSeq += 1;
    const draftId = `pd-${this.draftSeq}`;
    c.draft = { draft_id: draftId, text, check: c.draft ? c.draft.check : null };
    this.send({ type: 'draft', conversation_id: chatId, text, draft_id: draftId });
  }

  // ------------------------------------------------ frames from the service
  onFrame(frame) {
    const nowS = Date.now() / 1000;
    if (typeof frame.seq === 'number' && frame.type !== 'welcome') this.lastSeq = Math.max(this.lastSeq ?? 0, frame.seq);
    if (frame.type === 'coaching') this.outbox.delete(`buyer_message:${frame.message_id}`);
    if (frame.type === 'reply_recorded') this.outbox.delete(`agent_reply:${frame.message_id}`);
    if (frame.type === 'ack') this.outbox.delete(`${frame.for}:${frame.message_id}`);
    switch (frame.type) {
      case 'welcome': {
        this.attempt = 0;
        this.clockOffset = (frame.server_time || nowS) - nowS;
        if (this.lastSeq == null || !frame.resumed || frame.seq < this.lastSeq) this.lastSeq = frame.seq;
        this.setStatus('connected', `已连接 · ${frame.name || frame.agent_id}`);
        for (const queued of this.outbox.values()) this.ws.send(JSON.stringify(queued));
        clearInterval(this.timers.ping);
        this.timers.ping = setInterval(() => this.ws && this.ws.readyState === 1 && this.ws.send('{"type":"ping"}'), PING_MS);
        const pendingDraft = $('#agent-input').value;
        if (pendingDraft.trim()) this.draft(activeId, pendingDraft);
        break;
      }
      case 'coaching': {
        const c = this.conv(frame.conversation_id);
        c.coaching = frame;
        if (frame.deadline == null) c.round = null;
        else if (!c.round || Math.abs(c.round.deadline - frame.deadline) > 0.5) {
          c.round = { deadline: frame.deadline, limit_s: frame.limit_s, state: 'running' };
        }
        break;
      }
      case 'draft_check': {
        const c = this.conv(frame.conversation_id);
        if (c.draft && (!frame.draft_id || frame.draft_id === c.draft.draft_id)) c.draft.check = frame;
        break;
      }
      case 'reply_recorded': {
        const c = this.conv(frame.conversation_id);
        c.reply = { ...frame, status: 'recorded' };
        if (frame.latency_s != null) c.round = null;
        break;
      }
      case 'sla_warning':
      case 'sla_breach': {
        const c = this.conv(frame.conversation_id);
        const level = frame.type === 'sla_warning' ? 'warning' : 'breach';
        if (!c.round || Math.abs(c.round.deadline - frame.deadline) > 0.5) {
          if (c.round && frame.deadline < c.round.deadline) break; // about an older round
          c.round = { deadline: frame.deadline, limit_s: null, state: level };
        } else if (!(level === 'warning' && c.round.state === 'breach')) {
          c.round.state = level;
        }
        break;
      }
      case 'conversation_closed':
        this.conv(frame.conversation_id).round = null;
        break;
      case 'pong':
        if (typeof frame.server_time === 'number') this.clockOffset = frame.server_time - nowS;
        break;
      case 'error':
        if (frame.ref && frame.code !== 'rate_limited') {
          for (const [key, f] of this.outbox) if (f.message_id === frame.ref) this.outbox.delete(key);
        }
        this.notice(`服务端报错 ${frame.code}：${frame.message}`);
        break;
      default:
        break;
    }
    this.render();
    renderList();
  }

  notice(text) {
    const el = $('#pane-notice');
    el.hidden = false;
    el.textContent = text;
    clearTimeout(this.timers.notice);
    this.timers.notice = setTimeout(() => { el.hidden = true; }, 8000);
  }

  // ------------------------------------------------ the pane
  render() {
    const c = this.byConv.get(activeId) || this.conv(activeId);
    const coaching = c.coaching;
    $('#pane-empty').hidden = Boolean(coaching || c.draft || c.reply);

    $('#pane-intents-card').hidden = !coaching;
    $('#pane-suggestions-card').hidden = !coaching;
    if (coaching) {
      const key = JSON.stringify([coaching.message_id, c.used && c.used.template_id]);
      if ($('#pane-suggestions').dataset.key !== key) {
        $('#pane-suggestions').dataset.key = key;
        const intents = coaching.intents && coaching.intents.length ? coaching.intents : [{ intent: coaching.intent, score: null }];
        $('#pane-intents').replaceChildren(...intents.map(({ intent, score }) => h('span', {
          class: `chip${intent === coaching.intent ? ' top' : ''}`, dataset: { intent },
        }, INTENT_NAMES[intent] || intent, score != null ? h('span', { class: 'score' }, `${Math.round(score * 100)}%`) : null)));
        $('#pane-reminders').replaceChildren(...(coaching.reminders || []).map((r) => h('li', {}, `回复要点：${r}`)));
        const cards = (coaching.suggestions || []).map((s) => h('div', {
          class: `suggestion${c.used && c.used.template_id === s.template_id ? ' used' : ''}`, dataset: { templateId: s.template_id },
        },
        h('div', { class: 's-text' }, s.text),
        h('div', { class: 's-foot' },
          h('span', { class: 'muted' }, `${INTENT_NAMES[s.intent] || s.intent} · ${Math.round((s.score || 0) * 100)}分`),
          h('button', { class: 'btn-insert', type: 'button', onclick: () => this.insert(coaching, s) }, '插入'))));
        $('#pane-suggestions').replaceChildren(...(cards.length ? cards : [h('div', { class: 'muted' }, '这条消息没有合适的推荐话术')]));
      }
    }

    const draft = c.draft;
    $('#pane-draft-card').hidden = !draft;
    if (draft) {
      const check = draft.check;
      const text = check ? check.text : draft.text;
      const flags = check ? dedupe(check.flags || []) : [];
      $('#pane-draft').replaceChildren(...highlight(text, flags));
      $('#pane-flags').replaceChildren(...flags.map((f) => h('li', { class: 'flag', dataset: { rule: f.rule, severity: f.severity } },
        h('div', {}, h('span', { class: 'sev' }, f.severity === 'block' ? '禁止' : '提醒'), `“${f.match}” · ${CATEGORY_NAMES[f.category] || f.category}`),
        h('div', {}, f.message),
        f.suggestion ? h('div', { class: 'fix' }, `建议：${f.suggestion}`) : null)));
      $('#pane-draft-ok').textContent = !check ? '检查中…' : flags.length ? (check.ok ? '有提醒' : '含禁止用语，请修改后再发送') : '没有问题';
    }

    const reply = c.reply;
    const box = $('#pane-reply');
    box.hidden = !reply;
    if (reply) {
      box.dataset.status = reply.status;
      if (reply.status !== 'recorded') box.replaceChildren('上一条回复已发送，等待记录…');
      else if (reply.latency_s == null) box.replaceChildren('上一条回复已记录（没有在等待的买家消息）');
      else {
        box.replaceChildren('上一条回复已记录：', h('span', { class: reply.on_time ? 'ok' : 'late' },
          `用时 ${reply.latency_s.toFixed(1)} 秒 / 时限 ${Math.round(reply.limit_s)} 秒 · ${reply.on_time ? '准时' : '超时'}${reply.fine_yuan ? ` · 扣 ${reply.fine_yuan} 元` : ''}`));
      }
    }
    this.tick();
  }

  insert(coaching, s) {
    const input = $('#agent-input');
    input.value = s.text;
    input.focus();
    input.dispatchEvent(new Event('input', { bubbles: true }));
    this.conv(coaching.conversation_id).used = { template_id: s.template_id, text: s.text };
    this.send({ type: 'suggestion_used', message_id: coaching.message_id, template_id: s.template_id, conversation_id: coaching.conversation_id });
    this.render();
  }

  tick() {
    const c = this.byConv.get(activeId);
    const round = c && c.round;
    const box = $('#pane-timer');
    let state = 'idle';
    let text = '暂无等待回复的消息';
    let width = 0;
    if (round) {
      const left = round.deadline - (Date.now() / 1000 + this.clockOffset);
      state = round.state;
      if (state === 'breach') text = `已超时 ${Math.max(0, Math.floor(-left))} 秒`;
      else text = left >= 0 ? `${state === 'warning' ? '即将超时 · ' : ''}剩余 ${Math.ceil(left)} 秒` : `已超时 ${Math.floor(-left)} 秒`;
      if (round.limit_s) width = Math.max(0, Math.min(100, (left / round.limit_s) * 100));
    } else if (c && c.reply && c.reply.status === 'recorded' && c.reply.latency_s != null) {
      state = 'replied';
      text = `已回复 · 用时 ${c.reply.latency_s.toFixed(1)} 秒`;
    }
    box.dataset.state = state;
    $('#pane-timer-text').textContent = text;
    $('#pane-timer-bar').style.width = `${width}%`;
  }
}

function tickList() {
  for (const el of document.querySelectorAll('.conv-item .wait')) {
    const left = Number(el.dataset.deadline) - (Date.now() / 1000 + coach.clockOffset);
    el.textContent = left >= 0 ? `等待回复 · 剩余 ${Math.ceil(left)} 秒` : `等待回复 · 已超时 ${Math.floor(-left)} 秒`;
  }
}

// One entry per rule and span; blocking flags first, then in the order they appear.
function dedupe(flags) {
  const seen = new Set();
  const rank = (f) => (f.severity === 'block' ? 2 : 1);
  return flags.filter((f) => {
    const key = `${f.rule}|${f.start}|${f.end}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).sort((a, b) => rank(b) - rank(a) || a.start - b.start);
}

// Flag offsets count code points (the service is Python): split with Array.from.
function highlight(text, flags) {
  const chars = Array.from(text || '');
  const cover = chars.map(() => []);
  flags.forEach((f, i) => {
    for (let k = Math.max(0, f.start); k < Math.min(chars.length, f.end); k += 1) cover[k].push(i);
  });
  const out = [];
  let run = '';
  let runKey = '';
  const flush = () => {
    if (!run) return;
    if (!runKey) out.push(run);
    else {
      const idx = runKey.split(',').map(Number);
      const severity = idx.some((i) => flags[i].severity === 'block') ? 'block' : 'warn';
      out.push(h('mark', { class: 'flag-span', dataset: { severity }, title: idx.map((i) => flags[i].message).join('；') }, run));
    }
    run = '';
  };
  chars.forEach((ch, k) => {
    const key = cover[k].join(',');
    if (key !== runKey) { flush(); runKey = key; }
    run += ch;
  });
  flush();
  return out;
}

function similar(a, b) {
  const grams = (t) => { const s = Array.from(t.replace(/\s+/g, '')); const m = []; for (let i = 0; i < s.length - 1; i += 1) m.push(s[i] + s[i + 1]); return m; };
  const x = grams(a);
  const y = grams(b);
  if (!x.length || !y.length) return a === b;
  const pool = [...y];
  let both = 0;
  for (const g of x) { const i = pool.indexOf(g); if (i >= 0) { both += 1; pool.splice(i, 1); } }
  return (2 * both) / (x.length + y.length) >= 0.5;
}

// ------------------------------------------------------------------ wiring
const coach = new DemoCoach();
let draftTimer = null;

function paneOn(on, remember = true) {
  document.body.classList.toggle('pane-hidden', !on);
  $('#pane-toggle').setAttribute('aria-pressed', String(on));
  if (remember) localStorage.setItem('coach-demo-pane', on ? '1' : '0');
  if (on && !coach.enabled) coach.start();
  if (!on && coach.enabled) coach.stop();
}

function init() {
  const urlToken = params.get('token');
  if (urlToken) {
    localStorage.setItem('coach-demo-token', urlToken);
    // Keep the token out of the address bar, history and screenshots once it is remembered.
    const clean = new URL(location.href);
    clean.searchParams.delete('token');
    history.replaceState(null, '', clean);
  }
  $('#token-input').value = urlToken || localStorage.getItem('coach-demo-token') || '';
  $('#agent-id').value = params.get('agent') || localStorage.getItem('coach-demo-agent') || '';

  renderChat();
  renderList();
  coach.render();

  $('#agent-send').addEventListener('click', sendAsAgent);
  $('#buyer-send').addEventListener('click', sendAsBuyer);
  enterSends($('#agent-input'), sendAsAgent);
  enterSends($('#buyer-input'), sendAsBuyer);
  $('#agent-input').addEventListener('input', () => {
    clearTimeout(draftTimer);
    const chatId = activeId;
    draftTimer = setTimeout(() => coach.draft(chatId, $('#agent-input').value), DRAFT_DEBOUNCE_MS);
  });
  $('#coach-connect').addEventListener('click', () => {
    localStorage.setItem('coach-demo-token', $('#token-input').value.trim());
    localStorage.setItem('coach-demo-agent', $('#agent-id').value.trim());
    if (document.body.classList.contains('pane-hidden')) paneOn(true);
    coach.start();
  });
  $('#pane-toggle').addEventListener('click', () => paneOn(document.body.classList.contains('pane-hidden')));
  $('#demo-reset').addEventListener('click', () => {
    sessionStorage.removeItem(STORAGE_KEY);
    chats = seed();
    activeId = chats[0].id;
    renderChat();
    renderList();
    coach.render();
  });

  const paneParam = params.get('pane');
  const on = paneParam != null ? paneParam !== '0' : localStorage.getItem('coach-demo-pane') !== '0';
  paneOn(on, paneParam == null);
  setInterval(() => { coach.tick(); tickList(); }, 250);
  document.body.dataset.ready = '1';
}

init();
