"""The live page of one browser session (or notebook cell): its own filters, its own pace.

New events reach the session through its buffer consumer: the ingest thread asks the session's
document for a next-tick callback whenever a flush (or a critical alert) lands, so rows appear
one flush after they were published; a one-second periodic callback refreshes status, metrics
and the throughput chart. In Jupyter, where there is no server document, a periodic callback
at the flush interval drains instead.
"""

from __future__ import annotations

import io
import itertools
import statistics
import time
from collections import deque
from html import escape

import panel as pn
import param
from panel.io.state import set_curdoc

from analytics.events import (
    CriticalAlert,
    Health,
    Indicator,
    IndicatorAlert,
    Pattern,
)
from dashboard.stream.buffer import BUFFERED  # the kinds that wait for a flush
from dashboard.stream.ingest import Ingest
from dashboard.web.views import cards
from dashboard.web.views.charts import (
    HEALTH_ROLLOVER,
    HEALTH_SERIES,
    THROUGHPUT_ROLLOVER,
    THROUGHPUT_SERIES,
    health_chart,
    legend,
    throughput_chart,
)
from dashboard.web.views.notify import DesktopNotifier
from dashboard.web.views.rows import (
    ALERT_COLUMNS,
    INDICATOR_COLUMNS,
    PATTERN_COLUMNS,
    alert_row,
    critical_text,
    indicator_row,
    pattern_row,
)
from dashboard.web.views.table import LiveTable

_ids = itertools.count(1)
LAG_SAMPLES = 500
DRAIN_SPACING_S = 0.1  # s between two drains of buffered rows into the tables (at most 10 updates/s)
MAX_TOASTS = 3  # a burst of critical alerts shows the latest few; the banner and table keep up


class LiveDashboard(pn.viewable.Viewer):
    """Session status, metrics, pattern and alert streams, indicators, health and charts."""

    symbols = param.List(default=[], doc="show only these symbols (empty: all)")
    pattern_types = param.List(default=[], doc="show only these patterns (empty: all)")
    min_confidence = param.Number(default=0.7, bounds=(0.0, 1.0), doc="hide patterns below this")
    paused = param.Boolean(default=False, doc="freeze the view; events keep arriving underneath")
    missed_while_paused = param.Integer(default=0, doc="events that arrived during the pause")

    def __init__(self, ingest: Ingest, **params):
        settings = ingest.settings
        params.setdefault("min_confidence", settings.pattern_min_confidence)
        super().__init__(**params)
        self.ingest = ingest
        self.settings = settings
        self.session_id = next(_ids)
        self.opened_at = time.time()  # events received earlier are replays: no lag sample
        history = settings.max_history_size
        self._patterns: deque[dict] = deque(maxlen=history)
        self._alerts: deque[dict] = deque(maxlen=history)
        self._indicators: dict[str, dict] = {}
        self._lags: deque[float] = deque(maxlen=LAG_SAMPLES)
        self._seen_symbols: set[str] = set()
        self._seen_patterns: set[str] = set()
        self._last_second = 0
        self._doc = None
        self._scheduled = False
        self._urgent = False
        self._last_drain = 0.0
        self._callbacks: list = []
        self.closed = False
        self.criticals = 0
        self._toasts: deque = deque()
        self._held: list = []  # buffered events an urgent drain left for the paced one

        self.pattern_table = LiveTable(columns=PATTERN_COLUMNS, max_rows=history, name="patterns",
                                       height=420, sizing_mode="stretch_width")
        self.alert_table = LiveTable(columns=ALERT_COLUMNS, max_rows=history, name="alerts",
                                     height=420, sizing_mode="stretch_width")
        self.indicator_table = LiveTable(columns=INDICATOR_COLUMNS, key="symbol", max_rows=5000,
                                         name="indicators", height=300, sizing_mode="stretch_width")
        self.critical_table = LiveTable(columns=[{"field": "time", "title": "Time", "kind": "time", "width": "8.5em"},
                                                 {"field": "alert_type", "title": "Type"},
                                                 {"field": "severity", "title": "Severity"},
                                                 {"field": "message", "title": "Message"}],
                                        max_rows=200, name="critical", height=160, sizing_mode="stretch_width",
                                        placeholder="No critical alerts")
        self.status_pane = pn.pane.HTML("", stylesheets=[cards.CSS], sizing_mode="stretch_width")
        self.metrics_pane = pn.pane.HTML("", stylesheets=[cards.CSS], sizing_mode="stretch_width")
        self.health_pane = pn.pane.HTML(cards.health_panel(None), stylesheets=[cards.CSS], width=380)
        self.banner = pn.pane.HTML("", visible=False, sizing_mode="stretch_width", stylesheets=[cards.CSS])
        self.notifier = DesktopNotifier(enabled=settings.alert_notifications)
        self.throughput_fig, self.throughput_source = throughput_chart()
        self.health_fig, self.health_source = health_chart()
        self._consumer = ingest.buffer.register(f"session-{self.session_id}", on_ready=self._on_ready,
                                                replay=True)
        self._layout = self._build_layout()
        self.refresh_status()

    # ------------------------------------------------------------ layout

    def _build_layout(self) -> pn.viewable.Viewable:
        symbol_filter = pn.widgets.MultiChoice.from_param(self.param.symbols, name="Symbols", options=[],
                                                          placeholder="all symbols", width=260)
        type_filter = pn.widgets.MultiChoice.from_param(self.param.pattern_types, name="Patterns", options=[],
                                                        placeholder="all patterns", width=260)
        self._symbol_filter, self._type_filter = symbol_filter, type_filter
        confidence = pn.widgets.FloatSlider.from_param(self.param.min_confidence, name="Min confidence",
                                                       step=0.05, width=200)
        pause = pn.widgets.Toggle.from_param(self.param.paused, name="Pause", button_type="warning", width=110)
        self._pause_button = pause
        dismiss = pn.widgets.Button(name="Dismiss", button_type="light", width=90)
        dismiss.on_click(lambda _: self.banner.param.update(visible=False))
        self._dismiss = dismiss
        paused_note = pn.pane.HTML(self.param.missed_while_paused.rx().rx.pipe(
            lambda n: f"<b>Paused</b>: {n} new events waiting" if n else ""), visible=self.param.paused)
        downloads = pn.Row(*(self._csv_button(t, label) for t, label in (
            (self.pattern_table, "patterns"), (self.alert_table, "alerts"), (self.indicator_table, "indicators"))))
        return pn.Column(
            pn.Row(self.status_pane, pn.Spacer(), self.notifier, sizing_mode="stretch_width"),
            pn.Row(self.banner, dismiss, visible=self.banner.param.visible, sizing_mode="stretch_width"),
            self.metrics_pane,
            pn.Row(symbol_filter, type_filter, confidence, pause, paused_note, sizing_mode="stretch_width"),
            pn.Row(
                pn.Column("### Pattern stream", self.pattern_table, sizing_mode="stretch_width"),
                pn.Column("### Indicator alerts", self.alert_table, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            pn.Row(
                pn.Column("### Latest indicator values", self.indicator_table, sizing_mode="stretch_width"),
                pn.Column("### Producer health", self.health_pane, "### Critical alerts", self.critical_table,
                          width=420),
                sizing_mode="stretch_width",
            ),
            pn.Row(pn.Column(pn.pane.Bokeh(self.throughput_fig, sizing_mode="stretch_width"),
                             pn.pane.HTML(legend(THROUGHPUT_SERIES)), sizing_mode="stretch_width"),
                   pn.Column(pn.pane.Bokeh(self.health_fig, sizing_mode="stretch_width"),
                             pn.pane.HTML(legend(HEALTH_SERIES)), sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            downloads,
            sizing_mode="stretch_width",
        )

    def _csv_button(self, table: LiveTable, label: str) -> pn.widgets.FileDownload:
        def frame():
            return io.StringIO(table.to_frame().to_csv(index=False))
        return pn.widgets.FileDownload(callback=frame, filename=f"tickstock-{label}.csv",
                                       label=f"Export {label} (CSV)", button_type="primary", width=200)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ------------------------------------------------------------ lifecycle

    def start(self, jupyter: bool = False) -> LiveDashboard:
        """Start the callbacks of a served session (or of a notebook, with `jupyter=True`)."""
        doc = pn.state.curdoc
        if not jupyter and doc is not None and doc.session_context is not None:
            self._doc = doc
            self._on_ready(False)  # the recent stream the consumer starts with, shown without waiting for news
        else:  # no server document to call back into: poll at the flush interval
            interval = max(50, int(self.settings.buffer_interval_ms))
            self._callbacks.append(pn.state.add_periodic_callback(self.drain, period=interval))
        self._callbacks.append(pn.state.add_periodic_callback(self.refresh_status, period=1000))
        return self

    def close(self) -> None:
        """Release the consumer and callbacks (the tab closed)."""
        if self.closed:
            return
        self.closed = True
        self.ingest.buffer.unregister(self._consumer)
        for cb in self._callbacks:
            cb.stop()
        self._callbacks.clear()

    def _on_ready(self, urgent: bool) -> None:
        """Called from the ingest thread: ask this session's document to drain on a coming tick.

        A critical alert is drained on the next tick; other events at most every
        DRAIN_SPACING_S, so bursts of early flushes under load do not make the page repaint
        its tables more than ten times a second."""
        doc = self._doc
        if doc is None or self.closed:
            return
        try:
            if urgent and not self._urgent:
                self._urgent = True
                doc.add_next_tick_callback(self._drain_urgent)
            elif not urgent and not self._scheduled:
                self._scheduled = True
                doc.add_next_tick_callback(self._drain_paced)
        except Exception:  # the document is gone: the session is closing
            self._scheduled = self._urgent = False

    def _drain_urgent(self) -> None:
        """Critical alerts and state events only: buffered rows wait for the paced drain, so the
        alert's messages leave in a short callback and the tables keep their own pace."""
        self._urgent = False
        with set_curdoc(self._doc):
            self.drain(urgent_only=True)
        if self._held and not self._scheduled and not self.closed:
            self._scheduled = True
            self._doc.add_next_tick_callback(self._drain_paced)

    def _drain_paced(self) -> None:
        wait = self._last_drain + min(DRAIN_SPACING_S, self.settings.buffer_interval) - time.monotonic()
        if wait > 0 and not self.closed:
            self._doc.add_timeout_callback(self._drain_paced, int(wait * 1000) + 1)
            return
        self._scheduled = False
        self._drain_in_doc()

    def _drain_in_doc(self) -> None:
        self._last_drain = time.monotonic()
        with set_curdoc(self._doc):
            self.drain()

    # ------------------------------------------------------------ events in

    def _shown(self, row: dict) -> bool:
        if self.symbols and row["symbol"] not in self.symbols:
            return False
        if "pattern" in row:
            if self.pattern_types and row["pattern"] not in self.pattern_types:
                return False
            if row["confidence"] < self.min_confidence:
                return False
        return True

    def drain(self, urgent_only: bool = False) -> int:
        """Take this session's new events into its tables; returns how many there were.

        With `urgent_only`, buffered events (patterns, indicators, indicator alerts) are held for
        the next drain, which takes them first."""
        events = self._consumer.drain()
        if self._held:
            events, self._held = self._held + events, []
        if urgent_only:
            self._held = [ev for ev in events if type(ev) in BUFFERED]
            events = [ev for ev in events if type(ev) not in BUFFERED]
        if not events:
            return 0
        now = time.time()
        patterns, alerts, indicators = [], [], {}
        for ev in events:
            kind = type(ev)
            if kind is Pattern:
                row = pattern_row(ev)
                self._patterns.append(row)
                self._seen_symbols.add(ev.symbol)
                self._seen_patterns.add(ev.pattern)
                if ev.received >= self.opened_at:
                    self._lags.append(now - ev.ts.timestamp())
                if self._shown(row):
                    patterns.append(row)
            elif kind is Indicator:
                row = indicator_row(self._indicators.get(ev.symbol), ev)
                self._indicators[ev.symbol] = indicators[ev.symbol] = row
                self._seen_symbols.add(ev.symbol)
            elif kind is IndicatorAlert:
                row = alert_row(ev)
                self._alerts.append(row)
                if ev.received >= self.opened_at:
                    self._lags.append(now - ev.ts.timestamp())
                if self._shown(row):
                    alerts.append(row)
            elif kind is CriticalAlert:
                self._critical(ev)
            elif kind is Health:
                self._health(ev)
        if self.paused:
            self.missed_while_paused += len(patterns) + len(alerts) + len(indicators)
            return len(events)
        self.pattern_table.push(patterns)
        self.alert_table.push(alerts)
        self.indicator_table.push([r for s, r in indicators.items() if not self.symbols or s in self.symbols])
        return len(events)

    def _critical(self, ev: CriticalAlert) -> None:
        """Critical alerts show at once, paused or not: banner, toast, desktop notification."""
        self.criticals += 1
        text = critical_text(ev)
        self.critical_table.push([{"time": ev.ts.timestamp() * 1000, "alert_type": ev.alert_type,
                                   "severity": ev.severity, "message": ev.message}])
        self.banner.object = (f'<div class="ts-banner" role="alert"><b>Critical alert</b> · '
                              f'{escape(ev.severity)} · {escape(text)}</div>')
        self.banner.visible = True
        notifications = pn.state.notifications
        if notifications is not None:
            self._toasts.append(notifications.error(escape(text), duration=10_000))
            while len(self._toasts) > MAX_TOASTS:
                self._toasts.popleft().destroy()
        if self.settings.alert_notifications:
            self.notifier.notify(f"TickStock: {ev.alert_type}", ev.message or ev.alert_type, tag=ev.alert_type)

    def _health(self, ev: Health) -> None:
        self.health_source.stream({"t": [ev.ts.timestamp() * 1000], "cpu": [ev.cpu_percent],
                                   "memory": [ev.memory_percent], "lag": [ev.processing_lag_ms]},
                                  rollover=HEALTH_ROLLOVER)
        lag_max = max((v for v in self.health_source.data["lag"] if v is not None), default=0)
        self.health_fig.extra_y_ranges["lag"].end = max(1000, lag_max * 1.2)

    # ------------------------------------------------------------ filters and pause

    @param.depends("symbols", "pattern_types", "min_confidence", watch=True)
    def _refilter(self) -> None:
        if not self.paused:
            self._redraw()

    @param.depends("paused", watch=True)
    def _pause_changed(self) -> None:
        self._pause_button.name = "Resume" if self.paused else "Pause"
        if not self.paused:  # resume: catch up with everything that arrived meanwhile
            self._redraw()
            self.missed_while_paused = 0

    def _redraw(self) -> None:
        self.pattern_table.reset(r for r in self._patterns if self._shown(r))
        self.alert_table.reset(r for r in self._alerts if self._shown(r))
        self.indicator_table.reset(r for s, r in self._indicators.items() if not self.symbols or s in self.symbols)

    # ------------------------------------------------------------ once a second

    def lag(self) -> dict:
        """Producer timestamp to display, in ms, over the last events."""
        if not self._lags:
            return {"p50": None, "p95": None}
        ordered = sorted(self._lags)
        return {"p50": 1000 * statistics.median(ordered),
                "p95": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}

    def refresh_status(self) -> None:
        """Status bar, metric cards, health age, filter options and one throughput point."""
        status = self.ingest.status()
        html = cards.status_bar(status["session"])
        if html != self.status_pane.object:
            self.status_pane.object = html
        self.metrics_pane.object = cards.metric_cards(status["buffer"], self.lag(), status["subscriber"],
                                                      self._consumer.dropped, status["recorder"])
        health = status["session"]["health"]
        if health is not None:
            self.health_pane.object = cards.health_panel(health)
        second = int(time.time()) - 1
        if second > self._last_second:
            counts = self.ingest.buffer.rates.counts_at(second)
            self.throughput_source.stream({"t": [second * 1000], **{k: [counts.get(k, 0)] for k, _ in
                                                                      THROUGHPUT_SERIES}},
                                          rollover=THROUGHPUT_ROLLOVER)
            self._last_second = second
        self._refresh_options()

    def _refresh_options(self) -> None:
        """Offer every symbol and pattern seen so far in the filters.

        Bokeh's MultiChoice renders option labels as HTML (Choices.js with allowHTML), so the
        labels are escaped copies of the values."""
        if len(self._seen_symbols) != len(self._symbol_filter.options):
            self._symbol_filter.options = {escape(s): s for s in sorted(self._seen_symbols)}
        if len(self._seen_patterns) != len(self._type_filter.options):
            self._type_filter.options = {escape(s): s for s in sorted(self._seen_patterns)}
