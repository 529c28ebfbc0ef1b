"""Statistics over pattern, indicator and alert frames: frequencies, distributions, summaries, unusual activity.

Hours and days are in market time (America/New_York) by default, since that is how traders
read them; pass `tz="UTC"` for UTC. Functions take the loaders' (or `live_frame`'s) frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

MARKET_TZ = "America/New_York"
TIME_COLUMNS = ("detected_at", "calculated_at", "alerted_at", "reported_at", "started_at")
DERIVED = {"hour", "date", "weekday", "minute"}


def time_column(df: pd.DataFrame) -> str:
    """The frame's event-time column (detected_at for patterns, alerted_at for alerts, ...)."""
    for name in TIME_COLUMNS:
        if name in df.columns:
            return name
    raise ValueError(f"no time column; expected one of {', '.join(TIME_COLUMNS)}")


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


def pattern_frequency(df: pd.DataFrame, by: Sequence[str] = ("symbol", "pattern_type", "hour"),
                      tz: str = MARKET_TZ) -> pd.DataFrame:
    """Detections per group (any columns, plus derived hour/date/weekday/minute): count and mean confidence."""
    by = [by] if isinstance(by, str) else list(by)
    keys = _keys(df, by, tz)
    if df.empty:
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in by}, "count": pd.Series(dtype="int64"),
                             "mean_confidence": pd.Series(dtype="float64")})
    frame = keys.assign(confidence=df.get("confidence", np.nan))
    out = frame.groupby(by, sort=True, dropna=False).agg(count=("confidence", "size"),
                                                          mean_confidence=("confidence", "mean"))
    return out.reset_index().astype({"count": "int64"})


def confidence_distribution(df: pd.DataFrame, bins: int | Sequence[float] = 10,
                            by: str | None = None) -> pd.DataFrame:
    """Detections per confidence bin ([lo, hi), the last bin closed): count and share of the group."""
    edges = np.linspace(0.0, 1.0, bins + 1) if isinstance(bins, int) else np.asarray(bins, dtype=float)
    groups = [(None, df)] if by is None else [
        (name, grp) for name, grp in df.groupby(by, observed=True, sort=True)
    ]
    rows = []
    for name, grp in groups:
        counts, _ = np.histogram(grp["confidence"].dropna().to_numpy(), bins=edges)
        total = counts.sum()
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
            row = {by: name} if by is not None else {}
            row.update(bin_start=float(lo), bin_end=float(hi), count=int(n),
                       share=float(n / total) if total else 0.0)
            rows.append(row)
    columns = ([by] if by else []) + ["bin_start", "bin_end", "count", "share"]
    return pd.DataFrame(rows, columns=columns).astype({"count": "int64", "share": "float64"})


def alert_distribution(alerts_df: pd.DataFrame, by: str | Sequence[str] = "alert_type") -> pd.DataFrame:
    """Alerts per type (or any grouping): count and share, most frequent first."""
    by = [by] if isinstance(by, str) else list(by)
    if alerts_df.empty:
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in by}, "count": pd.Series(dtype="int64"),
                             "share": pd.Series(dtype="float64")})
    keys = _keys(alerts_df, by, MARKET_TZ)
    out = keys.groupby(by, sort=True, dropna=False).size().rename("count").reset_index()
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


def window_days(before: date, days: int, weekdays_only: bool = True) -> list[date]:
    """The `days` days (weekdays only, by default) just before `before`, oldest first."""
    out, day = [], before
    while len(out) < days:
        day -= timedelta(days=1)
        if not weekdays_only or day.weekday() < 5:
            out.append(day)
    return out[::-1]


def local_dates(df: pd.DataFrame, tz: str = MARKET_TZ) -> pd.Series:
    """Each row's calendar date in `tz`."""
    return df[time_column(df)].dt.tz_convert(tz).dt.date


def unusual_activity(df: pd.DataFrame, today: date | None = None, baseline_days: int = 20, *,
                     min_baseline_days: int = 5, by: str | Sequence[str] = "symbol", min_std: float = 1.0,
                     weekdays_only: bool = True, tz: str = MARKET_TZ) -> pd.DataFrame:
    """Today's count per symbol against the daily counts of the previous N days, as a z-score.

    Baseline days with no rows count as zero, but days before the frame's first day are not
    baseline at all. The std (sample, ddof=1) is floored at `min_std` (one detection a day) so a
    baseline that never varied still gives a finite, comparable z. z is NaN when fewer than
    `min_baseline_days` baseline days exist. Sorted by z, highest first.
    """
    by = [by] if isinstance(by, str) else list(by)
    columns = [*by, "today", "baseline_mean", "baseline_std", "baseline_days", "z"]
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    dates = local_dates(df, tz)
    today = today or max(dates)
    window = [d for d in window_days(today, baseline_days, weekdays_only) if d >= min(dates)]
    keys = _keys(df, by, tz).assign(_date=dates)
    keys = keys[keys["_date"].isin([*window, today])]
    counts = keys.groupby([*by, "_date"], sort=False).size().unstack("_date", fill_value=0)
    counts = counts.reindex(columns=[*window, today], fill_value=0)
    base = counts[window] if window else pd.DataFrame(index=counts.index)
    out = pd.DataFrame({
        "today": counts[today].astype("int64"),
        "baseline_mean": base.mean(axis=1) if window else np.nan,
        "baseline_std": base.std(axis=1, ddof=1) if len(window) > 1 else np.nan,
        "baseline_days": len(window),
    }, index=counts.index)
    spread = out["baseline_std"].fillna(0.0).clip(lower=min_std)
    out["z"] = (out["today"] - out["baseline_mean"]) / spread
    if len(window) < min_baseline_days:
        out["z"] = np.nan
    out = out.reset_index()
    out = out.sort_values(["z", "today"], ascending=[False, False], na_position="last", kind="stable")
    return out[columns].reset_index(drop=True)

