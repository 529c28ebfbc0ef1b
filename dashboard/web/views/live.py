"""The live page of one browser session (or notebook cell): small views, composed, fed one drain at a time.

`LiveDashboard` makes the views and places each drained event in the view that shows its kind.
It lays them out in three parts that a page template places (app.py): `header` (session status,
clock), `sidebar` (filters, pause, desktop alerts, time zone, symbol picker, shortcuts) and `main`
(the symbol view when one is open, critical alerts, metrics, the streams, health, charts); shown on
its own (a notebook) it stacks them. It also carries the page's zone (the clock's) and theme to
every view that shows a time or a chart. When events arrive is the bridge's business
(`bridge.DocumentBridge`); what a view shows is the view's.

Minimum confidence. The buffer filters patterns below STREAMING_PATTERN_MIN_CONFIDENCE before
any session sees them, so a session could raise that threshold but never lower it. Each session
therefore reads the buffer with `mode="with_filtered"`: it also receives the patterns the buffer
filtered, and applies its own "Min confidence" slider, which starts at the setting. Lowering the
slider shows them (the ones received since the page opened, and every new one); raising it hides
more. The buffer's account is unchanged: a pattern below the setting still counts as "filtered"
there (recorded, not live), whatever a page then shows; beside its slider each page says how
many of the patterns it keeps the slider hides. A page opened mid-session starts with the
recent live stream only (patterns at or above the setting).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter

import panel as pn
import param

from analytics.events import (
    AnyEvent,
    CriticalAlert,
    Health,
    Indicator,
    IndicatorAlert,
    Pattern,
    Persistence,
    SessionStarted,
    SessionStopped,
    kind_name,
)
from dashboard.stream.ingest import Ingest
from dashboard.web.views.bridge import DocumentBridge
from dashboard.web.views.charts import Charts
from dashboard.web.views.clock import Clock
from dashboard.web.views.critical import CriticalAlerts
from dashboard.web.views.filters import Filters, Pause
from dashboard.web.views.keys import Shortcuts
from dashboard.web.views.rows import LIVE_ROWS, record_row
from dashboard.web.views.status import HealthPanel, Metrics, StatusBar
from dashboard.web.views.streams import AlertStream, IndicatorGrid, KindStream, PatternStream
from dashboard.web.views.symbol import SymbolView
from dashboard.wire.kinds import KINDS

log = logging.getLogger(__name__)
_ids = itertools.count(1)
# a table needs this much to show its columns whole (the indicator grid ~720 px, patterns with their key
# parameters more): at 1600 px with the sidebar open, 520 px each cut "Updated (ET)" and the parameters
SIDE_MIN_PX = 720
LAGGED = (Pattern, IndicatorAlert)  # kinds whose producer-to-page lag the metric cards summarise
SIDEBAR_WIDTH = 280  # px, the template's sidebar (the toasts take its width too: toasts.css)
_unplaced_logged: set[str] = set()  # kinds already logged in this process (once, however many tabs)


def _name(kind: type) -> str:
    """How an unplaced kind is counted and logged: its kind name (a record's tag), else its class name."""
    return (kind_name(kind) if hasattr(kind, "__struct_config__") else None) or kind.__name__


def _read_by_the_status_bar(ev: AnyEvent) -> None:
    """Session and persistence events: the ingest's session tracker took them on its thread, and the
    status bar and metric cards read it every second."""


class LiveDashboard(pn.viewable.Viewer):
    """Session status, metrics, pattern and alert streams, indicators, health, charts and a symbol view."""

    unplaced = param.Dict(default={}, doc="events of a kind this page cannot place, by kind name")
    theme = param.Selector(default="light", objects=["light", "dark"], doc="the page's theme (charts follow it)")

    def __init__(self, ingest: Ingest, **params):
        super().__init__(**params)
        settings = ingest.settings
        self.ingest = ingest
        self.settings = settings
        self.session_id = next(_ids)
        self.opened_at = time.time()  # events received earlier are replays: no lag sample
        history = settings.max_history_size

        self.filters = Filters(min_confidence=settings.pattern_min_confidence)
        self.pause = Pause()
        self.patterns = PatternStream(self.filters, max_rows=history, floor=ingest.buffer.min_confidence)
        self.alerts = AlertStream(self.filters, max_rows=history)
        self.indicators = IndicatorGrid(self.filters)
        self.critical = CriticalAlerts(notifications=settings.alert_notifications)
        self.status_bar = StatusBar()
        self.filters.hidden = self.patterns.param.hidden  # the slider's note counts what it hides
        self.metrics = Metrics(unplaced=self.param.unplaced)
        self.health = HealthPanel()
        self.clock = Clock()
        self.charts = Charts(theme=self.theme)
        self.symbol_view = SymbolView(ingest, settings.database_url, theme=self.theme)
        self.shortcuts = Shortcuts({"pause": self._toggle_pause, "close": self.symbol_view.hide})
        # the tables and panes that tests, notebooks and benchmarks read
        self.pattern_table, self.alert_table = self.patterns.table, self.alerts.table
        self.indicator_table, self.critical_table = self.indicators.table, self.critical.table
        self.status_pane, self.metrics_pane, self.health_pane = self.status_bar.pane, self.metrics.pane, self.health.pane

        # where each kind of event goes: a kind missing here is counted and shown, never dropped silently
        # (patterns, indicators and indicator alerts go to the symbol view too)
        self.handlers = {
            Pattern: self._to(self.patterns.take),
            Indicator: self._to(self.indicators.take),
            IndicatorAlert: self._to(self.alerts.take),
            CriticalAlert: self._critical,
            Health: self.charts.add_health,
            SessionStarted: _read_by_the_status_bar,
            SessionStopped: _read_by_the_status_bar,
            Persistence: _read_by_the_status_bar,
        }
        # a kind the registry shows as rows but this page has no view for gets a table of its own
        placeless = [k for k in KINDS if k.live == "rows" and k.record not in self.handlers]
        self.kind_streams = [KindStream(self.filters, k.name, k.record, LIVE_ROWS.get(k.name, record_row),
                                        max_rows=history) for k in placeless]
        self.handlers.update({k.record: s.take for k, s in zip(placeless, self.kind_streams, strict=True)})
        # with_filtered: patterns under the buffer's threshold too (the module's docstring says why)
        self.bridge = DocumentBridge(ingest.buffer, f"session-{self.session_id}", self.dispatch, self.refresh_status,
                                     mode="with_filtered")
        self.filters.param.watch(self._refilter, ["symbols", "pattern_types", "min_confidence"])
        self.pause.param.watch(self._pause_changed, "paused")
        for table in self.tables:  # a symbol clicked in any table opens it
            table.param.watch(self._picked, "picked")
        self.clock.param.watch(self._zone_changed, ["zone", "label"])
        self.symbol_view.param.watch(self._symbol_opened, "symbol")
        self._zone_changed()
        self._symbol_slot = pn.Column(sizing_mode="stretch_width")  # the symbol view, once a symbol is opened
        self.header, self.sidebar, self.main = self._header(), self._sidebar(), self._main()
        self.refresh_status()

    @property
    def tables(self) -> list:
        """Every live table of the page (they all show times in the page's zone)."""
        return [self.pattern_table, self.alert_table, self.indicator_table, self.critical_table,
                *[stream.table for stream in self.kind_streams]]

    def _critical(self, ev: CriticalAlert) -> None:
        """A critical alert; one the page opened with (the recent stream) raises no toast."""
        self.critical.take(ev, news=ev.received >= self.opened_at)

    def _to(self, take):
        """A handler that also hands the event to the symbol view (it keeps only the open symbol's)."""
        symbol_take = self.symbol_view.take

        def both(ev: AnyEvent) -> None:
            take(ev)
            symbol_take(ev)
        return both

    # ------------------------------------------------------------ layout

    def _header(self) -> list[pn.viewable.Viewable]:
        return [self.status_bar, self.clock.face]

    def _sidebar(self) -> pn.viewable.Viewable:
        """The controls, one under another, each as wide as the sidebar, aligned on its margin."""
        self.symbol_view.picker.param.update(width=None, sizing_mode="stretch_width")
        self.critical.notifier.margin = self.shortcuts.margin = (8, 10)
        return pn.Column(self.filters, self.pause, self.critical.notifier, self.clock.picker,
                         self.symbol_view.picker, self.shortcuts, sizing_mode="stretch_width")

    def _main(self) -> pn.viewable.Viewable:
        """The page's content; two views side by side where both fit (each at least SIDE_MIN_PX), else stacked."""
        def side_by_side(*views):
            return pn.FlexBox(*[pn.Column(view, sizing_mode="stretch_width",
                                          styles={"flex": f"1 1 {SIDE_MIN_PX}px", "min-width": "0"})
                                for view in views], flex_wrap="wrap", gap="0 10px", sizing_mode="stretch_width")

        side = pn.Column("### Critical alerts", self.critical.table, "### Producer health", self.health,
                         sizing_mode="stretch_width")  # the alerts first: what a trader must see
        return pn.Column(
            self._symbol_slot,
            self.critical,
            self.metrics,
            side_by_side(self.patterns, self.alerts),
            side_by_side(self.indicators, side),
            *[stream for stream in self.kind_streams],
            self.charts,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """On its own (a notebook): the header, then the sidebar beside the content."""
        return pn.Column(pn.Row(*self.header, sizing_mode="stretch_width"),
                         pn.Row(pn.Column(self.sidebar, width=SIDEBAR_WIDTH), self.main, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")

    # ------------------------------------------------------------ zone, theme, symbol

    def _zone_changed(self, *_) -> None:
        """The clock's zone to every time on the page: tables, charts, the symbol view."""
        zone, label = self.clock.zone, self.clock.label
        for table in self.tables:
            table.zone = zone
        self.charts.param.update(zone=zone, label=label)
        self.symbol_view.zone = zone
        self.status_bar.zone = self.health.zone = zone

    @param.depends("theme", watch=True)
    def _theme_changed(self) -> None:
        self.charts.theme = self.symbol_view.theme = self.theme

    def _symbol_opened(self, event: param.parameterized.Event) -> None:
        """The symbol view joins the page when a symbol is first opened: until then the page does not
        draw its charts at all (it hides itself when closed)."""
        if event.new and not self._symbol_slot.objects:
            self._symbol_slot.objects = [self.symbol_view]

    def _picked(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.symbol_view.open(event.new)

    def _toggle_pause(self) -> None:
        self.pause.paused = not self.pause.paused

    # ------------------------------------------------------------ lifecycle

    def start(self, jupyter: bool = False) -> LiveDashboard:
        """Start the callbacks of a served session (or of a notebook, with `jupyter=True`)."""
        self.bridge.start(jupyter)
        self.symbol_view.start()
        return self

    def close(self) -> None:
        """Release the consumer and callbacks (the tab closed)."""
        self.bridge.close()
        self.symbol_view.release()

    @property
    def closed(self) -> bool:
        return self.bridge.closed

    # ------------------------------------------------------------ events in

    def drain(self, urgent_only: bool = False) -> int:
        """Place this session's new events in its views; returns how many there were.

        With `urgent_only`, buffered events (patterns, indicators, indicator alerts) are held for
        the next drain, which takes them first."""
        return self.bridge.drain(urgent_only)

    def dispatch(self, events: list[AnyEvent]) -> None:
        """Each event to the view of its kind, then the shown rows to the browser (unless paused)."""
        handlers, lags, opened = self.handlers, self.metrics.lags, self.opened_at
        now = time.time()
        unplaced = None
        for ev in events:
            kind = type(ev)
            handler = handlers.get(kind)
            if handler is None:
                unplaced = unplaced or Counter()
                unplaced[_name(kind)] += 1
                continue
            handler(ev)
            if kind in LAGGED and ev.received >= opened:
                lags.append(now - ev.ts.timestamp())
        paused = self.pause.paused
        shown = self.patterns.publish(paused) + self.alerts.publish(paused) + self.indicators.publish(paused) \
            + sum(stream.publish(paused) for stream in self.kind_streams)
        if paused and shown:
            self.pause.missed += shown
        if unplaced:
            self._count_unplaced(unplaced)

    def _count_unplaced(self, kinds: Counter) -> None:
        for name in kinds:
            if name not in _unplaced_logged:
                _unplaced_logged.add(name)
                log.warning("the live page has no place for events of kind %r: they are counted on the page "
                            "('unplaced') and not shown", name)
        self.unplaced = dict(Counter(self.unplaced) + kinds)

    # ------------------------------------------------------------ filters and pause

    def _refilter(self, *_) -> None:
        if not self.pause.paused:
            self._redraw()

    def _pause_changed(self, *_) -> None:
        if not self.pause.paused:  # resume: catch up with everything that arrived meanwhile
            self._redraw()
            self.pause.missed = 0

    def _redraw(self) -> None:
        for view in (self.patterns, self.alerts, self.indicators, *self.kind_streams):
            view.redraw()

    # ------------------------------------------------------------ once a second

    def refresh_status(self) -> None:
        """Status bar, metric cards, health, filter options, a waiting toast and one throughput point."""
        status = self.ingest.status()
        session = status["session"]
        self.status_bar.session = session
        if session["health"] is not None:
            self.health.report = session["health"]
        self.patterns.count_hidden()
        self.critical.tick()
        self.metrics.refresh(status, self.bridge.consumer.dropped)
        second = int(time.time()) - 1
        if second > self.charts.last_second:
            self.charts.add_second(second, self.ingest.buffer.rates.counts_at(second))
        self.filters.offer_seen()
