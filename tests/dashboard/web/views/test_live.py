"""The live view's state, driven by real decoded events, without a browser."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import get_args
from zoneinfo import ZoneInfo

import msgspec
import pytest

from analytics.events import AnyEvent, kind_name
from dashboard.settings import Settings
from dashboard.stream.buffer import BUFFERED
from dashboard.stream.ingest import Ingest
from dashboard.web.views.live import LiveDashboard
from dashboard.web.views.rows import LIVE_ROWS
from tests.fixtures import T0, detection

P, D = "tickstock:patterns:streaming", "tickstock:patterns:detected"


@pytest.fixture
def ingest(redis_url):
    # the ingest is not started: tests hand it messages exactly as the subscriber would
    ing = Ingest(Settings.from_env({}), redis_url)
    yield ing
    ing.buffer.stop()


def publish(ingest: Ingest, *messages: tuple[str, dict]) -> None:
    ingest.handle([[b"message", ch.encode(), json.dumps(p).encode()] for ch, p in messages])
    ingest.buffer.flush()


def test_patterns_appear_newest_first_with_high_confidence_marked(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection("AAPL", conf=0.9)), (P, detection("MSFT", conf=0.75, ts="2025-01-24T10:16:00Z")))
    dash.drain()
    rows = dash.pattern_table.rows
    assert [(r["symbol"], r["_cls"]) for r in rows] == [("MSFT", ""), ("AAPL", "high")]
    assert rows[1]["parameters"] == "open=1.5 close=1.25"


def test_same_detection_on_both_channels_is_one_row(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection()), (D, detection()))
    dash.drain()
    assert len(dash.pattern_table.rows) == 1


def test_symbol_type_and_confidence_filters_are_per_session_and_lose_nothing(ingest):
    a, b = LiveDashboard(ingest), LiveDashboard(ingest)
    publish(ingest, (P, detection("AAPL", "Doji", 0.95)), (P, detection("TSLA", "Hammer", 0.75)),
            (P, detection("NVDA", "Doji", 0.8)))
    a.drain()
    b.drain()
    a.filters.symbols = ["TSLA"]
    assert [r["symbol"] for r in a.pattern_table.rows] == ["TSLA"]
    assert len(b.pattern_table.rows) == 3  # the other session keeps its own view
    a.filters.symbols = []
    a.filters.pattern_types = ["Doji"]
    assert sorted(r["symbol"] for r in a.pattern_table.rows) == ["AAPL", "NVDA"]
    a.filters.min_confidence = 0.9
    assert [r["symbol"] for r in a.pattern_table.rows] == ["AAPL"]
    a.filters.param.update(pattern_types=[], min_confidence=0.0)
    assert len(a.pattern_table.rows) == 3  # clearing the filters brings everything back


def test_pause_freezes_the_view_and_resume_catches_up(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection("AAA")))
    dash.drain()
    dash.pause.paused = True
    publish(ingest, (P, detection("BBB")), (P, detection("CCC")))
    dash.drain()
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["AAA"]
    assert dash.pause.missed == 2
    dash.pause.paused = False
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["CCC", "BBB", "AAA"]
    assert dash.pause.missed == 0


def test_alerts_read_as_sentences_and_indicators_merge_per_symbol(ingest):
    dash = LiveDashboard(ingest)
    calc = {"event": "indicator_calculated", "timestamp": "2025-01-24T10:15:30Z"}
    publish(ingest,
            ("tickstock:alerts:indicators", {"alert_type": "RSI_OVERBOUGHT", "symbol": "AAPL", "data": {"rsi": 72.5}}),
            ("tickstock:indicators:streaming", {**calc, "calculation": {"indicator_type": "RSI", "symbol": "AAPL",
                                                                         "values": {"value": 72.5}}}),
            ("tickstock:indicators:streaming", {**calc, "calculation": {"indicator": "MACD", "symbol": "AAPL",
                                                                         "values": {"macd": 0.4, "signal": 0.3,
                                                                                    "histogram": 0.1}}}))
    dash.drain()
    assert dash.alert_table.rows[0]["sentence"] == "AAPL: RSI overbought (72.5)"
    assert dash.alert_table.rows[0]["_cls"] == "bearish"
    (grid,) = dash.indicator_table.rows
    assert (grid["symbol"], grid["RSI.value"], grid["MACD.signal"]) == ("AAPL", 72.5, 0.3)


def test_critical_alert_raises_the_banner_with_escaped_text_without_waiting(ingest):
    dash = LiveDashboard(ingest)
    ingest.handle([[b"message", b"tickstock:alerts:critical",
                    json.dumps({"type": "CONNECTION_LOST", "message": "<b>feed</b> down"}).encode()]])
    dash.drain()  # no flush: critical alerts take the fast lane
    banner = dash.critical.banner
    assert banner.visible and dash.critical.count == 1
    assert "&lt;b&gt;feed&lt;/b&gt; down" in banner.object and "<b>feed</b>" not in banner.object
    assert dash.critical_table.rows[0]["alert_type"] == "CONNECTION_LOST"


def test_status_metrics_and_health_follow_the_stream(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, ("tickstock:streaming:session_started",
                     {"event": "session_started", "data": {"session_id": "s-1", "symbol_universe_key": "top_500"}}),
            ("tickstock:streaming:health", {"status": "degraded", "issues": ["<script>x</script>"],
                                            "resources": {"cpu_percent": 91.0}}),
            ("tickstock:patterns:streaming", {"symbol": ""}))
    dash.drain()
    dash.refresh_status()
    assert "s-1" in dash.status_pane.object and "top_500" in dash.status_pane.object
    assert 'data-metric="rejected"' in dash.metrics_pane.object and "ts-card bad" in dash.metrics_pane.object
    assert "&lt;script&gt;" in dash.health_pane.object and "<script>" not in dash.health_pane.object
    dash.charts.send()  # the charts' next update (every two seconds)
    assert dash.charts.health_source.data["cpu"] == [91.0]


def test_csv_export_holds_the_visible_rows(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection("AAPL")), (P, detection("TSLA", ts="2025-01-24T10:16:00Z")))
    dash.drain()
    frame = dash.pattern_table.to_frame()
    assert list(frame["Symbol"]) == ["TSLA", "AAPL"]
    assert list(frame["Time"]) == ["2025-01-24T05:16:00.000-05:00", "2025-01-24T05:15:00.000-05:00"]  # exchange time


def test_the_chosen_zone_reaches_every_table_the_charts_and_the_symbol_view(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection("AAPL")))
    dash.drain()
    second = dash.charts.last_second + 1
    dash.charts.add_second(second, {"pattern": 1})
    dash.charts.send()  # drawn now, not at the next two-second update
    dash.clock.choice = "utc"
    assert {t.zone for t in dash.tables} == {"UTC"}
    assert dash.symbol_view.zone == "UTC"
    assert dash.pattern_table.to_frame()["Time"][0] == "2025-01-24T10:15:00.000+00:00"
    assert dash.charts.throughput_source.data["t"][-1] == second * 1000  # UTC: plotted at its instant
    assert dash.charts.throughput_fig.xaxis[0].axis_label == "time (UTC)"
    dash.clock.choice = "exchange"
    offset = datetime.fromtimestamp(second, UTC).astimezone(ZoneInfo("America/New_York")).utcoffset()
    assert dash.charts.throughput_source.data["t"][-1] == (second + offset.total_seconds()) * 1000  # ET wall clock
    assert dash.charts.throughput_fig.xaxis[0].axis_label == "time (ET)"


def test_a_symbol_clicked_in_a_table_opens_the_symbol_view_fed_by_the_stream(ingest):
    dash = LiveDashboard(ingest)
    assert dash.main.objects[0].objects == []  # no symbol view drawn until one is opened
    dash.alert_table.pick("NVDA")
    assert dash.symbol_view.symbol == "NVDA"
    assert len(dash.main.objects[0].objects) == 1
    publish(ingest, (P, detection("NVDA", ts="2025-01-24T10:16:00Z")), (P, detection("AAPL")))
    dash.drain()
    assert [ev.symbol for ev in dash.symbol_view._pending] == ["NVDA"]  # the other symbol is not held
    dash.shortcuts._handle_msg({"action": "close"})  # Esc
    assert dash.symbol_view.symbol == ""


def test_the_space_shortcut_pauses_and_resumes(ingest):
    dash = LiveDashboard(ingest)
    dash.shortcuts._handle_msg({"action": "pause"})
    assert dash.pause.paused
    dash.shortcuts._handle_msg({"action": "pause"})
    assert not dash.pause.paused


def test_the_dark_theme_colours_the_charts(ingest):
    light, dark = LiveDashboard(ingest), LiveDashboard(ingest, theme="dark")
    assert light.charts.throughput_fig.background_fill_color == "#ffffff"
    assert dark.charts.throughput_fig.background_fill_color == "#181818"
    assert dark.symbol_view.theme == "dark"


def test_a_new_session_starts_with_the_recent_stream(ingest):
    publish(ingest, (P, detection("EARLY")))
    late = LiveDashboard(ingest)
    late.drain()
    assert [r["symbol"] for r in late.pattern_table.rows] == ["EARLY"]


def test_closing_a_session_releases_its_consumer(ingest):
    dash = LiveDashboard(ingest)
    assert any(c["name"] == f"session-{dash.session_id}" for c in ingest.buffer.stats()["consumers"])
    dash.close()
    assert not any(c["name"] == f"session-{dash.session_id}" for c in ingest.buffer.stats()["consumers"])


def test_an_urgent_drain_takes_the_critical_alert_and_leaves_buffered_rows_for_the_next(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection("AAA")))
    ingest.handle([[b"message", b"tickstock:alerts:critical",
                    json.dumps({"type": "FEED_DOWN", "message": "feed down"}).encode()]])
    dash.drain(urgent_only=True)
    assert dash.critical_table.rows[0]["alert_type"] == "FEED_DOWN"
    assert dash.pattern_table.rows == []  # held, not lost
    publish(ingest, (P, detection("BBB", ts="2025-01-24T10:16:00Z")))
    dash.drain()
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["BBB", "AAA"]


def test_lowering_min_confidence_shows_a_pattern_the_default_hides_and_the_account_still_filters_it(ingest):
    dash = LiveDashboard(ingest)
    publish(ingest, (P, detection("LOW", conf=0.6)), (P, detection("HIGH", conf=0.9, ts="2025-01-24T10:16:00Z")))
    dash.drain()
    dash.refresh_status()
    assert dash.filters.min_confidence == ingest.settings.pattern_min_confidence == 0.7
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["HIGH"]
    assert dash.filters.hidden == 1
    dash.filters.min_confidence = 0.5
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["HIGH", "LOW"]
    assert dash.filters.hidden == 0
    publish(ingest, (P, detection("LATER", conf=0.55, ts="2025-01-24T10:17:00Z")))
    dash.drain()  # new ones under the setting show at once too
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["LATER", "HIGH", "LOW"]
    stats = ingest.buffer.stats()
    assert (stats["filtered"], stats["identity_holds"]) == (2, True)  # the buffer's account is unchanged


def test_patterns_under_the_setting_never_push_the_shown_ones_out_of_the_kept_rows(ingest):
    dash = LiveDashboard(ingest)
    history = ingest.settings.max_history_size
    publish(ingest, (P, detection("KEEP", conf=0.9)))
    publish(ingest, *((P, detection(f"L{i}", conf=0.6, ts=f"2025-01-24T11:{i // 60:02d}:{i % 60:02d}Z"))
                      for i in range(history)))
    dash.drain()
    dash.filters.symbols = ["KEEP"]  # a redraw from the kept rows
    assert [r["symbol"] for r in dash.pattern_table.rows] == ["KEEP"]


def test_every_kind_of_event_has_a_place_and_every_buffered_kind_a_row_builder(ingest):
    dash = LiveDashboard(ingest)
    assert set(get_args(AnyEvent)) <= set(dash.handlers)
    assert {kind_name(k) for k in BUFFERED} | {"critical_alert"} <= set(LIVE_ROWS)
    assert {kind_name(k) for k in dash.handlers} >= set(LIVE_ROWS)


class Quote(msgspec.Struct, tag="quote_for_test", kw_only=True):  # a kind the page has never heard of
    channel: str  # (not an analytics.events.Event: the registry's tests list every one of those)
    ts: datetime
    received: float
    symbol: str


def test_an_event_the_page_cannot_place_is_counted_shown_and_logged_once(ingest, caplog):
    dash = LiveDashboard(ingest)
    quote = Quote(channel="tickstock:quotes", ts=T0, received=0.0, symbol="AAPL")
    with caplog.at_level(logging.WARNING, logger="dashboard.web.views.live"):
        for _ in range(2):
            ingest.buffer.take([quote, quote])  # not a buffered kind: straight to the sessions
            dash.drain()
    assert dash.unplaced == {"quote_for_test": 4}
    assert [r.getMessage() for r in caplog.records].count(
        "the live page has no place for events of kind 'quote_for_test': they are counted on the page "
        "('unplaced') and not shown") == 1
    html = dash.metrics_pane.object
    assert '<div class="ts-card bad" data-metric="unplaced" title="quote_for_test: 4"><div class="v">4<' in html


def test_the_status_bar_says_why_the_market_is_closed_and_when_it_opens():
    from datetime import UTC, datetime

    from dashboard.stream.session import SessionTracker
    from dashboard.web.views.cards import status_bar

    snap = SessionTracker().snapshot(now=datetime(2026, 11, 26, 16, 0, tzinfo=UTC).timestamp())  # Thanksgiving
    html = status_bar(snap)
    assert "market closed" in html and "closed for Thanksgiving · opens Fri 09:30 ET" in html
    assert 'data-market="holiday"' in html


def test_a_kind_with_no_view_of_its_own_gets_a_table_not_a_silent_drop(ingest, monkeypatch):
    """A new kind of the registry (here a volume alert) is shown in a table made from its record."""
    from datetime import UTC, datetime

    import msgspec

    import dashboard.web.views.live as live
    from dashboard.wire.kinds import BUFFERED, KINDS, Kind

    class VolumeAlert(msgspec.Struct, tag="volume_alert", kw_only=True):  # shaped like a record of the contract
        channel: str
        ts: datetime
        received: float
        symbol: str
        ratio: float

    monkeypatch.setattr(live, "KINDS", (*KINDS, Kind(VolumeAlert, ("alerts:volume",), BUFFERED, "rows")))
    dash = LiveDashboard(ingest)
    at = datetime(2025, 1, 24, 15, 0, tzinfo=UTC)
    dash.dispatch([VolumeAlert(channel="t:alerts:volume", ts=at, received=0.0, symbol="AAPL", ratio=3.5)])
    (stream,) = dash.kind_streams
    assert stream.title == "Volume alerts"
    assert [(r["symbol"], r["ratio"]) for r in stream.table.rows] == [("AAPL", 3.5)]
    assert not dash.unplaced
    dash.close()
