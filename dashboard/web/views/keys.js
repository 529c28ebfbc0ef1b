// Shortcuts (keys.py): one keydown listener on the document. A key typed into a field is the
// field's (the target is found through shadow roots: composedPath). `/` focuses the symbol filter
// and `t` asks the theme switch (theme.js) to switch; other actions go to Python by name.

function typing(e) {
  const target = e.composedPath()[0];
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function deepFind(root, selector) {       // the first match in the document or any shadow root within
  const hit = root.querySelector(selector);
  if (hit) return hit;
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) {
      const found = deepFind(el.shadowRoot, selector);
      if (found) return found;
    }
  }
  return null;
}

const NARROW_PX = 1200;  // below this the tables need the sidebar's width: the page opens with it closed

function sidebarOpen(open) {             // the template's own toggles (openNav / closeNav)
  const bar = document.getElementById("sidebar");
  if (!bar || bar.classList.contains("hidden") !== open) return;
  const toggle = open ? window.openNav : window.closeNav;
  if (typeof toggle === "function") toggle();
}

function focusSymbolFilter(cls) {
  sidebarOpen(true);                     // the filter lives in the sidebar
  const host = deepFind(document, "." + cls);
  const input = host && deepFind(host.shadowRoot || host, "input");
  if (input) input.focus();
}

export function render({ model, el }) {
  el.innerHTML = model.html;                          // fixed text from keys.py, escaped there
  if (!window.__tsSidebarSized) {                     // once per page: a narrow window starts without it
    window.__tsSidebarSized = true;
    if (window.innerWidth < NARROW_PX) sidebarOpen(false);
  }
  if (window.__tsShortcuts) document.removeEventListener("keydown", window.__tsShortcuts);
  window.__tsShortcuts = (e) => {                     // one listener, whatever re-renders the list
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    const action = model.keys[e.key];
    if (!action) return;
    e.preventDefault();                               // no page scroll on space, no "/" typed anywhere
    if (action === "filter") focusSymbolFilter(model.symbol_filter);
    else if (action === "theme") document.dispatchEvent(new CustomEvent("ts-toggle-theme"));
    else model.send_msg({ action });
  };
  document.addEventListener("keydown", window.__tsShortcuts);
}
