// 话术教练 管理台: supervisors curate the phrasebook, QA reads scorecards.
// Plain ES module, no build step. Every call sends the token (kept in localStorage) as a bearer
// header; the server checks the role of every route. All text from the server goes into the DOM
// as text nodes, never as HTML.

const TOKEN_KEY = 'coach.console.token';
const ROLE_NAMES = { supervisor: '主管', qa: '质检', agent: '客服' };
const STATUS_NAMES = { draft: '草稿', approved: '已审核', retired: '已停用' };
const SEVERITY_NAMES = { block: '拦截', warn: '提醒' };
const FIELD_NAMES = {
  id: '编号', intents: '意图', text: '文本', tags: '标签', variant: '适用政策', status: '状态', author: '作者',
  version: '内容版本', source: '出处', category: '类别', severity: '级别', match: '匹配方式', patterns: '命中词',
  view: '作用于', shape: '形态', limit: '阈值', allow: '放行词', unless: '例外词', noise_tolerant: '容忍夹杂字符',
  max_draft_chars: '草稿长度上限', requires: '先决词', min_digits: '最少连续数字', reach: '先决词前后字数', message: '提示语', suggestion: '建议说法', why: '依据', enabled: '启用',
  examples: '例子', name: '名称', description: '说明', keywords: '关键词', obligations: '处理要求',
  response: '回复时限', policy: '店铺政策', placeholders: '占位符',
};
const ACTION_NAMES = { create: '新建', update: '修改', delete: '删除' };
const AUDIT_NAMES = {
  'save template': '保存模板', 'save rule': '保存规则', 'save intent': '保存意图', 'save settings': '保存店铺设置',
  'import phrasebook': '导入话术库', 'qa replay': '上传质检', 'qa override': '覆核扣分',
};

function auditName(action) {
  const step = /^template (\w+) → (\w+)$/.exec(action);
  if (step) return `模板 ${STATUS_NAMES[step[1]] || step[1]} → ${STATUS_NAMES[step[2]] || step[2]}`;
  return AUDIT_NAMES[action] || action;
}
const PALETTE = ['#3370ff', '#f29900', '#1a9e5a', '#d93025', '#8e44ad', '#00a2b8', '#c2185b', '#6d4c41', '#607d8b', '#7cb342'];

const state = {
  token: localStorage.getItem(TOKEN_KEY) || '',
  me: null,
  meta: null,
  tpl: { current: null, intents: [], seq: 0 },
  rule: { current: null, seq: 0 },
  settings: null,
  qa: { report: null, conv: null, trends: null },
};

// ------------------------------------------------------------------ small helpers
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (key === 'class') el.className = v;
    else if (key === 'dataset') Object.assign(el.dataset, v);
    else if (key === 'value') value = v;
    else if (key === 'checked' || key === 'disabled' || key === 'selected') el[key] = Boolean(v);
    else if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2), v);
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

function lines(text) {
  return text.split('\n').map((s) => s.trim()).filter(Boolean);
}

function words(text) {
  return text.split(/[,，、;；\n]+/).map((s) => s.trim()).filter(Boolean);
}

function fmtTime(iso) {
  if (!iso) return '';
  const normal = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`;  // stored times are UTC
  const date = new Date(normal);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString('zh-CN', { hour12: false });
}

function fmtNum(value, digits = 1) {
  if (value === null || value === undefined) return '—';
  return Number.isInteger(value) ? String(value) : Number(value).toFixed(digits);
}

function fmtValue(value) {
  if (value === null || value === undefined || value === '') return '—';
  if (Array.isArray(value)) return value.length ? value.map(fmtValue).join('、') : '（空）';
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}=${fmtValue(v)}`).join('；') || '（空）';
  if (typeof value === 'boolean') return value ? '是' : '否';
  return String(value);
}

function intentName(id) {
  const found = state.meta?.intents.find((i) => i.id === id);
  return found ? found.name : id;
}

function toast(message, kind = 'info') {
  const el = $('#toast');
  el.textContent = message;
  el.className = kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

// Text with the checker's flags as <mark> (spans are character offsets into ``text``).
function marked(text, flags = []) {
  const spans = [...flags].filter((f) => f.end > f.start).sort((a, b) => a.start - b.start);
  const out = [];
  let at = 0;
  for (const flag of spans) {
    if (flag.start < at) continue;
    out.push(text.slice(at, flag.start));
    out.push(h('mark', { class: flag.severity, title: `${flag.message}${flag.suggestion ? `；建议：${flag.suggestion}` : ''}`,
      dataset: { rule: flag.rule } }, text.slice(flag.start, flag.end)));
    at = flag.end;
  }
  out.push(text.slice(at));
  return out;
}

// Character diff (LCS) of two short texts, as <del>/<ins>.
function charDiff(before, after) {
  const a = Array.from(before || '');
  const b = Array.from(after || '');
  if (a.length * b.length > 400000) return [h('del', {}, before), h('ins', {}, after)];
  const rows = a.length + 1;
  const cols = b.length + 1;
  const table = new Uint16Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * cols + j] = a[i] === b[j] ? table[(i + 1) * cols + j + 1] + 1
        : Math.max(table[(i + 1) * cols + j], table[i * cols + j + 1]);
    }
  }
  const out = [];
  const push = (kind, ch) => {
    const last = out[out.length - 1];
    if (last && last.kind === kind) last.text += ch; else out.push({ kind, text: ch });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { push('same', a[i]); i++; j++; }
    else if (table[(i + 1) * cols + j] >= table[i * cols + j + 1]) { push('del', a[i]); i++; }
    else { push('ins', b[j]); j++; }
  }
  while (i < a.length) push('del', a[i++]);
  while (j < b.length) push('ins', b[j++]);
  return out.map((p) => (p.kind === 'same' ? p.text : h(p.kind, {}, p.text)));
}

// ------------------------------------------------------------------ API
class ApiError extends Error {
  constructor(status, detail) {
    super(errorMessage(detail));
    this.status = status;
    this.detail = detail;
  }
}

function errorMessage(detail) {
  if (!detail) return '请求失败 / request failed';
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join('.')}: ${d.msg}`).join('；');
  return detail.message || JSON.stringify(detail);
}

async function api(path, { method = 'GET', json, form, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch (error) {
    throw new ApiError(0, `无法连接服务 / cannot reach the service: ${error.message}`);
  }
  if (!response.ok) {
    let detail;
    try { detail = (await response.json()).detail; } catch { detail = `${response.status} ${response.statusText}`; }
    if (response.status === 401) showLogin(errorMessage(detail));
    throw new ApiError(response.status, detail);
  }
  return raw ? response : response.json();
}

function problemItems(errors = [], warnings = []) {
  return [
    ...errors.map((e) => h('li', { class: 'error-item' }, h('b', {}, FIELD_NAMES[e.loc] || e.loc), e.message)),
    ...warnings.map((w) => h('li', { class: 'warning' }, h('b', {}, FIELD_NAMES[w.loc] || w.loc), w.message)),
  ];
}

function reportError(error, list) {
  if (list && error.detail && Array.isArray(error.detail.errors) && error.detail.errors.length) {
    fill(list, problemItems(error.detail.errors));
  }
  toast(error.message, 'error');
}

// ------------------------------------------------------------------ login and routing
function showLogin(message = '') {
  state.me = null;
  $('#tabs').hidden = true;
  $('#who').hidden = true;
  $$('.view').forEach((v) => { v.hidden = true; });
  $('#login').hidden = false;
  $('#login-error').hidden = !message;
  $('#login-error').textContent = message;
  $('#login-token').focus();
}

async function login(token) {
  state.token = token;
  const me = await api('/api/console/me');
  if (me.role === 'agent') {
    state.token = '';
    throw new ApiError(403, '客服账号不能使用管理台，请用主管或质检的令牌 / agent tokens cannot use the console');
  }
  localStorage.setItem(TOKEN_KEY, token);
  state.me = me;
  $('#login').hidden = true;
  $('#who').hidden = false;
  $('#who-name').textContent = me.name;
  $('#who-role').textContent = ROLE_NAMES[me.role] || me.role;
  $('#tabs').hidden = false;
  $$('#tabs a').forEach((a) => { a.hidden = !a.dataset.role.split(' ').includes(me.role); });
  if (me.role === 'supervisor') await loadMeta();
  route();
}

async function loadMeta() {
  state.meta = await api('/api/console/meta');
  $('#who-rev').textContent = `话术库第 ${state.meta.revision} 版`;
  const intentOptions = state.meta.intents.map((i) => h('option', { value: i.id }, `${i.name}（${i.id}）`));
  fill($('#tpl-intent'), h('option', { value: '' }, '全部意图'), intentOptions.map((o) => o.cloneNode(true)));
  fill($('#tpl-intent-add'), h('option', { value: '' }, '＋ 添加意图'), intentOptions);
  fill($('#tpl-tag'), h('option', { value: '' }, '全部标签'), state.meta.tags.map((t) => h('option', { value: t }, t)));
  const categories = Object.entries(state.meta.categories);
  fill($('#rule-category'), h('option', { value: '' }, '全部类别'), categories.map(([k, v]) => h('option', { value: k }, v)));
  fill($('#rule-category-in'), categories.map(([k, v]) => h('option', { value: k }, `${v}（${k}）`)));
}

function route() {
  if (!state.me) return;
  const [view, ...rest] = (location.hash.slice(1) || '').split('/');
  const allowed = $$('#tabs a').filter((a) => !a.hidden).map((a) => a.dataset.view);
  const name = allowed.includes(view) ? view : allowed[0];
  $$('#tabs a').forEach((a) => a.classList.toggle('active', a.dataset.view === name));
  $$('.view').forEach((v) => { v.hidden = v.id !== `view-${name}`; });
  document.body.dataset.view = name;
  const loaders = { templates: loadTemplates, rules: loadRules, settings: loadSettings, audit: loadAudit,
    qa: () => loadQa(rest.map(decodeURIComponent)), try: () => {}, io: () => {} };
  Promise.resolve(loaders[name]()).catch((error) => toast(error.message, 'error'));
}

// ------------------------------------------------------------------ history (templates, rules, settings)
const TEXT_FIELDS = new Set(['text', 'message', 'suggestion', 'why', 'description', 'name']);

function shown(field, value) {
  if (field === 'status') return STATUS_NAMES[value] || value;
  if (field === 'severity') return SEVERITY_NAMES[value] || value;
  return fmtValue(value);
}

async function showHistory(box, kind, id) {
  if (!box.hidden) { box.hidden = true; return; }
  const entries = await api(`/api/console/items/${kind}/${encodeURIComponent(id)}/history`);
  fill(box, h('h3', {}, `历史版本（${entries.length}）`), entries.map((entry) => h('div', { class: 'entry', dataset: { version: entry.version } },
    h('div', { class: 'head' }, `第 ${entry.version} 版 · ${ACTION_NAMES[entry.action] || entry.action} · ${entry.actor} · ${fmtTime(entry.at)}`),
    entry.action === 'create' ? h('div', { class: 'change' }, '新建：', fmtValue(entry.after?.text ?? entry.after?.message ?? ''))
      : entry.changes.map((c) => h('div', { class: 'change', dataset: { field: c.field } }, h('span', { class: 'f' }, FIELD_NAMES[c.field] || c.field),
        TEXT_FIELDS.has(c.field) && typeof c.before === 'string' && typeof c.after === 'string' ? charDiff(c.before, c.after)
          : [h('del', {}, shown(c.field, c.before)), ' → ', h('ins', {}, shown(c.field, c.after))])))));
  box.hidden = false;
  box.scrollIntoView({ block: 'start' });
}

// Both sides of an edit conflict, field by field; ``onMerge(merged, theirs)`` loads the merge.
function showConflict(box, detail, { onMerge, onDiscard }) {
  const conflict = detail.conflict || {};
  const theirs = conflict.theirs || { data: {}, version: null };
  const choices = {};
  const rows = (conflict.fields || []).map((f) => {
    const clash = f.theirs_changed && f.yours_changed;
    choices[f.field] = f.yours_changed ? 'yours' : 'theirs';
    const radio = (side) => h('label', { class: 'inline' }, h('input', {
      type: 'radio', name: `pick-${f.field}`, value: side, checked: choices[f.field] === side,
      onchange: () => { choices[f.field] = side; } }), side === 'yours' ? '用我的' : '用对方的');
    // each side as it reads, with what it changed since the common version marked
    const cell = (value, base) => (typeof value === 'string' && typeof base === 'string'
      ? h('pre', {}, charDiff(base, value).filter((part) => !(part instanceof Node && part.tagName === 'DEL')))
      : h('pre', {}, fmtValue(value)));
    return h('tr', { dataset: { field: f.field } },
      h('th', {}, FIELD_NAMES[f.field] || f.field, clash ? h('div', { class: 'error' }, '双方都改了') : null),
      h('td', {}, h('pre', {}, fmtValue(f.base))),
      h('td', { class: clash ? 'clash' : '' }, cell(f.theirs, f.base ?? f.theirs)),
      h('td', { class: clash ? 'clash' : '', dataset: { side: 'yours' } }, cell(f.yours, f.base ?? f.yours)),
      h('td', {}, radio('theirs'), radio('yours')));
  });
  fill(box,
    h('h3', {}, '保存冲突：别人已经改过这一项'),
    h('p', {}, detail.message, ' 你的修改还在下面，没有丢失：逐项选择保留哪一边，合并后再保存。'),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, '字段'), h('th', {}, `你打开时（第 ${conflict.base_version} 版）`),
      h('th', {}, `对方已保存（第 ${theirs.version} 版 · ${theirs.updated_by || ''}）`), h('th', {}, '你的修改'), h('th', {}, '采用'))),
    h('tbody', {}, rows)),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: `${box.id}-merge`, onclick: () => {
        const merged = { ...theirs.data };
        for (const f of conflict.fields || []) if (choices[f.field] === 'yours') merged[f.field] = f.yours;
        box.hidden = true;
        onMerge(merged, theirs);
      } }, '按所选合并，载入编辑器'),
      h('button', { type: 'button', onclick: () => { box.hidden = true; onDiscard(theirs); } }, '放弃我的修改，用对方的版本')));
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

// ------------------------------------------------------------------ templates
async function loadTemplates() {
  const params = new URLSearchParams();
  for (const [key, sel] of [['q', '#tpl-q'], ['intent', '#tpl-intent'], ['status', '#tpl-status'], ['tag', '#tpl-tag']]) {
    if ($(sel).value) params.set(key, $(sel).value.trim());
  }
  const result = await api(`/api/console/items/template?${params}`);
  $('#tpl-count').textContent = `共 ${result.total} 条，显示 ${result.items.length} 条`;
  const selected = state.tpl.current?.data.id;
  fill($('#tpl-list'), result.items.map((item) => {
    const d = item.data;
    return h('tr', { class: `tpl-row${d.id === selected ? ' selected' : ''}`, dataset: { id: d.id, status: d.status },
      onclick: () => openTemplate(d.id) },
    h('td', {}, h('span', { class: 'pill', dataset: { status: d.status } }, STATUS_NAMES[d.status] || d.status)),
    h('td', { class: 'id' }, d.id),
    h('td', {}, d.intents.map(intentName).join('、')),
    h('td', { class: 'text' }, d.text, d.tags.length ? h('div', { class: 'chips' }, d.tags.map((t) => h('span', { class: 'chip' }, t))) : null),
    h('td', {}, item.flags.block ? h('span', { class: 'badge block', title: '含拦截级用语' }, item.flags.block) : null,
      item.flags.warn ? h('span', { class: 'badge warn', title: '含提醒级用语' }, item.flags.warn) : null,
      !item.flags.block && !item.flags.warn ? h('span', { class: 'badge ok' }, '✓') : null),
    h('td', { class: 'when' }, item.updated_by, h('br'), fmtTime(item.updated_at)));
  }));
}

function renderTplIntents() {
  fill($('#tpl-intents'), state.tpl.intents.map((id) => h('span', { class: 'chip', dataset: { intent: id } }, intentName(id),
    h('button', { type: 'button', title: '移除', onclick: () => {
      state.tpl.intents = state.tpl.intents.filter((x) => x !== id);
      renderTplIntents();
      tplChanged();
    } }, '×'))));
}

function fillTemplateForm(data) {
  $('#tpl-id').value = data.id || '';
  $('#tpl-id').readOnly = state.tpl.current.version !== null;
  state.tpl.intents = [...(data.intents || [])];
  renderTplIntents();
  $('#tpl-tags').value = (data.tags || []).join(', ');
  $('#tpl-text').value = data.text || '';
  const policy = state.meta.policy;
  fill($('#tpl-variant'), Object.entries(policy.choices).map(([key, options]) => h('label', {}, key,
    h('select', { dataset: { key }, value: (data.variant || {})[key] || '', onchange: tplChanged },
      h('option', { value: '' }, '不限（所有店铺）'),
      Object.entries(options).map(([value, text]) => h('option', { value, title: text }, `${value}${policy.variants[key] === value ? '（本店）' : ''}`))))));
  fill($('#tpl-ph'), Object.entries(state.meta.placeholders).map(([name, p]) => h('span', {
    class: 'chip ph', title: `未知时显示“${p.fallback}”`, dataset: { name }, onclick: () => insertPlaceholder(name) }, `{${name}} ${p.label}`)));
}

function templateFormData() {
  const base = state.tpl.current.data;
  const variant = {};
  $$('#tpl-variant select').forEach((s) => { if (s.value) variant[s.dataset.key] = s.value; });
  return { ...base, id: $('#tpl-id').value.trim(), intents: [...state.tpl.intents], tags: words($('#tpl-tags').value),
    variant, text: $('#tpl-text').value, status: base.status || 'draft' };
}

function renderTemplateHead() {
  const current = state.tpl.current;
  const status = current.data.status || 'draft';
  $('#tpl-title').textContent = current.version === null ? '新建模板' : `模板 ${current.data.id}`;
  const pill = $('#tpl-status-pill');
  pill.textContent = STATUS_NAMES[status];
  pill.dataset.status = status;
  $('#tpl-version').textContent = current.version === null ? '尚未保存'
    : `第 ${current.version} 版 · ${current.updated_by} · ${fmtTime(current.updated_at)}`;
  const dirty = isTemplateDirty();
  $('#tpl-dirty').textContent = dirty ? '有未保存的修改' : '';
  $('#tpl-editor').dataset.dirty = dirty ? '1' : '0';
  fill($('#tpl-workflow'), current.version === null ? null : state.meta.transitions.filter((t) => t.from === status).map((t) => h('button', {
    type: 'button', class: `wf${t.to === 'retired' ? ' danger' : ''}`, dataset: { to: t.to }, disabled: dirty,
    title: dirty ? '请先保存修改' : '', onclick: () => setTemplateStatus(t.to) }, t.name)));
}

function isTemplateDirty() {
  const current = state.tpl.current;
  return current ? stable(templateFormData()) !== stable(current.data) : false;
}

function showTemplateEditor(current) {
  state.tpl.current = current;
  $('#tpl-editor').hidden = false;
  $('#tpl-conflict').hidden = true;
  $('#tpl-history').hidden = true;
  fillTemplateForm(current.data);
  renderTemplateHead();
  $$('#tpl-list tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === current.data.id));
  ['#tpl-preview', '#tpl-errors', '#tpl-flags'].forEach((sel) => fill($(sel)));  // never show another item's check
  tplChanged();
}

async function openTemplate(id) {
  if (isTemplateDirty() && !window.confirm('当前模板有未保存的修改，确定放弃吗？')) return;
  showTemplateEditor(await api(`/api/console/items/template/${encodeURIComponent(id)}`));
}

function newTemplate() {
  if (isTemplateDirty() && !window.confirm('当前模板有未保存的修改，确定放弃吗？')) return;
  const intent = $('#tpl-intent').value || state.meta.intents[0]?.id;
  showTemplateEditor({ data: { id: intent ? `${intent}.` : '', intents: intent ? [intent] : [], text: '', tags: [],
    variant: {}, status: 'draft', author: state.me.name, source: '', version: 1 }, version: null });
  $('#tpl-id').focus();
}

function insertPlaceholder(name) {
  const area = $('#tpl-text');
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  area.value = `${area.value.slice(0, start)}{${name}}${area.value.slice(end)}`;
  area.focus();
  area.selectionStart = area.selectionEnd = start + name.length + 2;
  tplChanged();
}

const checkTemplate = debounce(async () => {
  if (!state.tpl.current) return;
  const seq = ++state.tpl.seq;
  const box = $('#tpl-check');
  box.dataset.state = 'checking';
  try {
    const result = await api('/api/console/check/template', { method: 'POST', json: { data: templateFormData() } });
    if (seq !== state.tpl.seq) return;
    fill($('#tpl-preview'), result.preview !== undefined ? marked(result.preview, result.flags) : h('span', { class: 'muted' }, '（填好必填项后显示）'));
    fill($('#tpl-errors'), problemItems(result.errors, result.warnings));
    fill($('#tpl-flags'), result.flags.length ? result.flags.map((f) => h('li', { dataset: { rule: f.rule, severity: f.severity } },
      h('span', { class: 'pill', dataset: { severity: f.severity } }, SEVERITY_NAMES[f.severity]), ' ',
      h('b', {}, `「${f.match}」`), f.message, f.suggestion ? h('span', { class: 'sugg' }, ` 建议：${f.suggestion}`) : null))
      : (result.errors.length ? null : h('li', { class: 'ok-line' }, '✓ 没有发现不当用语')));
    box.dataset.state = result.errors.length ? 'error' : (result.flags.length || result.warnings.length ? 'warn' : 'ok');
  } catch (error) {
    if (seq === state.tpl.seq) { box.dataset.state = 'error'; toast(error.message, 'error'); }
  }
}, 250);

function tplChanged() {
  renderTemplateHead();
  $('#tpl-check').dataset.state = 'checking';
  checkTemplate();
}

async function saveTemplate() {
  const current = state.tpl.current;
  const data = templateFormData();
  try {
    const result = await api('/api/console/items/template', { method: 'PUT', json: { data, version: current.version } });
    toast(`已保存并发布：${data.id} 第 ${result.version} 版（话术库第 ${result.revision} 版）`);
    await afterPublish(result.revision);
    showTemplateEditor(await api(`/api/console/items/template/${encodeURIComponent(data.id)}`));
    await loadTemplates();
  } catch (error) {
    if (error.status === 409 && error.detail?.conflict) {
      showConflict($('#tpl-conflict'), error.detail, {
        onMerge: (merged, theirs) => {
          state.tpl.current = { ...theirs };
          fillTemplateForm(merged);
          renderTemplateHead();
          checkTemplate();
          toast('已载入合并结果，请检查后保存');
        },
        onDiscard: (theirs) => showTemplateEditor({ ...theirs }),
      });
      toast(error.message, 'error');
    } else {
      reportError(error, $('#tpl-errors'));
    }
  }
}

async function setTemplateStatus(to) {
  const current = state.tpl.current;
  try {
    const result = await api(`/api/console/items/template/${encodeURIComponent(current.data.id)}/status`,
      { method: 'POST', json: { status: to, version: current.version } });
    toast(`${current.data.id} 已改为「${STATUS_NAMES[to]}」，已推送给在线客服（话术库第 ${result.revision} 版）`);
    await afterPublish(result.revision);
    showTemplateEditor(await api(`/api/console/items/template/${encodeURIComponent(current.data.id)}`));
    await loadTemplates();
  } catch (error) {
    if (error.status === 409 && error.detail?.conflict) {
      showConflict($('#tpl-conflict'), error.detail, {
        onMerge: (merged, theirs) => showTemplateEditor({ ...theirs }), onDiscard: (theirs) => showTemplateEditor({ ...theirs }) });
    }
    reportError(error, $('#tpl-errors'));
  }
}

async function afterPublish(revision) {
  $('#who-rev').textContent = `话术库第 ${revision} 版`;
  if (state.meta) state.meta.revision = revision;
}

// ------------------------------------------------------------------ rules
async function loadRules() {
  const params = new URLSearchParams();
  for (const [key, sel] of [['q', '#rule-q'], ['category', '#rule-category'], ['severity', '#rule-severity']]) {
    if ($(sel).value) params.set(key, $(sel).value.trim());
  }
  const result = await api(`/api/console/items/rule?${params}`);
  $('#rule-count').textContent = `共 ${result.total} 条，显示 ${result.items.length} 条`;
  fill($('#rule-list'), result.items.map((item) => {
    const d = item.data;
    const examples = (d.examples?.flag?.length || 0) + (d.examples?.pass?.length || 0);
    return h('tr', { class: `rule-row${d.id === state.rule.current?.data.id ? ' selected' : ''}`, dataset: { id: d.id }, onclick: () => openRule(d.id) },
      h('td', {}, h('span', { class: 'pill', dataset: { severity: d.severity } }, SEVERITY_NAMES[d.severity]), d.enabled ? null : h('div', { class: 'muted' }, '已停用')),
      h('td', { class: 'id' }, d.id),
      h('td', {}, state.meta.categories[d.category] || d.category),
      h('td', { class: 'text' }, d.message),
      h('td', { class: 'num' }, examples));
  }));
}

const RULE_FIELDS = {
  id: '#rule-id', category: '#rule-category-in', severity: '#rule-severity-in', match: '#rule-match', view: '#rule-view',
  message: '#rule-message', suggestion: '#rule-suggestion', why: '#rule-why', source: '#rule-source',
};
const RULE_LISTS = { patterns: '#rule-patterns', allow: '#rule-allow', unless: '#rule-unless' };

function fillRuleForm(data) {
  for (const [key, sel] of Object.entries(RULE_FIELDS)) $(sel).value = data[key] ?? '';
  for (const [key, sel] of Object.entries(RULE_LISTS)) $(sel).value = (data[key] || []).join('\n');
  $('#rule-shape').value = data.shape || '';
  $('#rule-limit').value = data.limit ?? '';
  $('#rule-enabled').checked = data.enabled !== false;
  $('#rule-ex-flag').value = (data.examples?.flag || []).join('\n');
  $('#rule-ex-pass').value = (data.examples?.pass || []).join('\n');
  $('#rule-id').readOnly = state.rule.current.version !== null;
}

function ruleFormData() {
  const data = { ...state.rule.current.data };
  for (const [key, sel] of Object.entries(RULE_FIELDS)) data[key] = $(sel).value.trim();
  for (const [key, sel] of Object.entries(RULE_LISTS)) data[key] = lines($(sel).value);
  data.shape = $('#rule-shape').value || null;
  data.limit = $('#rule-limit').value ? Number($('#rule-limit').value) : null;
  data.enabled = $('#rule-enabled').checked;
  data.examples = { flag: lines($('#rule-ex-flag').value), pass: lines($('#rule-ex-pass').value) };
  return data;
}

function isRuleDirty() {
  return state.rule.current ? stable(ruleFormData()) !== stable(state.rule.current.data) : false;
}

function renderRuleHead() {
  const current = state.rule.current;
  $('#rule-title').textContent = current.version === null ? '新建规则' : `规则 ${current.data.id}`;
  $('#rule-version').textContent = current.version === null ? '尚未保存'
    : `第 ${current.version} 版 · ${current.updated_by} · ${fmtTime(current.updated_at)}`;
  $('#rule-dirty').textContent = isRuleDirty() ? '有未保存的修改' : '';
}

function showRuleEditor(current) {
  state.rule.current = current;
  $('#rule-editor').hidden = false;
  $('#rule-conflict').hidden = true;
  $('#rule-history').hidden = true;
  fillRuleForm(current.data);
  renderRuleHead();
  $$('#rule-list tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === current.data.id));
  ['#rule-errors', '#rule-test-results'].forEach((sel) => fill($(sel)));
  $('#rule-check').dataset.state = 'checking';
  testRule();
}

async function openRule(id) {
  if (isRuleDirty() && !window.confirm('当前规则有未保存的修改，确定放弃吗？')) return;
  showRuleEditor(await api(`/api/console/items/rule/${encodeURIComponent(id)}`));
}

function newRule() {
  if (isRuleDirty() && !window.confirm('当前规则有未保存的修改，确定放弃吗？')) return;
  const category = $('#rule-category').value || 'taboo';
  showRuleEditor({ data: { id: `${category}.`, category, severity: 'warn', match: 'phrase', patterns: [], view: 'compact',
    shape: null, limit: null, allow: [], unless: [], noise_tolerant: false, max_draft_chars: null, message: '', suggestion: '',
    why: '', source: '', enabled: true, examples: { flag: [], pass: [] } }, version: null });
}

const testRule = debounce(async () => {
  if (!state.rule.current) return;
  const seq = ++state.rule.seq;
  const box = $('#rule-check');
  box.dataset.state = 'checking';
  try {
    const result = await api('/api/console/check/rule', { method: 'POST',
      json: { data: ruleFormData(), texts: lines($('#rule-test-input').value) } });
    if (seq !== state.rule.seq) return;
    fill($('#rule-errors'), problemItems(result.errors, result.warnings));
    const test = result.test;
    const results = $('#rule-test-results');
    if (!test) {
      fill(results);
    } else {
      const own = (flags) => flags.filter((f) => f.rule === ruleFormData().id);
      fill(results,
        test.enabled ? null : h('p', { class: 'muted' }, '这条规则已停用；测试时临时启用。'),
        h('table', { class: 'examples' }, h('tbody', {},
          test.examples.map((e) => h('tr', { class: e.ok ? 'ok' : 'fail', dataset: { expect: e.expect, ok: e.ok ? '1' : '0' } },
            h('td', { class: 'res' }, e.ok ? '✓' : '✗'), h('td', { class: 'res' }, e.expect === 'flag' ? '应命中' : '应放过'),
            h('td', {}, marked(e.text, own(e.flags))), h('td', { class: 'res' }, e.hit ? '命中' : '未命中'))),
          test.texts.map((t) => h('tr', { class: 'typed', dataset: { hit: t.hit ? '1' : '0' } },
            h('td', { class: 'res' }, '·'), h('td', { class: 'res' }, '试输入'), h('td', {}, marked(t.text, t.flags)),
            h('td', { class: 'res' }, t.hit ? '命中' : (t.flags.length ? `被其他规则命中：${t.flags.map((f) => f.rule).join('、')}` : '未命中')))))),
        h('p', { class: test.failed ? 'error' : 'ok-line', id: 'rule-test-summary' },
          test.failed ? `${test.failed} 个例子不符合预期，修好后才能保存` : `✓ ${test.examples.length} 个例子全部符合预期`));
    }
    box.dataset.state = result.errors.length ? 'error' : 'ok';
  } catch (error) {
    if (seq === state.rule.seq) { box.dataset.state = 'error'; toast(error.message, 'error'); }
  }
}, 300);

async function saveRule() {
  const data = ruleFormData();
  try {
    const result = await api('/api/console/items/rule', { method: 'PUT', json: { data, version: state.rule.current.version } });
    toast(`规则已保存并发布：${data.id} 第 ${result.version} 版`);
    await afterPublish(result.revision);
    showRuleEditor(await api(`/api/console/items/rule/${encodeURIComponent(data.id)}`));
    await loadRules();
  } catch (error) {
    if (error.status === 409 && error.detail?.conflict) {
      showConflict($('#rule-conflict'), error.detail, {
        onMerge: (merged, theirs) => { state.rule.current = { ...theirs }; fillRuleForm(merged); renderRuleHead(); testRule(); },
        onDiscard: (theirs) => showRuleEditor({ ...theirs }),
      });
      toast(error.message, 'error');
    } else {
      reportError(error, $('#rule-errors'));
    }
  }
}

// ------------------------------------------------------------------ settings
async function loadSettings() {
  const entry = await api('/api/console/settings');
  state.settings = entry;
  $('#settings-conflict').hidden = true;
  fillSettingsForm(entry.settings);
  $('#settings-version').textContent = `第 ${entry.version} 版 · ${entry.updated_by} · ${fmtTime(entry.updated_at)}`;
}

function shiftRow(shift = {}) {
  const input = (key, props = {}) => h('input', { dataset: { key }, value: shift[key] ?? '', ...props });
  return h('tr', { class: 'shift' }, h('td', {}, input('id')), h('td', {}, input('name')),
    h('td', {}, input('start', { placeholder: '08:00' })), h('td', {}, input('end', { placeholder: '17:30' })),
    h('td', {}, input('first_response_s', { type: 'number', min: 1 })), h('td', {}, input('answer_s', { type: 'number', min: 1 })),
    h('td', {}, h('button', { type: 'button', class: 'danger', onclick: (e) => e.target.closest('tr').remove() }, '删除')));
}

function placeholderRow(name = '', p = {}) {
  return h('tr', { class: 'ph' }, h('td', {}, h('input', { dataset: { key: 'name' }, value: name, placeholder: 'order_no' })),
    h('td', {}, h('input', { dataset: { key: 'label' }, value: p.label || '' })),
    h('td', {}, h('input', { dataset: { key: 'fallback' }, value: p.fallback || '' })),
    h('td', {}, h('button', { type: 'button', class: 'danger', onclick: (e) => e.target.closest('tr').remove() }, '删除')));
}

function fillSettingsForm(settings) {
  const response = settings.response;
  fill($('#shifts'), response.shifts.map((s) => shiftRow(s)));
  $('#resp-warning').value = response.warning_fraction;
  $('#resp-fine').value = response.fine_yuan;
  $('#resp-step').value = response.fine_step_s;
  $('#resp-platform').value = response.platform_limit_s;
  $('#resp-auto').checked = response.count_auto_replies;
  $('#resp-closing').value = response.closing_phrases.join('，');
  const policy = settings.policy;
  fill($('#variants'), Object.entries(policy.choices).map(([key, options]) => {
    const select = h('select', { dataset: { key }, value: policy.variants[key] || Object.keys(options)[0],
      onchange: () => { desc.textContent = options[select.value] || ''; } },
    Object.keys(options).map((value) => h('option', { value }, value)));
    const desc = h('div', { class: 'desc' }, options[select.value] || '');
    return h('div', { class: 'variant-card', dataset: { key } }, h('label', {}, `${key}`, select), desc);
  }));
  $('#policy-maxprice').value = policy.max_price_change;
  fill($('#placeholders'), Object.entries(settings.placeholders).map(([name, p]) => placeholderRow(name, p)));
  $('#allow').value = settings.allow.join('，');
  fill($('#settings-errors'));
}

function settingsFormData() {
  const current = state.settings.settings;
  const number = (sel) => ($(sel).value === '' ? null : Number($(sel).value));
  const shifts = $$('#shifts tr').map((tr) => {
    const shift = {};
    $$('input', tr).forEach((input) => { shift[input.dataset.key] = input.value.trim(); });
    shift.first_response_s = shift.first_response_s === '' ? null : Number(shift.first_response_s);
    shift.answer_s = shift.answer_s === '' ? null : Number(shift.answer_s);
    return shift;
  });
  const variants = {};
  $$('#variants select').forEach((s) => { variants[s.dataset.key] = s.value; });
  const placeholders = {};
  $$('#placeholders tr').forEach((tr) => {
    const [name, label, fallback] = $$('input', tr).map((i) => i.value.trim());
    if (name) placeholders[name] = { label, fallback };
  });
  return {
    response: { ...current.response, shifts, warning_fraction: number('#resp-warning'), fine_yuan: number('#resp-fine'),
      fine_step_s: number('#resp-step'), platform_limit_s: number('#resp-platform'), count_auto_replies: $('#resp-auto').checked,
      closing_phrases: words($('#resp-closing').value) },
    policy: { ...current.policy, variants: { ...current.policy.variants, ...variants }, max_price_change: number('#policy-maxprice') },
    placeholders,
    allow: words($('#allow').value),
  };
}

async function saveSettings(version = state.settings.version) {
  const settings = settingsFormData();
  try {
    const result = await api('/api/console/settings', { method: 'PUT', json: { settings, version } });
    toast(result.changed.length ? `已保存并发布：${result.changed.map((k) => FIELD_NAMES[k] || k).join('、')}` : '没有改动');
    await afterPublish(result.revision);
    await loadSettings();
    await loadMeta();
  } catch (error) {
    if (error.status === 409 && error.detail?.conflict) {
      const conflict = error.detail.conflict;
      const box = $('#settings-conflict');
      const changed = (conflict.fields || []).filter((f) => ['response', 'policy', 'placeholders', 'allow'].includes(f.field));
      fill(box, h('h3', {}, '保存冲突：别人已经改过店铺设置'), h('p', {}, error.detail.message, ' 你的修改还在表单里，没有丢失。'),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, '部分'), h('th', {}, `对方（第 ${conflict.theirs.version} 版 · ${conflict.theirs.updated_by}）`), h('th', {}, '你的'))),
          h('tbody', {}, changed.map((f) => h('tr', {}, h('th', {}, FIELD_NAMES[f.field] || f.field),
            h('td', {}, h('pre', {}, JSON.stringify(f.theirs, null, 1))), h('td', {}, h('pre', {}, JSON.stringify(f.yours, null, 1))))))),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'primary', onclick: () => saveSettings(conflict.theirs.version) }, '以我的为准覆盖保存'),
          h('button', { type: 'button', onclick: () => loadSettings() }, '放弃我的修改，载入对方版本')));
      box.hidden = false;
      toast(error.message, 'error');
    } else {
      reportError(error, $('#settings-errors'));
    }
  }
}

// ------------------------------------------------------------------ try a message
async function tryMessage() {
  const text = $('#try-text').value.trim();
  if (!text) { toast('请先输入买家消息', 'error'); return; }
  const variables = {};
  $$('#view-try input[data-var]').forEach((i) => { if (i.value.trim()) variables[i.dataset.var] = i.value.trim(); });
  try {
    const r = await api('/api/console/try', { method: 'POST', json: { text, variables } });
    $('#try-result').hidden = false;
    $('#try-meta').textContent = `${r.classifier === 'model' ? '意图模型 + 关键词' : '仅关键词（未加载模型）'} · 话术库第 ${r.revision} 版`;
    fill($('#try-intents'), r.intents.length ? r.intents.map((i) => h('div', { class: 'bar-row', dataset: { intent: i.intent } },
      h('span', {}, `${i.name}（${i.intent}）`), h('div', { class: 'track' }, h('div', { class: 'bar', style: `width:${Math.round(i.score * 100)}%` })),
      h('span', {}, `${Math.round(i.score * 100)}%`))) : h('p', { class: 'muted' }, '没有识别出明确意图（其他）'));
    fill($('#try-evidence'), r.evidence.length ? r.evidence.map((e) => h('span', { class: `chip evidence ${e.kind}`,
      title: `${e.kind === 'keyword' ? '主管设置的关键词' : '模型特征'}，权重 ${e.weight}` }, `${intentName(e.intent)}：${e.text}`))
      : h('span', { class: 'muted' }, '—'));
    fill($('#try-suggestions'), r.suggestions.length ? r.suggestions.map((s) => h('div', { class: 'suggestion', dataset: { template: s.template_id } },
      h('div', {}, s.text), h('div', { class: 'meta' }, `${s.template_id} · ${intentName(s.intent)} · 得分 ${s.score}`)))
      : h('p', { class: 'muted' }, '没有可推荐的已审核模板'));
    fill($('#try-reminders'), r.reminders.length ? r.reminders.map((o) => h('li', {}, `${intentName(o.intent)}：${o.description}`))
      : h('li', { class: 'muted' }, '—'));
  } catch (error) {
    toast(error.message, 'error');
  }
}

// ------------------------------------------------------------------ import / export
async function exportBook(format) {
  try {
    const response = await api(`/api/console/export?format=${format}`, { raw: true });
    const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '')?.[1] || `phrasebook.${format}`;
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`已导出 ${name}`);
  } catch (error) {
    toast(error.message, 'error');
  }
}

async function importBook(apply = false, expectedRevision = null) {
  const file = $('#import-file').files[0];
  if (!file) { toast('请先选择文件', 'error'); return; }
  const form = new FormData();
  form.append('file', file);
  form.append('apply', apply ? 'true' : 'false');
  if (expectedRevision !== null) form.append('expected_revision', String(expectedRevision));
  const box = $('#import-result');
  try {
    const r = await api('/api/console/import', { method: 'POST', form });
    const list = (title, keys, cls) => (keys.length ? h('details', { open: keys.length <= 12, class: cls },
      h('summary', {}, `${title} ${keys.length} 项`), h('ul', {}, keys.map((k) => h('li', {}, k)))) : null);
    const nothing = !r.changes.created.length && !r.changes.updated.length && !r.changes.deleted.length;
    fill(box,
      h('p', {}, `${r.file}（${r.format.toUpperCase()}）：意图 ${r.counts.intents} 个、模板 ${r.counts.templates} 条、规则 ${r.counts.rules} 条。`,
        r.applied ? h('b', {}, ` 已导入，话术库第 ${r.revision} 版。`) : (nothing ? ' 与当前话术库完全一致，无需导入。' : ' 以下是将要发生的变化：')),
      list('新增', r.changes.created, 'created'), list('修改', r.changes.updated, 'updated'), list('删除', r.changes.deleted, 'deleted'),
      r.skipped.length ? h('div', {}, h('p', { class: 'error' }, `${r.skipped.length} 行有问题，已跳过：`), h('ul', { class: 'problems' }, r.skipped.map((s) => h('li', {}, s)))) : null,
      !r.applied && !nothing ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', id: 'import-apply',
        onclick: () => importBook(true, r.revision) }, '确认导入')) : null);
    if (r.applied) { toast(`已导入，话术库第 ${r.revision} 版`); await afterPublish(r.revision); await loadMeta(); }
  } catch (error) {
    fill(box, h('p', { class: 'error' }, error.message),
      h('ul', { class: 'problems' }, (error.detail?.errors || []).map((e) => h('li', {}, e.message))));
  }
}

// ------------------------------------------------------------------ audit log
async function loadAudit() {
  const params = new URLSearchParams({ limit: '300' });
  if ($('#audit-filter').value.trim()) params.set('action', $('#audit-filter').value.trim());
  const rows = await api(`/api/console/audit?${params}`);
  fill($('#audit-table'), rows.map((r) => h('tr', { dataset: { action: r.action } }, h('td', { class: 'when' }, fmtTime(r.at)),
    h('td', {}, r.actor), h('td', {}, ROLE_NAMES[r.role] || r.role), h('td', { title: r.action }, auditName(r.action)),
    h('td', { class: 'text' }, Object.entries(r.detail).map(([k, v]) => `${k}: ${fmtValue(v)}`).join('；')))));
}

// ------------------------------------------------------------------ QA: charts
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function niceTop(value) {
  if (value <= 5) return 5;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * step).find((t) => t >= value) || value;
}

function columnChart(labels, values, color = '#3370ff') {
  const width = 520;
  const height = 220;
  const left = 36;
  const bottom = 34;
  const top = niceTop(Math.max(...values, 1));
  const band = (width - left - 8) / labels.length;
  const y = (v) => height - bottom - (v / top) * (height - bottom - 14);
  return s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' },
    [0, top / 2, top].map((t) => [s('line', { x1: left, x2: width - 4, y1: y(t), y2: y(t), stroke: '#e5e6eb' }),
      s('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end' }, fmtNum(t, 0))]),
    labels.map((label, i) => {
      const x = left + i * band + band * 0.15;
      return [s('rect', { x, y: y(values[i]), width: band * 0.7, height: Math.max(0, height - bottom - y(values[i])), fill: color, rx: 2 },
        s('title', {}, `${label}：${values[i]}`)),
      values[i] ? s('text', { x: x + band * 0.35, y: y(values[i]) - 3, 'text-anchor': 'middle' }, values[i]) : null,
      s('text', { x: x + band * 0.35, y: height - bottom + 16, 'text-anchor': 'middle' }, label)];
    }));
}

function barList(items) {
  if (!items.length) return h('p', { class: 'muted' }, '没有违规 🎉');
  const width = 520;
  const row = 24;
  const height = items.length * row + 8;
  const max = Math.max(...items.map((i) => i.count), 1);
  return s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' }, items.map((item, i) => [
    s('text', { x: 170, y: i * row + 17, 'text-anchor': 'end' }, item.label),
    s('rect', { x: 178, y: i * row + 5, height: 15, rx: 2, fill: '#d93025', width: Math.max(2, (item.count / max) * (width - 230)) },
      s('title', {}, `${item.label}：${item.count}`)),
    s('text', { x: 184 + (item.count / max) * (width - 230), y: i * row + 17 }, item.count)]));
}

function lineChart(days, series, metric) {
  const agents = Object.keys(series);
  if (!days.length) return h('p', { class: 'muted' }, '还没有质检报告');
  const width = 900;
  const height = 260;
  const left = 44;
  const bottom = 30;
  const values = agents.flatMap((a) => series[a].map((c) => c[metric]).filter((v) => v !== null && v !== undefined));
  const top = metric === 'late_rate' ? 1 : niceTop(Math.max(...values, 1));
  const x = (i) => left + (days.length === 1 ? (width - left) / 2 : (i * (width - left - 30)) / (days.length - 1));
  const y = (v) => height - bottom - (v / top) * (height - bottom - 12);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' },
    [0, top / 2, top].map((t) => [s('line', { x1: left, x2: width - 10, y1: y(t), y2: y(t), stroke: '#e5e6eb' }),
      s('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end' }, metric === 'late_rate' ? `${Math.round(t * 100)}%` : fmtNum(t, 0))]),
    days.map((d, i) => s('text', { x: x(i), y: height - 10, 'text-anchor': 'middle' }, d.slice(5))),
    agents.map((agent, k) => {
      const color = PALETTE[k % PALETTE.length];
      const points = series[agent].filter((c) => c[metric] !== null && c[metric] !== undefined)
        .map((c) => [x(days.indexOf(c.day)), y(c[metric]), c]);
      return s('g', { 'data-agent': agent },
        points.length > 1 ? s('polyline', { points: points.map((p) => `${p[0]},${p[1]}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }) : null,
        points.map(([px, py, c]) => s('circle', { cx: px, cy: py, r: 4, fill: color },
          s('title', {}, `${agent} ${c.day}：${metric === 'late_rate' ? `${Math.round(c[metric] * 100)}%` : fmtNum(c[metric])}（${c.conversations} 个会话，报告 #${c.report_id}）`))));
    }));
  return [svg, h('div', { class: 'legend' }, agents.map((a, k) => h('span', {}, h('i', { style: `background:${PALETTE[k % PALETTE.length]}` }), a)))];
}

function scoreBadge(score) {
  const cls = score >= 90 ? 'good' : score >= 60 ? 'mid' : 'bad';
  return h('span', { class: `score ${cls}` }, fmtNum(score));
}

// ------------------------------------------------------------------ QA: reports
async function loadQa([reportId, convKey] = []) {
  await Promise.all([loadReports(reportId), loadTrends()]);
  if (reportId) {
    if (String(state.qa.report?.id) !== reportId) {
      await openReport(reportId);
      if (!convKey) $('#qa-report').scrollIntoView({ block: 'start' });
    }
    if (convKey) await openConversation(convKey);
  } else {
    $('#qa-report').hidden = true;
  }
}

async function loadReports(selected) {
  const rows = await api('/api/qa/reports');
  fill($('#qa-reports'), rows.length ? rows.map((r) => h('tr', { class: `report-row${String(r.id) === String(selected) ? ' selected' : ''}`,
    dataset: { id: r.id }, onclick: () => { location.hash = `#qa/${r.id}`; } },
  h('td', { class: 'num' }, `#${r.id}`), h('td', {}, r.name), h('td', { class: 'when' }, (r.summary.days || []).join(' ~ ')),
  h('td', { class: 'num' }, r.summary.conversations_total ?? r.summary.conversations),
  h('td', {}, r.summary.avg_score === null ? '—' : scoreBadge(r.summary.avg_score)),
  h('td', { class: 'num' }, r.summary.auto_fails), h('td', { class: 'num' }, `¥${fmtNum(r.summary.fines_yuan)}`),
  h('td', { class: 'num' }, `第 ${r.rules_revision} 版`), h('td', { class: 'when' }, r.created_by, h('br'), fmtTime(r.created_at))))
    : h('tr', {}, h('td', { colspan: 9, class: 'muted' }, '还没有报告：上传聊天记录后生成')));
}

async function loadTrends() {
  state.qa.trends = await api('/api/qa/trends');
  renderTrends();
}

function renderTrends() {
  const t = state.qa.trends;
  if (t) fill($('#qa-trend'), lineChart(t.days, t.series, $('#qa-trend-metric').value));
}

async function openReport(id) {
  const report = await api(`/api/qa/reports/${id}?view=index`);
  state.qa.report = report;
  state.qa.conv = null;
  const sum = report.summary;
  $('#qa-report').hidden = false;
  $('#qa-report').dataset.id = id;
  $('#qa-report-title').textContent = `报告 #${id}`;
  $('#qa-report-meta').textContent = `规则版本 第 ${report.meta.rules_revision} 版（${report.meta.rules_hash}）· `
    + `${report.meta.classifier?.kind === 'model' ? '意图模型' : '仅关键词'} · ${report.meta.uploaded_by || ''} ${fmtTime(report.meta.generated_at)}`;
  const card = (label, value) => h('div', { class: 'card-n' }, h('b', {}, value), h('span', {}, label));
  fill($('#qa-cards'),
    card('会话', report.conversations_total), card('平均分', fmtNum(sum.avg_score)), card('自动判零', sum.auto_fails),
    card('首次响应均值', `${fmtNum(sum.first_response_avg_s)} 秒`), card('等待 P90', `${fmtNum(sum.wait_p90_s)} 秒`),
    card('超时轮次', `${sum.late_rounds} / ${sum.rounds}`), card('罚款合计', `¥${fmtNum(sum.fines_yuan)}`),
    card('未回复', sum.unanswered), card('禁用语', sum.block_flags), card('处理要求未做到', sum.obligations_missed),
    card('覆核', report.overrides.length));
  fill($('#qa-chart-wait'), columnChart(report.charts.wait_buckets, report.charts.wait_histogram));
  fill($('#qa-chart-viol'), barList(report.charts.violations));
  const columns = [['agent_id', '客服'], ['conversations', '会话'], ['avg_score', '平均分'], ['first_response_avg_s', '首次响应（秒）'],
    ['wait_p90_s', '等待 P90（秒）'], ['late_rate', '超时率'], ['fines_yuan', '罚款（元）'], ['block_flags', '禁用语'],
    ['unanswered', '未回复'], ['obligations_missed', '要求未做到']];
  fill($('#qa-agent-table'), h('thead', {}, h('tr', {}, columns.map(([, label]) => h('th', {}, label)))),
    h('tbody', {}, report.agents.map((a) => h('tr', { dataset: { agent: a.agent_id }, onclick: () => { $('#qa-conv-q').value = a.agent_id; renderConversations(); } },
      columns.map(([key]) => h('td', { class: key === 'agent_id' ? '' : 'num' },
        key === 'agent_id' ? a[key] : key === 'avg_score' && a[key] !== null ? scoreBadge(a[key]) : key === 'late_rate' && a[key] !== null ? `${Math.round(a[key] * 100)}%` : fmtNum(a[key])))))));
  fill($('#qa-report-problems'), report.problems.slice(0, 50).map((p) => h('li', { class: p.level === 'warning' ? 'warning' : '' }, `${p.where}: ${p.message}`)));
  $('#qa-conv').hidden = true;
  renderConversations();
  $$('#qa-reports tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === String(id)));
}

function renderConversations() {
  const report = state.qa.report;
  const q = $('#qa-conv-q').value.trim().toLowerCase();
  const rows = report.conversations.filter((c) => !q || `${c.key} ${c.agents.join(' ')}`.toLowerCase().includes(q));
  fill($('#qa-convs'), rows.map((c) => h('tr', { class: `conv-row${state.qa.conv?.key === c.key ? ' selected' : ''}`, dataset: { key: c.key },
    onclick: () => { location.hash = `#qa/${report.id}/${encodeURIComponent(c.key)}`; } },
  h('td', { class: 'id' }, c.key), h('td', {}, c.primary_agent || '—'), h('td', { class: 'when' }, c.day),
  h('td', {}, scoreBadge(c.score), c.auto_fail ? h('div', { class: 'error' }, '自动判零') : null),
  h('td', { class: 'num' }, c.deductions, c.overridden ? h('span', { class: 'muted' }, `（已覆核 ${c.overridden}）`) : null))));
}

function clock(ts, tz) {
  try {
    return new Date(ts * 1000).toLocaleString('zh-CN', { timeZone: tz || 'Asia/Shanghai', hour12: false });
  } catch {
    return new Date(ts * 1000).toLocaleString('zh-CN', { hour12: false });
  }
}

async function openConversation(key) {
  const report = state.qa.report;
  const conv = await api(`/api/qa/reports/${report.id}/conversation?key=${encodeURIComponent(key)}`);
  state.qa.conv = conv;
  $$('#qa-convs tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.key === key));
  const tz = report.meta.timezone;
  const roles = { buyer: '买家', agent: '客服', system: '系统' };
  const box = $('#qa-conv');
  fill(box,
    h('div', { class: 'editor-head' }, h('h3', {}, `会话 ${conv.key}`), scoreBadge(conv.score),
      conv.auto_fail ? h('span', { class: 'pill', dataset: { severity: 'block' } }, '自动判零') : null),
    h('p', { class: 'muted' }, `${conv.primary_agent} · ${conv.day} · ${conv.n_messages} 条消息 · 首次响应 ${fmtNum(conv.first_response_s)} 秒 · 罚款 ¥${fmtNum(conv.fines_yuan)}`),
    h('p', {}, Object.values(conv.sections).map((sec) => h('span', { class: 'chip' }, `${sec.name} ${fmtNum(sec.score)}/${fmtNum(sec.weight)}`))),
    h('h3', {}, `扣分项（${conv.deductions.length}）`),
    conv.deductions.length ? conv.deductions.map((d) => deductionView(d)) : h('p', { class: 'muted' }, '没有扣分'),
    h('h3', {}, '聊天记录'),
    conv.messages.map((m) => h('div', { class: `msg${m.flags.length ? ' flagged' : ''}`, id: `msg-${m.message_id}`, dataset: { role: m.role, messageId: m.message_id } },
      h('div', { class: 'who' }, `${roles[m.role] || m.role}${m.auto ? '（自动回复）' : ''} ${m.agent_id && m.role === 'agent' ? m.agent_id : ''}`, h('br'), clock(m.ts, tz)),
      h('div', {}, marked(m.text, m.flags),
        m.intents.length ? h('div', { class: 'chips' }, m.intents.map((i) => h('span', { class: 'chip' }, (conv.intent_names || {})[i] || i))) : null,
        m.latency_s !== null ? h('div', { class: `lat${m.on_time === false ? ' late' : ''}` },
          `${m.first_response ? '首次响应' : '回复'}用时 ${fmtNum(m.latency_s)} 秒 / 时限 ${fmtNum(m.limit_s)} 秒${m.fine_yuan ? ` · 罚款 ¥${fmtNum(m.fine_yuan)}` : ''}`) : null))));
  box.hidden = false;
}

function deductionView(d) {
  const overridden = d.override !== null && d.override !== undefined;
  const view = h('div', { class: `ded${overridden ? ' overridden' : ''}`, dataset: { findingId: d.id, kind: d.kind } },
    h('div', { class: 'what' }, h('b', {}, d.label), ` −${fmtNum(d.points)} 分`, d.auto_fail ? h('span', { class: 'error' }, '（自动判零）') : null,
      ' ', h('a', { href: `#msg-${d.message_id}`, onclick: (e) => { e.preventDefault(); $(`#msg-${CSS.escape(d.message_id)}`)?.scrollIntoView({ block: 'center' }); } }, '看消息')),
    h('div', {}, d.explanation),
    d.quote ? h('div', {}, h('small', {}, `原话：“${d.quote}”`)) : null,
    h('div', {}, h('small', {}, `规则：${d.rule_text}${d.source ? `（${d.source}）` : ''}`)),
    overridden ? h('div', { class: 'override-note' }, h('small', {}, `已覆核：${d.override.reviewer} · ${fmtTime(d.override.at)} · ${d.override.reason}`
      + `${d.override.points !== null && d.override.points !== undefined ? ` · 改为扣 ${d.override.points} 分` : ' · 不扣分'}`)) : null);
  if (!overridden) {
    const form = h('form', { class: 'override-form', hidden: true, onsubmit: (e) => { e.preventDefault(); submitOverride(d, form); } },
      h('input', { name: 'reason', required: true, placeholder: '覆核理由（必填，会记入操作记录）' }),
      h('input', { name: 'points', type: 'number', min: 0, step: 0.5, placeholder: '改扣几分（空=不扣）' }),
      h('button', { type: 'submit', class: 'primary' }, '确认覆核'));
    append(view, [h('button', { type: 'button', class: 'override-btn', onclick: () => { form.hidden = !form.hidden; form.reason.focus(); } }, '覆核'), form]);
  }
  return view;
}

async function submitOverride(d, form) {
  const report = state.qa.report;
  const points = form.points.value === '' ? null : Number(form.points.value);
  try {
    const r = await api(`/api/qa/reports/${report.id}/overrides`, { method: 'POST',
      json: { finding_id: d.id, reason: form.reason.value.trim(), points } });
    toast(`已覆核：会话得分 ${fmtNum(r.override.score_before)} → ${fmtNum(r.override.score_after)}`);
    const key = state.qa.conv.key;
    await openReport(report.id);
    await openConversation(key);
    await Promise.all([loadReports(report.id), loadTrends()]);
  } catch (error) {
    toast(error.message, 'error');
  }
}

async function openReportHtml() {
  const report = state.qa.report;
  const tab = window.open('', '_blank');
  try {
    const response = await api(`/api/qa/reports/${report.id}/html`, { raw: true });
    const url = URL.createObjectURL(new Blob([await response.text()], { type: 'text/html' }));
    if (tab) tab.location.href = url; else window.location.href = url;
  } catch (error) {
    if (tab) tab.close();
    toast(error.message, 'error');
  }
}

async function uploadTranscripts(event) {
  event.preventDefault();
  const files = $('#qa-files').files;
  if (!files.length) { toast('请先选择聊天记录文件', 'error'); return; }
  const form = new FormData();
  for (const file of files) form.append('files', file);
  form.append('name', $('#qa-name').value.trim());
  form.append('format', $('#qa-format').value);
  form.append('agents', $('#qa-agents').value.trim());
  form.append('tz', $('#qa-tz').value.trim() || 'Asia/Shanghai');
  const button = $('#qa-upload');
  button.disabled = true;
  $('#qa-upload-result').textContent = '质检中…';
  fill($('#qa-upload-problems'));
  try {
    const r = await api('/api/qa/replay', { method: 'POST', form });
    $('#qa-upload-result').textContent = `已生成报告 #${r.id}：会话 ${r.summary.conversations_total} 个，平均分 ${fmtNum(r.summary.avg_score)}`
      + `${r.summary.problems_total ? `，${r.summary.problems_total} 行有问题` : ''}`;
    fill($('#qa-upload-problems'), r.problems.slice(0, 20).map((p) => h('li', { class: p.level === 'warning' ? 'warning' : '' }, `${p.where}: ${p.message}`)));
    $('#qa-form').reset();
    $('#qa-tz').value = 'Asia/Shanghai';
    location.hash = `#qa/${r.id}`;
  } catch (error) {
    $('#qa-upload-result').textContent = '';
    fill($('#qa-upload-problems'), h('li', {}, error.message), (error.detail?.errors || []).map((e) => h('li', {}, `${e.loc}: ${e.message}`)));
    toast(error.message, 'error');
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ wiring
function wire() {
  $('#login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await login($('#login-token').value.trim());
      $('#login-token').value = '';
    } catch (error) {
      showLogin(error.message);
    }
  });
  $('#logout').addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY);
    state.token = '';
    showLogin();
  });
  window.addEventListener('hashchange', route);

  const reloadTemplates = debounce(() => loadTemplates().catch((e) => toast(e.message, 'error')), 200);
  ['#tpl-q', '#tpl-intent', '#tpl-status', '#tpl-tag'].forEach((sel) => $(sel).addEventListener('input', reloadTemplates));
  $('#tpl-new').addEventListener('click', newTemplate);
  ['#tpl-id', '#tpl-tags', '#tpl-text'].forEach((sel) => $(sel).addEventListener('input', tplChanged));
  $('#tpl-intent-add').addEventListener('change', (e) => {
    const id = e.target.value;
    if (id && !state.tpl.intents.includes(id)) { state.tpl.intents.push(id); renderTplIntents(); tplChanged(); }
    e.target.value = '';
  });
  $('#tpl-save').addEventListener('click', saveTemplate);
  $('#tpl-history-btn').addEventListener('click', () => state.tpl.current?.version !== null
    && showHistory($('#tpl-history'), 'template', state.tpl.current.data.id).catch((e) => toast(e.message, 'error')));

  const reloadRules = debounce(() => loadRules().catch((e) => toast(e.message, 'error')), 200);
  ['#rule-q', '#rule-category', '#rule-severity'].forEach((sel) => $(sel).addEventListener('input', reloadRules));
  $('#rule-new').addEventListener('click', newRule);
  $$('#rule-editor input, #rule-editor select, #rule-editor textarea').forEach((el) => el.addEventListener('input', () => {
    if (state.rule.current) { renderRuleHead(); $('#rule-check').dataset.state = 'checking'; testRule(); }
  }));
  $('#rule-save').addEventListener('click', saveRule);
  $('#rule-history-btn').addEventListener('click', () => state.rule.current?.version !== null
    && showHistory($('#rule-history'), 'rule', state.rule.current.data.id).catch((e) => toast(e.message, 'error')));

  $('#shift-add').addEventListener('click', () => $('#shifts').append(shiftRow()));
  $('#ph-add').addEventListener('click', () => $('#placeholders').append(placeholderRow()));
  $('#settings-save').addEventListener('click', () => saveSettings());
  $('#settings-history-btn').addEventListener('click', () => showHistory($('#settings-history'), 'settings', 'settings')
    .catch((e) => toast(e.message, 'error')));

  $('#try-run').addEventListener('click', tryMessage);
  $('#try-text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) tryMessage(); });
  $$('button.export').forEach((b) => b.addEventListener('click', () => exportBook(b.dataset.format)));
  $('#import-preview').addEventListener('click', () => importBook(false));
  $('#audit-refresh').addEventListener('click', () => loadAudit().catch((e) => toast(e.message, 'error')));
  $('#audit-filter').addEventListener('input', debounce(() => loadAudit().catch((e) => toast(e.message, 'error')), 250));

  $('#qa-form').addEventListener('submit', uploadTranscripts);
  $('#qa-trend-metric').addEventListener('change', renderTrends);
  $('#qa-conv-q').addEventListener('input', renderConversations);
  $('#qa-html').addEventListener('click', openReportHtml);
  window.addEventListener('beforeunload', (e) => { if (isTemplateDirty() || isRuleDirty()) e.preventDefault(); });
}

wire();
if (state.token) {
  login(state.token).catch((error) => showLogin(error.status === 401 ? '令牌已失效，请重新登录' : error.message));
} else {
  showLogin();
}
