// Helpers shared by site adapters.  Each adapter stays small: selectors plus a few functions.

// Put text into a <textarea>/<input> the way typing does, so that pages built with React/Vue
// (which track the value through the prototype setter) see the change, then fire `input`.
export function setFieldValue(el, text) {
  if (el.isContentEditable) {
    el.focus();
    el.textContent = text;
    el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: text }));
    return;
  }
  const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  const setter = Object.getOwnPropertyDescriptor(proto, 'value').set;
  setter.call(el, text);
  el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: text }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
}

export function fieldValue(el) {
  if (!el) return '';
  return el.isContentEditable ? el.innerText : el.value;
}

export function textOf(el, selector) {
  const node = selector ? el.querySelector(selector) : el;
  return node ? node.textContent.replace(/\u00a0/g, ' ').trim() : '';
}

// A stable id for consoles whose messages carry none: role + time + text.
export function syntheticId(role, ts, text) {
  let h = 2166136261;
  for (const ch of `${role}|${ts}|${text}`) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return `h${h.toString(36)}`;
}
