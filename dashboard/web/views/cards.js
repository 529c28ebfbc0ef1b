// Figures (cards.py): the status bar, the metric cards or the health panel, updated figure by
// figure. A message carries only the figures that changed ({set, drop, order}); a view asks for
// all of them once when it renders. Every text is set with textContent: never markup.

const CARD_MIN = 112, GAP = 8;   // px: the narrowest card, and the grid's gap (cards.css)

function node(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

function attrs(el, key, f, kind) {
  if (kind === "cards") el.dataset.metric = key;
  if (f.data !== undefined) el.setAttribute("data-" + key, f.data);
  if (f.title) el.title = f.title;
  return el;
}

function build(key, f, kind) {    // the element(s) of one figure, as cards.py `html` writes them
  if (kind === "cards") {
    const card = attrs(node("div", f.bad ? "ts-card bad" : "ts-card"), key, f, kind);
    card.append(node("div", "v", f.v), node("div", "k", f.k));
    return [card];
  }
  if (f.colour !== undefined) {
    const badge = attrs(node("span", "ts-badge", f.v), key, f, kind);
    badge.style.background = f.colour;
    if (kind !== "health") return [badge];
    const cell = node("span");
    cell.append(badge);
    return [node("span", "k", f.k), cell];
  }
  if (kind === "health") return [node("span", "k", f.k), attrs(node("span", f.bad ? "ts-issue" : "v", f.v), key, f, kind)];
  const kv = attrs(node("span", "ts-kv"), key, f, kind);
  if (f.k) kv.append(f.k + " ");
  kv.append(node("b", "", f.v));
  if (!f.title) kv.title = kv.textContent;   // the full text on hover, when the bar cuts it short
  return [kv];
}

export function render({ model, el }) {
  const kind = model.kind;
  const root = node("div", {bar: "ts-bar", cards: "ts-cards", health: "ts-health"}[kind]);
  el.appendChild(root);
  const shown = new Map();      // key -> its element(s)

  function balance() {          // cards: as many columns as fill the rows evenly (never two alone below)
    if (kind !== "cards" || !shown.size) return;
    const fit = Math.max(1, Math.floor((root.clientWidth + GAP) / (CARD_MIN + GAP)));
    const rows = Math.ceil(shown.size / fit);
    root.style.setProperty("--cols", Math.ceil(shown.size / rows));
  }

  function fit() {              // bar: too narrow for every figure, it keeps the status and the market
    root.classList.remove("tight");
    if (root.scrollWidth > root.clientWidth + 1) root.classList.add("tight");
  }
  function resized() { if (kind === "bar") fit(); else balance(); }

  model.on("msg:custom", (msg) => {
    if (msg.all) { root.replaceChildren(); shown.clear(); }
    for (const key of msg.drop) { for (const n of shown.get(key) || []) n.remove(); shown.delete(key); }
    let placed = msg.drop.length > 0;   // a figure came or went: lay them out again in Python's order
    for (const [key, f] of Object.entries(msg.set)) {
      const nodes = build(key, f, kind), old = shown.get(key);
      if (old) { old[0].replaceWith(...nodes); for (const n of old.slice(1)) n.remove(); } else placed = true;
      shown.set(key, nodes);
    }
    if (placed) for (const key of msg.order) root.append(...(shown.get(key) || []));
    if (kind === "bar") root.title = [...shown.values()].map((ns) => ns[0].textContent).join("  ·  ");
    resized();
  });
  const observer = new ResizeObserver(resized);
  observer.observe(root);
  model.on("remove", () => observer.disconnect());
  model.send_msg({});           // every figure, once
}
