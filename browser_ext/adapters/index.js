// The site adapters the content script knows.  To support another shop console, add a file
// next to this one and list it here (see docs/extension.md "Adding a site adapter").
import coachDemo from './coach_demo.js';

export const ADAPTERS = Object.freeze([coachDemo]);

const REQUIRED = ['id', 'version', 'matches', 'root', 'conversation', 'messages', 'messageId', 'role',
  'text', 'input', 'readInput', 'writeInput'];

export function validateAdapter(adapter) {
  const missing = REQUIRED.filter((name) => adapter[name] == null);
  if (missing.length) throw new Error(`adapter ${adapter.id || '?'} lacks: ${missing.join(', ')}`);
  return adapter;
}

// `choice` is the options page's setting: 'auto' or an adapter id.
export function pickAdapter(url, choice = 'auto', adapters = ADAPTERS) {
  if (choice && choice !== 'auto') {
    return adapters.find((a) => a.id === choice) || null;
  }
  return adapters.find((a) => {
    try {
      return a.matches(url);
    } catch (err) {
      return false;
    }
  }) || null;
}
