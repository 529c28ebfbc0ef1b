"""The live tables by their state: CSV times in the page's zone, sorted exports, empty states that
say why, clicks on symbols (the browser's side: tests/browser/test_tables.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.events import IndicatorAlert
from dashboard.web.views.critical import CriticalAlerts
from dashboard.web.views.filters import Filters
from dashboard.web.views.rows import PATTERN_COLUMNS
from dashboard.web.views.streams import AlertStream, IndicatorGrid, PatternStream
from dashboard.web.views.table import LiveTable
from tests.fixtures import CH, T0, critical_record, indicator_record, pattern_record

T0_MS = T0.timestamp() * 1000  # 2025-01-24 10:15:00 UTC, 05:15:00 in New York


def alert_record(symbol: str) -> IndicatorAlert:
    return IndicatorAlert(channel=CH.alerts_indicators, ts=T0, received=0.0, symbol=symbol,
                          alert_type="RSI_OVERSOLD", data={"rsi": 24.25})


def table_of(*rows: dict) -> LiveTable:
    table = LiveTable(columns=PATTERN_COLUMNS)
    table.push(list(rows))
    return table


def row(symbol: str, pattern: str = "Doji", seconds: float = 0.0, conf: float = 0.9) -> dict:
    return {"time": T0_MS + seconds * 1000, "symbol": symbol, "pattern": pattern, "confidence": conf,
            "timeframe": "1min", "parameters": ""}


@pytest.mark.parametrize(("zone", "shown"), [
    ("America/New_York", "2025-01-24T05:15:00.250-05:00"),
    ("UTC", "2025-01-24T10:15:00.250+00:00"),
    ("Asia/Kolkata", "2025-01-24T15:45:00.250+05:30"),
])
def test_csv_times_are_iso_8601_with_the_offset_of_the_tables_zone(zone, shown):
    table = table_of(row("AAPL", seconds=0.25))
    table.zone = zone
    frame = table.to_frame()
    assert list(frame.columns) == ["Time", "Symbol", "Pattern", "Confidence", "Timeframe", "Key parameters"]
    assert frame["Time"].tolist() == [shown]
    assert pd.Timestamp(shown).tz_convert("UTC") == pd.Timestamp(T0_MS + 250, unit="ms", tz="UTC")  # the same instant


def test_csv_keeps_the_order_the_page_shows_sorted_or_newest_first():
    table = table_of(row("MSFT", "Hammer", 0), row("AAPL", "Doji", 1), row("TSLA", "", 2))
    assert table.to_frame()["Symbol"].tolist() == ["TSLA", "AAPL", "MSFT"]
    table.sort = "pattern"
    assert table.to_frame()["Symbol"].tolist() == ["AAPL", "MSFT", "TSLA"]  # blanks last
    table.sort = "-pattern"
    assert table.to_frame()["Symbol"].tolist() == ["MSFT", "AAPL", "TSLA"]
    table.sort = "-time"
    assert table.to_frame()["Time"].tolist() == sorted(table.to_frame()["Time"], reverse=True)


def test_a_click_on_the_same_symbol_again_is_heard_again():
    table = LiveTable(columns=PATTERN_COLUMNS)
    heard = []
    table.param.watch(lambda e: heard.append(e.new), "picked")
    for symbol in ("AAPL", "AAPL", "MSFT"):
        table._handle_msg({"op": "pick", "value": symbol})
    table._handle_msg({"op": "pick", "value": 3})  # not a symbol: ignored
    assert heard == ["AAPL", "AAPL", "MSFT"] and table.picked == "MSFT"


def test_a_table_that_nothing_reached_is_waiting():
    stream = PatternStream(Filters())
    stream.publish()
    assert stream.table.placeholder == "Waiting for events…"


def test_a_minimum_confidence_that_hides_everything_says_so():
    f = Filters(min_confidence=1.0)
    stream = PatternStream(f, floor=0.7)
    stream.take(pattern_record("AAPL", conf=0.95))
    stream.publish()
    assert stream.table.placeholder == "No patterns at ≥ 1.00: lower Min confidence"
    f.min_confidence = 0.9
    stream.redraw()
    assert stream.table.size == 1  # shown again: the placeholder is not read


def test_a_symbol_or_pattern_filter_that_leaves_nothing_names_what_it_waits_for():
    f = Filters(symbols=["AAPL"])
    patterns, alerts, grid = PatternStream(f), AlertStream(f), IndicatorGrid(f)
    patterns.take(pattern_record("MSFT", "Hammer"))
    grid.take(indicator_record("MSFT"))
    alerts.take(alert_record("MSFT"))
    for view in (patterns, alerts, grid):
        view.publish()
        assert view.table.placeholder == "No events for AAPL yet"
    f.symbols, f.pattern_types = ["MSFT"], ["Doji", "Engulfing"]
    patterns.redraw()
    assert patterns.table.placeholder == "No Doji, Engulfing patterns for MSFT yet"


def test_paused_with_nothing_shown_a_table_counts_what_waits_and_resuming_shows_it():
    stream = PatternStream(Filters())
    for i in range(77):
        stream.take(pattern_record(f"S{i}", seconds=i))
        stream.publish(paused=True)
    assert stream.table.placeholder == "Paused: 77 new events" and stream.table.size == 0
    stream.redraw()  # resume
    assert stream.table.size == 77


def test_the_critical_table_wraps_and_dismiss_sits_in_the_banner():
    critical = CriticalAlerts(notifications=False)
    critical.take(critical_record("FEED_DOWN"))
    assert critical.table.wrap and critical.dismiss in critical._layout.objects
    assert "ts-banner" in critical._layout.css_classes and 'role="alert"' in critical.banner.object
    critical.dismiss.clicks += 1
    assert not critical.banner_visible
