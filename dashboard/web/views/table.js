// LiveTable (table.py). The browser keeps every row in a JS array (newest first) and puts only the
// ~30 on screen into the DOM: two padding rows stand in for the rest, so the scroll bar is right and
// a 1,000-row table costs the page what a 30-row one does. Messages only change the array; the DOM
// is brought up to date once per animation frame. Scrolled down, the view stays on the rows the user
// is reading while new ones arrive above. Cell text is set with textContent: never markup.

const OVERSCAN = 6;  // rows drawn beyond the screen's edges
const TIME = new Intl.DateTimeFormat([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});

function fmt(v, kind) {
  if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return "";
  if (kind === "time") {
    const d = new Date(v);
    return TIME.format(d) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  if (kind === "num" || kind === "conf") return Number(v).toFixed(2);
  return String(v);
}

export function render({ model, el }) {
  const columns = model.columns, key = model.key, ROW = model.row_height;
  el.style.setProperty("--ts-row", ROW + "px");   // table.css sizes the rows by it
  const scroller = document.createElement("div");
  scroller.className = "scroller";
  const table = document.createElement("table");
  const cols = document.createElement("colgroup");
  for (const c of columns) {
    const col = document.createElement("col");
    if (c.width) col.style.width = c.width;
    cols.appendChild(col);
  }
  const head = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const c of columns) {
    const th = document.createElement("th");
    th.textContent = c.title;
    hr.appendChild(th);
  }
  head.appendChild(hr);
  const body = document.createElement("tbody");
  const top = document.createElement("tr"), bottom = document.createElement("tr");
  top.className = bottom.className = "pad";
  body.append(top, bottom);
  table.append(cols, head, body);
  const empty = document.createElement("div");
  empty.className = "empty";
  empty.textContent = model.placeholder;
  scroller.append(table, empty);
  el.style.height = "100%";
  el.appendChild(scroller);

  let rows = [];                 // newest first (keyed tables: their keys)
  const byKey = new Map();       // keyed tables: key -> latest row
  const shown = [];              // the <tr> elements on screen, in order
  let viewport = model.height || 400, scrollTop = 0, pending = false, anchor = false, first = -1, isEmpty = null;

  function texts(row) {          // each row's cell texts, formatted once
    if (row.__t === undefined) row.__t = columns.map((c) => fmt(row[c.field], c.kind));
    return row.__t;
  }

  function fill(tr, row) {
    const cls = row._cls || "";
    if (tr.className !== cls) tr.className = cls;
    const t = texts(row), cells = tr.children;
    for (let i = 0; i < t.length; i++) {
      if (cells[i].textContent !== t[i]) cells[i].textContent = t[i];  // only changed cells repaint
    }
  }

  function newRow() {
    const tr = document.createElement("tr");
    for (const c of columns) {
      const td = document.createElement("td");
      if (c.kind === "num" || c.kind === "conf") td.className = "num";
      tr.appendChild(td);
    }
    return tr;
  }

  function paint() {
    // Rows already on screen keep their <tr> (moved, not rewritten): an update that adds k rows
    // on top writes the text of k rows, not of the whole screen.
    pending = false;
    const n = rows.length;
    const start = Math.max(0, Math.min(n, Math.floor(scrollTop / ROW) - OVERSCAN));
    const end = Math.min(n, Math.floor(scrollTop / ROW) + Math.ceil(viewport / ROW) + OVERSCAN);
    const want = rows.slice(start, Math.max(start, end));   // row objects (keyed tables: keys)
    const wanted = new Set(want), held = new Map(), free = [];
    for (const tr of shown) {
      if (wanted.has(tr.__id) && !held.has(tr.__id)) held.set(tr.__id, tr);
      else { free.push(tr); tr.remove(); }
    }
    shown.length = 0;
    let cur = top.nextSibling;
    for (const id of want) {
      let tr = held.get(id);
      const row = key ? byKey.get(id) : id;
      if (tr === undefined) {
        tr = free.pop() || newRow();
        tr.__id = id;
        fill(tr, row);
        body.insertBefore(tr, cur);
      } else {
        if (key) fill(tr, row);                          // keyed rows change in place
        if (tr === cur) cur = cur.nextSibling; else body.insertBefore(tr, cur);
      }
      shown.push(tr);
    }
    if (first !== start) { top.style.height = (start * ROW) + "px"; first = start; }
    bottom.style.height = ((n - Math.max(start, end)) * ROW) + "px";
    if (isEmpty !== (n === 0)) { isEmpty = n === 0; empty.style.display = isEmpty ? "block" : "none"; }
    if (anchor) { anchor = false; scroller.scrollTop = scrollTop; }
  }

  function schedule() {
    if (!pending) { pending = true; requestAnimationFrame(paint); }
  }

  function add(incoming, reset) {
    if (reset) { rows = []; byKey.clear(); scrollTop = scroller.scrollTop = 0; }
    let fresh = incoming;
    if (key) {                                         // rows holds keys; known keys keep their place
      fresh = [];
      for (const row of incoming) {
        const k = row[key];
        if (!byKey.has(k)) fresh.push(k);
        byKey.set(k, row);
      }
    }
    const added = fresh.length;
    if (added) rows = fresh.slice().reverse().concat(rows);   // messages hold rows oldest first
    if (rows.length > model.max_rows) {
      for (const k of rows.splice(model.max_rows)) if (key) byKey.delete(k);
    }
    if (!reset && added && scrollTop > 0) { scrollTop += added * ROW; anchor = true; }  // keep the rows being read in place
    schedule();
    document.dispatchEvent(new CustomEvent("tickstock-rows", {detail: {table: model.name, rows: incoming.length, at: Date.now(), reset}}));
  }

  scroller.addEventListener("scroll", () => { scrollTop = scroller.scrollTop; schedule(); }, {passive: true});
  new ResizeObserver((entries) => {
    const h = entries[entries.length - 1].contentRect.height;
    if (h > 0 && h !== viewport) { viewport = h; schedule(); }
  }).observe(scroller);
  model.on("msg:custom", (msg) => add(msg.rows, msg.op === "reset"));
  paint();
  model.send_msg({op: "ready"});
}
