// Side panel: shows the conversation in focus (intents, suggestions, draft flags, deadline) from
// the background worker's state, and sends the agent's choices back through the same port.
import { currentIntents, intentName, categoryName, SEVERITY_NAMES, useIntents } from './lib/intents.js';
import { distinctFlags, segments } from './lib/spans.js';
import { flagKey, secondsLeft } from './lib/state.js';

const $ = (sel) => document.querySelector(sel);
const CONN_TEXT = {
  idle: '未连接', connecting: '连接中…', authenticating: '验证中…', connected: '已连接',
  waiting: '重连中…', auth_failed: '令牌无效', origin_refused: '来源被拒绝',
};

let state = null;
let port = null;
let reqCounter = 0;
const pending = new Map();
const rendered = new Map(); // section -> key of what it shows now
const results = new Map(); // "conversation|message|template" -> {text, bad}: outcome of 插入/复制

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Re-render a section only when what it shows changed (keeps an open dropdown open, etc.).
function section(name, data, render) {
  const key = JSON.stringify(data);
  if (rendered.get(name) === key) return;
  rendered.set(name, key);
  render(data);
}

// ---------------------------------------------------------------- port to the background
function connectPort() {
  port = chrome.runtime.connect({ name: 'panel' });
  port.onMessage.addListener((message) => {
    if (message.kind === 'state') {
      state = message.state;
      render();
    } else if (message.kind === 'result') {
      const resolve = pending.get(message.reqId);
      pending.delete(message.reqId);
      if (resolve) resolve(message);
    }
  });
  port.onDisconnect.addListener(() => {
    // The worker was suspended or restarted: connecting again wakes it up.
    port = null;
    setTimeout(connectPort, 300);
  });
}

function request(kind, body = {}) {
  return new Promise((resolve) => {
    if (!port) {
      resolve({ ok: false, reason: '后台未就绪' });
      return;
    }
    reqCounter += 1;
    pending.set(reqCounter, resolve);
    port.postMessage({ kind, reqId: reqCounter, ...body });
  });
}

// ---------------------------------------------------------------- rendering
function focused() {
  if (!state || !state.focus) return null;
  return state.conversations[state.focus] || null;
}

function render() {
  if (!state) return;
  useIntents(state.intents);
  const conv = focused();
  const cfg = state.config || {};

  section('conn', [state.conn.status, state.conn.detail, cfg.hasToken], () => {
    const el = $('#conn');
    el.dataset.status = state.conn.status;
    $('#conn-text').textContent = CONN_TEXT[state.conn.status] || state.conn.status;
    el.title = state.conn.detail || '';
    const detail = $('#conn-detail');
    let text = state.conn.detail || '';
    if (!cfg.hasToken) text = '还没有令牌：点右上角“设置”填写服务地址和令牌。';
    detail.hidden = state.conn.status === 'connected' || !text;
    detail.textContent = text;
    $('#reconnect').hidden = state.conn.status === 'connected' || !cfg.hasToken;
  });

  section('watch', [cfg.watchOnly], () => {
    $('#watch-only-banner').hidden = !cfg.watchOnly;
  });

  section('notices', state.notices, (notices) => {
    const box = $('#notices');
    box.replaceChildren(...notices.map((n) => h('div', { class: 'notice', dataset: { level: n.level } }, n.text)));
  });

  section('focus', conv ? [conv.id, conv.buyerName, conv.variables] : null, () => {
    $('#focus-buyer').textContent = conv ? conv.buyerName || conv.id : '（还没有会话）';
    const meta = [];
    if (conv) {
      if (conv.variables.order_no) meta.push(`订单号 ${conv.variables.order_no}`);
      if (conv.variables.tracking_no) meta.push(`运单号 ${conv.variables.tracking_no}`);
      if (conv.variables.courier) meta.push(conv.variables.courier);
    }
    $('#focus-meta').textContent = meta.join(' · ');
  });
  section('focus-last', conv && conv.lastBuyer ? [conv.id, conv.lastBuyer] : null, () => {
    const box = $('#focus-last');
    box.hidden = !(conv && conv.lastBuyer);
    if (box.hidden) return;
    box.replaceChildren(h('span', { class: 'label' }, '买家最新消息'), conv.lastBuyer.text);
  });

  renderIntents(conv);
  renderSuggestions(conv, cfg);
  renderDraft(conv);
  renderLastReply(conv);
  renderOthers();
  renderTimer();

  section('footer', [state.conn.agentName, state.conn.role, state.conn.phrasebookRevision, state.outboxSize, cfg.serverUrl], () => {
    const parts = [];
    if (state.conn.agentName) parts.push(`客服：${state.conn.agentName}${state.conn.role ? `（${state.conn.role}）` : ''}`);
    if (state.conn.phrasebookRevision != null) parts.push(`话术库第 ${state.conn.phrasebookRevision} 版`);
    if (state.outboxSize) parts.push(`待确认 ${state.outboxSize} 条`);
    if (cfg.serverUrl) parts.push(cfg.serverUrl);
    $('#footer').textContent = parts.join(' · ');
  });
}

function renderIntents(conv) {
  const coaching = conv && conv.coaching;
  section('intents', coaching ? [conv.id, coaching.message_id, coaching.intents, coaching.intent, coaching.reminders, conv.correction] : null, () => {
    $('#intents-section').hidden = !coaching;
    if (!coaching) return;
    const chips = coaching.intents.length ? coaching.intents : [{ intent: coaching.intent || 'other', score: null }];
    const corrected = conv.correction && conv.correction.message_id === coaching.message_id ? conv.correction : null;
    const list = chips.map(({ intent, score }) => h('span', {
      class: `chip${intent === coaching.intent ? ' top' : ''}`, dataset: { intent }, title: intent,
    }, intentName(intent), score != null ? h('span', { class: 'score' }, `${Math.round(score * 100)}%`) : null));
    if (corrected) {
      list.push(h('span', { class: 'chip corrected', dataset: { intent: corrected.intent, corrected: '1' } },
        `已纠正为：${intentName(corrected.intent)}`));
    }
    $('#intents').replaceChildren(...list);

    const select = $('#intent-fix');
    const intents = currentIntents();
    const known = new Set(intents.map(([id]) => id));
    const options = intents.map(([id, name]) => [id, name]);
    for (const { intent } of chips) if (!known.has(intent)) options.push([intent, intent]);
    select.replaceChildren(...options.map(([id, name]) => h('option', { value: id }, name)));
    select.value = corrected ? corrected.intent : coaching.intent || 'other';
    $('#correction-status').textContent = corrected
      ? (corrected.status === 'acked' ? '纠正已记录，谢谢！' : '纠正已提交…')
      : '';
    $('#reminders').replaceChildren(...(coaching.reminders || []).map((r) => h('li', {}, `回复要点：${r}`)));
  });
}

function renderSuggestions(conv, cfg) {
  const coaching = conv && conv.coaching;
  const data = coaching ? [conv.id, coaching.message_id, coaching.suggestions, conv.used, cfg.watchOnly] : null;
  section('suggestions', data, () => {
    $('#suggestions-section').hidden = !coaching;
    if (!coaching) return;
    const cards = coaching.suggestions.map((s) => {
      const used = conv.used && conv.used.template_id === s.template_id;
      const resultKey = `${conv.id}|${coaching.message_id}|${s.template_id}`;
      const result = h('span', { class: 'result' });
      const show = (text, bad) => {
        results.set(resultKey, { text, bad });
        result.textContent = text;
        result.classList.toggle('bad', bad);
      };
      if (results.has(resultKey)) show(results.get(resultKey).text, results.get(resultKey).bad);
      const insert = h('button', {
        class: 'btn small btn-insert', type: 'button', disabled: cfg.watchOnly,
        title: cfg.watchOnly ? '只看模式下不修改页面' : '填入店铺页面的输入框（不会自动发送）',
        onclick: async () => {
          insert.disabled = true;
          const answer = await request('insert', {
            conversation_id: conv.id, template_id: s.template_id, text: s.text, message_id: coaching.message_id,
          });
          insert.disabled = false;
          show(answer.ok ? '已填入输入框' : answer.reason || '插入失败', !answer.ok);
        },
      }, '插入');
      const copy = h('button', {
        class: 'btn small ghost btn-copy', type: 'button',
        onclick: async () => {
          const ok = await copyText(s.text);
          show(ok ? '已复制' : '复制失败', !ok);
        },
      }, '复制');
      return h('div', { class: `suggestion${used ? ' used' : ''}`, dataset: { templateId: s.template_id, intent: s.intent } },
        h('div', { class: 'suggestion-text' }, s.text),
        h('div', { class: 'suggestion-foot' },
          h('span', { class: 'meta' }, `${intentName(s.intent)} · ${Math.round((s.score || 0) * 100)}分`),
          result, insert, copy));
    });
    $('#suggestions').replaceChildren(...(cards.length ? cards : [h('div', { class: 'meta' }, '这条消息没有合适的推荐话术')]));
  });
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (err) {
    const area = h('textarea', { style: 'position:fixed;left:-9999px' });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

function renderDraft(conv) {
  const draft = conv && conv.draft;
  const check = draft && draft.check;
  section('draft', check ? [conv.id, check] : draft ? [conv.id, 'unchecked', draft.text] : null, () => {
    $('#draft-section').hidden = !draft;
    if (!draft) return;
    if (!check) {
      $('#draft-text').replaceChildren(draft.text);
      $('#flags').replaceChildren();
      $('#draft-ok').textContent = '检查中…';
      $('#draft-ok').className = 'meta';
      return;
    }
    const flags = distinctFlags(check.flags);
    const pieces = segments(check.text, flags).map((seg) => {
      if (!seg.flagIndexes.length) return seg.text;
      const reasons = seg.flagIndexes.map((i) => flags[i].message).join('；');
      return h('mark', { class: 'flag-span', dataset: { severity: seg.severity, rules: seg.flagIndexes.map((i) => flags[i].rule).join(' ') }, title: reasons }, seg.text);
    });
    $('#draft-text').replaceChildren(...pieces);
    // A flag seen for the first time in this draft is marked 新 once; later checks list it quietly.
    const fresh = new Set((conv.alerts || []).filter((a) => a.draft_id === check.draft_id).map((a) => a.key));
    $('#flags').replaceChildren(...flags.map((f) => h('li', {
      class: `flag${fresh.has(flagKey(f, check.text)) ? ' fresh' : ''}`, dataset: { rule: f.rule, severity: f.severity },
    },
      h('div', {},
        fresh.has(flagKey(f, check.text)) ? h('span', { class: 'new' }, '新') : null,
        h('span', { class: 'sev' }, SEVERITY_NAMES[f.severity] || f.severity),
        h('span', { class: 'match' }, `“${f.match}”`), ` · ${categoryName(f.category)}`),
      h('div', { class: 'reason' }, f.message),
      f.suggestion ? h('div', { class: 'fix' }, `建议：${f.suggestion}`) : null)));
    const ok = $('#draft-ok');
    ok.textContent = flags.length ? (check.ok ? '有提醒' : '含禁止用语，请修改后再发送') : '没有问题';
    ok.className = `meta${flags.length ? '' : ' ok'}`;
  });
}

function renderLastReply(conv) {
  const reply = conv && conv.lastReply;
  section('reply', reply ? [conv.id, reply] : null, () => {
    const box = $('#last-reply');
    box.hidden = !reply;
    if (!reply) return;
    box.dataset.status = reply.status;
    box.dataset.messageId = reply.message_id;
    if (reply.status !== 'recorded') {
      box.replaceChildren(h('span', { class: 'label' }, '上一条回复'), '已发送，等待服务端记录…');
      return;
    }
    const parts = [h('span', { class: 'label' }, '上一条回复已记录')];
    if (reply.latency_s != null) {
      parts.push(h('span', { class: reply.on_time ? 'ok' : 'late' },
        `用时 ${reply.latency_s.toFixed(1)} 秒 / 时限 ${Math.round(reply.limit_s)} 秒 · ${reply.on_time ? '准时' : '超时'}`));
      if (reply.fine_yuan) parts.push(h('span', { class: 'late' }, ` · 按规定扣 ${reply.fine_yuan} 元`));
    } else {
      parts.push('（没有在等待的买家消息）');
    }
    if (reply.flags && reply.flags.length) {
      parts.push(h('div', { class: 'meta late' }, `发出的回复含 ${reply.flags.length} 处措辞问题：${reply.flags.map((f) => f.match).join('、')}`));
    }
    box.replaceChildren(...parts);
  });
}

function renderOthers() {
  const others = Object.values(state.conversations).filter((c) => c.id !== state.focus && c.round);
  section('others', others.map((c) => [c.id, c.buyerName, c.round]), () => {
    $('#others-section').hidden = !others.length;
    $('#others').replaceChildren(...others.map((c) => h('li', {
      dataset: { conversationId: c.id, state: c.round.state },
      onclick: () => request('focus', { conversation_id: c.id }),
    }, h('span', {}, c.buyerName || c.id), h('span', { class: 't', dataset: { deadline: c.round.deadline } }, ''))));
  });
}

function formatLeft(left) {
  return left >= 0 ? `剩余 ${Math.ceil(left)} 秒` : `已超时 ${Math.floor(-left)} 秒`;
}

function renderTimer() {
  if (!state) return;
  const conv = focused();
  const box = $('#timer');
  const round = conv && conv.round;
  const offset = state.conn.clockOffset || 0;
  let mode = 'idle';
  let text = '暂无等待回复的消息';
  let width = 0;
  if (round) {
    const left = secondsLeft(round, offset);
    mode = round.state;
    if (mode === 'breach') text = `已超时 ${Math.max(0, Math.floor(-left))} 秒`;
    else if (mode === 'warning') text = left >= 0 ? `即将超时 · 剩余 ${Math.ceil(left)} 秒` : formatLeft(left);
    else text = formatLeft(left);
    if (round.limit_s) width = Math.max(0, Math.min(100, (left / round.limit_s) * 100));
  } else if (conv && conv.lastReply && conv.lastReply.status === 'recorded' && conv.lastReply.latency_s != null) {
    mode = 'replied';
    text = `已回复 · 用时 ${conv.lastReply.latency_s.toFixed(1)} 秒`;
  }
  box.dataset.state = mode;
  $('#timer-text').textContent = text;
  $('#timer-bar').style.width = `${width}%`;
  for (const el of document.querySelectorAll('#others .t')) {
    el.textContent = formatLeft(Number(el.dataset.deadline) - (Date.now() / 1000 + offset));
  }
}

// ---------------------------------------------------------------- controls
$('#open-options').addEventListener('click', () => chrome.runtime.openOptionsPage());
$('#reconnect').addEventListener('click', () => request('reconnect'));
$('#notices').addEventListener('click', () => request('dismiss_notices'));
$('#intent-fix-send').addEventListener('click', async () => {
  const conv = focused();
  if (!conv || !conv.coaching) return;
  const intent = $('#intent-fix').value;
  await request('feedback', { conversation_id: conv.id, message_id: conv.coaching.message_id, intent });
});

connectPort();
setInterval(renderTimer, 250);
// Messages on the port keep the MV3 service worker awake while the panel is open.
setInterval(() => {
  if (port) port.postMessage({ kind: 'keepalive' });
}, 20000);
