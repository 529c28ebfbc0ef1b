"""The history view against a real PostgreSQL: loads a range, appends live points, ranks unusual activity."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import analytics
from analytics.records import rows_from_frame
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest
from dashboard.web.views.history import HistoryView


@pytest.fixture(scope="module")
def history(module_database_url):
    analytics.upgrade(module_database_url)
    frames = analytics.sample_history(days=25, symbols=["AAPL", "MSFT", "NVDA"], patterns_per_symbol_day=12,
                                      end=datetime.now(UTC).date(), seed=3)
    for table in ("sessions", "patterns", "indicators", "indicator_alerts"):
        analytics.write_rows(module_database_url, table, rows_from_frame(frames[table], table))
    return module_database_url, frames


@pytest.fixture
def view(history, redis_url):
    ingest = Ingest(Settings.from_env({}), redis_url)
    v = HistoryView(ingest, history[0])
    yield v, ingest
    v.close()


def test_loading_a_range_charts_every_recorded_pattern_of_the_chosen_symbols(view, history):
    v, _ = view
    _, frames = history
    v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days")
    v.load()
    start, end = v.window()
    p = frames["patterns"]
    expected = p[p["symbol"].isin(["AAPL", "NVDA"]) & (p["detected_at"] >= start) & (p["detected_at"] <= end)]
    assert len(v.pattern_stream.data) == len(expected) > 0
    assert set(v.pattern_stream.data["symbol"]) == {"AAPL", "NVDA"}
    assert "patterns" in v.status and f"{len(expected):,}" in v.status


def test_indicator_series_carries_alert_markers_at_the_indicator_value(view):
    v, _ = view
    v.param.update(symbols=["MSFT"], range="last 30 days", indicator="RSI")
    v.load()
    series, marks = v.series_stream.data, v.marks_stream.data
    assert len(series) > 0 and set(series["symbol"]) == {"MSFT"}
    assert len(marks) > 0 and marks["alert_type"].str.startswith("RSI").all()
    first = marks.iloc[0]  # a marker sits on the latest RSI value at or before the alert
    before = series[series["t"] <= first["t"]].iloc[-1]
    assert first["value"] == before["value"]


def test_unusual_activity_table_ranks_symbols_by_z(view):
    v, _ = view
    v.param.update(symbols=[], range="last 30 days")
    v.load()
    rows = v.unusual_table.rows
    assert {r["symbol"] for r in rows} == {"AAPL", "MSFT", "NVDA"}
    zs = [r["z"] for r in rows if r["z"] is not None]
    assert zs == sorted(zs, reverse=True)


def test_live_points_are_appended_as_they_arrive(view):
    v, ingest = view
    v.param.update(symbols=["AAPL"], range="last hour")
    v.load()
    before = len(v.pattern_stream.data)
    now = datetime.now(UTC).isoformat()
    ingest.handle([[b"message", b"tickstock:patterns:streaming", json.dumps(
        {"symbol": sym, "pattern": "Doji", "confidence": 0.9, "timestamp": now}).encode()] for sym in ("AAPL", "TSLA")])
    ingest.buffer.flush()
    assert v.append_live() >= 1
    assert len(v.pattern_stream.data) == before + 1  # TSLA is not among the chosen symbols


def test_a_database_that_is_away_is_reported_not_raised(redis_url):
    v = HistoryView(Ingest(Settings.from_env({}), redis_url), "postgresql+psycopg2://postgres@127.0.0.1:1/none")
    v.load()
    assert v.status.startswith("history unavailable")
    v.close()
