"""What the producer is doing: the current session, its latest health, and whether it is stale."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import msgspec

from analytics.calendar import market_state
from analytics.events import ENVELOPE, AnyEvent, Health, SessionStarted, SessionStopped
from dashboard import constants as C
from dashboard.settings import clock_offset_s


class SessionTracker:
    """Folds session and health events into the state the status bar and /status show."""

    def __init__(self, health_interval_s: float = C.DEFAULT_HEALTH_CHECK_INTERVAL_S):
        self.health_interval_s = health_interval_s
        self.started: SessionStarted | None = None  # the session shown
        self.stopped: SessionStopped | None = None  # its stop, once it stopped
        self._open: dict[str, SessionStarted] = {}  # every session started and not yet stopped
        self.health: Health | None = None
        self.health_received: float | None = None  # epoch seconds
        self.last_event_received: float | None = None

    def update(self, event: AnyEvent) -> None:
        kind = type(event)
        if kind is SessionStarted:
            self._open.pop(event.session_id, None)
            self._open[event.session_id] = event
            self.started, self.stopped = event, None
        elif kind is SessionStopped:
            if event.session_id is None and self.started is not None:
                event.session_id = self.started.session_id  # a stop that names no session stops this one
            self._open.pop(event.session_id, None)
            if self.started is None or self.started.session_id == event.session_id:
                if self._open:  # another producer's session goes on: show the latest still open
                    self.started, self.stopped = next(reversed(self._open.values())), None
                else:
                    self.stopped = event
        elif kind is Health:
            self.health, self.health_received = event, event.received
        self.last_event_received = event.received

    def status(self, now: float | None = None, redis_state: str = "connected") -> str:
        """One of: redis disconnected, producer stale, active, stopped, idle."""
        now = time.time() if now is None else now
        if redis_state != "connected":
            return "redis disconnected"
        if self.started is not None and self.stopped is None:
            heard = self.health_received or self.started.received
            if now - heard > self.health_interval_s:
                return "producer stale"
            return "active"
        if self.stopped is not None:
            return "stopped"
        return "idle"

    def snapshot(self, now: float | None = None, redis_state: str = "connected") -> dict:
        now = time.time() if now is None else now
        s, h = self.started, self.health
        return {
            "status": self.status(now, redis_state),
            "session_id": s.session_id if s else None,
            "universe": s.universe if s else None,
            "started_at": s.started_at.isoformat() if s else None,
            "trigger_type": s.trigger_type if s else None,
            "details": s.details if s else {},
            "stopped_at": self.stopped.stopped_at.isoformat() if self.stopped else None,
            "stop_reason": self.stopped.reason if self.stopped else None,
            **_market(now),
            "health": None if h is None else {  # every figure of the report, when and how long ago
                **{name: value for name, value in msgspec.structs.asdict(h).items() if name not in ENVELOPE},
                "reported_at": h.ts.isoformat(), "age_s": round(now - (self.health_received or now), 1),
            },
        }


def _market(now: float) -> dict:
    """The exchange's state from its calendar (holidays, early closes, daylight saving), at the
    page's clock (TICKSTOCK_CLOCK may set it); `market_at` is that instant, for a page to say the
    same state in its own zone."""
    at = datetime.fromtimestamp(now + clock_offset_s(), UTC)
    state = market_state(at)
    return {"market_open": state.is_open, "market": state.label(), "market_phase": state.phase,
            "market_holiday": state.holiday, "market_early_close": state.early_close, "market_at": at.isoformat()}
