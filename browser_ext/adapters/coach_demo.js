// Adapter for the service's own demo console (GET /demo).  The DOM contract it relies on is
// documented in docs/extension.md ("The /demo page DOM contract"); keep both in step.
import { fieldValue, setFieldValue, textOf } from './common.js';

export default {
  id: 'coach-demo',
  version: '1.0.0',
  name: '话术教练演示页 (/demo)',

  matches(url) {
    try {
      return new URL(url).pathname.replace(/\/+$/, '') === '/demo';
    } catch (err) {
      return false;
    }
  },

  // Element whose subtree the MutationObserver watches.
  root(doc) {
    return doc.querySelector('#chat') || doc.body;
  },

  // The conversation on screen: id, buyer nickname and order facts for the templates.
  conversation(doc) {
    const chat = doc.querySelector('#chat[data-conversation-id]');
    if (!chat || !chat.dataset.conversationId) return null;
    const variables = {};
    const order = textOf(doc, '#order-no');
    const tracking = textOf(doc, '#tracking-no');
    const courier = textOf(doc, '#courier');
    if (order) variables.order_no = order;
    if (tracking) variables.tracking_no = tracking;
    if (courier) variables.courier = courier;
    return { id: chat.dataset.conversationId, buyerName: textOf(doc, '#buyer-name'), variables };
  },

  messages(root) {
    return Array.from(root.querySelectorAll('.msg[data-message-id]'));
  },
  messageId: (el) => el.dataset.messageId,
  role: (el) => (el.dataset.role === 'buyer' || el.dataset.role === 'agent' ? el.dataset.role : null),
  conversationId: (el) => el.dataset.conversationId || null,
  text: (el) => textOf(el, '.msg-text'),
  ts: (el) => (el.dataset.ts ? Number(el.dataset.ts) : null),

  input: (doc) => doc.querySelector('#agent-input'),
  readInput: (el) => fieldValue(el),
  writeInput: (el, text) => setFieldValue(el, text),
  // Never called by the extension on its own: nothing is sent without the agent's click.
  send(doc) {
    const button = doc.querySelector('#agent-send');
    if (button) button.click();
  },
};
