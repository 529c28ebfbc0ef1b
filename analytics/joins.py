"""Join live pattern frames with history: latest indicator values, historical base rates, and concatenation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from pandas.api.types import union_categoricals

from .frames import NATURAL_KEYS, TIME_COLUMN, VALUE_PREFIX, indicator_value_columns, table_of
from .stats import MARKET_TZ, local_dates, window_days


def enrich_patterns(patterns_df: pd.DataFrame, indicators_df: pd.DataFrame,
                    indicators: Sequence[str] | None = None, max_age: pd.Timedelta | str | None = None) -> pd.DataFrame:
    """Each pattern with its symbol's latest indicator values at or before detection (`RSI.value`, ...).

    One column per indicator and value key; NaN where the symbol had no such calculation yet
    (or only one older than `max_age`). Rows keep their order and index.
    """
    out = patterns_df.copy()
    if indicators_df.empty or patterns_df.empty:
        return out
    left = pd.DataFrame({
        "_pos": range(len(patterns_df)),
        "symbol": patterns_df["symbol"].astype(str).to_numpy(),
        "_at": patterns_df["detected_at"].to_numpy(),
    }).sort_values("_at", kind="stable")
    names = indicators if indicators is not None else sorted(indicators_df["indicator"].astype(str).unique())
    tolerance = pd.Timedelta(max_age) if max_age is not None else None
    for name in names:
        calc = indicators_df[indicators_df["indicator"].astype(str) == name]
        keys = [c for c in indicator_value_columns(calc) if calc[c].notna().any()]
        if calc.empty or not keys:
            continue
        renamed = {k: f"{name}.{k.removeprefix(VALUE_PREFIX)}" for k in keys}
        right = pd.DataFrame({"symbol": calc["symbol"].astype(str).to_numpy(),
                              "_at": calc["calculated_at"].to_numpy(),
                              **{renamed[k]: calc[k].to_numpy() for k in keys}}).sort_values("_at", kind="stable")
        merged = pd.merge_asof(left[["_pos", "symbol", "_at"]], right, on="_at", by="symbol",
                               direction="backward", allow_exact_matches=True, tolerance=tolerance)
        merged = merged.sort_values("_pos")
        for column in renamed.values():
            out[column] = merged[column].to_numpy()
    return out


def with_base_rate(patterns_df: pd.DataFrame, history_df: pd.DataFrame, days: int = 20,
                   until: date | None = None, trading_days_only: bool = True, tz: str = MARKET_TZ) -> pd.DataFrame:
    """Each pattern with its symbol+type's historical rate: detections per day over the `days` days before.

    The window is the `days` days (weekdays by default) before `until`, which defaults to the
    first day of `patterns_df`, so today's live patterns are compared with history only. Days
    without detections count as zero. Adds `base_count` and `base_rate` (per day).
    """
    out = patterns_df.copy()
    if patterns_df.empty:
        return out.assign(base_count=pd.Series(dtype="int64"), base_rate=pd.Series(dtype="float64"))
    until = until or min(local_dates(patterns_df, tz))
    window = set(window_days(until, days, trading_days_only))
    history = history_df[local_dates(history_df, tz).isin(window)] if not history_df.empty else history_df
    counts = (
        history.assign(symbol=history["symbol"].astype(str), pattern_type=history["pattern_type"].astype(str))
        .groupby(["symbol", "pattern_type"]).size()
        if not history.empty else pd.Series(dtype="int64")
    )
    index = pd.MultiIndex.from_arrays([patterns_df["symbol"].astype(str), patterns_df["pattern_type"].astype(str)])
    found = counts.reindex(index, fill_value=0).to_numpy() if len(counts) else [0] * len(patterns_df)
    out["base_count"] = pd.array(found, dtype="int64")
    out["base_rate"] = out["base_count"] / float(days)
    return out


def combine(*frames: pd.DataFrame) -> pd.DataFrame:
    """Frames of one kind (history and live) as one: categories merged, repeats dropped, in time order."""
    frames = [f for f in frames if f is not None and len(f.columns)]
    if not frames:
        return pd.DataFrame()
    table = table_of(frames[0])
    for column in {c for f in frames for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)}:
        union = union_categoricals(
            [f[column].astype("category") for f in frames if column in f.columns], ignore_order=True
        ).categories
        frames = [f.assign(**{column: pd.Categorical(f[column], categories=union)}) if column in f.columns else f
                  for f in frames]
    out = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    out = out.drop_duplicates(subset=list(NATURAL_KEYS[table]), keep="first")
    return out.sort_values(TIME_COLUMN[table], kind="stable", ignore_index=True)
