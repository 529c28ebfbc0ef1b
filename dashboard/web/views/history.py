"""History on the page: recorded patterns and indicators for chosen symbols, with live points
appended as they arrive, and the day's unusual activity against its baseline.

A load reads PostgreSQL on a worker thread (as the REST endpoints do), so while one session waits
for a large range every other session on the server keeps streaming; its result is applied on the
session's own document. While a load runs the tab says so, and a newer request replaces any that
has not started: the latest wins, and a session never runs more than one load at a time.

Times are shown in the page's zone (`zone`): Bokeh's time axes know only UTC, so each point keeps
its UTC time (`at`) and is plotted at the wall-clock time of the zone, which a change of zone
recomputes; the CSV export writes ISO 8601 times with the zone's offset."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from html import escape
from zoneinfo import ZoneInfo

import holoviews as hv
import pandas as pd
import panel as pn
import param

import analytics
from analytics.catalog import recorded_symbols
from analytics.stats import MARKET_TZ
from dashboard.stream.ingest import Ingest
from dashboard.web.views.reads import LatestRead
from dashboard.web.views.table import LiveTable

RANGES = {"last hour": 1, "last 6 hours": 6, "last 24 hours": 24, "last 7 days": 24 * 7, "last 30 days": 24 * 30}
INDICATOR_VALUES = {"RSI": "value", "SMA": "value", "EMA": "value", "MACD": "macd", "BollingerBands": "middle"}
BANDS = {"BollingerBands": ("lower", "upper")}  # drawn as a shaded band around each symbol's line
SECOND = {"MACD": "signal"}  # drawn as a second, dashed line of each symbol's colour
EXTRA = {"BollingerBands": "shaded: lower to upper band", "MACD": "dashed: signal"}  # said in the title
# Which indicator an alert is about, by the first word of its type: the one mapping the charts
# use to put alerts on their series (an alert type not listed names its indicator itself).
ALERT_INDICATOR = {"RSI": "RSI", "MACD": "MACD", "BB": "BollingerBands", "BOLLINGER": "BollingerBands",
                   "SMA": "SMA", "EMA": "EMA"}
LIVE_POINTS = 20_000  # points kept per chart
UNUSUAL_PX = 260  # the unusual-activity table's height at most (shorter when it holds fewer rows)
# a pause in a symbol's series longer than GAP_STEPS of its usual steps, and than GAP_MIN, breaks its
# line: a night, a weekend or a holiday is left blank instead of drawn as a straight line across it
GAP_STEPS, GAP_MIN = 10, pd.Timedelta(hours=1)
BOKEH_THEMES = {"light": "caliber", "dark": "dark_minimal"}  # the page's theme -> the charts' Bokeh theme
ZONE_LABELS = {"America/New_York": "ET", "UTC": "UTC"}
UNUSUAL_COLUMNS = [{"field": "symbol", "title": "Symbol"},
                   {"field": "today", "title": "Today so far", "kind": "int"},
                   {"field": "baseline_mean", "title": "Mean", "kind": "num"},
                   {"field": "baseline_std", "title": "Std", "kind": "num"},
                   {"field": "z", "title": "z", "kind": "num"},
                   {"field": "baseline_median", "title": "Median", "kind": "num"},
                   {"field": "baseline_mad", "title": "MAD", "kind": "num"},
                   {"field": "robust_z", "title": "Robust z", "kind": "num"},
                   {"field": "note", "title": "Baseline"}]

hv.extension("bokeh", logo=False)
PALETTE = hv.Cycle().values  # the symbols' colours, in their sorted order, for their lines and alerts alike
log = logging.getLogger(__name__)

_AT = pd.Series(dtype="datetime64[ns, UTC]")
_PATTERNS = pd.DataFrame({"t": pd.Series(dtype="datetime64[ns]"), "confidence": pd.Series(dtype=float),
                          "symbol": pd.Series(dtype=str), "pattern_type": pd.Series(dtype=str), "at": _AT})
_SERIES = pd.DataFrame({"t": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                        "lower": pd.Series(dtype=float), "upper": pd.Series(dtype=float),
                        "second": pd.Series(dtype=float),
                        "symbol": pd.Series(dtype=str), "at": _AT})
_MARKS = pd.DataFrame({"t": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                       "alert_type": pd.Series(dtype=str), "symbol": pd.Series(dtype=str), "at": _AT})


def wall_times(series: pd.Series, zone: str) -> pd.Series:
    """Times as the wall clock of `zone` reads them, without a zone: what a Bokeh time axis (UTC
    only) must be given to show them in that zone."""
    return series.dt.tz_convert(zone).dt.tz_localize(None)


def zone_label(zone: str) -> str:
    """How a zone is named on the page: "ET" for exchange time, "UTC", else its short name now."""
    return ZONE_LABELS.get(zone) or datetime.now(ZoneInfo(zone)).tzname() or zone


def iso_frame(df: pd.DataFrame, zone: str) -> pd.DataFrame:
    """`df` with every time as ISO 8601 text with the offset of `zone` (for CSV)."""
    out = df.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert(zone).map(lambda t: t.isoformat(timespec="milliseconds"),
                                                              na_action="ignore")
    return out


def _legend_of_shown(plot, _element) -> None:
    """Legend entries only for the lines and points that have data: a reload with other symbols
    empties the former ones, which stay in the plot (a streaming overlay keeps its members)."""
    for legend in plot.state.legend:
        legend.title, legend.margin, legend.padding = None, 0, 4  # what the entries are is plain: one row less
        for item in legend.items:
            item.visible = any(len(next(iter(r.data_source.data.values()), [])) for r in item.renderers)


# legends above the plots, in rows: beside them, ten pattern types were taller than the chart and
# spilled over the controls, and the two charts' time axes were as wide as their legends allowed
LEGEND_ABOVE = {"legend_position": "top", "legend_cols": 6, "hooks": [_legend_of_shown]}


@dataclass(frozen=True, eq=False)
class LoadRequest:
    """What one click on "Load history" asked for, fixed when it was clicked."""

    database_url: str
    symbols: tuple[str, ...] | None  # None: all
    start: datetime
    end: datetime
    indicator: str
    baseline_days: int
    zone: str = MARKET_TZ


@dataclass
class Loaded:
    """A load's result, ready for the charts and the table (built off the server's loop)."""

    patterns: pd.DataFrame  # as stored, for the CSV export
    points: pd.DataFrame
    series: pd.DataFrame
    marks: pd.DataFrame
    unusual: list[dict]
    status: str


def fetch_history(request: LoadRequest) -> Loaded | str:
    """(worker thread) Read and shape the requested range; a failure is a message for the page."""
    symbols, start, end = list(request.symbols) if request.symbols else None, request.start, request.end
    try:
        url = request.database_url
        patterns = analytics.load_patterns(url, symbols, start, end,
                                           columns=["symbol", "pattern_type", "confidence", "detected_at"])
        indicators = analytics.load_indicators(url, symbols, start, end, indicators=[request.indicator])
        alerts = analytics.load_alerts(url, symbols, start, end)
        baseline = analytics.load_patterns(url, symbols, end - timedelta(days=request.baseline_days * 1.5 + 3), end,
                                           columns=["symbol", "pattern_type", "detected_at"])
    except Exception as exc:  # the database is away: say so, keep the page alive
        return f"history unavailable: {reason(exc)}"
    try:
        series, marks = indicator_frames(request.indicator, indicators, alerts, request.zone)
        unusual = analytics.unusual_activity(baseline, baseline_days=request.baseline_days).head(500)
        return Loaded(patterns, pattern_points(patterns, request.zone), series, marks, unusual_rows(unusual)[::-1],
                      f"{len(patterns):,} patterns, {len(indicators):,} {request.indicator} values, "
                      f"{len(alerts):,} alerts")
    except Exception as exc:  # a bug: the log has the traceback, the page a sentence
        log.exception("history load failed")
        return f"history load failed: {reason(exc)}"


def reason(exc: Exception) -> str:
    """An exception as one line for the page: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


def pattern_points(df: pd.DataFrame, zone: str = MARKET_TZ) -> pd.DataFrame:
    """Loaded or live patterns as the scatter's points, at their times in `zone`."""
    if df.empty:
        return _PATTERNS.copy()
    return pd.DataFrame({"t": wall_times(df["detected_at"], zone), "confidence": df["confidence"].astype(float),
                         "symbol": df["symbol"].astype(str), "pattern_type": df["pattern_type"].astype(str),
                         "at": df["detected_at"].dt.tz_convert(UTC)})


def alert_indicator(alert_type: str) -> str:
    """The indicator an alert type is about (`BB_UPPER_BREAK` → BollingerBands)."""
    head = alert_type.upper().split("_", 1)[0]
    return ALERT_INDICATOR.get(head, head)


def indicator_frames(indicator: str, indicators: pd.DataFrame, alerts: pd.DataFrame,
                     zone: str = MARKET_TZ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An indicator's series (one per symbol; `lower` and `upper`: its band, `second`: its second
    line, NaN for an indicator without them), and its alerts placed on the value they fired at, at
    their times in `zone`."""
    key = INDICATOR_VALUES.get(indicator, "value")  # another indicator: its single value
    if indicators.empty or key not in indicators:
        series = _SERIES.copy()
    else:
        at = indicators["calculated_at"].dt.tz_convert(UTC)
        nan = pd.Series(float("nan"), index=indicators.index)
        lower, upper, second = (indicators[k].astype(float) if k in indicators else nan
                                for k in (*BANDS.get(indicator, ("", "")), SECOND.get(indicator, "")))
        series = pd.DataFrame({"t": wall_times(at, zone), "value": indicators[key].astype(float),
                               "lower": lower, "upper": upper, "second": second,
                               "symbol": indicators["symbol"].astype(str), "at": at}).sort_values("at")
    if alerts.empty or series.empty:
        return series, _MARKS.copy()
    about = alerts["alert_type"].astype(str).map(alert_indicator)
    wanted = alerts[about.str.upper() == indicator.upper()]
    at = wanted["alerted_at"].dt.tz_convert(UTC)
    marks = pd.DataFrame({"t": wall_times(at, zone), "alert_type": wanted["alert_type"].astype(str),
                          "symbol": wanted["symbol"].astype(str), "at": at}).sort_values("at")
    located = pd.merge_asof(marks, series[["at", "value", "symbol"]].rename(columns={"symbol": "s"}), on="at",
                            left_by="symbol", right_by="s", direction="backward")
    return series, located[["t", "value", "alert_type", "symbol", "at"]].dropna(subset=["value"])


def unusual_rows(df: pd.DataFrame) -> list[dict]:
    """The table's rows; where there is no baseline yet, a note says why instead of blank scores."""
    need = df.attrs.get("min_baseline_days", 0)
    fields = [c["field"] for c in UNUSUAL_COLUMNS if c["field"] != "note"]
    rows = []
    for r in df.reindex(columns=[*fields, "baseline_days"]).astype({"symbol": str}).to_dict("records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        days = row.pop("baseline_days") or 0
        row["note"] = (f"{days} trading days" if row["z"] is not None
                       else f"no baseline yet: {days} of {need} trading days recorded")
        rows.append(row)
    return rows


def broken_at_gaps(data: pd.DataFrame, x: str, key: str, values: list[str]) -> pd.DataFrame:
    """Each `key`'s series with a blank point (`values` NaN) in the middle of every long pause, so
    that its line (or band) stops where the data does (see GAP_STEPS) and starts again after."""
    if len(data) < 2:
        return data
    data = data.sort_values([key, x], kind="stable")
    steps = data.groupby(key, sort=False, observed=True)[x].diff()
    usual = steps.groupby(data[key], sort=False, observed=True).transform("median")
    gaps = steps > (usual * GAP_STEPS).clip(lower=GAP_MIN)
    if not gaps.any():
        return data
    blanks = data[gaps].assign(**dict.fromkeys(values, float("nan")), **{x: data[x][gaps] - steps[gaps] / 2})
    return pd.concat([data, blanks]).sort_values([key, x], kind="stable")


def _colours(keys) -> dict[str, str]:
    """A colour per key shown: the palette in the keys' sorted order (a line, its band and its alerts
    alike; set on each element, not left to a streaming overlay's cycle, which counts the
    placeholder and every key it ever showed)."""
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(sorted(set(map(str, keys))))}


def _overlay(data: pd.DataFrame, element: type, x: str, ys: list[str], key: str, seen: set[str],
             label: str) -> hv.NdOverlay:
    """One element per value of `key` (`label` in the legend), each in its colour (`_colours`), for
    a streaming chart: every key it has shown stays in the overlay (empty, without a legend entry,
    when the data no longer has it), so a reload with other symbols empties their lines instead of
    leaving them drawn."""
    groups = {str(k): g for k, g in data.groupby(key, sort=True)} if len(data) else {}
    seen.update(groups)
    colours, empty = _colours(groups), data.iloc[:0]
    items = {k: element(groups[k], x, ys).opts(color=colours[k]) if k in groups
             else element(empty, x, ys).opts(show_legend=False) for k in sorted(seen or {"—"})}
    return hv.NdOverlay(items, kdims=hv.Dimension(key, label=label))


class HistoryView(pn.viewable.Viewer):
    """Pick symbols and a range; see patterns (confidence over time) and an indicator with its alerts."""

    symbols = param.List(default=[], doc="symbols to chart (empty: all)")
    range = param.Selector(objects=list(RANGES), default="last 24 hours")
    indicator = param.Selector(objects=list(INDICATOR_VALUES), default="RSI")
    baseline_days = param.Integer(default=20, bounds=(2, 250))
    status = param.String(default="")
    loading = param.Boolean(default=False, doc="a load is running (the charts show a spinner)")
    zone = param.String(default=MARKET_TZ, doc="IANA zone the charts and the CSV show times in")
    theme = param.Selector(objects=list(BOKEH_THEMES), default="light")

    def __init__(self, ingest: Ingest, database_url: str, **params):
        super().__init__(**params)
        self.ingest = ingest
        self.database_url = database_url
        self.patterns = _PATTERNS.copy()
        self.pattern_stream = hv.streams.Buffer(_PATTERNS.copy(), length=LIVE_POINTS, index=False)
        self.series_stream = hv.streams.Buffer(_SERIES.copy(), length=LIVE_POINTS, index=False)
        self.marks_stream = hv.streams.Buffer(_MARKS.copy(), length=LIVE_POINTS, index=False)
        self.unusual_table = LiveTable(columns=UNUSUAL_COLUMNS, max_rows=500, height=UNUSUAL_PX,
                                       sizing_mode="stretch_width", name="unusual",
                                       placeholder="Load a range to compare today with its baseline")
        self.unusual_table.fit(UNUSUAL_PX)  # as tall as its rows: two, for that note, until a load
        self._consumer = ingest.buffer.register(f"history-{id(self)}")
        self._callback = None
        self._known: set[str] = set()
        self._symbols_seen: set[str] = set()  # lines and point groups the charts have drawn
        self._types_seen: set[str] = set()
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
            pn.pane.HoloViews(charts, sizing_mode="stretch_width", loading=self.param.loading, theme=theme),
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
            + (f" ({EXTRA[self.indicator]})" if self.indicator in EXTRA else "") + ", alerts as ▲",
            xlabel=f"time ({zone_label(self.zone)})", ylabel=self.indicator, **LEGEND_ABOVE))

    def _series_bands(self, data: pd.DataFrame) -> hv.NdOverlay:
        """The indicator's band per symbol (Bollinger: lower to upper), shaded."""
        return self._companion(data, ["lower", "upper"], hv.Area, fill_alpha=0.13, line_alpha=0)

    def _series_second(self, data: pd.DataFrame) -> hv.NdOverlay:
        """The indicator's second line per symbol (MACD: its signal), dashed."""
        return self._companion(data, ["second"], hv.Curve, line_dash="dashed", line_width=1.2)

    def _companion(self, data: pd.DataFrame, columns: list[str], element: type, **style) -> hv.NdOverlay:
        """Per symbol, an element of `columns` beside its line, in its colour and without a legend
        entry of its own; empty for an indicator without them."""
        colours = _colours(data["symbol"])  # as the lines have them
        data = broken_at_gaps(data[data[columns[-1]].notna()], "t", "symbol", columns)
        groups = {str(k): g for k, g in data.groupby("symbol", sort=True)} if len(data) else {}
        self._symbols_seen.update(groups)
        return hv.NdOverlay({k: element(groups.get(k, data.iloc[:0]), "t", columns).opts(
            color=colours.get(k, "#777777"), show_legend=False, **style) for k in sorted(self._symbols_seen or {"—"})},
            kdims="symbol")

    def _alert_marks(self, data: pd.DataFrame) -> hv.Scatter:
        """Alerts as ▲ on their line, in its colour."""
        colours = _colours(self.series_stream.data["symbol"])  # as the lines have them
        return hv.Scatter(data, "t", ["value", "alert_type", "symbol"], label="alerts").opts(
            marker="triangle", size=12, color=hv.dim("symbol").categorize(colours, default="#777777"),
            line_color="#1a202c", line_width=1, tools=["hover"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _rezone(self, *_) -> None:
        """Every point moved to its time in the new zone (and the axes relabelled)."""
        for stream in (self.pattern_stream, self.series_stream, self.marks_stream):
            data = stream.data
            stream.clear()
            stream.send(data.assign(t=wall_times(data["at"], self.zone)))

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
        self.pattern_stream.clear()
        self.pattern_stream.send(outcome.points)
        self.series_stream.clear()
        self.series_stream.send(outcome.series)
        self.marks_stream.clear()
        self.marks_stream.send(outcome.marks)
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
        """Append the patterns and indicator values that arrived since the last call (once a load
        has been applied: it clears the charts)."""
        if self.loading:
            return 0
        events = self._consumer.drain()
        if not events:
            return 0
        wanted = set(self.symbols)
        patterns = analytics.live_frame(events, kind="pattern")
        indicators = analytics.live_frame(events, kind="indicator")
        alerts = analytics.live_frame(events, kind="indicator_alert")
        if wanted:
            patterns = patterns[patterns["symbol"].astype(str).isin(wanted)]
            indicators = indicators[indicators["symbol"].astype(str).isin(wanted)]
            alerts = alerts[alerts["symbol"].astype(str).isin(wanted)]
        indicators = indicators[indicators["indicator"].astype(str) == self.indicator]
        if not patterns.empty:
            self.pattern_stream.send(pattern_points(patterns, self.zone))
        series, marks = indicator_frames(self.indicator, indicators, alerts, self.zone)
        if not series.empty:
            self.series_stream.send(series)
        if not marks.empty:
            self.marks_stream.send(marks)
        return len(patterns) + len(series)
