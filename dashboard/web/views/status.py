"""The page's figures: the session's status bar, the metric cards and the producer's health panel.

Each holds what it shows in params, refreshed once a second from the ingest's status; the HTML
comes from `cards` (every value escaped)."""

from __future__ import annotations

import statistics
from collections import deque

import panel as pn
import param

from dashboard.web.views import cards

LAG_SAMPLES = 500  # most recent events whose lag the cards summarise


class StatusBar(pn.viewable.Viewer):
    """Active / idle / stopped / producer stale / redis disconnected, with session, universe and market."""

    session = param.Dict(default={"status": "idle"}, doc="the session tracker's snapshot")

    def __init__(self, **params):
        super().__init__(**params)
        self.pane = pn.pane.HTML(pn.bind(cards.status_bar, self.param.session), stylesheets=[cards.CSS],
                                 sizing_mode="stretch_width")

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
        self.pane = pn.pane.HTML(self._html, stylesheets=[cards.CSS], sizing_mode="stretch_width")

    @param.depends("status", "lag", "session_dropped", "unplaced")
    def _html(self) -> str:
        if self.status is None:
            return ""
        s = self.status
        return cards.metric_cards(s["buffer"], self.lag, s["subscriber"], self.session_dropped, s["recorder"],
                                  self.unplaced)

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

    def __init__(self, **params):
        super().__init__(**params)
        self.pane = pn.pane.HTML(pn.bind(cards.health_panel, self.param.report), stylesheets=[cards.CSS],
                                 width=380)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane
