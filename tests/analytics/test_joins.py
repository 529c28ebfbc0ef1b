"""Joins: latest indicator values at detection time, historical base rates, history + live concatenation."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.joins import combine, enrich_patterns, with_base_rate
from tests.fixtures import indicator_frame as indicators
from tests.fixtures import pattern_frame as patterns


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


CALCS = indicators(
    ("AAPL", "RSI", "2025-01-24 15:00", {"value": 50.0}),
    ("AAPL", "RSI", "2025-01-24 15:05", {"value": 60.0}),
    ("AAPL", "MACD", "2025-01-24 15:02", {"macd": 0.4, "signal": 0.3, "histogram": 0.1}),
    ("TSLA", "RSI", "2025-01-24 15:03", {"value": 25.0}),
)


def test_each_pattern_gets_its_symbols_latest_values_at_or_before_detection():
    p = patterns(("AAPL", "Doji", "2025-01-24 15:04"), ("AAPL", "Hammer", "2025-01-24 15:05"),
                 ("TSLA", "Doji", "2025-01-24 15:04"), ("AAPL", "Doji", "2025-01-24 14:59"),
                 ("NVDA", "Doji", "2025-01-24 15:10"))
    got = enrich_patterns(p, CALCS)
    assert got["RSI.value"].tolist()[:3] == [50.0, 60.0, 25.0]  # exact time counts as "at or before"
    assert got["MACD.histogram"].tolist()[:2] == [0.1, 0.1] and np.isnan(got["MACD.histogram"].iloc[2])
    assert got["MACD.macd"].iloc[0] == 0.4 and got["MACD.signal"].iloc[1] == 0.3
    assert got.iloc[3:][["RSI.value", "MACD.macd"]].isna().all().all()  # before any value; unknown symbol
    assert list(got.columns[:10]) == list(p.columns) and got.index.equals(p.index)


def test_values_older_than_max_age_are_left_out():
    p = patterns(("AAPL", "Doji", "2025-01-24 15:04"), ("AAPL", "Doji", "2025-01-24 15:20"))
    got = enrich_patterns(p, CALCS, indicators=["RSI"], max_age="10min")
    assert got["RSI.value"].iloc[0] == 50.0 and np.isnan(got["RSI.value"].iloc[1])
    assert "MACD.macd" not in got.columns


def test_enrich_keeps_an_unsorted_frames_order():
    p = patterns(("TSLA", "Doji", "2025-01-24 15:04"), ("AAPL", "Doji", "2025-01-24 15:01"),
                 ("AAPL", "Doji", "2025-01-24 15:06")).set_axis([10, 5, 7])
    got = enrich_patterns(p, CALCS)
    assert got.index.tolist() == [10, 5, 7] and got["RSI.value"].tolist() == [25.0, 50.0, 60.0]


def test_base_rate_is_detections_per_day_over_the_previous_trading_days():
    # Window: the 5 trading days before Mon 2025-01-27 = Fri 17, Tue 21 .. Fri 24 (New York dates):
    # Mon 20 is Martin Luther King Jr. Day, when the exchange is closed.
    history = patterns(
        *[("AAPL", "Doji", f"2025-01-{d} 15:00") for d in (17, 21, 21, 23, 24, 24, 24)],  # 7 in the window
        ("AAPL", "Doji", "2025-01-25 15:00"),  # Saturday: not a baseline day
        ("AAPL", "Doji", "2025-01-16 15:00"),  # before the window
        ("AAPL", "Hammer", "2025-01-22 15:00"),
        ("AAPL", "Doji", "2025-01-20 15:00"),  # the holiday: not a baseline day
        ("AAPL", "Doji", "2025-01-22 02:00"),  # 21:00 on the 21st in New York: in the window
    )
    live = patterns(("AAPL", "Doji", "2025-01-27 15:00"), ("AAPL", "Hammer", "2025-01-27 15:01"),
                    ("TSLA", "Doji", "2025-01-27 15:02"))
    got = with_base_rate(live, history, days=5)
    assert got["base_count"].tolist() == [8, 1, 0]
    assert got["base_rate"].tolist() == pytest.approx([1.6, 0.2, 0.0])


def test_base_rate_window_can_end_on_a_given_day_and_count_weekends():
    history = patterns(("AAPL", "Doji", "2025-01-25 15:00"), ("AAPL", "Doji", "2025-01-26 15:00"))
    live = patterns(("AAPL", "Doji", "2025-01-27 15:00"))
    got = with_base_rate(live, history, days=2, until=date(2025, 1, 27), trading_days_only=False)
    assert got["base_count"].tolist() == [2] and got["base_rate"].tolist() == [1.0]


def test_combine_merges_categories_drops_repeats_and_orders_by_time():
    history = patterns(("AAPL", "Doji", "2025-01-24 15:00"), ("TSLA", "Doji", "2025-01-24 15:02"))
    live = patterns(("TSLA", "Doji", "2025-01-24 15:02"), ("AMD", "Hammer", "2025-01-24 15:01"))
    both = combine(history, live)
    assert both.symbol.tolist() == ["AAPL", "AMD", "TSLA"]
    assert set(both.symbol.cat.categories) == {"AAPL", "AMD", "TSLA"}
    assert both.pattern_type.tolist() == ["Doji", "Hammer", "Doji"]
