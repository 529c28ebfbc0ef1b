"""History beyond memory: Dask DataFrames with one partition per trading day, read from PostgreSQL.

Each partition is one day's load by the ordinary loader (`load_patterns`, …: ADBC/Arrow, typed
columns), run by whichever Dask worker computes it, so a month that does not fit in memory is
never in one process at once. Reading straight from PostgreSQL, not from a Parquet export, keeps
one copy of the data and no export step to forget; each day's query is a time range, which day
partitions of the table (or its time index) serve without a scan of the rest. The statistics in
`analytics.stats` accept these frames as they accept pandas ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dask
import dask.dataframe as dd
import pandas as pd
from dask.dataframe.utils import clear_known_categories

from .calendar import MARKET_TZ, trading_days
from .fetch import Select, distinct_keys
from .frames import empty, value_column
from .loaders import load_alerts, load_critical_alerts, load_health, load_indicators, load_patterns

_LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "patterns": load_patterns, "indicators": load_indicators, "indicator_alerts": load_alerts,
    "critical_alerts": load_critical_alerts, "health": load_health,
}


def day_bounds(day: date, tz: ZoneInfo = MARKET_TZ) -> tuple[datetime, datetime]:
    """The UTC span of one calendar day in New York (a trading day's whole date, pre- and after-hours)."""
    start = datetime.combine(day, time(), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _load_day(table: str, url: str, day: date, kwargs: dict, meta: pd.DataFrame) -> pd.DataFrame:
    start, end = day_bounds(day)
    frame = _LOADERS[table](url, start=start, end=end, **kwargs).reindex(columns=meta.columns)
    plain = {c: t for c, t in meta.dtypes.items() if not isinstance(t, pd.CategoricalDtype)}
    return frame.astype(plain)  # one schema for every day (categories stay each day's own)


def load_dask(url: str, table: str, start: date | str, end: date | str, **filters) -> dd.DataFrame:
    """`table` from `start` to `end` (trading days, both included) as a Dask DataFrame, one
    partition per trading day. `filters` go to the table's loader (symbols, pattern_types, …)."""
    if table not in _LOADERS:
        raise ValueError(f"no day loader for {table!r}; expected one of {sorted(_LOADERS)}")
    days = trading_days(start, end)
    meta = _meta(url, table, days, filters)
    parts = [dask.delayed(_load_day)(table, url, day, filters, meta) for day in days]
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_delayed(parts, meta=meta, divisions=None, verify_meta=False)


def _meta(url: str, table: str, days: Sequence[date], filters: dict) -> pd.DataFrame:
    """The empty frame every partition matches (indicators: with every value key of the range)."""
    if table != "indicators" or not days:
        return clear_known_categories(empty(table))
    start, _ = day_bounds(days[0])
    _, end = day_bounds(days[-1])
    select = Select("indicators", [], order=None)
    select.add("calculated_at >= {}", start)
    select.add("calculated_at < {}", end)
    keys = distinct_keys(url, select, '"values"')
    return clear_known_categories(empty(table, [value_column(k) for k in keys]))
