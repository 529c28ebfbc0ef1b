// LiveTable (table.py). The browser keeps every row in a JS array (newest first) and puts only the
// ~30 on screen into the DOM: two padding rows stand in for the rest, so the scroll bar is right and
// a 1,000-row table costs the page what a 30-row one does. Messages only change the array; the DOM
// is brought up to date at most once per animation frame, and only every OFFSCREEN_MS while the
// table is off screen (scrolled away, or in a closed tab): it catches up when it comes into view.
// Scrolled down, the view stays on the row the user is reading while new ones arrive, sorted or not.
// Cell text is set as text (textContent, a text node's data): never markup.
// A `wrap` table (a few rows of long text) draws every row, each as tall as its text.

const OVERSCAN = 6;     // rows drawn beyond the screen's edges
const MAX_CH = 48;      // a column is never wider than this many characters: longer text is cut here, with "…"
                        // (the rest on hover); only the `grow` column clips in CSS (table.css says why)
const GROW_CH = 64;     // nor is the `grow` column (sentences, parameters), which also takes the room left
const WRAP_CH = 16;     // in a `wrap` table the `grow` column wraps: it asks for no more than this
const OFFSCREEN_MS = 2000;  // how often a table not shown (scrolled away, a closed tab) is brought up to date
const VISIBILITY_MS = 500;  // how long a table's shown/hidden state (by `visibility`) is trusted before it is asked again
const HIDDEN_CHECK_MS = 200;  // a table on screen but hidden by `visibility`, with work waiting, looks again this often
const PAD_PX = 15;      // a cell's padding (12 px) and a pixel to spare, beside its characters
const LABELS = {"America/New_York": "ET", "UTC": "UTC"};
const RIGHT = new Set(["num", "conf", "int"]);            // right-aligned, their headers too
const NUMERIC = new Set([...RIGHT, "time"]);              // sorted as numbers

function timeFormat(zone) {
  const opts = {hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3};
  try {
    return new Intl.DateTimeFormat("en-US", {...opts, timeZone: zone});
  } catch (e) {      // an unknown zone: UTC, and the header says so
    return new Intl.DateTimeFormat("en-US", {...opts, timeZone: "UTC"});
  }
}

function zoneLabel(format) {
  const zone = format.resolvedOptions().timeZone;
  if (LABELS[zone]) return LABELS[zone];
  const name = new Intl.DateTimeFormat("en-US", {timeZone: zone, timeZoneName: "short"})
    .formatToParts(new Date()).find((p) => p.type === "timeZoneName");
  return name ? name.value : zone;
}

function fmt(v, kind, time) {
  if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return "";
  if (kind === "time") return time.format(new Date(v));
  if (kind === "num" || kind === "conf") return Number(v).toFixed(2);
  if (kind === "int") return Number(v).toLocaleString("en-US");   // 12,345
  return String(v);
}

function blank(v) {
  return v === null || v === undefined || v === "" || (typeof v === "number" && isNaN(v));
}

export function render({ model, el }) {
  const columns = model.columns, key = model.key, ROW = model.row_height, wrap = model.wrap;
  el.style.setProperty("--ts-row", ROW + "px");   // table.css sizes the rows by it
  const scroller = document.createElement("div");
  scroller.className = wrap ? "scroller wrap" : "scroller";
  scroller.dataset.table = model.name;            // which table this is, for tests and benchmarks
  const table = document.createElement("table");
  const cols = document.createElement("colgroup");
  const head = document.createElement("thead");
  const hr = document.createElement("tr");
  const ths = columns.map((c) => {
    cols.appendChild(document.createElement("col"));
    const th = document.createElement("th"), label = document.createElement("span"), arrow = document.createElement("span");
    arrow.className = "arrow";
    if (RIGHT.has(c.kind)) th.className = "num";
    th.append(label, arrow);
    th.addEventListener("click", () => setSort(nextSort(c.field)));
    hr.appendChild(th);
    return th;
  });
  head.appendChild(hr);
  const body = document.createElement("tbody");
  const top = document.createElement("tr"), bottom = document.createElement("tr");
  top.className = bottom.className = "pad";
  body.append(top, bottom);
  table.append(cols, head, body);
  const empty = document.createElement("div");
  empty.className = "empty";
  scroller.append(table, empty);
  el.style.height = "100%";
  el.appendChild(scroller);

  let rows = [];                 // newest first (keyed tables: their keys)
  let view = rows;               // rows in the order shown: `rows`, or a sorted copy
  const byKey = new Map();       // keyed tables: key -> latest row
  const shown = [];              // the <tr> elements on screen, in order
  const widest = columns.map(() => 0);   // the longest cell text of each column so far
  const cut = columns.map((c) => !c.grow && !wrap);  // columns whose text table.js cuts at MAX_CH (no CSS clip)
  let viewport = model.height || 400, scrollTop = 0, pending = false, first = -1, isEmpty = null;
  let changed = true, refill = false, resized = true, resetting = false;
  let time = timeFormat(model.zone), generation = 0, sort = null, order = null;

  function row(id) { return key ? byKey.get(id) : id; }

  function texts(r) {            // each row's cell texts, formatted once (again after a zone change)
    if (r.__g !== generation) {
      r.__t = columns.map((c) => fmt(r[c.field], c.kind, time));
      r.__g = generation;
      r.__t.forEach((t, i) => { if (t.length > widest[i]) { widest[i] = t.length; resized = true; } });
    }
    return r.__t;
  }

  function titles() {            // time headers name their zone: "Time (ET)"
    const label = zoneLabel(time);
    columns.forEach((c, i) => {
      const text = c.kind === "time" ? `${c.title} (${label})` : c.short || c.title;
      ths[i].firstChild.textContent = text;
      ths[i].title = c.kind === "time" ? text : c.title;
      ths[i].__len = text.length;
    });
    resized = true;
  }

  function size() {              // columns as wide as their longest text; the `grow` column takes the rest
    let total = 0;                 // (narrower than that, the table scrolls sideways: nothing is cut)
    columns.forEach((c, i) => {
      const head = ths[i].__len + (ths[i].lastChild.textContent ? 2 : 0);   // the sorted one: room for its arrow
      const ch = Math.min(c.grow ? (wrap ? WRAP_CH : GROW_CH) : MAX_CH, Math.max(head, widest[i]));
      total += ch;
      cols.children[i].style.width = c.grow ? "" : `calc(${ch}ch + ${PAD_PX}px)`;
    });
    table.style.minWidth = `calc(${total}ch + ${columns.length * PAD_PX}px)`;
    resized = false;
  }

  function fill(tr, r) {
    const cls = r._cls || "";
    if (tr.className !== cls) tr.className = cls;
    const t = texts(r), cells = tr.children;
    for (let i = 0; i < t.length; i++) {
      const full = t[i], text = cut[i] && full.length > MAX_CH ? full.slice(0, MAX_CH - 1) + "…" : full;
      const cell = cells[i], node = cell.firstChild;
      if (node === null) { if (text) cell.textContent = text; }
      else if (node.data !== text) node.data = text;   // only changed cells repaint; the text node stays
      cell.__full = full;
    }
  }

  function newRow() {
    const tr = document.createElement("tr");
    for (const c of columns) {
      const td = document.createElement("td");
      if (RIGHT.has(c.kind)) td.className = "num";
      else if (c.link) td.className = "link";
      else if (c.grow) td.className = "grow";   // takes the room left; cut off, it shows its text on hover
      tr.appendChild(td);
    }
    return tr;
  }

  function comparer(spec) {      // "field" ascending, "-field" descending; blanks last; ties newest first
    const desc = spec.startsWith("-"), field = desc ? spec.slice(1) : spec;
    const col = columns.find((c) => c.field === field);
    if (!col) return null;
    const dir = desc ? -1 : 1, numeric = NUMERIC.has(col.kind);
    return (a, b) => {
      let x = row(a)[field], y = row(b)[field];
      const bx = blank(x), by = blank(y);
      if (bx || by) return bx === by ? 0 : bx ? 1 : -1;
      if (!numeric) { x = String(x); y = String(y); }
      return x < y ? -dir : x > y ? dir : 0;
    };
  }

  function nextSort(field) {     // a header's clicks: ascending, descending, newest first again
    if (sort === field) return "-" + field;
    if (sort === "-" + field) return "";
    return field;
  }

  function setSort(spec) {
    if (spec === (sort || "")) return;
    order = spec ? comparer(spec) : null;
    sort = order ? spec : null;
    columns.forEach((c, i) => {
      const state = sort === c.field ? "ascending" : sort === "-" + c.field ? "descending" : null;
      ths[i].lastChild.textContent = state === "ascending" ? "▲" : state === "descending" ? "▼" : "";
      if (state) ths[i].setAttribute("aria-sort", state); else ths[i].removeAttribute("aria-sort");
    });
    if (model.sort !== (sort || "")) model.sort = sort || "";
    scrollTop = scroller.scrollTop = 0;
    changed = resized = true;
    schedule();
  }

  function paint(force) {
    // Rows already on screen keep their <tr> (moved, not rewritten): an update that adds k rows
    // on top writes the text of k rows, not of the whole screen.
    pending = false;
    if (force !== true && !inView()) {   // off screen or in a closed tab: now and then, and at once when seen
      waiting = true;
      if (!lazy) lazy = setTimeout(() => { lazy = 0; if (waiting) { waiting = false; requestAnimationFrame(() => paint(true)); } }, OFFSCREEN_MS);
      if (onScreen) {                   // hidden by a closed tab (visibility: no observer tells): look again soon
        pending = true;
        setTimeout(() => requestAnimationFrame(paint), HIDDEN_CHECK_MS);
      }
      return;
    }
    waiting = false;
    let anchor;                  // the row at the top of the screen, kept there when rows come and go
    if (changed) {
      const at = Math.floor(scrollTop / ROW);
      if (!wrap && !resetting && scrollTop > 0 && at < view.length) anchor = [view[at], scrollTop - at * ROW];
      view = order ? rows.slice().sort(order) : rows;
      if (anchor) {
        const i = view.indexOf(anchor[0]);
        if (i >= 0) scrollTop = i * ROW + anchor[1]; else anchor = undefined;
      }
      changed = resetting = false;
    }
    const n = view.length;
    const start = wrap ? 0 : Math.max(0, Math.min(n, Math.floor(scrollTop / ROW) - OVERSCAN));
    const end = wrap ? n : Math.min(n, Math.floor(scrollTop / ROW) + Math.ceil(viewport / ROW) + OVERSCAN);
    const want = view.slice(start, Math.max(start, end));   // row objects (keyed tables: keys)
    const wanted = new Set(want), held = new Map(), free = [];
    for (const tr of shown) {
      if (wanted.has(tr.__id) && !held.has(tr.__id)) held.set(tr.__id, tr);
      else { free.push(tr); tr.remove(); }
    }
    shown.length = 0;
    let cur = top.nextSibling;
    for (const id of want) {
      let tr = held.get(id);
      if (tr === undefined) {
        tr = free.pop() || newRow();
        tr.__id = id;
        fill(tr, row(id));
        body.insertBefore(tr, cur);
      } else {
        if (key || refill) fill(tr, row(id));            // keyed rows change in place
        if (tr === cur) cur = cur.nextSibling; else body.insertBefore(tr, cur);
      }
      shown.push(tr);
    }
    refill = false;
    if (first !== start) { top.style.height = (start * ROW) + "px"; first = start; }
    bottom.style.height = wrap ? "0px" : ((n - Math.max(start, end)) * ROW) + "px";
    if (resized) size();
    if (isEmpty !== (n === 0)) { isEmpty = n === 0; empty.style.display = isEmpty ? "block" : "none"; }
    if (anchor) scroller.scrollTop = scrollTop;
  }

  // Painted every frame with work only while shown. An IntersectionObserver (asynchronous: it forces no
  // style or layout pass) says when the table comes on screen (scrolled to) or leaves it. A closed tab
  // of Bokeh's Tabs hides by `visibility`, which no observer reports: checkVisibility() does, but it
  // forces a style pass, so it is asked only of a table on screen, at most every VISIBILITY_MS. A table
  // not shown catches up every OFFSCREEN_MS (find-in-page and assistive tools are never far behind),
  // and at once when it comes back.
  let onScreen = false, styleVisible = true, visibleAt = -Infinity, waiting = false, lazy = 0;
  function inView() {
    if (!onScreen) return false;
    const now = performance.now();
    if (now - visibleAt > VISIBILITY_MS) {
      styleVisible = scroller.checkVisibility({visibilityProperty: true});
      visibleAt = now;
    }
    return styleVisible;
  }
  const seen = new IntersectionObserver((entries) => {
    onScreen = entries[entries.length - 1].isIntersecting;
    visibleAt = -Infinity;
    if (onScreen && waiting) schedule();
  });
  seen.observe(scroller);

  function schedule() {
    if (!pending) { pending = true; requestAnimationFrame(paint); }
  }

  function add(incoming, reset) {
    if (reset) { rows = []; byKey.clear(); scrollTop = scroller.scrollTop = 0; resetting = true; }
    let fresh = incoming;
    if (key) {                                         // rows holds keys; known keys keep their place
      fresh = [];
      for (const r of incoming) {
        const k = r[key];
        if (!byKey.has(k)) fresh.push(k);
        byKey.set(k, r);
      }
    }
    if (!key) for (const r of incoming) texts(r);      // widths follow every row, shown or not (a keyed
                                                       // row is often replaced before it is drawn: at paint)
    if (fresh.length) rows = fresh.slice().reverse().concat(rows);   // messages hold rows oldest first
    if (rows.length > model.max_rows) {
      for (const k of rows.splice(model.max_rows)) if (key) byKey.delete(k);
    }
    changed = true;
    schedule();
  }

  body.addEventListener("click", (e) => {              // a symbol cell: `picked` in Python
    const td = e.target.closest("td.link");
    if (td && td.textContent) model.send_msg({op: "pick", value: td.__full ?? td.textContent});
  });
  body.addEventListener("mouseover", (e) => {          // a cut-off cell shows its full text on hover
    const td = e.target.closest("td");
    if (!td) return;
    const full = td.__full ?? td.textContent;
    td.title = full !== td.textContent || td.scrollWidth > td.clientWidth ? full : "";
  });
  scroller.addEventListener("scroll", () => { scrollTop = scroller.scrollTop; schedule(); }, {passive: true});
  const sizes = new ResizeObserver((entries) => {
    const h = entries[entries.length - 1].contentRect.height;
    if (h > 0 && h !== viewport) { viewport = h; schedule(); }
  });
  sizes.observe(scroller);
  model.on("remove", () => { sizes.disconnect(); seen.disconnect(); clearTimeout(lazy); });
  model.on("msg:custom", (msg) => add(msg.rows, msg.op === "reset"));
  model.on("zone", () => { time = timeFormat(model.zone); generation++; refill = true; titles(); schedule(); });
  model.on("placeholder", () => { empty.textContent = model.placeholder; });
  model.on("sort", () => setSort(model.sort));
  empty.textContent = model.placeholder;
  titles();
  setSort(model.sort);
  paint();
  model.send_msg({op: "ready"});
}
