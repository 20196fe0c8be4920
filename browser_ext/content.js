// Content-script entry.  Manifest content scripts cannot be ES modules, so this loads the real
// one (content_main.js, listed in web_accessible_resources) with a dynamic import.
(() => {
  if (window.__replyCoachLoaded) return;
  window.__replyCoachLoaded = true;
  import(chrome.runtime.getURL('content_main.js'))
    .then((mod) => mod.start())
    .catch((err) => console.warn('[话术教练] content script failed to start:', err));
})();
