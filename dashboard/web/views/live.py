"""The live page of one browser session (or notebook cell): small views, composed, fed one drain at a time.

`LiveDashboard` lays out the views (status bar, metrics, filters and pause, pattern stream,
indicator alerts, latest indicator values, health, critical alerts, charts) and places each
drained event in the view that shows its kind. When events arrive is the bridge's business
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
from dashboard.web.views.critical import CriticalAlerts
from dashboard.web.views.filters import Filters, Pause
from dashboard.web.views.rows import LIVE_ROWS, record_row
from dashboard.web.views.status import HealthPanel, Metrics, StatusBar
from dashboard.web.views.streams import AlertStream, IndicatorGrid, KindStream, PatternStream
from dashboard.wire.kinds import KINDS

log = logging.getLogger(__name__)
_ids = itertools.count(1)
LAGGED = (Pattern, IndicatorAlert)  # kinds whose producer-to-page lag the metric cards summarise
_unplaced_logged: set[str] = set()  # kinds already logged in this process (once, however many tabs)


def _name(kind: type) -> str:
    """How an unplaced kind is counted and logged: its kind name (a record's tag), else its class name."""
    return (kind_name(kind) if hasattr(kind, "__struct_config__") else None) or kind.__name__


def _read_by_the_status_bar(ev: AnyEvent) -> None:
    """Session and persistence events: the ingest's session tracker took them on its thread, and the
    status bar and metric cards read it every second."""


class LiveDashboard(pn.viewable.Viewer):
    """Session status, metrics, pattern and alert streams, indicators, health and charts."""

    unplaced = param.Dict(default={}, doc="events of a kind this page cannot place, by kind name")

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
        self.charts = Charts()
        # the tables and panes that tests, notebooks and benchmarks read
        self.pattern_table, self.alert_table = self.patterns.table, self.alerts.table
        self.indicator_table, self.critical_table = self.indicators.table, self.critical.table
        self.status_pane, self.metrics_pane, self.health_pane = self.status_bar.pane, self.metrics.pane, self.health.pane

        # where each kind of event goes: a kind missing here is counted and shown, never dropped silently
        self.handlers = {
            Pattern: self.patterns.take,
            Indicator: self.indicators.take,
            IndicatorAlert: self.alerts.take,
            CriticalAlert: self.critical.take,
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
        self._layout = self._compose()
        self.refresh_status()

    def _compose(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self.status_bar, pn.Spacer(), self.critical.notifier, sizing_mode="stretch_width"),
            self.critical,
            self.metrics,
            pn.Row(self.filters, self.pause, sizing_mode="stretch_width"),
            pn.Row(self.patterns, self.alerts, sizing_mode="stretch_width"),
            pn.Row(self.indicators,
                   pn.Column("### Producer health", self.health, "### Critical alerts", self.critical.table, width=420),
                   sizing_mode="stretch_width"),
            *[pn.Row(stream, sizing_mode="stretch_width") for stream in self.kind_streams],
            self.charts,
            pn.Row(self.patterns.export, self.alerts.export, self.indicators.export,
                   *[stream.export for stream in self.kind_streams]),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ------------------------------------------------------------ lifecycle

    def start(self, jupyter: bool = False) -> LiveDashboard:
        """Start the callbacks of a served session (or of a notebook, with `jupyter=True`)."""
        self.bridge.start(jupyter)
        return self

    def close(self) -> None:
        """Release the consumer and callbacks (the tab closed)."""
        self.bridge.close()

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
        """Status bar, metric cards, health, filter options and one throughput point."""
        status = self.ingest.status()
        session = status["session"]
        self.status_bar.session = session
        if session["health"] is not None:
            self.health.report = session["health"]
        self.patterns.count_hidden()
        self.metrics.refresh(status, self.bridge.consumer.dropped)
        second = int(time.time()) - 1
        if second > self.charts.last_second:
            self.charts.add_second(second, self.ingest.buffer.rates.counts_at(second))
        self.filters.offer_seen()
