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
from pathlib import Path

import pandas as pd
import param
from panel.custom import JSComponent

ROW_HEIGHT = 22  # px, fixed, so the rows on screen follow from the scroll position alone
_CSS = (Path(__file__).with_name("table.css")).read_text(encoding="utf-8")  # inline, as Panel's own


class LiveTable(JSComponent):
    """Rows newest first; `push` sends only new rows, `reset` replaces them (filters, resume)."""

    columns = param.List(default=[], doc="[{'field', 'title', 'kind': text|time|num|conf}]")
    key = param.String(default="", doc="field whose rows are updated in place (latest-value grids)")
    max_rows = param.Integer(default=1000, bounds=(1, None))
    placeholder = param.String(default="Waiting for events…")
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
