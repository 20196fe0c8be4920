// Extension settings, kept in chrome.storage.local (the options page writes them).
export const DEFAULT_CONFIG = Object.freeze({
  serverUrl: 'http://127.0.0.1:8000',
  token: '',
  agentId: '',
  adapter: 'auto',      // 'auto' = the first adapter whose matches(url) is true, or an adapter id
  watchOnly: false,     // coach without touching the page (no 插入)
});

export async function loadConfig() {
  const stored = await chrome.storage.local.get('config');
  return { ...DEFAULT_CONFIG, ...(stored.config || {}) };
}

export async function saveConfig(config) {
  const clean = { ...DEFAULT_CONFIG, ...config };
  clean.serverUrl = normaliseServerUrl(clean.serverUrl);
  await chrome.storage.local.set({ config: clean });
  return clean;
}

export function normaliseServerUrl(url) {
  let text = String(url || '').trim() || DEFAULT_CONFIG.serverUrl;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  return text.replace(/\/+$/, '');
}

// http://host:port[/prefix] -> ws://host:port[/prefix]/ws/agent (https -> wss).
export function websocketUrl(serverUrl) {
  const url = new URL(normaliseServerUrl(serverUrl));
  const scheme = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  const path = url.pathname.replace(/\/+$/, '');
  return `${scheme}//${url.host}${path}/ws/agent`;
}
