"""History beyond memory: Dask frames read day by day from PostgreSQL, computed on a two-worker
LocalCluster, give exactly what pandas gives on the same data."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analytics import load_alerts, load_patterns, sample_history, write_rows
from analytics.partitioned import load_dask
from analytics.records import rows_from_frame
from analytics.stats import (
    alert_distribution,
    confidence_distribution,
    pattern_frequency,
    unusual_activity,
)

START, END = date(2025, 1, 13), date(2025, 1, 24)


@pytest.fixture(scope="module")
def cluster():
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            distributed.Client(lc) as client:
        yield client


@pytest.fixture
def stored(history_url):
    sample = sample_history(days=10, symbols=("AAPL", "NVDA", "TSLA"), patterns_per_symbol_day=15,
                            indicator_every_minutes=60, end=END)
    for table in ("sessions", "patterns", "indicators", "indicator_alerts"):
        write_rows(history_url, table, rows_from_frame(sample[table], table))
    return history_url


def test_one_partition_per_trading_day(stored, cluster):
    frame = load_dask(stored, "patterns", START, END)
    assert frame.npartitions == 9  # Jan 13-24, 2025 less the weekend and Martin Luther King Jr. Day
    assert len(frame) == len(load_patterns(stored, start=START, end=date(2025, 1, 25)))


def test_statistics_on_dask_equal_pandas_on_the_same_data(stored, cluster):
    lazy = load_dask(stored, "patterns", START, END)
    eager = load_patterns(stored, start=START, end=date(2025, 1, 25))
    for stat in (lambda f: pattern_frequency(f, by=("symbol", "pattern_type", "hour")),
                 lambda f: confidence_distribution(f, bins=10, by="symbol"),
                 lambda f: unusual_activity(f, baseline_days=5, min_baseline_days=3)):
        pd.testing.assert_frame_equal(stat(lazy), stat(eager))
    alerts_lazy = load_dask(stored, "indicator_alerts", START, END)
    alerts = load_alerts(stored, start=START, end=date(2025, 1, 25))
    assert len(alerts) > 0
    pd.testing.assert_frame_equal(alert_distribution(alerts_lazy), alert_distribution(alerts))


def test_indicators_keep_every_value_column_across_days(stored, cluster):
    frame = load_dask(stored, "indicators", START, END).compute()
    assert {"value", "macd", "signal", "histogram"} <= set(frame.columns)
    assert len(frame) > 0
