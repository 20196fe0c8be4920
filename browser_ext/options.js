import { ADAPTERS } from './adapters/index.js';
import { loadConfig, saveConfig } from './lib/config.js';

const $ = (sel) => document.querySelector(sel);

function option(value, text) {
  const el = document.createElement('option');
  el.value = value;
  el.textContent = text;
  return el;
}

async function init() {
  const select = $('#adapter');
  select.append(option('auto', '自动（按页面地址）'));
  for (const a of ADAPTERS) {
    select.append(option(a.id, `${a.name}  v${a.version}`));
    const li = document.createElement('li');
    li.textContent = `${a.name}（${a.id} v${a.version}）`;
    $('#adapters').append(li);
  }
  const config = await loadConfig();
  $('#server-url').value = config.serverUrl;
  $('#token').value = config.token;
  $('#agent-id').value = config.agentId;
  select.value = config.adapter;
  $('#watch-only').checked = Boolean(config.watchOnly);
  document.body.dataset.ready = '1';
}

$('#form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const saved = await saveConfig({
    serverUrl: $('#server-url').value,
    token: $('#token').value.trim(),
    agentId: $('#agent-id').value.trim(),
    adapter: $('#adapter').value,
    watchOnly: $('#watch-only').checked,
  });
  $('#server-url').value = saved.serverUrl;
  $('#status').textContent = '已保存';
  setTimeout(() => { $('#status').textContent = ''; }, 2500);
});

init();
