"""A streaming table for the browser: only new rows cross the websocket, newest first, text only.

Bokeh's DataTable streams new rows too, but cannot be told to show the newest first, and
Panel's Tabulator.stream resends the whole table on every call. This component keeps the rows
(newest last) in Python, sends each update as a message holding just the new rows, and the
browser prepends them with `textContent`, so no string from Redis is ever parsed as markup.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import pandas as pd
import param
from panel.custom import JSComponent

_CSS = """
:host { display: block; overflow: auto; }
table { border-collapse: collapse; width: 100%; table-layout: fixed;
        font: 13px/1.35 ui-monospace, SFMono-Regular, Menlo, monospace; }
thead th { position: sticky; top: 0; background: #f3f5f8; text-align: left; padding: 4px 8px;
           border-bottom: 1px solid #cfd6df; font-weight: 600; z-index: 1; }
td { padding: 3px 8px; border-bottom: 1px solid #eef1f4; white-space: nowrap; max-width: 28em;
     overflow: hidden; text-overflow: ellipsis; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.high td { background: #e8f6ec; font-weight: 600; }
tr.high td:first-child { box-shadow: inset 4px 0 0 #1f9d55; }
tr.bullish td:first-child { box-shadow: inset 4px 0 0 #1f9d55; }
tr.bearish td:first-child { box-shadow: inset 4px 0 0 #d64545; }
tr.neutral td:first-child { box-shadow: inset 4px 0 0 #d69e2e; }
.empty { color: #7a8699; padding: 10px 8px; font-style: italic; }
"""

_ESM = """
const TIME = new Intl.DateTimeFormat([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});

function fmt(v, kind) {
  if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return "";
  if (kind === "time") {
    const d = new Date(v);
    return TIME.format(d) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  if (kind === "num") return Number(v).toFixed(2);
  if (kind === "conf") return Number(v).toFixed(2);
  return String(v);
}

export function render({ model, el }) {
  const table = document.createElement("table");
  const cols = document.createElement("colgroup");
  for (const c of model.columns) {
    const col = document.createElement("col");
    if (c.width) col.style.width = c.width;
    cols.appendChild(col);
  }
  table.appendChild(cols);
  const head = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const c of model.columns) {
    const th = document.createElement("th");
    th.textContent = c.title;
    hr.appendChild(th);
  }
  head.appendChild(hr);
  const body = document.createElement("tbody");
  table.append(head, body);
  const empty = document.createElement("div");
  empty.className = "empty";
  empty.textContent = model.placeholder;
  el.append(table, empty);
  const byKey = new Map();

  function fill(tr, row) {
    const cls = row._cls || "";
    if (tr.className !== cls) tr.className = cls;
    const cells = tr.children;
    model.columns.forEach((c, i) => {
      const text = fmt(row[c.field], c.kind);
      let td = cells[i];
      if (td === undefined) {
        td = document.createElement("td");
        if (c.kind === "num" || c.kind === "conf") td.className = "num";
        tr.appendChild(td);
      }
      if (td.textContent !== text) td.textContent = text;  // only changed cells are repainted
    });
  }

  function add(rows, reset) {
    if (reset) { body.replaceChildren(); byKey.clear(); }
    const key = model.key;
    const frag = document.createDocumentFragment();
    for (const row of rows) {
      let tr = key ? byKey.get(row[key]) : undefined;
      if (tr !== undefined) { fill(tr, row); continue; }
      tr = document.createElement("tr");
      fill(tr, row);
      if (key) { byKey.set(row[key], tr); tr.dataset.key = row[key]; }
      frag.prepend(tr);
    }
    body.prepend(frag);
    while (body.rows.length > model.max_rows) {
      const last = body.lastElementChild;
      if (key) byKey.delete(last.dataset.key);
      last.remove();
    }
    empty.style.display = body.rows.length ? "none" : "block";
    document.dispatchEvent(new CustomEvent("tickstock-rows", {detail: {table: model.name, rows: rows.length, at: Date.now(), reset}}));
  }

  model.on("msg:custom", (msg) => add(msg.rows, msg.op === "reset"));
  model.send_msg({op: "ready"});
}
"""


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
