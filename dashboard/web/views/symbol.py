"""One symbol at a glance: its price bands, RSI and MACD on one time axis, its detections and
alerts as markers on them, its recent patterns and how often each pattern comes on a usual day.

Opening a symbol reads its history from PostgreSQL on a worker thread (as `history.HistoryView`
does, the latest request winning), while the symbol's live events are held; the two are then
joined (`analytics.combine`: one row per event, in time order) and from then on each live event
is appended, batched twice a second, by streaming only the new points into the Bokeh sources.
Bokeh's time axes know no zones, so every time is shifted to the wall clock of `zone` before it
is plotted, and the axes say which zone that is. Without a database the view shows the live part
(the buffer's recent events, then every new one) and says that history is off.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from html import escape

import holoviews as hv
import pandas as pd
import panel as pn
import param

import analytics
from analytics.catalog import recorded_symbols
from analytics.events import Indicator, IndicatorAlert, Pattern
from analytics.frames import value_column
from analytics.stats import MARKET_TZ, local_dates, window_days
from dashboard.stream.ingest import Ingest
from dashboard.web.views.history import (
    BOKEH_THEMES,
    alert_indicator,
    reason,
    wall_times,
    zone_label,
)
from dashboard.web.views.rows import key_parameters
from dashboard.web.views.table import LiveTable

SPANS = {"today's session": None, "last hour": 1, "last 6 hours": 6, "last 24 hours": 24}  # hours back
# the series each indicator draws: its value keys, and the panel they are drawn on
SERIES = {"SMA": ("value",), "BollingerBands": ("upper", "middle", "lower"), "RSI": ("value",),
          "MACD": ("macd", "signal", "histogram")}
PANEL_OF = {"SMA": "price", "BollingerBands": "price", "RSI": "RSI", "MACD": "MACD"}
BASE_DAYS = 20  # trading days before today that a base rate counts over (at most)
MAX_POINTS = 20_000  # per series and marker kind
RECENT_PATTERNS = 50  # rows of the recent-patterns table
FLUSH_MS = 500  # live points are batched: at most two chart updates a second
RECENT_COLUMNS = [{"field": "time", "title": "Time", "kind": "time", "width": "8.5em"},
                  {"field": "pattern", "title": "Pattern", "width": "9em"},
                  {"field": "confidence", "title": "Confidence", "kind": "conf", "width": "6.5em"},
                  {"field": "parameters", "title": "Key parameters"}]
RATE_COLUMNS = [{"field": "pattern", "title": "Pattern", "width": "9em"},
                {"field": "today", "title": "Today", "kind": "int", "width": "5em"},
                {"field": "per_day", "title": "Per day", "kind": "num", "width": "5.5em"},
                {"field": "days", "title": "Over", "width": "8em"}]

log = logging.getLogger(__name__)


def _empty(table: str) -> pd.DataFrame:
    return analytics.live_frame([], kind={"patterns": "pattern", "indicators": "indicator",
                                          "indicator_alerts": "indicator_alert"}[table])


@dataclass
class Frames:
    """One symbol's events in the loaders' shape (times in UTC), oldest first."""

    indicators: pd.DataFrame = field(default_factory=lambda: _empty("indicators"))
    patterns: pd.DataFrame = field(default_factory=lambda: _empty("patterns"))
    alerts: pd.DataFrame = field(default_factory=lambda: _empty("indicator_alerts"))

    @classmethod
    def of(cls, events: list) -> Frames:
        """Live events (records) as frames."""
        return cls(analytics.live_frame(events, kind="indicator"), analytics.live_frame(events, kind="pattern"),
                   analytics.live_frame(events, kind="indicator_alert"))

    def joined(self, later: Frames) -> Frames:
        """These frames and `later` as one: each event once, in time order (the history/live seam)."""
        return Frames(*(_tail(analytics.combine(a, b)) for a, b in zip(self.parts(), later.parts(), strict=True)))

    def after(self, shown: Frames) -> Frames:
        """The rows of these frames newer than the newest of `shown` (per indicator for indicators),
        so a live batch never repeats or reorders what is drawn."""
        return Frames(_newer_per_indicator(self.indicators, shown.indicators), _newer(self.patterns, shown.patterns, "detected_at"),
                      _newer(self.alerts, shown.alerts, "alerted_at"))

    def parts(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self.indicators, self.patterns, self.alerts


def _newer_per_indicator(frame: pd.DataFrame, shown: pd.DataFrame) -> pd.DataFrame:
    if shown.empty:
        return frame
    last = shown.groupby(shown["indicator"].astype(str))["calculated_at"].max()
    before = frame["indicator"].astype(str).map(last)
    return frame[before.isna() | (frame["calculated_at"] > before)]


def _newer(frame: pd.DataFrame, shown: pd.DataFrame, time: str) -> pd.DataFrame:
    return frame if shown.empty else frame[frame[time] > shown[time].max()]


def _tail(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if len(frame) <= MAX_POINTS else frame.iloc[-MAX_POINTS:].reset_index(drop=True)


# ---------------------------------------------------------------- what the charts draw


def series(indicators: pd.DataFrame, indicator: str, zone: str) -> pd.DataFrame:
    """One indicator's values over wall-clock time in `zone` (`t` and one column per value key)."""
    rows = indicators[indicators["indicator"].astype(str) == indicator]
    out = pd.DataFrame({"t": wall_times(rows["calculated_at"], zone)})
    for key in SERIES[indicator]:
        column = value_column(key)
        out[key] = rows[column].astype(float).to_numpy() if column in rows else float("nan")
    return out.reset_index(drop=True)


def _located(marks: pd.DataFrame, line: pd.DataFrame) -> pd.DataFrame:
    """Markers with `y`: the latest value of `line` (t, y) at or before each marker's time (NaN
    before the line's first value)."""
    if marks.empty or line.empty:
        return marks.assign(y=float("nan"))
    return pd.merge_asof(marks.sort_values("t", kind="stable"), line.sort_values("t"), on="t", direction="backward")


def alert_marks(alerts: pd.DataFrame, indicators: pd.DataFrame, panel: str, zone: str) -> pd.DataFrame:
    """The alerts about the indicators of `panel`, each on its indicator's line (`t`, `y`, `alert`)."""
    about = alerts["alert_type"].astype(str).map(alert_indicator)
    mine = alerts[about.map(PANEL_OF).eq(panel)]
    marks = pd.DataFrame({"t": wall_times(mine["alerted_at"], zone), "alert": mine["alert_type"].astype(str)})
    line = _panel_line(indicators, panel, zone)
    return _located(marks, line).dropna(subset=["y"])[["t", "y", "alert"]].reset_index(drop=True)


def _panel_line(indicators: pd.DataFrame, panel: str, zone: str) -> pd.DataFrame:
    """The line a panel's markers sit on: the price's middle band (or SMA), RSI, or MACD."""
    if panel == "RSI":
        line = series(indicators, "RSI", zone).rename(columns={"value": "y"})
    elif panel == "MACD":
        line = series(indicators, "MACD", zone).rename(columns={"macd": "y"})
    else:
        bands = series(indicators, "BollingerBands", zone).rename(columns={"middle": "y"})
        line = bands if len(bands) else series(indicators, "SMA", zone).rename(columns={"value": "y"})
    return line[["t", "y"]].dropna()


def pattern_marks(patterns: pd.DataFrame, indicators: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Detections on the price panel (`t`, `y`, `pattern`, `confidence`): at the bar's close when
    the detection carries it, else on the middle band."""
    marks = pd.DataFrame({"t": wall_times(patterns["detected_at"], zone),
                          "pattern": patterns["pattern_type"].astype(str),
                          "confidence": patterns["confidence"].astype(float),
                          "close": [_close(p) for p in patterns["parameters"]] if len(patterns) else []})
    located = _located(marks, _panel_line(indicators, "price", zone))
    located["y"] = located["close"].fillna(located["y"])
    return located.dropna(subset=["y"])[["t", "y", "pattern", "confidence"]].reset_index(drop=True)


def _close(parameters) -> float:
    """A detection's close price, if its parameters carry one."""
    value = _params(parameters).get("close")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def chart_data(frames: Frames, zone: str, context: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """What each chart source draws from `frames`; markers are placed on the lines of `context`
    (all the symbol's indicator values; by default those of `frames`)."""
    context = frames.indicators if context is None else context
    out = {name: series(frames.indicators, name, zone) for name in SERIES}
    out["patterns"] = pattern_marks(frames.patterns, context, zone)
    for panel in ("price", "RSI", "MACD"):
        out[f"{panel} alerts"] = alert_marks(frames.alerts, context, panel, zone)
    return out


_EMPTY = chart_data(Frames(), "UTC")  # the shape of each source


# ---------------------------------------------------------------- patterns and base rates


def recent_rows(patterns: pd.DataFrame) -> list[dict]:
    """The recent-patterns table's rows, oldest first."""
    tail = patterns.iloc[-RECENT_PATTERNS:]
    return [{"time": at.timestamp() * 1000.0, "pattern": str(name), "confidence": float(conf),
             "parameters": key_parameters(_params(params))}
            for at, name, conf, params in zip(tail["detected_at"], tail["pattern_type"], tail["confidence"],
                                              tail["parameters"], strict=True)]


def _params(parameters) -> dict:
    """A detection's parameters: a dict live, JSON text as loaded."""
    out = analytics.parse_json(pd.Series([parameters]))[0] if isinstance(parameters, str) else parameters
    return out if isinstance(out, dict) else {}


def base_rates(baseline: pd.DataFrame, today: pd.DataFrame, day: date, days: int = BASE_DAYS) -> list[dict]:
    """Per pattern type: today's detections, and detections per trading day over the recorded
    history before `day` (the `days` trading days before it, from the first day with a detection
    on); "—" where nothing is recorded before today."""
    window = window_days(day, days)
    dates = local_dates(baseline) if len(baseline) else pd.Series(dtype=object)
    recorded = [d for d in window if len(dates) and d >= dates.min()]
    counts = baseline[dates.isin(recorded)]["pattern_type"].astype(str).value_counts() if recorded else pd.Series()
    today_counts = today[local_dates(today) == day]["pattern_type"].astype(str).value_counts() if len(today) \
        else pd.Series()
    rows = []
    for name in sorted(set(counts.index) | set(today_counts.index)):
        per_day = counts.get(name, 0) / len(recorded) if recorded else None
        rows.append({"pattern": name, "today": int(today_counts.get(name, 0)), "per_day": per_day,
                     "days": f"{len(recorded)} trading days" if recorded else "no history"})
    return rows


# ---------------------------------------------------------------- loading history


@dataclass(frozen=True, eq=False)
class SymbolRequest:
    """One opening's history read, fixed when the symbol was opened."""

    database_url: str
    symbol: str
    start: datetime
    end: datetime
    day: date  # today in exchange time: base rates count the trading days before it


@dataclass
class SymbolHistory:
    frames: Frames
    baseline: pd.DataFrame  # the patterns of the base-rate window


def window(span: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The range a span reads: since midnight in exchange time for today's session, else hours back."""
    end = now or datetime.now(UTC)
    hours = SPANS[span]
    if hours is not None:
        return end - timedelta(hours=hours), end
    midnight = pd.Timestamp(end).tz_convert(MARKET_TZ).normalize()
    return midnight.tz_convert(UTC).to_pydatetime(), end


def fetch_symbol(request: SymbolRequest) -> SymbolHistory | str:
    """(worker thread) The symbol's recorded events in the range and its base-rate window; a
    failure is a sentence for the page."""
    url, symbols = request.database_url, [request.symbol]
    first = window_days(request.day, BASE_DAYS)[0]
    base_start = pd.Timestamp(first).tz_localize(MARKET_TZ).tz_convert(UTC).to_pydatetime()
    base_end = pd.Timestamp(request.day).tz_localize(MARKET_TZ).tz_convert(UTC).to_pydatetime()
    try:
        frames = Frames(analytics.load_indicators(url, symbols, request.start, request.end,
                                                  indicators=list(SERIES)),
                        analytics.load_patterns(url, symbols, request.start, request.end),
                        analytics.load_alerts(url, symbols, request.start, request.end))
        baseline = analytics.load_patterns(url, symbols, base_start, base_end,
                                           columns=["pattern_type", "detected_at"])
    except Exception as exc:  # the database is away: say so, keep the live part
        return f"history unavailable: {reason(exc)}"
    return SymbolHistory(Frames().joined(frames), baseline)


# ---------------------------------------------------------------- the view


class SymbolView(pn.viewable.Viewer):
    """One symbol's charts, recent patterns and base rates; hidden while no symbol is open."""

    symbol = param.String(default="", doc='the open symbol ("": closed)')
    zone = param.String(default=MARKET_TZ, doc="IANA zone the times are shown in")
    theme = param.Selector(objects=list(BOKEH_THEMES), default="light")
    span = param.Selector(objects=list(SPANS), default="today's session", doc="how much history to read")
    status = param.String(default="")
    loading = param.Boolean(default=False)

    def __init__(self, ingest: Ingest, database_url: str | None, **params):
        super().__init__(**params)
        self.ingest = ingest
        self.database_url = database_url
        self.frames = Frames()  # what the charts show, in UTC
        self.baseline = _empty("patterns")
        self.sources = {name: hv.streams.Buffer(data, length=MAX_POINTS, index=False) for name, data in _EMPTY.items()}
        self.recent = LiveTable(columns=RECENT_COLUMNS, max_rows=RECENT_PATTERNS, height=220,
                                sizing_mode="stretch_width", placeholder="No patterns for this symbol yet")
        self.rates = LiveTable(columns=RATE_COLUMNS, max_rows=50, height=220, sizing_mode="stretch_width",
                               placeholder="No patterns recorded for this symbol")
        self.picker = pn.widgets.AutocompleteInput(name="Symbol", placeholder="Open a symbol…", options=[],
                                                   case_sensitive=False, search_strategy="includes",
                                                   min_characters=1, restrict=False, width=200)
        self._pending: list = []  # the open symbol's live events not drawn yet
        self._seen: set[str] = set()  # symbols seen live (offered by the picker)
        self._recorded: set[str] = set()
        self._offered = 0
        self._wanted: SymbolRequest | None = None
        self._busy = False
        self._callback = None
        self.picker.param.watch(self._picked, "value")
        self.param.watch(self._redraw, ["zone"])
        self.param.watch(self._reopen, ["span"])
        self._layout = self._build()

    # ------------------------------------------------------------ layout

    def _build(self) -> pn.viewable.Viewable:
        close = pn.widgets.Button(name="Close ✕", width=90, button_type="light")
        close.on_click(lambda _: self.hide())
        title = self.param.symbol.rx().rx.pipe(lambda s: f"<h3 class='ts-symbol-title' data-symbol-view='{escape(s)}'>"
                                                         f"{escape(s)}</h3>")
        note = self.param.status.rx().rx.pipe(lambda s: f"<span data-symbol-status>{escape(s)}</span>")
        charts = pn.pane.HoloViews(self._charts(), sizing_mode="stretch_width", loading=self.param.loading,
                                   theme=self.param.theme.rx().rx.pipe(BOKEH_THEMES.get))
        return pn.Column(
            pn.Row(pn.pane.HTML(title, margin=(0, 10)),
                   pn.widgets.Select.from_param(self.param.span, name="History", width=150),
                   pn.pane.HTML(note, sizing_mode="stretch_width"), close, sizing_mode="stretch_width"),
            charts,
            pn.Row(pn.Column("#### Recent patterns", self.recent, sizing_mode="stretch_width"),
                   pn.Column("#### Base rate (detections per trading day)", self.rates, width=420),
                   sizing_mode="stretch_width"),
            visible=self.param.symbol.rx().rx.pipe(bool), sizing_mode="stretch_width", name="symbol-view",
        )

    def _charts(self) -> hv.Layout:
        """Price with bands and pattern markers, RSI with its guides, MACD with its histogram: one time axis."""
        s = self.sources

        def dmap(make, name: str) -> hv.DynamicMap:
            return hv.DynamicMap(make, streams=[s[name]])

        t = hv.Dimension("t")  # its label (the zone) is set by `_axis`
        price = (dmap(lambda data: hv.Area(data, t, ["lower", "upper"], label="Bollinger band").opts(
                     alpha=0.15, color="#4c78a8", line_alpha=0), "BollingerBands")
                 * dmap(lambda data: hv.Curve(data, t, hv.Dimension("middle", label="price"), label="BB middle").opts(
                     color="#4c78a8", line_dash="dashed", line_width=1), "BollingerBands")
                 * dmap(lambda data: hv.Curve(data, t, hv.Dimension("value", label="price"), label="SMA").opts(
                     color="#f58518", line_width=2), "SMA")
                 * dmap(lambda data: hv.Scatter(data, t, [hv.Dimension("y", label="price"), "pattern", "confidence"],
                                                label="patterns").opts(
                     marker="circle", size=9, color="#54a24b", line_color="white", tools=["hover"]), "patterns")
                 * dmap(self._alerts, "price alerts"))
        rsi = (dmap(lambda data: hv.Curve(data, t, hv.Dimension("value", label="RSI"), label="RSI").opts(
                   color="#b279a2", line_width=1.5), "RSI")
               * hv.HLine(70).opts(color="#e45756", line_dash="dotted", line_width=1)
               * hv.HLine(30).opts(color="#54a24b", line_dash="dotted", line_width=1)
               * dmap(self._alerts, "RSI alerts"))
        macd = (dmap(lambda data: hv.Spikes(data, t, hv.Dimension("histogram", label="MACD"), label="histogram").opts(
                    color="#9d9d9d", line_width=2), "MACD")
                * dmap(lambda data: hv.Curve(data, t, hv.Dimension("macd", label="MACD"), label="MACD").opts(
                    color="#4c78a8", line_width=1.5), "MACD")
                * dmap(lambda data: hv.Curve(data, t, hv.Dimension("signal", label="MACD"), label="signal").opts(
                    color="#f58518", line_width=1.5), "MACD")
                * dmap(self._alerts, "MACD alerts"))
        overlay = hv.opts.Overlay(responsive=True, legend_position="top_left", legend_opts={"background_fill_alpha": 0.5},
                                  hooks=[self._axis])
        return (price.opts(overlay, height=300, ylabel="price", title="")
                + rsi.opts(overlay, height=170, ylabel="RSI", ylim=(0, 100))
                + macd.opts(overlay, height=190, ylabel="MACD")).cols(1).opts(shared_axes=True)

    def _alerts(self, data: pd.DataFrame) -> hv.Scatter:
        return hv.Scatter(data, "t", [hv.Dimension("y", label="value"), "alert"], label="alerts").opts(
            marker="triangle", size=11, color="#e45756", tools=["hover"])

    def _axis(self, plot, _element) -> None:
        """Name the zone the time axis is shifted to."""
        plot.state.xaxis.axis_label = f"time ({zone_label(self.zone)})"

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ------------------------------------------------------------ open and close

    def open(self, symbol: str) -> None:
        """Show `symbol`: the recent live events at once, its history once read, then live points."""
        symbol = symbol.strip().upper()
        if not symbol:
            self.hide()
            return
        self.symbol = symbol
        self.picker.value = symbol
        self._pending = [ev for ev in self._recent_events() if ev.symbol == symbol]
        self._show(Frames(), _empty("patterns"))
        if self.database_url is None:
            self._apply_live()
            self.status = "History is off (no database): showing live events only"
            return
        self._wanted = self.request()
        pn.state.execute(self.load)

    def hide(self) -> None:
        """Close the view (its charts are emptied; live events of no symbol are held)."""
        self._wanted = None
        self.symbol = ""
        self.picker.value = ""
        self._pending = []
        self.loading = False
        self._show(Frames(), _empty("patterns"))

    def _picked(self, event) -> None:
        if event.new and event.new.strip().upper() != self.symbol:
            self.open(event.new)

    def _reopen(self, *_) -> None:
        if self.symbol:
            self.open(self.symbol)

    def _recent_events(self) -> list:
        """The buffer's recent events (a page opened mid-session is not empty, nor is the seam)."""
        consumer = self.ingest.buffer.register(f"symbol-{id(self)}", replay=True)
        try:
            return [ev for ev in consumer.drain() if isinstance(ev, (Pattern, Indicator, IndicatorAlert))]
        finally:
            self.ingest.buffer.unregister(consumer)

    def request(self) -> SymbolRequest:
        start, end = window(self.span)
        return SymbolRequest(self.database_url, self.symbol, start, end, self._today())

    @staticmethod
    def _today() -> date:
        return pd.Timestamp.now(tz=MARKET_TZ).date()

    async def load(self) -> None:
        """Read the open symbol's history off the server's loop and show it joined with the live
        events held meanwhile; a symbol or span asked for while it reads wins."""
        request = self._wanted
        if request is None:
            return
        self.loading = True
        self.status = f"Loading {request.symbol} ({self.span}) …"
        if self._busy:
            return
        self._busy = True
        try:
            loop = asyncio.get_running_loop()
            while True:
                outcome = await loop.run_in_executor(None, fetch_symbol, request)
                if self._wanted is None or request is self._wanted:
                    break
                request = self._wanted  # another symbol or span was asked for meanwhile
        finally:
            self._busy = False
        pn.state.execute(partial(self._apply, request, outcome), schedule=True)

    def _apply(self, request: SymbolRequest, outcome: SymbolHistory | str) -> None:
        """The history joined with the live events held meanwhile, drawn once."""
        if request is not self._wanted:
            return
        self.loading = False
        if isinstance(outcome, str):
            self.status = f"{outcome}; showing live events only"
            self._apply_live()
            return
        live = Frames.of(self._pending)
        self._pending = []
        frames = outcome.frames.joined(live)
        self._show(frames, outcome.baseline)
        ind, pat = frames.indicators, frames.patterns
        self.status = (f"{len(ind):,} indicator values, {len(pat):,} patterns, {len(frames.alerts):,} alerts "
                       f"({self.span}, history and live)")

    def _apply_live(self) -> None:
        live = Frames().joined(Frames.of(self._pending))
        self._pending = []
        self._show(live, self.baseline.iloc[:0])

    def _show(self, frames: Frames, baseline: pd.DataFrame) -> None:
        """Replace what the charts and tables show."""
        self.frames, self.baseline = frames, baseline
        self._redraw()
        self.recent.reset(recent_rows(frames.patterns))
        self._rates()

    def _redraw(self, *_) -> None:
        """Every source resent (a new symbol, a load, another zone)."""
        for name, data in chart_data(self.frames, self.zone).items():
            self.sources[name].clear()
            self.sources[name].send(data)

    def _rates(self) -> None:
        if self.symbol:
            self.rates.reset(base_rates(self.baseline, self.frames.patterns, self._today()))

    # ------------------------------------------------------------ live events

    def take(self, ev: Pattern | Indicator | IndicatorAlert) -> None:
        """A drained event: held for the next batch if it is the open symbol's."""
        self._seen.add(ev.symbol)
        if ev.symbol == self.symbol:
            self._pending.append(ev)

    def flush(self) -> int:
        """Draw the live events held since the last batch (not while history loads: they are
        joined with it); returns how many new points and markers were drawn."""
        self._offer()
        if not self._pending or self.loading or not self.symbol:
            return 0
        fresh = Frames().joined(Frames.of(self._pending)).after(self.frames)
        self._pending = []
        self.frames = self.frames.joined(fresh)
        drawn = 0
        for name, data in chart_data(fresh, self.zone, context=self.frames.indicators).items():
            if len(data):
                self.sources[name].send(data)
                drawn += len(data)
        if len(fresh.patterns):
            self.recent.push(recent_rows(fresh.patterns))
            self._rates()
        return drawn

    def _offer(self) -> None:
        """The picker lists the symbols seen live and recorded (updated when there are new ones)."""
        known = self._seen | self._recorded
        if len(known) != self._offered:
            self._offered = len(known)
            self.picker.options = sorted(known)

    # ------------------------------------------------------------ session

    def start(self) -> SymbolView:
        self._callback = pn.state.add_periodic_callback(self.flush, period=FLUSH_MS)
        if self.database_url is not None:
            pn.state.execute(self.offer_recorded)
        return self

    async def offer_recorded(self) -> None:
        """Add the recorded symbols to the picker (read on a worker thread)."""
        loop = asyncio.get_running_loop()
        try:
            symbols = await loop.run_in_executor(None, recorded_symbols, self.database_url)
        except Exception as exc:  # the database is away: the picker offers the live symbols
            log.warning("recorded symbols unavailable: %s", reason(exc))
            return
        self._recorded |= set(symbols)

    def release(self) -> None:
        """The session ended: a load still reading applies nothing, no more batches."""
        self._wanted = None
        if self._callback is not None:
            self._callback.stop()
