"""The producer's session state: which session the status bar shows, and when it is stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from dashboard.stream.session import SessionTracker
from dashboard.wire import decoding as D
from dashboard.wire.channels import Channels

CH = Channels()


def event(channel: str, payload: dict, received: float = 1_750_000_000.0):
    return D.decode(CH.suffix(channel), channel, json.dumps(payload).encode(), received)


def started(session_id: str):
    return event(CH.session_started, {"event": "session_started", "data": {"session_id": session_id}})


def stopped(session_id: str | None):
    data = {"reason": "done"} if session_id is None else {"session_id": session_id, "reason": "done"}
    return event(CH.session_stopped, {"event": "session_stopped", "data": data})


def test_when_the_shown_session_stops_another_still_open_is_shown():
    tracker = SessionTracker()
    for e in (started("first"), started("second"), stopped("second")):
        tracker.update(e)
    snap = tracker.snapshot(now=1_750_000_001.0)
    assert (snap["session_id"], snap["status"]) == ("first", "active")
    tracker.update(stopped("first"))
    snap = tracker.snapshot(now=1_750_000_001.0)
    assert (snap["session_id"], snap["status"]) == ("first", "stopped")


def test_a_stop_of_another_session_leaves_the_shown_one_alone():
    tracker = SessionTracker()
    for e in (started("first"), started("second"), stopped("first")):
        tracker.update(e)
    snap = tracker.snapshot(now=1_750_000_001.0)
    assert (snap["session_id"], snap["status"]) == ("second", "active")


def test_a_stop_that_names_no_session_stops_the_shown_one_and_is_recorded_under_its_id():
    tracker = SessionTracker()
    tracker.update(started("only"))
    stop = stopped(None)
    tracker.update(stop)
    assert stop.session_id == "only"
    assert tracker.snapshot(now=1_750_000_001.0)["status"] == "stopped"


def test_the_market_state_comes_from_the_exchange_calendar():
    thanksgiving = SessionTracker().snapshot(now=datetime(2026, 11, 26, 16, 0, tzinfo=UTC).timestamp())
    assert (thanksgiving["market_open"], thanksgiving["market_holiday"]) == (False, "Thanksgiving")
    assert thanksgiving["market"] == "closed for Thanksgiving · opens Fri 09:30 ET"
    early = SessionTracker().snapshot(now=datetime(2026, 11, 27, 17, 0, tzinfo=UTC).timestamp())
    assert early["market_open"] and early["market"] == "open until 13:00 ET (early close)"
    closing = SessionTracker().snapshot(now=datetime(2026, 11, 27, 17, 15, tzinfo=UTC).timestamp())
    assert closing["market"] == "open until 13:00 ET (early close) · closes in 45 min"
    assert closing["market_at"] == "2026-11-27T17:15:00+00:00"  # for a page to say it in its own zone


def test_the_clock_setting_moves_the_market_state_to_its_instant(monkeypatch):
    from dashboard.settings import clock_offset_s

    monkeypatch.setenv("TICKSTOCK_CLOCK", "2026-11-26T15:00:00Z")  # Thanksgiving, 10:00 in New York
    clock_offset_s.cache_clear()
    try:
        snap = SessionTracker().snapshot()
    finally:
        clock_offset_s.cache_clear()
    assert snap["market"] == "closed for Thanksgiving · opens Fri 09:30 ET"
    at = datetime.fromisoformat(snap["market_at"])
    assert abs((at - datetime(2026, 11, 26, 15, tzinfo=UTC)).total_seconds()) < 5
