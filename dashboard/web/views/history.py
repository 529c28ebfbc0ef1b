"""History on the page: recorded patterns and indicators for chosen symbols, with live points
appended as they arrive, and the day's unusual activity against its baseline.

A load reads PostgreSQL on a worker thread (as the REST endpoints do), so while one session waits
for a large range every other session on the server keeps streaming; its result is applied on the
session's own document. While a load runs the tab says so, and a newer request replaces any that
has not started: the latest wins, and a session never runs more than one load at a time.

HoloViews redraws a streaming overlay whole, each line a few Bokeh glyphs, so the server's cost of
a redraw grows with the lines: the indicator chart draws at most MAX_LINES symbols (the most
active, and the page says so), and live points come in batches spaced by what the last redraw
cost (LIVE_PAUSE), once a range is loaded.

Times are shown in the page's zone (`zone`): Bokeh's time axes know only UTC, so each point keeps
its UTC time (`at`) and is plotted at the wall-clock time of the zone, which a change of zone
recomputes; the CSV export writes ISO 8601 times with the zone's offset."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from html import escape
from zoneinfo import ZoneInfo

import holoviews as hv
import pandas as pd
import panel as pn
import param
from holoviews.core.util import disable_constant

import analytics
from analytics.catalog import recorded_symbols
from analytics.stats import MARKET_TZ
from dashboard.stream.ingest import Ingest
from dashboard.web.views.charts import sans
from dashboard.web.views.history_frames import (
    BANDS,
    EMPTY_MARKS,
    EMPTY_POINTS,
    EMPTY_SERIES,
    INDICATOR_VALUES,
    MAX_LINES,
    SECOND,
    UNUSUAL_COLUMNS,
    Loaded,
    LoadRequest,
    broken_at_gaps,
    fetch_history,
    indicator_frames,
    iso_frame,
    pattern_points,
    reason,
    wall_times,
)
from dashboard.web.views.reads import LatestRead
from dashboard.web.views.table import LiveTable

RANGES = {"last hour": 1, "last 6 hours": 6, "last 24 hours": 24, "last 7 days": 24 * 7, "last 30 days": 24 * 30}
LIVE_POINTS = 20_000  # points kept per chart
UNUSUAL_PX = 260  # the unusual-activity table's height at most (shorter when it holds fewer rows)
# Live points are drawn in batches, at most once a second, and at most a tenth of the time: a batch
# whose redraw took d seconds waits at least LIVE_PAUSE * d before the next (the charts redraw
# whole, so a session's charts never take more than that share of the server's loop).
LIVE_EVERY_S, LIVE_PAUSE = 1.0, 9
BOKEH_THEMES = {"light": "caliber", "dark": "dark_minimal"}  # the page's theme -> the charts' Bokeh theme
ZONE_LABELS = {"America/New_York": "ET", "UTC": "UTC"}

hv.extension("bokeh", logo=False)
PALETTE = hv.Cycle().values  # the symbols' colours, in their sorted order, for their lines and alerts alike
log = logging.getLogger(__name__)


def drawn_besides(indicator: str) -> str:
    """What the indicator chart draws besides each symbol's line (its BANDS and SECOND), as the
    chart's title says it: " (shaded: lower to upper band)", " (dashed: signal)" or ""."""
    said = [f"shaded: {' to '.join(BANDS[indicator])} band"] if indicator in BANDS else []
    said += [f"dashed: {SECOND[indicator]}"] if indicator in SECOND else []
    return f" ({'; '.join(said)})" if said else ""


def zone_label(zone: str) -> str:
    """How a zone is named on the page: "ET" for exchange time, "UTC", else its short name now."""
    return ZONE_LABELS.get(zone) or datetime.now(ZoneInfo(zone)).tzname() or zone


def _legend_of_shown(plot, _element) -> None:
    """The page's kind of font, and legend entries only for the lines and points that have data: a
    reload with other symbols empties the former ones, which stay in the plot (a streaming overlay
    keeps its members)."""
    sans(plot.state)
    for legend in plot.state.legend:
        legend.title, legend.margin, legend.padding = None, 0, 4  # what the entries are is plain: one row less
        for item in legend.items:
            item.visible = any(len(next(iter(r.data_source.data.values()), [])) for r in item.renderers)


# legends above the plots, in rows: beside them, ten pattern types were taller than the chart and
# spilled over the controls, and the two charts' time axes were as wide as their legends allowed
LEGEND_ABOVE = {"legend_position": "top", "legend_cols": 6, "hooks": [_legend_of_shown]}


def _colours(keys) -> dict[str, str]:
    """A colour per key shown: the palette in the keys' sorted order (a line, its band and its alerts
    alike; set on each element, not left to a streaming overlay's cycle, which counts the
    placeholder and every key it ever showed)."""
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(sorted(set(map(str, keys))))}


def _overlay(data: pd.DataFrame, element: type, x: str, ys: list[str], key: str, seen: set[str],
             label: str, colours: dict[str, str] | None = None, legend: bool = True, **style) -> hv.NdOverlay:
    """One element per value of `key` (`label` in the legend, unless not `legend`), each in its
    colour (`colours`, else `_colours` of the keys present) and `style`, for a streaming chart: every
    key it has shown stays in the overlay (empty, without a legend entry, when the data no longer
    has it), so a reload with other symbols empties their lines instead of leaving them drawn."""
    groups = {str(k): g for k, g in data.groupby(key, sort=True)} if len(data) else {}
    seen.update(groups)
    colours, empty = colours or _colours(groups), data.iloc[:0]
    shown = {} if legend else {"show_legend": False}
    items = {k: element(groups[k], x, ys).opts(color=colours.get(k, "#777777"), **shown, **style) if k in groups
             else element(empty, x, ys).opts(show_legend=False) for k in sorted(seen or {"—"})}
    return hv.NdOverlay(items, kdims=hv.Dimension(key, label=label))


class HistoryView(pn.viewable.Viewer):
    """Pick symbols and a range; see patterns (confidence over time) and an indicator with its alerts."""

    symbols = param.List(default=[], doc="symbols to chart (empty: all)")
    range = param.Selector(objects=list(RANGES), default="last 24 hours")
    indicator = param.Selector(objects=list(INDICATOR_VALUES), default="RSI")
    baseline_days = param.Integer(default=20, bounds=(2, 250))
    status = param.String(default="Nothing loaded yet: choose symbols (none: every symbol) and a range, then "
                                  "Load history")
    loading = param.Boolean(default=False, doc="a load is running (the charts show a spinner)")
    loaded = param.Boolean(default=False, doc="a load was applied (until then the charts are hidden: empty, "
                                              "their time axes would read 1970)")
    zone = param.String(default=MARKET_TZ, doc="IANA zone the charts and the CSV show times in")
    theme = param.Selector(objects=list(BOKEH_THEMES), default="light")

    def __init__(self, ingest: Ingest, database_url: str, **params):
        super().__init__(**params)
        self.ingest = ingest
        self.database_url = database_url
        self.patterns = EMPTY_POINTS.copy()
        self.pattern_stream = hv.streams.Buffer(EMPTY_POINTS.copy(), length=LIVE_POINTS, index=False)
        self.series_stream = hv.streams.Buffer(EMPTY_SERIES.copy(), length=LIVE_POINTS, index=False)
        self.marks_stream = hv.streams.Buffer(EMPTY_MARKS.copy(), length=LIVE_POINTS, index=False)
        self.unusual_table = LiveTable(columns=UNUSUAL_COLUMNS, max_rows=500, height=UNUSUAL_PX,
                                       sizing_mode="stretch_width", name="unusual",
                                       placeholder="Load a range to compare today with its baseline")
        self.unusual_table.fit(UNUSUAL_PX)  # as tall as its rows: two, for that note, until a load
        self._consumer = ingest.buffer.register(f"history-{id(self)}")
        self._callback = None
        self._known: set[str] = set()
        self._symbols_seen: set[str] = set()  # lines, bands, second lines and point groups drawn so far
        self._bands_seen: set[str] = set()
        self._second_seen: set[str] = set()
        self._types_seen: set[str] = set()
        self._lines: set[str] | None = None  # symbols whose lines take live points (None: nothing loaded)
        self._held: list = []  # live events drained but not drawn yet
        self._due = 0.0  # time.monotonic() from which the next live batch may be drawn
        self._read = LatestRead(fetch_history)  # the latest load asked for, read off the loop
        self._layout = self._build()
        self.param.watch(self._rezone, "zone")

    # ------------------------------------------------------------ layout

    def _build(self) -> pn.viewable.Viewable:
        symbols = pn.widgets.MultiChoice.from_param(self.param.symbols, name="Symbols", options=[], width=300,
                                                    placeholder="all symbols (type to search)")
        self._symbol_widget = symbols
        load = pn.widgets.Button(name="Load history", button_type="primary", width=140)
        load.on_click(self._clicked)
        scatter = hv.DynamicMap(self._pattern_points, streams=[self.pattern_stream])
        curve = hv.DynamicMap(self._series_curve, streams=[self.series_stream])
        bands = hv.DynamicMap(self._series_bands, streams=[self.series_stream])
        second = hv.DynamicMap(self._series_second, streams=[self.series_stream])
        marks = hv.DynamicMap(self._alert_marks, streams=[self.marks_stream])
        theme = self.param.theme.rx().rx.pipe(BOKEH_THEMES.get)
        download = pn.widgets.FileDownload(callback=lambda: io.StringIO(self.csv()),
                                           filename="tickstock-history-patterns.csv", label="Export patterns (CSV)",
                                           width=200)
        # one time axis for both (the same range, panned and zoomed together): a pattern and the
        # indicator at that moment sit one above the other
        indicator = (curve * bands * second * marks).opts(hooks=[_legend_of_shown])
        charts = (scatter + indicator).cols(1).opts(shared_axes=True)
        status = pn.pane.HTML(self.param.status.rx().rx.pipe(lambda s: f"<span data-history-status>{escape(s)}</span>"),
                              min_width=240, sizing_mode="stretch_width", align="center")
        return pn.Column(
            pn.FlexBox(symbols, pn.widgets.Select.from_param(self.param.range, name="Range", width=150),
                       pn.widgets.Select.from_param(self.param.indicator, name="Indicator", width=150),
                       pn.Column(load, align="end"), status,  # on a narrow page the status goes under
                       flex_wrap="wrap", align_items="flex-end", sizing_mode="stretch_width"),
            pn.Column(pn.pane.HoloViews(charts, sizing_mode="stretch_width", loading=self.param.loading, theme=theme),
                      visible=self.param.loaded, sizing_mode="stretch_width"),  # (the pane's own `visible`
            # fails in Panel 1.9: it resyncs the inner Bokeh pane, whose stylesheets do not validate)
            "### Unusual activity today (z-score against the baseline days)",
            self.unusual_table,
            download,
            sizing_mode="stretch_width",
        )

    def _pattern_points(self, data: pd.DataFrame) -> hv.NdOverlay:
        """Detections as points, one colour per pattern type, with a legend."""
        points = _overlay(data, hv.Scatter, "t", ["confidence", "symbol"], "pattern_type", self._types_seen,
                          "pattern")
        return points.opts(hv.opts.Scatter(size=7, alpha=0.75, tools=["hover"]), hv.opts.NdOverlay(
            height=320, responsive=True, ylim=(0, 1.02), title="Patterns over time (confidence)",
            xlabel=f"detected ({zone_label(self.zone)})", ylabel="confidence", **LEGEND_ABOVE))

    def _series_curve(self, data: pd.DataFrame) -> hv.NdOverlay:
        """The indicator's values, one coloured line per symbol, with a legend."""
        curves = _overlay(broken_at_gaps(data, "t", "symbol", ["value"]), hv.Curve, "t", ["value"], "symbol",
                          self._symbols_seen, "symbol")
        return curves.opts(hv.opts.Curve(tools=["hover"], line_width=1.5), hv.opts.NdOverlay(
            height=300, responsive=True, title=f"{self.indicator} per symbol"
            + drawn_besides(self.indicator) + ", alerts as ▲",
            xlabel=f"time ({zone_label(self.zone)})", ylabel=self.indicator, **LEGEND_ABOVE))

    def _series_bands(self, data: pd.DataFrame) -> hv.NdOverlay:
        """The indicator's band per symbol (Bollinger: lower to upper), shaded."""
        return self._companion(data, ["lower", "upper"], hv.Area, self._bands_seen, fill_alpha=0.13, line_alpha=0)

    def _series_second(self, data: pd.DataFrame) -> hv.NdOverlay:
        """The indicator's second line per symbol (MACD: its signal), dashed."""
        return self._companion(data, ["second"], hv.Curve, self._second_seen, line_dash="dashed", line_width=1.2)

    def _companion(self, data: pd.DataFrame, columns: list[str], element: type, seen: set[str],
                   **style) -> hv.NdOverlay:
        """Per symbol, an element of `columns` beside its line, in its colour and without a legend
        entry of its own; for an indicator without them, one empty element (`seen`: the symbols it
        ever drew, not every line's: each is a glyph redrawn with every batch)."""
        colours = _colours(data["symbol"])  # as the lines have them
        data = broken_at_gaps(data[data[columns[-1]].notna()], "t", "symbol", columns)
        return _overlay(data, element, "t", columns, "symbol", seen, "symbol", colours, legend=False, **style)

    def _alert_marks(self, data: pd.DataFrame) -> hv.Scatter:
        """Alerts as ▲ on their line, in its colour."""
        colours = _colours(self.series_stream.data["symbol"])  # as the lines have them
        # a copy: given the buffer's own frame, HoloViews streams each send onto the plotted points
        # (only the rows sent last), and a replaced content (`_replace`) would be added to the old
        return hv.Scatter(data.copy(deep=False), "t", ["value", "alert_type", "symbol"], label="alerts").opts(
            marker="triangle", size=12, color=hv.dim("symbol").categorize(colours, default="#777777"),
            line_color="#1a202c", line_width=1, tools=["hover"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _rezone(self, *_) -> None:
        """Every point moved to its time in the new zone (and the axes relabelled)."""
        for stream in (self.pattern_stream, self.series_stream, self.marks_stream):
            _replace(stream, stream.data.assign(t=wall_times(stream.data["at"], self.zone)))

    def csv(self) -> str:
        """The loaded patterns as CSV, times in ISO 8601 with the zone's offset."""
        return iso_frame(self.patterns, self.zone).to_csv(index=False)

    # ------------------------------------------------------------ data

    def window(self) -> tuple[datetime, datetime]:
        end = datetime.now(UTC)
        return end - timedelta(hours=RANGES[self.range]), end

    def request(self) -> LoadRequest:
        """What a load started now reads: the chosen symbols, range, indicator and baseline."""
        start, end = self.window()
        return LoadRequest(self.database_url, tuple(self.symbols) or None, start, end, self.indicator,
                           self.baseline_days, self.zone)

    async def _clicked(self, _event) -> None:
        await self.load()

    async def load(self) -> None:
        """Read the chosen range from PostgreSQL into the charts and the unusual-activity table.

        The reading runs on a worker thread; a load asked for meanwhile waits for it and then runs
        instead of its result (the latest wins). Returns once the latest result is handed to the
        session's document, or at once when a load is running already (it will run this request)."""
        self._read.wanted = self.request()
        self.loading = True
        self.status = f"Loading {self.range} …"
        if (read := await self._read.run()) is not None:
            pn.state.execute(partial(self._apply, *read), schedule=True)  # under the document's lock

    def _apply(self, request: LoadRequest, outcome: Loaded | str) -> None:
        if request is not self._read.wanted:  # a newer load started meanwhile; it will apply its own
            return
        self.loading = False
        if isinstance(outcome, str):
            self.status = outcome
            return
        self.patterns = outcome.patterns
        for stream, data in ((self.pattern_stream, outcome.points), (self.series_stream, outcome.series),
                             (self.marks_stream, outcome.marks)):
            _replace(stream, data)
        self._lines, self._held, self._due = set(outcome.lines), [], 0.0  # live points from now on
        self.loaded = True
        self.unusual_table.reset(outcome.unusual)
        self.unusual_table.fit(UNUSUAL_PX)
        self._offer(list(outcome.patterns["symbol"].astype(str).unique()))
        self.status = outcome.status
        if request.zone != self.zone:  # the zone changed while the load read
            self._rezone()

    # ------------------------------------------------------------ live points

    def start(self) -> HistoryView:
        self._callback = pn.state.add_periodic_callback(self.append_live, period=1000)
        pn.state.execute(self.offer_symbols)  # the picker lists what is recorded before any load
        return self

    async def offer_symbols(self) -> None:
        """Fill the symbol picker with every recorded symbol (read on a worker thread)."""
        loop = asyncio.get_running_loop()
        try:
            symbols = await loop.run_in_executor(None, recorded_symbols, self.database_url)
        except Exception as exc:  # the database is away: the picker fills on the first load instead
            log.warning("recorded symbols unavailable: %s", reason(exc))
            return
        pn.state.execute(partial(self._offer, symbols), schedule=True)

    def _offer(self, symbols: list[str]) -> None:
        self._known |= set(symbols)
        self._symbol_widget.options = {escape(s): s for s in sorted(self._known)}  # labels render as HTML

    def close(self) -> None:
        self._read.wanted = None  # a load still reading applies nothing
        if self._callback is not None:
            self._callback.stop()
        self.ingest.buffer.unregister(self._consumer)

    def append_live(self) -> int:
        """Draw the patterns and indicator values that arrived since the last batch, once a range is
        loaded (the charts show it, then go on live), at most as often as the redraws allow
        (LIVE_EVERY_S, LIVE_PAUSE); returns how many points and markers were drawn."""
        if self.loading:  # the load clears the charts: what arrives meanwhile is drawn after it
            return 0
        events = self._consumer.drain()
        if self._lines is None:  # nothing loaded yet: the charts stay empty until a range is
            return 0
        self._held = (self._held + events)[-3 * LIVE_POINTS:]
        if not self._held or time.monotonic() < self._due:
            return 0
        events, self._held = self._held, []
        started = time.monotonic()
        wanted = set(self.symbols)
        patterns = analytics.live_frame(events, kind="pattern")
        indicators = analytics.live_frame(events, kind="indicator")
        alerts = analytics.live_frame(events, kind="indicator_alert")
        if wanted:
            patterns = patterns[patterns["symbol"].astype(str).isin(wanted)]
            indicators = indicators[indicators["symbol"].astype(str).isin(wanted)]
        indicators = indicators[indicators["indicator"].astype(str) == self.indicator]
        for symbol in sorted(set(indicators["symbol"].astype(str)) - self._lines):  # a line not drawn yet
            if len(self._lines) < MAX_LINES:
                self._lines.add(symbol)
        indicators = indicators[indicators["symbol"].astype(str).isin(self._lines)]
        alerts = alerts[alerts["symbol"].astype(str).isin(self._lines)]
        if not patterns.empty:
            self.pattern_stream.send(pattern_points(patterns, self.zone))
        series, marks = indicator_frames(self.indicator, indicators, alerts, self.zone)
        if not series.empty:
            self.series_stream.send(series)
        if not marks.empty:
            self.marks_stream.send(marks)
        self._due = time.monotonic() + max(LIVE_EVERY_S, LIVE_PAUSE * (time.monotonic() - started))
        return len(patterns) + len(series) + len(marks)


def _replace(stream: hv.streams.Buffer, data: pd.DataFrame) -> None:
    """A buffer's content replaced by `data`, its charts redrawn once (`clear` then `send` drew
    them twice, the first time empty)."""
    with disable_constant(stream), param.parameterized.discard_events(stream):
        stream.data = stream.data.iloc[:0]
    stream.send(data)
