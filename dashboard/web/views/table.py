"""A streaming table for the browser: only new rows cross the websocket, newest first, text only.

Bokeh's DataTable streams new rows too, but cannot be told to show the newest first, and
Panel's Tabulator.stream resends the whole table on every call. This component keeps the rows
(newest last) in Python and sends each update as a message holding just the new rows; the
browser keeps them in an array and draws only the rows on screen, with `textContent`, so no
string from Redis is ever parsed as markup and a full table costs the page no more than a
screenful. Sorting (a header click) and the time zone of time cells are the browser's business
too: a click or a zone change costs no message with rows in it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import param
from panel.custom import JSComponent

ROW_HEIGHT = 22  # px, fixed, so the rows on screen follow from the scroll position alone
HEADER_PX = 28  # the header row (table.css: 13 px text, 4 px padding, a border)
EXCHANGE = "America/New_York"
WAITING = "Waiting for events…"  # what an empty table says until it has a reason of its own
NUMERIC = {"num", "conf", "int", "time"}  # column kinds sorted by value (table.js: NUMERIC)
_CSS = (Path(__file__).with_name("table.css")).read_text(encoding="utf-8")  # inline, as Panel's own


def iso_times(ms: pd.Series, zone: str) -> pd.Series:
    """Epoch milliseconds as ISO 8601 text with the offset of `zone` ("" where there is none)."""
    times = pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert(zone)
    return times.map(lambda t: t.isoformat(timespec="milliseconds") if pd.notna(t) else "")


def sorted_rows(rows: list[dict], sort: str, columns: list[dict]) -> list[dict]:
    """Rows (newest first) in the order of a `sort` spec as table.js applies it: numbers and times
    by value, text as text, blanks last, ties newest first."""
    field = sort.lstrip("-")
    kinds = {c["field"]: c.get("kind", "text") for c in columns}
    if field not in kinds:
        return rows
    value = (lambda r: r[field]) if kinds[field] in NUMERIC else (lambda r: str(r[field]))
    blank = [r for r in rows if r.get(field) in (None, "")]
    rest = sorted((r for r in rows if r.get(field) not in (None, "")), key=value, reverse=sort.startswith("-"))
    return rest + blank


class LiveTable(JSComponent):
    """Rows newest first; `push` sends only new rows, `reset` replaces them (filters, resume)."""

    columns = param.List(default=[], doc="[{'field', 'title', 'kind': text|time|num|int|conf, 'short', 'link', 'grow'}]")
    key = param.String(default="", doc="field whose rows are updated in place (latest-value grids)")
    max_rows = param.Integer(default=1000, bounds=(1, None))
    placeholder = param.String(default=WAITING, doc="what an empty table says (why it is empty)")
    zone = param.String(default=EXCHANGE, doc="IANA time zone of time cells and their header's label")
    sort = param.String(default="", doc="'' newest first, 'field' ascending, '-field' descending (header clicks)")
    picked = param.String(default="", doc="the text of the last clicked cell of a 'link' column (triggered each click)")
    wrap = param.Boolean(default=False, constant=True, doc="draw every row, long text wrapped (small tables)")
    row_height = param.Integer(default=ROW_HEIGHT, constant=True, doc="px per row (table.js, table.css)")

    _esm = "table.js"  # beside this module; Panel reads it and sends it inline with the component
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
        if not isinstance(msg, dict):
            return
        if msg.get("op") == "ready":  # a (re)rendered view wants the rows
            self._send_msg({"op": "reset", "rows": self.rows[::-1]})
        elif msg.get("op") == "pick" and isinstance(msg.get("value"), str):
            self.pick(msg["value"])

    def pick(self, value: str) -> None:
        """What a click on a link cell does: `picked` watchers hear every click, the same symbol again too."""
        if self.picked == value:
            self.param.trigger("picked")
        else:
            self.picked = value

    def fit(self, cap: int, lines: int = 1) -> None:
        """As tall as the rows it holds (`lines` per row; two rows at least, for the empty note), up
        to `cap` px, so a short table leaves no blank band under it. Set only when it changes: each
        change lays the page out again."""
        fit = min(cap, HEADER_PX + max(2, self.size * lines) * self.row_height + 2)
        if self.height != fit:
            self.height = fit

    @property
    def size(self) -> int:
        """How many rows the table holds."""
        return len(self._index) if self.key else len(self._rows)

    @property
    def rows(self) -> list[dict]:
        """The rows as the browser shows them unsorted, newest first."""
        if self.key:
            return list(self._index.values())[::-1][: self.max_rows]
        return list(reversed(self._rows))

    def to_frame(self) -> pd.DataFrame:
        """The rows in the order shown, with the table's column titles and times as ISO 8601 with
        the offset of `zone` (CSV export)."""
        frame = pd.DataFrame(sorted_rows(self.rows, self.sort, self.columns), columns=[c["field"] for c in self.columns])
        for c in self.columns:
            if c.get("kind") == "time":
                frame[c["field"]] = iso_times(frame[c["field"]], self.zone)
        return frame.rename(columns={c["field"]: c["title"] for c in self.columns})
