"""Statistics over pattern, indicator and alert frames: frequencies, distributions, summaries, unusual activity.

Hours and days are in market time (America/New_York) by default, since that is how traders
read them; pass `tz="UTC"` for UTC. Functions take the loaders' (or `live_frame`'s) frames, or
the Dask frames of `analytics.partitioned` for ranges beyond memory: the work per row runs on
each partition, and only the (small) grouped counts are brought together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .calendar import previous_trading_days
from .events import STORES

MARKET_TZ = "America/New_York"
TIME_COLUMNS = tuple(dict.fromkeys(stored.time for stored in STORES.values()))  # each table's event time
DERIVED = {"hour", "date", "weekday", "minute"}


def time_column(df: pd.DataFrame) -> str:
    """The frame's event-time column (detected_at for patterns, alerted_at for alerts, ...)."""
    for name in TIME_COLUMNS:
        if name in df.columns:
            return name
    raise ValueError(f"no time column; expected one of {', '.join(TIME_COLUMNS)}")


def _lazy(df: Any) -> bool:
    """Whether `df` is a Dask frame (partitioned, computed on demand)."""
    return hasattr(df, "map_partitions") and hasattr(df, "compute")


def _per_partition(df: Any, fn, *args) -> Any:
    """`fn(frame, *args)` on a pandas frame, or on each partition of a Dask one."""
    return df.map_partitions(fn, *args) if _lazy(df) else fn(df, *args)


def _computed(*values: Any) -> tuple:
    """Dask results computed together (one pass over the data); pandas ones as they are."""
    if any(hasattr(v, "dask") for v in values):
        import dask

        return dask.compute(*values)
    return values


def _keys(df: pd.DataFrame, by: Sequence[str], tz: str) -> pd.DataFrame:
    """The grouping columns, deriving hour / date / weekday / minute from the event time."""
    out = {}
    local = None
    for name in by:
        if name in DERIVED:
            if local is None:
                local = df[time_column(df)].dt.tz_convert(tz)
            # int64 hours: HoloViews 1.23's Bars cannot place int32 ones (pandas' .dt.hour)
            out[name] = {"hour": local.dt.hour.astype("int64"), "date": local.dt.date, "weekday": local.dt.day_name(),
                         "minute": local.dt.floor("min")}[name]
        else:
            col = df[name]
            out[name] = col.astype(str) if isinstance(col.dtype, pd.CategoricalDtype) else col
    return pd.DataFrame(out, index=df.index)


def _frequency_keys(df: pd.DataFrame, by: list[str], tz: str) -> pd.DataFrame:
    return _keys(df, by, tz).assign(confidence=df["confidence"] if "confidence" in df.columns else np.nan)


def pattern_frequency(df: pd.DataFrame, by: Sequence[str] = ("symbol", "pattern_type", "hour"),
                      tz: str = MARKET_TZ) -> pd.DataFrame:
    """Detections per group (any columns, plus derived hour/date/weekday/minute): count and mean confidence."""
    by = [by] if isinstance(by, str) else list(by)
    grouped = _per_partition(df, _frequency_keys, by, tz).groupby(by, sort=True, dropna=False)["confidence"]
    count, mean = _computed(grouped.size(), grouped.mean())
    if not len(count):
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in by}, "count": pd.Series(dtype="int64"),
                             "mean_confidence": pd.Series(dtype="float64")})
    out = pd.DataFrame({"count": count, "mean_confidence": mean}).sort_index()
    return out.reset_index().astype({"count": "int64"})


def _confidence_bins(df: pd.DataFrame, edges: np.ndarray, by: str | None) -> pd.DataFrame:
    """Each row's bin ([lo, hi), the last closed; rows outside the edges or without one dropped)."""
    conf = df["confidence"]
    keep = conf.notna() & (conf >= edges[0]) & (conf <= edges[-1])
    bins = np.minimum(np.searchsorted(edges, conf[keep].to_numpy(), side="right") - 1, len(edges) - 2)
    out = pd.DataFrame({"bin": bins.astype("int64")}, index=conf[keep].index)
    if by is not None:
        col = df.loc[keep, by]
        out.insert(0, by, col.astype(str) if isinstance(col.dtype, pd.CategoricalDtype) else col)
    return out


def confidence_distribution(df: pd.DataFrame, bins: int | Sequence[float] = 10,
                            by: str | None = None) -> pd.DataFrame:
    """Detections per confidence bin ([lo, hi), the last bin closed): count and share of the group."""
    edges = np.linspace(0.0, 1.0, bins + 1) if isinstance(bins, int) else np.asarray(bins, dtype=float)
    keys = ["bin"] if by is None else [by, "bin"]
    (counts,) = _computed(_per_partition(df, _confidence_bins, edges, by).groupby(keys, sort=True).size())
    groups = [None] if by is None else sorted(counts.index.get_level_values(by).unique())
    rows = []
    for name in groups:
        per_bin = counts if by is None else counts.xs(name, level=by)
        per_bin = per_bin.reindex(range(len(edges) - 1), fill_value=0)
        total = per_bin.sum()
        for i, n in per_bin.items():
            row = {by: name} if by is not None else {}
            row.update(bin_start=float(edges[i]), bin_end=float(edges[i + 1]), count=int(n),
                       share=float(n / total) if total else 0.0)
            rows.append(row)
    columns = ([by] if by else []) + ["bin_start", "bin_end", "count", "share"]
    return pd.DataFrame(rows, columns=columns).astype({"count": "int64", "share": "float64"})


def alert_distribution(alerts_df: pd.DataFrame, by: str | Sequence[str] = "alert_type") -> pd.DataFrame:
    """Alerts per type (or any grouping): count and share, most frequent first."""
    by = [by] if isinstance(by, str) else list(by)
    (counts,) = _computed(_per_partition(alerts_df, _keys, by, MARKET_TZ).groupby(by, sort=True, dropna=False).size())
    if not len(counts):
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in by}, "count": pd.Series(dtype="int64"),
                             "share": pd.Series(dtype="float64")})
    out = counts.rename("count").reset_index().astype({"count": "int64"})
    out["share"] = out["count"] / out["count"].sum()
    return out.sort_values(["count", *by], ascending=[False, *([True] * len(by))], ignore_index=True)


def _session(df: pd.DataFrame | None, session_id: str | None) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame()
    if session_id is not None and "session_id" in df.columns:
        return df[df["session_id"] == session_id]
    return df


def session_summary(patterns: pd.DataFrame, indicators: pd.DataFrame | None = None,
                    alerts: pd.DataFrame | None = None, session_id: str | None = None,
                    top: int = 10) -> dict[str, Any]:
    """Totals of one session (or of the frames as given): counts, symbols, time span, confidence."""
    p, i, a = _session(patterns, session_id), _session(indicators, session_id), _session(alerts, session_id)
    times = [f[time_column(f)] for f in (p, i, a) if not f.empty]
    stamps = pd.concat(times) if times else pd.Series(dtype="datetime64[ns, UTC]")
    confidence = p["confidence"] if "confidence" in p else pd.Series(dtype="float64")
    high = p["high_confidence"] if "high_confidence" in p else pd.Series(dtype=bool)
    symbols = p["symbol"].astype(str) if "symbol" in p else pd.Series(dtype=str)
    return {
        "session_id": session_id,
        "patterns": int(len(p)),
        "indicators": int(len(i)),
        "alerts": int(len(a)),
        "symbols": int(symbols.nunique()),
        "first": stamps.min() if len(stamps) else None,
        "last": stamps.max() if len(stamps) else None,
        "mean_confidence": float(confidence.mean()) if len(confidence) else None,
        "high_confidence_share": float(high.mean()) if len(high) else None,
        "by_pattern_type": {str(k): int(v) for k, v in p["pattern_type"].astype(str).value_counts().items()}
        if len(p) else {},
        "top_symbols": [(str(k), int(v)) for k, v in symbols.value_counts().head(top).items()],
        "alert_types": {str(k): int(v) for k, v in a["alert_type"].astype(str).value_counts().items()}
        if len(a) else {},
    }


def window_days(before: date, days: int, trading_days_only: bool = True) -> list[date]:
    """The `days` trading days (from the exchange calendar; every day with `trading_days_only=False`)
    just before `before`, oldest first."""
    if trading_days_only:
        return previous_trading_days(before, days)
    return [before - timedelta(days=n) for n in range(days, 0, -1)]


def local_dates(df: pd.DataFrame, tz: str = MARKET_TZ) -> pd.Series:
    """Each row's calendar date in `tz`."""
    return df[time_column(df)].dt.tz_convert(tz).dt.date


ROBUST_SCALE = 1.4826  # MAD x this estimates the standard deviation of normally distributed counts


def _day_keys(df: pd.DataFrame, by: list[str], tz: str, days: list[date], cutoff: time) -> pd.DataFrame:
    """The grouping keys and local date of the rows on `days` up to `cutoff` (time of day, `tz`)."""
    local = df[time_column(df)].dt.tz_convert(tz)
    keep = local.dt.date.isin(days) & (local.dt.time <= cutoff)
    return _keys(df[keep], by, tz).assign(_date=local[keep].dt.date)


def unusual_activity(df: pd.DataFrame, as_of: datetime | date | None = None, baseline_days: int = 20, *,
                     min_baseline_days: int = 5, by: str | Sequence[str] = "symbol", min_std: float = 1.0,
                     tz: str = MARKET_TZ, today: date | None = None) -> pd.DataFrame:
    """Today so far against the same time window on the previous trading days, per symbol.

    "Today so far" runs from midnight (`tz`) to `as_of` (default: the frame's latest event); each
    baseline day counts its rows from midnight to the same time of day, so early in a session a
    symbol is not compared with whole days. The baseline is the `baseline_days` trading days
    (exchange calendar) before today, from the frame's first day on; days without rows count as
    zero. Two scores: `z` = (today − mean) / sample std, and the robust `robust_z` =
    (today − median) / (1.4826 × MAD), which one wild day cannot swing; both spreads are floored
    at `min_std` (one detection) so a flat baseline gives a finite, comparable score. Both are NaN
    when fewer than `min_baseline_days` baseline days exist (stated in `attrs`). Sorted by z,
    highest first. `today=` (a date) is the whole of that day.
    """
    by = [by] if isinstance(by, str) else list(by)
    columns = [*by, "today", "baseline_mean", "baseline_std", "z", "baseline_median", "baseline_mad",
               "robust_z", "baseline_days"]
    stamps = df[time_column(df)]
    (first, last) = _computed(stamps.min(), stamps.max()) if len(df.columns) else (None, None)
    if first is None or pd.isna(first):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    if today is not None:
        as_of = today
    if as_of is None:
        as_of = last
    if isinstance(as_of, date) and not isinstance(as_of, datetime):
        day, cutoff = as_of, time.max
    else:
        moment = pd.Timestamp(as_of)
        moment = (moment.tz_localize("UTC") if moment.tzinfo is None else moment).tz_convert(tz)
        day, cutoff = moment.date(), moment.time()
    first_day = pd.Timestamp(first).tz_convert(tz).date()
    window = [d for d in window_days(day, baseline_days) if d >= first_day]
    keys = _per_partition(df, _day_keys, by, tz, [*window, day], cutoff)
    (counts,) = _computed(keys.groupby([*by, "_date"], sort=False).size())
    counts = counts.unstack("_date", fill_value=0).reindex(columns=[*window, day], fill_value=0)
    base = counts[window].to_numpy(dtype=float)
    today_counts = counts[day].astype("int64")
    n = len(window)
    mean = base.mean(axis=1) if n else np.full(len(counts), np.nan)
    std = base.std(axis=1, ddof=1) if n > 1 else np.full(len(counts), np.nan)
    median = np.median(base, axis=1) if n else np.full(len(counts), np.nan)
    mad = np.median(np.abs(base - median[:, None]), axis=1) if n else np.full(len(counts), np.nan)
    out = pd.DataFrame({"today": today_counts, "baseline_mean": mean, "baseline_std": std,
                        "baseline_median": median, "baseline_mad": mad, "baseline_days": n}, index=counts.index)
    out["z"] = (out["today"] - out["baseline_mean"]) / out["baseline_std"].fillna(0.0).clip(lower=min_std)
    robust_spread = (ROBUST_SCALE * out["baseline_mad"]).fillna(0.0).clip(lower=min_std)
    out["robust_z"] = (out["today"] - out["baseline_median"]) / robust_spread
    if n < min_baseline_days:
        out[["z", "robust_z"]] = np.nan
    out = out.reset_index()
    out = out.sort_values(["z", "today"], ascending=[False, False], na_position="last", kind="stable")
    out = out[columns].reset_index(drop=True)
    out.attrs.update(as_of=str(as_of), day=day, window=window, min_baseline_days=min_baseline_days)
    return out
