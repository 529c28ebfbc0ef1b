"""The page's figures: the session's status bar, the metric cards and the producer's health panel.

Each holds what it shows in params, refreshed once a second from the ingest's status; its figures
come from `cards`, and `cards.Figures` sends the browser only those that changed. Times (the
session's start, the market's next open or close, the health report's) are in the page's `zone`."""

from __future__ import annotations

import statistics
from collections import deque

import panel as pn
import param

from dashboard.web.views import cards
from dashboard.web.views.clock import EXCHANGE_ZONE

LAG_SAMPLES = 500  # most recent events whose lag the cards summarise


class StatusBar(pn.viewable.Viewer):
    """Active / idle / stopped / producer stale / redis disconnected, with session, universe and market;
    one line, small enough for a header, the full text on hover."""

    session = param.Dict(default={"status": "idle"}, doc="the session tracker's snapshot")
    zone = param.String(default=EXCHANGE_ZONE, allow_refs=True, doc="IANA zone of the times shown (Clock.zone)")

    def __init__(self, **params):
        super().__init__(**params)
        self.pane = cards.Figures(kind="bar", sizing_mode="stretch_width")
        self._show()

    @param.depends("session", "zone", watch=True)
    def _show(self) -> None:
        self.pane.show(cards.bar_figures(self.session, self.zone))

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane


class Metrics(pn.viewable.Viewer):
    """Events/s, active symbols, dedup rate, lag, the account's counts, and the events this page
    could not place."""

    status = param.Dict(default=None, allow_None=True, doc="the ingest's status: buffer, subscriber, recorder")
    lag = param.Dict(default={"p50": None, "p95": None}, doc="producer timestamp to this page, ms")
    session_dropped = param.Integer(default=0, doc="events this page's consumer lost by falling behind")
    unplaced = param.Dict(default={}, allow_refs=True, doc="events of a kind the page cannot place, by kind")

    def __init__(self, **params):
        super().__init__(**params)
        self.lags: deque[float] = deque(maxlen=LAG_SAMPLES)  # s, appended as events are placed
        self.pane = cards.Figures(kind="cards", sizing_mode="stretch_width")

    @param.depends("status", "lag", "session_dropped", "unplaced", watch=True)
    def _show(self) -> None:
        s = self.status
        self.pane.show(cards.metric_figures(s["buffer"], self.lag, s["subscriber"], self.session_dropped,
                                            s["recorder"], self.unplaced))

    def refresh(self, status: dict, session_dropped: int) -> None:
        """New figures from the ingest's status, and the lag of the latest events."""
        self.param.update(status=status, session_dropped=session_dropped, lag=self._lag())

    def _lag(self) -> dict:
        if not self.lags:
            return {"p50": None, "p95": None}
        ordered = sorted(self.lags)
        return {"p50": 1000 * statistics.median(ordered),
                "p95": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane


class HealthPanel(pn.viewable.Viewer):
    """The producer's latest health report: status colour, rates, lag, resources, issues."""

    report = param.Dict(default=None, allow_None=True, doc="the session tracker's latest health, with its age")
    zone = param.String(default=EXCHANGE_ZONE, allow_refs=True, doc="IANA zone of the report's time (Clock.zone)")

    def __init__(self, **params):
        super().__init__(**params)
        self.pane = cards.Figures(kind="health", sizing_mode="stretch_width")
        self._show()

    @param.depends("report", "zone", watch=True)
    def _show(self) -> None:
        self.pane.show(cards.health_figures(self.report, self.zone))

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane
