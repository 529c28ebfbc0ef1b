"""Statistics against hand-computed values."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.frames import shape
from analytics.stats import (
    alert_distribution,
    confidence_distribution,
    pattern_frequency,
    session_summary,
    unusual_activity,
)
from tests.fixtures import pattern_frame as patterns


def daily(counts: dict[str, list[int]], days: list[str]) -> pd.DataFrame:
    """Patterns with the given number of detections per symbol on each day (at 15:00 UTC)."""
    rows = [(sym, "Doji", f"{day} 15:00:{i:02d}", 0.7)
            for sym, per_day in counts.items() for day, n in zip(days, per_day, strict=True) for i in range(n)]
    return patterns(*rows)


P = patterns(
    ("AAPL", "Doji", "2025-01-24 14:35", 0.70),  # 09:35 New York
    ("AAPL", "Doji", "2025-01-24 14:50", 0.90),
    ("AAPL", "Hammer", "2025-01-24 15:10", 0.80),  # 10:10
    ("TSLA", "Doji", "2025-01-24 15:20", 0.50),
    ("TSLA", "Doji", "2025-01-24 20:59", 1.00),  # 15:59
)


def test_pattern_frequency_counts_by_symbol_type_and_market_hour():
    got = pattern_frequency(P)
    assert got.to_dict("records") == [
        {"symbol": "AAPL", "pattern_type": "Doji", "hour": 9, "count": 2, "mean_confidence": pytest.approx(0.8)},
        {"symbol": "AAPL", "pattern_type": "Hammer", "hour": 10, "count": 1, "mean_confidence": 0.8},
        {"symbol": "TSLA", "pattern_type": "Doji", "hour": 10, "count": 1, "mean_confidence": 0.5},
        {"symbol": "TSLA", "pattern_type": "Doji", "hour": 15, "count": 1, "mean_confidence": 1.0},
    ]
    assert pattern_frequency(P, by="hour", tz="UTC")[["hour", "count"]].values.tolist() == [[14, 2], [15, 2], [20, 1]]


def test_confidence_distribution_bins_are_half_open_with_the_last_closed():
    got = confidence_distribution(P, bins=[0.5, 0.8, 0.9, 1.0])
    assert got[["bin_start", "bin_end", "count"]].values.tolist() == [[0.5, 0.8, 2], [0.8, 0.9, 1], [0.9, 1.0, 2]]
    assert got["share"].tolist() == pytest.approx([0.4, 0.2, 0.4])
    by_symbol = confidence_distribution(P, bins=2, by="symbol")
    assert by_symbol[by_symbol.symbol == "TSLA"]["count"].tolist() == [0, 2]


def test_alert_distribution_counts_and_shares_most_frequent_first():
    alerts = shape(pd.DataFrame({"symbol": ["A", "B", "A", "C"],
                                 "alert_type": ["RSI_OVERBOUGHT", "MACD_BULLISH_CROSS", "RSI_OVERBOUGHT", "RSI_OVERSOLD"],
                                 "alerted_at": pd.Timestamp("2025-01-24 15:00", tz="UTC")}), "indicator_alerts")
    got = alert_distribution(alerts)
    assert got.values.tolist() == [["RSI_OVERBOUGHT", 2, 0.5], ["MACD_BULLISH_CROSS", 1, 0.25],
                                   ["RSI_OVERSOLD", 1, 0.25]]
    assert alert_distribution(alerts.iloc[:0]).empty


def test_session_summary_of_one_session():
    other = patterns(("NVDA", "Doji", "2025-01-23 15:00", 0.95), session="s0")
    both = pd.concat([other, P], ignore_index=True)
    got = session_summary(both, None, None, session_id="s1")
    assert got["patterns"] == 5 and got["symbols"] == 2 and got["indicators"] == 0 and got["alerts"] == 0
    assert got["first"] == pd.Timestamp("2025-01-24 14:35", tz="UTC")
    assert got["last"] == pd.Timestamp("2025-01-24 20:59", tz="UTC")
    assert got["mean_confidence"] == pytest.approx(0.78)
    assert got["high_confidence_share"] == pytest.approx(0.6)
    assert got["by_pattern_type"] == {"Doji": 4, "Hammer": 1}
    assert got["top_symbols"] == [("AAPL", 3), ("TSLA", 2)]
    assert session_summary(both)["patterns"] == 6


BASELINE = ["2025-01-13", "2025-01-14", "2025-01-15", "2025-01-16", "2025-01-17"]  # Mon..Fri
TODAY = "2025-01-20"  # the next Monday


def test_unusual_activity_z_scores_against_the_baseline():
    frame = daily({
        "X": [2, 4, 4, 4, 6, 10],  # mean 4, sample std sqrt(2): z = 6 / 1.41421 = 4.2426
        "Y": [0, 0, 3, 0, 0, 0],  # zero days count: mean 0.6, std sqrt(1.8): z = -0.6 / 1.34164 = -0.4472
        "Z": [1, 1, 1, 1, 1, 3],  # std 0 is floored at 1: z = 2
        "W": [0, 0, 0, 0, 0, 2],  # new today: mean 0, std 0 -> floor: z = 2
    }, [*BASELINE, TODAY])
    got = unusual_activity(frame, baseline_days=5).set_index("symbol")
    assert list(got.index) == ["X", "Z", "W", "Y"]  # z desc, ties by today's count
    assert got.loc["X", "z"] == pytest.approx(6 / math.sqrt(2))
    assert got.loc["Y", "z"] == pytest.approx(-0.6 / math.sqrt(1.8))
    assert got.loc["Y", "baseline_mean"] == pytest.approx(0.6)
    assert got.loc["Z", "baseline_std"] == 0 and got.loc["Z", "z"] == 2.0
    assert got.loc["W", "z"] == 2.0 and got.loc["W", "today"] == 2
    assert (got["baseline_days"] == 5).all()


def test_unusual_activity_skips_weekends_and_days_before_the_data():
    weekend = daily({"X": [9]}, ["2025-01-18"])  # Saturday: not a baseline day
    frame = pd.concat([daily({"X": [2, 4, 6]}, ["2025-01-15", "2025-01-16", "2025-01-17"]), weekend,
                       daily({"X": [8]}, [TODAY])], ignore_index=True)
    got = unusual_activity(frame, baseline_days=20, min_baseline_days=3)
    row = got.iloc[0]
    assert row["baseline_days"] == 3 and row["baseline_mean"] == 4.0 and row["baseline_std"] == 2.0
    assert row["z"] == 2.0
    assert np.isnan(unusual_activity(frame, baseline_days=20, min_baseline_days=4)["z"].iloc[0])


def test_unusual_activity_for_a_given_day_and_an_empty_frame():
    frame = daily({"X": [1, 2, 3]}, ["2025-01-15", "2025-01-16", "2025-01-17"])
    got = unusual_activity(frame, today=date(2025, 1, 16), baseline_days=1, min_baseline_days=1)
    assert got[["today", "baseline_mean"]].values.tolist() == [[2, 1.0]]
    assert unusual_activity(frame.iloc[:0]).empty


def test_hours_are_int64_so_holoviews_bars_can_place_them():
    import holoviews as hv

    freq = pattern_frequency(patterns(("AAPL", "Doji", "2025-01-24 14:30", 0.8)), by=("hour",))
    assert freq["hour"].dtype == "int64"
    hv.render(hv.Bars(freq, "hour", "count"), backend="bokeh")  # raised on int32 hours with HoloViews 1.23


NY = "America/New_York"


def at_ny(text: str) -> str:
    """A New York wall-clock time as UTC text (what the frames hold)."""
    return pd.Timestamp(text, tz=NY).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")


def test_unusual_activity_compares_today_so_far_with_the_same_hours_of_previous_days():
    rows = []
    for day in BASELINE:  # each baseline day: 2 detections at 10:00, 6 more in the afternoon
        rows += [("X", "Doji", at_ny(f"{day} 10:00:0{i}"), 0.8) for i in range(2)]
        rows += [("X", "Doji", at_ny(f"{day} 15:00:0{i}"), 0.8) for i in range(6)]
    rows += [("X", "Doji", at_ny(f"{TODAY} 10:00:0{i}"), 0.8) for i in range(4)]  # today, by 10:00
    frame = patterns(*rows)
    got = unusual_activity(frame, as_of=pd.Timestamp(f"{TODAY} 11:00", tz=NY)).iloc[0]
    # by 11:00 each baseline day had 2: mean 2, std 0 (floored to 1) -> z 2; whole days (8) would say -4
    assert (got["today"], got["baseline_mean"], got["z"]) == (4, 2.0, 2.0)
    assert (got["baseline_median"], got["baseline_mad"], got["robust_z"]) == (2.0, 0.0, 2.0)


def test_robust_z_is_not_swung_by_one_wild_baseline_day():
    frame = daily({"X": [1, 2, 3, 4, 30, 6]}, [*BASELINE, TODAY])
    got = unusual_activity(frame, today=date(2025, 1, 20), baseline_days=5).iloc[0]  # whole days
    # mean 8, sample std sqrt(152.5): z = -2 / 12.349 = -0.162; median 3, MAD 1: robust_z = 3 / 1.4826
    assert got["z"] == pytest.approx(-2 / math.sqrt(152.5))
    assert got["robust_z"] == pytest.approx(3 / 1.4826)
    assert (got["baseline_median"], got["baseline_mad"]) == (3.0, 1.0)


def test_the_minimum_baseline_is_stated_and_below_it_there_is_no_score():
    frame = daily({"X": [1, 2, 5]}, ["2025-01-16", "2025-01-17", TODAY])
    got = unusual_activity(frame, min_baseline_days=3)
    assert got.attrs["min_baseline_days"] == 3 and got["baseline_days"].iloc[0] == 2
    assert np.isnan(got["z"].iloc[0]) and np.isnan(got["robust_z"].iloc[0])
