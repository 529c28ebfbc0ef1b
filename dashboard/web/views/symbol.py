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
from datetime import date
from functools import partial
from html import escape

import holoviews as hv
import pandas as pd
import panel as pn
import param

from analytics.catalog import recorded_symbols
from analytics.events import Indicator, IndicatorAlert, Pattern
from analytics.stats import MARKET_TZ
from dashboard.stream.ingest import Ingest
from dashboard.web.views.charts import THEME_COLOURS, sans, style
from dashboard.web.views.history import BOKEH_THEMES, zone_label
from dashboard.web.views.history_frames import reason
from dashboard.web.views.reads import LatestRead
from dashboard.web.views.symbol_frames import (
    EMPTY,
    MAX_POINTS,
    RECENT_PATTERNS,
    SPANS,
    Frames,
    SymbolHistory,
    SymbolRequest,
    base_rates,
    chart_data,
    empty,
    fetch_symbol,
    recent_rows,
    window,
)
from dashboard.web.views.table import LiveTable

FLUSH_MS = 500  # live points are batched: at most two chart updates a second
RECENT_COLUMNS = [{"field": "time", "title": "Time", "kind": "time"},
                  {"field": "pattern", "title": "Pattern"},
                  {"field": "confidence", "title": "Confidence", "kind": "conf"},
                  {"field": "parameters", "title": "Key parameters", "grow": True}]
RATE_COLUMNS = [{"field": "pattern", "title": "Pattern"},
                {"field": "today", "title": "Today", "kind": "int"},
                {"field": "per_day", "title": "Per day", "kind": "num"},
                {"field": "days", "title": "Over"}]

log = logging.getLogger(__name__)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


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
        self.baseline = empty("patterns")
        self.sources = self._buffers(EMPTY)
        self.recent = LiveTable(columns=RECENT_COLUMNS, max_rows=RECENT_PATTERNS, height=220, zone=self.zone,
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
        self._read = LatestRead(fetch_symbol)  # the latest symbol and span asked for, read off the loop
        self._callback = None
        self.picker.param.watch(self._picked, "value")
        self.param.watch(self._rezone, ["zone"])
        self.param.watch(self._redraw, ["theme"])  # redrawn panels take the theme's colours
        self.param.watch(self._reopen, ["span"])
        self._layout = self._build()

    # ------------------------------------------------------------ layout

    def _build(self) -> pn.viewable.Viewable:
        close = pn.widgets.Button(name="Close ✕", width=90, button_type="light")
        close.on_click(lambda _: self.hide())
        title = self.param.symbol.rx().rx.pipe(lambda s: f"<h3 class='ts-symbol-title' data-symbol-view='{escape(s)}'>"
                                                         f"{escape(s)}</h3>")
        note = self.param.status.rx().rx.pipe(lambda s: f"<span data-symbol-status>{escape(s)}</span>")
        self.charts = charts = pn.pane.HoloViews(self._charts(), sizing_mode="stretch_width",
                                                 loading=self.param.loading,
                                                 theme=self.param.theme.rx().rx.pipe(BOKEH_THEMES.get))
        return pn.Column(
            pn.Row(pn.pane.HTML(title, margin=(0, 10)),
                   pn.widgets.Select.from_param(self.param.span, name="History", width=150),
                   pn.pane.HTML(note, sizing_mode="stretch_width"), close, sizing_mode="stretch_width"),
            charts,
            pn.FlexBox(pn.Column("#### Recent patterns", self.recent, sizing_mode="stretch_width", min_width=480),
                       pn.Column("#### Base rate (detections per trading day)", self.rates, width=420),
                       flex_wrap="wrap", sizing_mode="stretch_width"),  # side by side, or one under the other
            visible=self.param.symbol.rx().rx.pipe(bool), sizing_mode="stretch_width", name="symbol-view",
        )

    def _charts(self) -> hv.Layout:
        """Price with bands and pattern markers, RSI with its guides, MACD with its histogram: one time axis."""
        s = self.sources

        def dmap(make, name: str) -> hv.DynamicMap:
            return hv.DynamicMap(make, streams=[s[name]])

        t = hv.Dimension("t")  # its label (the zone) is set by `_style`
        def band(key: str) -> hv.DynamicMap:  # lines, not an area: an area's points are resent whole
            return dmap(lambda data: hv.Curve(data, t, hv.Dimension(key, label="price"), label="Bollinger").opts(
                color="#4c78a8", line_width=1, alpha=0.7), "BollingerBands")

        price = (band("upper") * band("lower")
                 * dmap(lambda data: hv.Curve(data, t, hv.Dimension("middle", label="price"), label="BB middle").opts(
                     color="#4c78a8", line_dash="dashed", line_width=1), "BollingerBands")
                 * dmap(lambda data: hv.Curve(data, t, hv.Dimension("value", label="price"), label="SMA").opts(
                     color="#f58518", line_width=2), "SMA")
                 * dmap(lambda data: hv.Scatter(data, t, [hv.Dimension("y", label="price"), "pattern", "confidence"],
                                                label="patterns").opts(
                     marker="circle", size=9, color="#54a24b", line_color="white", tools=["hover"]), "patterns")
                 * dmap(partial(self._alerts, "price"), "price alerts"))
        rsi = (dmap(lambda data: hv.Curve(data, t, hv.Dimension("value", label="RSI"), label="RSI").opts(
                   color="#b279a2", line_width=1.5), "RSI")
               * hv.HLine(70).opts(color="#e45756", line_dash="dotted", line_width=1)
               * hv.HLine(30).opts(color="#54a24b", line_dash="dotted", line_width=1)
               * dmap(partial(self._alerts, "RSI"), "RSI alerts"))
        macd = (dmap(lambda data: hv.Spikes(data, t, hv.Dimension("histogram", label="MACD"), label="histogram").opts(
                    color="#9d9d9d", line_width=2), "MACD")
                * dmap(lambda data: hv.Curve(data, t, hv.Dimension("macd", label="MACD"), label="MACD").opts(
                    color="#4c78a8", line_width=1.5), "MACD")
                * dmap(lambda data: hv.Curve(data, t, hv.Dimension("signal", label="MACD"), label="signal").opts(
                    color="#f58518", line_width=1.5), "MACD")
                * dmap(partial(self._alerts, "MACD"), "MACD alerts"))
        def panel(height: int, ylabel: str, bottom: bool = False, **more) -> hv.opts.Overlay:
            return hv.opts.Overlay(responsive=True, height=height, ylabel=ylabel, legend_position="top",
                                   legend_cols=6, hooks=[partial(self._style, bottom)], **more)

        return (price.opts(panel(320, "price")) + rsi.opts(panel(190, "RSI", ylim=(0, 100)))
                + macd.opts(panel(230, "MACD", bottom=True))).cols(1).opts(shared_axes=True)

    @staticmethod
    def _alerts(panel: str, data: pd.DataFrame) -> hv.Scatter:
        """A panel's alert markers. Their value dimension is the panel's own (label and all): the
        layout shares axes of equal dimensions, and one "value" on every panel gave the price panel
        the RSI's and MACD's ranges too (its axis ran from 0)."""
        return hv.Scatter(data, "t", [hv.Dimension("y", label=panel), "alert"], label="alerts").opts(
            marker="triangle", size=11, color="#e45756", tools=["hover"])

    def _style(self, bottom: bool, plot, _element) -> None:
        """A panel in the page's colours and font (as the live charts), the zone the shared time
        axis is shifted to named once, under the bottom panel."""
        fig, colours = plot.state, THEME_COLOURS[self.theme]
        style(fig, self.theme)
        sans(fig)
        for legend in fig.legend:
            legend.background_fill_color, legend.label_text_color = colours["background"], colours["text"]
            legend.border_line_alpha = 0
        fig.xaxis.axis_label = f"time ({zone_label(self.zone)})" if bottom else ""

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
        if self.database_url is None:
            self._apply_live()
            self.status = "History is off (no database): showing live events only"
            return
        self.loading = True  # the charts are drawn once, with the history (`_apply`)
        self._read.wanted = self.request()
        pn.state.execute(self.load)

    def hide(self) -> None:
        """Close the view (its charts are emptied; live events of no symbol are held)."""
        self._read.wanted = None
        self.symbol = ""
        self.picker.value = ""
        self._pending = []
        self.loading = False
        self._show(Frames(), empty("patterns"))

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
        request = self._read.wanted
        if request is None:
            return
        self.loading = True
        self.status = f"Loading {request.symbol} ({self.span}) …"
        if (read := await self._read.run()) is not None:
            pn.state.execute(partial(self._apply, *read), schedule=True)

    def _apply(self, request: SymbolRequest, outcome: SymbolHistory | str) -> None:
        """The history joined with the live events held meanwhile, drawn once."""
        if request is not self._read.wanted:
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
        counts = ", ".join(_count(n, what) for n, what in ((len(ind), "indicator value"), (len(pat), "pattern"),
                                                            (len(frames.alerts), "alert")))
        self.status = f"{counts} ({self.span}, history and live)"

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

    @staticmethod
    def _buffers(data: dict[str, pd.DataFrame]) -> dict[str, hv.streams.Buffer]:
        return {name: hv.streams.Buffer(frame, length=MAX_POINTS, index=False) for name, frame in data.items()}

    def _redraw(self, *_) -> None:
        """Every series anew (a new symbol, a load, another zone or theme): new sources holding it,
        and the charts built once over them (while a symbol is open). Clearing and refilling each
        source instead re-rendered a whole panel per event: 16 to 64 events, 2-8 s of the server's
        time, to open a symbol; built once it is about 1 s."""
        self.sources = self._buffers(chart_data(self.frames, self.zone))
        if self.symbol:
            self.charts.object = self._charts()

    def _rezone(self, *_) -> None:
        self.recent.zone = self.zone
        self._redraw()

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
        self._read.wanted = None
        if self._callback is not None:
            self._callback.stop()
