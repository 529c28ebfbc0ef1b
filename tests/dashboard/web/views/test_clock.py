"""The page's clock and its figures, each by its own state: times in a zone, the choice, the deltas sent."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.stream.session import SessionTracker
from dashboard.web.views.cards import bar_figures, delta, health_figures, metric_figures
from dashboard.web.views.clock import Clock, iso, label_of, to_zone
from dashboard.web.views.status import HealthPanel, Metrics, StatusBar

THANKSGIVING = datetime(2026, 11, 26, 15, 0, tzinfo=UTC).timestamp()  # 10:00 in New York


def test_iso_writes_an_instant_in_the_zone_with_its_offset():
    at = datetime(2026, 11, 27, 14, 31, 2, 123456, tzinfo=UTC)
    assert iso(at, "America/New_York") == "2026-11-27T09:31:02.123-05:00"
    assert iso(at, "UTC") == "2026-11-27T14:31:02.123+00:00"
    assert iso(at.timestamp(), "Asia/Tokyo") == "2026-11-27T23:31:02.123+09:00"  # epoch seconds too
    assert to_zone(datetime(2026, 7, 1, 12), "America/New_York").hour == 8  # naive means UTC; EDT in summer


def test_zones_are_labelled_et_utc_or_their_short_name_as_a_browser_writes_it():
    winter, summer = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    assert (label_of("America/New_York"), label_of("UTC"), label_of("Etc/UTC")) == ("ET", "UTC", "UTC")
    assert [label_of(z, winter) for z in ("Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata", "Europe/London",
                                          "America/Los_Angeles", "America/Sao_Paulo")] == \
        ["GMT+1", "GMT+9", "GMT+5:30", "GMT", "PST", "GMT-3"]
    assert (label_of("Europe/Berlin", summer), label_of("America/Los_Angeles", summer)) == ("GMT+2", "PDT")


def test_the_choice_sets_zone_and_label_and_the_picker_follows():
    clock = Clock()
    assert (clock.choice, clock.zone, clock.label, clock.picker.name) == ("exchange", "America/New_York", "ET",
                                                                           "Time zone")
    clock.picker.value = "utc"  # the user picks UTC
    assert (clock.zone, clock.label, clock.face.zone, clock.face.label) == ("UTC", "UTC", "UTC", "UTC")
    clock.face.choice = "exchange"  # a choice kept in the browser comes back
    assert (clock.picker.value, clock.zone) == ("exchange", "America/New_York")


def test_the_browser_zone_is_used_once_the_browser_reports_it_and_a_zone_unknown_here_falls_back_to_et():
    clock = Clock(choice="browser")
    assert clock.zone == "America/New_York"  # not reported yet
    clock.face.browser_zone = "Asia/Tokyo"
    assert (clock.zone, clock.label) == ("Asia/Tokyo", "GMT+9")
    assert "Browser (Asia/Tokyo)" in clock.picker.options
    clock.face.browser_zone = "Mars/Olympus_Mons"
    assert clock.zone == "America/New_York"


def test_the_status_bar_says_the_market_state_and_start_in_the_pages_zone():
    tracker = SessionTracker()
    session = tracker.snapshot(now=THANKSGIVING)
    session.update(status="active", session_id="s1", started_at="2026-11-26T14:30:00+00:00")
    et = bar_figures(session)
    assert et["market"] == {"v": "market closed for Thanksgiving · opens Fri 09:30 ET", "data": "holiday"}
    assert et["started"]["v"] == "09:30:00 ET"
    bar = StatusBar(session=session, zone="UTC")
    assert "closed for Thanksgiving · opens Fri 14:30 UTC" in bar.pane.object
    assert "14:30:00 UTC" in bar.pane.object and 'data-status="active"' in bar.pane.object


def test_only_the_figures_that_changed_are_sent():
    stats = {"received": 10, "rejected": 0, "dropped": 0, "events_per_s": 2.5}
    lag = {"p50": None, "p95": None}
    before = metric_figures(stats, lag, {"state": "connected"}, 0)
    after = metric_figures({**stats, "received": 11}, lag, {"state": "connected"}, 0)
    assert delta(before, before) is None
    message = delta(before, after)
    assert message["set"] == {"received": {"k": "received", "v": "11"}} and message["drop"] == []
    unplaced = metric_figures({**stats, "received": 11}, lag, {"state": "connected"}, 0, unplaced={"quote": 2})
    assert delta(unplaced, after) == {"set": {}, "drop": ["unplaced"], "order": list(after)}


def test_views_keep_the_figures_their_browser_shows():
    metrics = Metrics()
    metrics.refresh({"buffer": {"received": 3, "rejected": 1, "dropped": 0}, "subscriber": {"state": "connected"},
                     "recorder": None}, session_dropped=0)
    assert metrics.pane.figures["rejected"] == {"k": "rejected", "v": "1", "bad": True}
    health = HealthPanel(zone="UTC")
    assert health.pane.figures == {"none": {"k": "No health report yet", "v": ""}}
    health.report = {"status": "healthy", "reported_at": "2026-11-26T15:00:00+00:00", "age_s": 1.5,
                     "issues": ["feed slow", "<b>x</b>"]}
    assert health.pane.figures["reported"]["v"] == "15:00:00 UTC (1.5 s ago)"
    assert health.pane.figures["issues"]["v"] == "feed slow\n<b>x</b>"  # text: the browser sets textContent
    assert "&lt;b&gt;x&lt;/b&gt;" in health.pane.object
    assert health_figures(None) == {"none": {"k": "No health report yet", "v": ""}}
