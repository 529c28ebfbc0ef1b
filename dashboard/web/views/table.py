"""A streaming table for the browser: only new rows cross the websocket, newest first, text only.

Bokeh's DataTable streams new rows too, but cannot be told to show the newest first, and
Panel's Tabulator.stream resends the whole table on every call. This component keeps the rows
(newest last) in Python and sends each update as a message holding just the new rows; the
browser keeps them in an array and draws only the rows on screen, with `textContent`, so no
string from Redis is ever parsed as markup and a full table costs the page no more than a
screenful.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import pandas as pd
import param
from panel.custom import JSComponent

ROW_HEIGHT = 22  # px, fixed, so the rows on screen follow from the scroll position alone

_CSS = """
:host { display: block; overflow: hidden; }
.scroller { height: 100%; overflow: auto; overflow-anchor: none; }
table { border-collapse: separate; border-spacing: 0; width: 100%; table-layout: fixed;
        font: 13px/1.35 ui-monospace, SFMono-Regular, Menlo, monospace; }
thead th { position: sticky; top: 0; background: #f3f5f8; text-align: left; padding: 4px 8px;
           border-bottom: 1px solid #cfd6df; font-weight: 600; z-index: 1; }
tbody tr { height: {row}px; }
td { box-sizing: border-box; height: {row}px; padding: 0 8px; line-height: {line}px;
     border-bottom: 1px solid #eef1f4; white-space: nowrap; max-width: 28em; overflow: hidden;
     text-overflow: ellipsis; }
tr.pad, tr.pad td { height: 0; padding: 0; border: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.high td { background: #e8f6ec; font-weight: 600; }
tr.high td:first-child { box-shadow: inset 4px 0 0 #1f9d55; }
tr.bullish td:first-child { box-shadow: inset 4px 0 0 #1f9d55; }
tr.bearish td:first-child { box-shadow: inset 4px 0 0 #d64545; }
tr.neutral td:first-child { box-shadow: inset 4px 0 0 #d69e2e; }
.empty { color: #7a8699; padding: 10px 8px; font-style: italic; }
""".replace("{row}", str(ROW_HEIGHT)).replace("{line}", str(ROW_HEIGHT - 1))

# The browser keeps every row in a JS array (newest first) and puts only the ~30 on screen into
# the DOM: two padding rows stand in for the rest, so the scroll bar is right and a 1,000-row
# table costs the page what a 30-row one does. Messages only change the array; the DOM is
# brought up to date once per animation frame. Scrolled down, the view stays on the rows the
# user is reading while new ones arrive above.
_ESM = """
const ROW = {row}, OVERSCAN = 6;
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
  const columns = model.columns, key = model.key;
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
""".replace("{row}", str(ROW_HEIGHT))


class LiveTable(JSComponent):
    """Rows newest first; `push` sends only new rows, `reset` replaces them (filters, resume)."""

    columns = param.List(default=[], doc="[{'field', 'title', 'kind': text|time|num|conf}]")
    key = param.String(default="", doc="field whose rows are updated in place (latest-value grids)")
    max_rows = param.Integer(default=1000, bounds=(1, None))
    placeholder = param.String(default="Waiting for events…")

    _esm = _ESM
    _stylesheets = [_CSS]

    def __init__(self, **params):
        super().__init__(**params)
        self._rows: deque[dict] = deque(maxlen=self.max_rows)
        self._index: dict = {}

    def push(self, rows: list[dict]) -> None:
        """Add rows (oldest first) and send just those to the browser."""
        if not rows:
            return
        if self.key:
            for row in rows:
                self._index[row[self.key]] = row
        else:
            self._rows.extend(rows)
        self._send_msg({"op": "add", "rows": rows[-self.max_rows:]})

    def reset(self, rows: Iterable[dict]) -> None:
        """Replace every row (oldest first)."""
        rows = list(rows)[-self.max_rows:]
        if self.key:
            self._index = {row[self.key]: row for row in rows}
        else:
            self._rows = deque(rows, maxlen=self.max_rows)
        self._send_msg({"op": "reset", "rows": self.rows[::-1]})

    def _handle_msg(self, msg) -> None:
        if isinstance(msg, dict) and msg.get("op") == "ready":  # a (re)rendered view wants the rows
            self._send_msg({"op": "reset", "rows": self.rows[::-1]})

    @property
    def rows(self) -> list[dict]:
        """The rows as the browser shows them, newest first."""
        if self.key:
            return list(self._index.values())[::-1][: self.max_rows]
        return list(reversed(self._rows))

    def to_frame(self) -> pd.DataFrame:
        """The visible rows as a DataFrame with the table's column titles (CSV export)."""
        frame = pd.DataFrame(self.rows, columns=[c["field"] for c in self.columns])
        for c in self.columns:
            if c.get("kind") == "time":
                frame[c["field"]] = pd.to_datetime(frame[c["field"]], unit="ms", utc=True)
        return frame.rename(columns={c["field"]: c["title"] for c in self.columns})
