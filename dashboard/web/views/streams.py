"""The page's streaming tables: pattern detections, indicator alerts, latest indicator values.

Each keeps the rows it was given (newest last), sends the browser only the new rows that pass the
session's filters, and redraws from what it kept when a filter changes or a pause ends. An empty
table says why it is empty: the stream knows its filters and its pause."""

from __future__ import annotations

import io
import itertools
from collections import deque
from collections.abc import Iterable

import panel as pn
import param

from analytics.events import Indicator, IndicatorAlert, Pattern
from dashboard import constants as C
from dashboard.web.views.filters import Filters
from dashboard.web.views.rows import (
    ALERT_COLUMNS,
    INDICATOR_COLUMNS,
    PATTERN_COLUMNS,
    alert_row,
    indicator_row,
    pattern_row,
    record_columns,
)
from dashboard.web.views.table import WAITING, LiveTable

INDICATOR_SYMBOLS = 5000  # symbols kept in the latest-values grid


def csv_button(table: LiveTable, label: str) -> pn.widgets.FileDownload:
    """Export the table's rows, as the page shows them, to CSV."""
    def frame():
        return io.StringIO(table.to_frame().to_csv(index=False))
    return pn.widgets.FileDownload(callback=frame, filename=f"tickstock-{label}.csv", label="Export CSV",
                                   button_type="light", width=110, align="center", margin=(0, 5))


def _names(values: list[str]) -> str:
    return ", ".join(values[:3]) + (f" and {len(values) - 3} more" if len(values) > 3 else "")


def empty_reason(kept: Iterable[dict], filters: Filters, missed: int = 0, paused: bool = False) -> str:
    """Why a table shows no row: paused (and what waits), nothing yet, or which filter hides the
    rows it keeps (the first that leaves none: symbols, pattern types, minimum confidence)."""
    if paused:
        return f"Paused: {missed} new events" if missed else "Paused"
    rows = list(kept)
    if not rows:
        return WAITING
    if filters.symbols:
        wanted = set(filters.symbols)
        rows = [r for r in rows if r.get("symbol") in wanted]
        if not rows:
            return f"No events for {_names(filters.symbols)} yet"
    if filters.pattern_types and "pattern" in rows[0]:
        types = set(filters.pattern_types)
        rows = [r for r in rows if r["pattern"] in types]
        if not rows:
            where = f" for {_names(filters.symbols)}" if filters.symbols else ""
            return f"No {_names(filters.pattern_types)} patterns{where} yet"
    if "confidence" in rows[0]:
        return f"No patterns at ≥ {filters.min_confidence:.2f}: lower Min confidence"
    return WAITING


class RowStream(pn.viewable.Viewer):
    """A titled LiveTable with its CSV export beside the title: `take(event)` keeps a row (built by
    `build`) and notes it when shown, `publish` sends what a drain noted at once, and an empty
    table says why it is empty."""

    max_rows = param.Integer(default=C.DEFAULT_MAX_HISTORY_SIZE, bounds=(1, None), constant=True,
                             doc="rows kept (STREAMING_MAX_HISTORY_SIZE)")

    # what each kind of table is: its heading, its name (in the page and its CSV file), its columns
    title, label, columns, height, key = "", "", [], 420, ""

    def __init__(self, filters: Filters, **params):
        super().__init__(**params)
        self.filters = filters
        self.table = LiveTable(columns=self.columns, key=self.key, max_rows=self.max_rows, name=self.label,
                               height=self.height, sizing_mode="stretch_width")
        self.export = csv_button(self.table, self.label)
        self._kept: deque[dict] = deque(maxlen=self.max_rows)
        self._new: list[dict] = []  # shown rows taken since the last publish
        self._missed = 0  # shown rows taken while paused
        heading = pn.Row(pn.pane.Markdown(f"### {self.title}", margin=(0, 10)), pn.HSpacer(), self.export,
                         sizing_mode="stretch_width")
        self._layout = pn.Column(heading, self.table, sizing_mode="stretch_width")

    def build(self, ev) -> dict:
        raise NotImplementedError

    def take(self, ev) -> None:
        row = self.build(ev)
        self._kept.append(row)
        if self._shows(row):
            self._new.append(row)

    def _shows(self, row: dict) -> bool:
        return self.filters.shows(row)

    def _kept_rows(self) -> Iterable[dict]:
        """Every row kept, shown or not, oldest first."""
        return self._kept

    def _taken(self) -> list[dict]:
        """The shown rows taken since the last publish, oldest first."""
        rows, self._new = self._new, []
        return rows

    def publish(self, paused: bool = False) -> int:
        """Send the rows taken since the last call (none while paused); how many would show."""
        rows = self._taken()
        if paused:
            self._missed += len(rows)
        else:
            self.table.push(rows)
        if not self.table.size:
            self._explain(paused)
        return len(rows)

    def redraw(self) -> None:
        """Show the kept rows that pass the filters now (a filter changed, or a pause ended)."""
        self._missed = 0
        self.table.reset(r for r in self._kept_rows() if self._shows(r))
        if not self.table.size:
            self._explain(paused=False)

    def _explain(self, paused: bool) -> None:
        text = empty_reason(self._kept_rows(), self.filters, self._missed, paused)
        if self.table.placeholder != text:
            self.table.placeholder = text

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class KindStream(RowStream):
    """A table for a kind of event with no view of its own (a new kind of the registry): its rows
    from its builder (`rows.record_row` unless `rows.LIVE_ROWS` names one), its columns from its record."""

    def __init__(self, filters: Filters, kind: str, record: type, build, **params):
        self.title, self.label = kind.replace("_", " ").capitalize() + "s", kind
        self.columns, self.build = record_columns(record), build
        super().__init__(filters, **params)

    def _shows(self, row: dict) -> bool:
        return "symbol" not in row or self.filters.shows(row)


class AlertStream(RowStream):
    """Indicator alerts as sentences, coloured by type."""

    title, label, columns = "Indicator alerts", "alerts", ALERT_COLUMNS

    def build(self, ev: IndicatorAlert) -> dict:
        return alert_row(ev)


class PatternStream(RowStream):
    """Pattern detections newest first, high confidence in bold green.

    The session receives patterns below the buffer's threshold too (its slider may go lower);
    those are kept apart, as many as the others, so a stream of them never pushes the rows the
    default view shows out of the kept history. The buffer hands them over after each flush's
    live ones, so rows go in arrival order, and messages read together in order of detection."""

    floor = param.Number(default=C.DEFAULT_PATTERN_MIN_CONFIDENCE, constant=True,
                         doc="the buffer's threshold (STREAMING_PATTERN_MIN_CONFIDENCE)")
    hidden = param.Integer(default=0, doc="kept patterns the session's minimum confidence hides now")

    title, label, columns = "Pattern stream", "patterns", PATTERN_COLUMNS

    def __init__(self, filters: Filters, **params):
        super().__init__(filters, **params)
        self._n = itertools.count()  # entries are (received, detected ms, n, row): sortable, never by the row
        self._kept: deque[tuple] = deque(maxlen=self.max_rows)  # at or above the floor
        self._below: deque[tuple] = deque(maxlen=self.max_rows)  # under it: filtered by the buffer
        self._new: list[tuple] = []
        self._floor = self.floor  # read for every pattern: a plain attribute

    def take(self, ev: Pattern) -> None:
        row = pattern_row(ev)
        entry = (ev.received, row["time"], next(self._n), row)
        (self._below if ev.confidence < self._floor else self._kept).append(entry)
        filters = self.filters
        filters.seen_symbols.add(ev.symbol)
        filters.seen_patterns.add(ev.pattern)
        if filters.shows(row):
            self._new.append(entry)

    def _kept_rows(self) -> Iterable[dict]:
        return (entry[3] for entry in sorted(itertools.chain(self._kept, self._below)))

    def _taken(self) -> list[dict]:
        entries, self._new = self._new, []
        entries.sort()
        return [entry[3] for entry in entries]

    def redraw(self) -> None:
        super().redraw()
        self.count_hidden()

    def count_hidden(self) -> None:
        low = self.filters.min_confidence
        hidden = sum(1 for entry in self._below if entry[3]["confidence"] < low)
        if low > self.floor:
            hidden += sum(1 for entry in self._kept if entry[3]["confidence"] < low)
        self.hidden = hidden


class IndicatorGrid(RowStream):
    """The latest value of every indicator, one row per symbol, updated in place."""

    # At most 450 px (beside it, on wide pages, sit critical alerts and producer health, about as tall);
    # with few symbols as tall as its rows, so a six-symbol grid leaves no blank band under it
    title, label, columns, height, key = "Latest indicator values", "indicators", INDICATOR_COLUMNS, 450, "symbol"

    def __init__(self, filters: Filters, **params):
        params.setdefault("max_rows", INDICATOR_SYMBOLS)
        super().__init__(filters, **params)
        self._latest: dict[str, dict] = {}  # symbol -> its row
        self._changed: dict[str, dict] = {}  # rows changed since the last publish
        self._fit()

    def take(self, ev: Indicator) -> None:
        symbol = ev.symbol
        self._latest[symbol] = self._changed[symbol] = indicator_row(self._latest.get(symbol), ev)
        self.filters.seen_symbols.add(symbol)

    def _shows(self, row: dict) -> bool:
        return self.filters.shows_symbol(row["symbol"])

    def _kept_rows(self) -> Iterable[dict]:
        return self._latest.values()

    def _taken(self) -> list[dict]:
        rows = [row for row in self._changed.values() if self._shows(row)]
        self._changed = {}
        return rows

    def publish(self, paused: bool = False) -> int:
        shown = super().publish(paused)
        self._fit()
        return shown

    def redraw(self) -> None:
        super().redraw()
        self._fit()

    def _fit(self) -> None:
        self.table.fit(self.height)  # changes only when the number of symbols does
