"""The History tab's reads and frames: what one load reads from PostgreSQL (on a worker thread),
and the patterns, indicator series, alert markers and unusual-activity rows its charts and table
draw, as plain functions testable without a browser (`history.HistoryView` shows them).

Times: each row keeps its UTC time (`at`) and is plotted at the wall-clock time of the page's zone
(`t`, see `wall_times`): Bokeh's time axes know only UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

import analytics
from analytics.stats import MARKET_TZ

log = logging.getLogger(__name__)

INDICATOR_VALUES = {"RSI": "value", "SMA": "value", "EMA": "value", "MACD": "macd", "BollingerBands": "middle"}
BANDS = {"BollingerBands": ("lower", "upper")}  # drawn as a shaded band around each symbol's line
SECOND = {"MACD": "signal"}  # drawn as a second, dashed line of each symbol's colour
# Which indicator an alert is about, by the first word of its type: the one mapping the charts
# use to put alerts on their series (an alert type not listed names its indicator itself).
ALERT_INDICATOR = {"RSI": "RSI", "MACD": "MACD", "BB": "BollingerBands", "BOLLINGER": "BollingerBands",
                   "SMA": "SMA", "EMA": "EMA"}
# a pause in a symbol's series longer than GAP_STEPS of its usual steps, and than GAP_MIN, breaks its
# line: a night, a weekend or a holiday is left blank instead of drawn as a straight line across it
GAP_STEPS, GAP_MIN = 10, pd.Timedelta(hours=1)
# The indicator chart draws at most this many symbols' lines (the most active ones): each line is
# a few glyphs the server redraws on every load and live batch, 40 symbols' lines took 5 s of the
# server's loop to load and 2.3 s for each live batch, and more than ten overlapping lines are
# no longer readable anyway.
MAX_LINES = 10
UNUSUAL_COLUMNS = [{"field": "symbol", "title": "Symbol"},
                   {"field": "today", "title": "Today so far", "kind": "int"},
                   {"field": "baseline_mean", "title": "Mean", "kind": "num"},
                   {"field": "baseline_std", "title": "Std", "kind": "num"},
                   {"field": "z", "title": "z", "kind": "num"},
                   {"field": "baseline_median", "title": "Median", "kind": "num"},
                   {"field": "baseline_mad", "title": "MAD", "kind": "num"},
                   {"field": "robust_z", "title": "Robust z", "kind": "num"},
                   {"field": "note", "title": "Baseline"}]

# the charts' buffers, empty: pattern points, an indicator's series, alert markers
_AT = pd.Series(dtype="datetime64[ns, UTC]")
EMPTY_POINTS = pd.DataFrame({"t": pd.Series(dtype="datetime64[ns]"), "confidence": pd.Series(dtype=float),
                             "symbol": pd.Series(dtype=str), "pattern_type": pd.Series(dtype=str), "at": _AT})
EMPTY_SERIES = pd.DataFrame({"t": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                             "lower": pd.Series(dtype=float), "upper": pd.Series(dtype=float),
                             "second": pd.Series(dtype=float), "symbol": pd.Series(dtype=str), "at": _AT})
EMPTY_MARKS = pd.DataFrame({"t": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                            "alert_type": pd.Series(dtype=str), "symbol": pd.Series(dtype=str), "at": _AT})


def wall_times(series: pd.Series, zone: str) -> pd.Series:
    """Times as the wall clock of `zone` reads them, without a zone: what a Bokeh time axis (UTC
    only) must be given to show them in that zone."""
    return series.dt.tz_convert(zone).dt.tz_localize(None)


def iso_frame(df: pd.DataFrame, zone: str) -> pd.DataFrame:
    """`df` with every time as ISO 8601 text with the offset of `zone` (for CSV)."""
    out = df.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert(zone).map(lambda t: t.isoformat(timespec="milliseconds"),
                                                              na_action="ignore")
    return out


@dataclass(frozen=True, eq=False)
class LoadRequest:
    """What one click on "Load history" asked for, fixed when it was clicked."""

    database_url: str
    symbols: tuple[str, ...] | None  # None: all
    start: datetime
    end: datetime
    indicator: str
    baseline_days: int
    zone: str = MARKET_TZ


@dataclass
class Loaded:
    """A load's result, ready for the charts and the table (built off the server's loop)."""

    patterns: pd.DataFrame  # as stored, for the CSV export
    points: pd.DataFrame
    series: pd.DataFrame
    marks: pd.DataFrame
    unusual: list[dict]
    status: str
    lines: tuple[str, ...] = ()  # the symbols whose indicator lines are drawn (and appended to live)


def fetch_history(request: LoadRequest) -> Loaded | str:
    """(worker thread) Read and shape the requested range; a failure is a message for the page."""
    symbols, start, end = list(request.symbols) if request.symbols else None, request.start, request.end
    try:
        url = request.database_url
        patterns = analytics.load_patterns(url, symbols, start, end,
                                           columns=["symbol", "pattern_type", "confidence", "detected_at"])
        indicators = analytics.load_indicators(url, symbols, start, end, indicators=[request.indicator])
        alerts = analytics.load_alerts(url, symbols, start, end)
        baseline = analytics.load_patterns(url, symbols, end - timedelta(days=request.baseline_days * 1.5 + 3), end,
                                           columns=["symbol", "pattern_type", "detected_at"])
    except Exception as exc:  # the database is away: say so, keep the page alive
        return f"history unavailable: {reason(exc)}"
    try:
        series, marks = indicator_frames(request.indicator, indicators, alerts, request.zone)
        lines = drawn_lines(patterns, series, request.symbols)
        series, marks = series[series["symbol"].isin(lines)], marks[marks["symbol"].isin(lines)]
        unusual = analytics.unusual_activity(baseline, baseline_days=request.baseline_days).head(500)
        status = (f"{len(patterns):,} patterns, {len(indicators):,} {request.indicator} values, "
                  f"{len(alerts):,} alerts")
        if (valued := indicators["symbol"].nunique() if len(indicators) else 0) > len(lines):
            status += (f"; {request.indicator} drawn for the {len(lines)} symbols with the most patterns "
                       f"of {valued} (choose symbols to draw others)")
        return Loaded(patterns, pattern_points(patterns, request.zone), series, marks, unusual_rows(unusual)[::-1],
                      status, tuple(lines))
    except Exception as exc:  # a bug: the log has the traceback, the page a sentence
        log.exception("history load failed")
        return f"history load failed: {reason(exc)}"


def drawn_lines(patterns: pd.DataFrame, series: pd.DataFrame, chosen: tuple[str, ...] | None) -> list[str]:
    """The symbols whose indicator lines the chart draws, at most MAX_LINES: the chosen ones, or
    every symbol with values; when they are more, those with the most patterns in the range (then
    the most values, then by name)."""
    valued = series["symbol"].value_counts()
    candidates = sorted(set(chosen) if chosen else set(valued.index))
    if len(candidates) <= MAX_LINES:
        return candidates
    detected = patterns["symbol"].astype(str).value_counts()
    ranked = sorted(candidates, key=lambda s: (-detected.get(s, 0), -valued.get(s, 0), s))
    return sorted(ranked[:MAX_LINES])


def reason(exc: Exception) -> str:
    """An exception as one line for the page: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


def pattern_points(df: pd.DataFrame, zone: str = MARKET_TZ) -> pd.DataFrame:
    """Loaded or live patterns as the scatter's points, at their times in `zone`."""
    if df.empty:
        return EMPTY_POINTS.copy()
    return pd.DataFrame({"t": wall_times(df["detected_at"], zone), "confidence": df["confidence"].astype(float),
                         "symbol": df["symbol"].astype(str), "pattern_type": df["pattern_type"].astype(str),
                         "at": df["detected_at"].dt.tz_convert(UTC)})


def alert_indicator(alert_type: str) -> str:
    """The indicator an alert type is about (`BB_UPPER_BREAK` → BollingerBands)."""
    head = alert_type.upper().split("_", 1)[0]
    return ALERT_INDICATOR.get(head, head)


def indicator_frames(indicator: str, indicators: pd.DataFrame, alerts: pd.DataFrame,
                     zone: str = MARKET_TZ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An indicator's series (one per symbol; `lower` and `upper`: its band, `second`: its second
    line, NaN for an indicator without them), and its alerts placed on the value they fired at, at
    their times in `zone`."""
    key = INDICATOR_VALUES.get(indicator, "value")  # another indicator: its single value
    if indicators.empty or key not in indicators:
        series = EMPTY_SERIES.copy()
    else:
        at = indicators["calculated_at"].dt.tz_convert(UTC)
        nan = pd.Series(float("nan"), index=indicators.index)
        lower, upper, second = (indicators[k].astype(float) if k in indicators else nan
                                for k in (*BANDS.get(indicator, ("", "")), SECOND.get(indicator, "")))
        series = pd.DataFrame({"t": wall_times(at, zone), "value": indicators[key].astype(float),
                               "lower": lower, "upper": upper, "second": second,
                               "symbol": indicators["symbol"].astype(str), "at": at}).sort_values("at")
    if alerts.empty or series.empty:
        return series, EMPTY_MARKS.copy()
    about = alerts["alert_type"].astype(str).map(alert_indicator)
    wanted = alerts[about.str.upper() == indicator.upper()]
    at = wanted["alerted_at"].dt.tz_convert(UTC)
    marks = pd.DataFrame({"t": wall_times(at, zone), "alert_type": wanted["alert_type"].astype(str),
                          "symbol": wanted["symbol"].astype(str), "at": at}).sort_values("at")
    located = pd.merge_asof(marks, series[["at", "value", "symbol"]].rename(columns={"symbol": "s"}), on="at",
                            left_by="symbol", right_by="s", direction="backward")
    return series, located[["t", "value", "alert_type", "symbol", "at"]].dropna(subset=["value"])


def unusual_rows(df: pd.DataFrame) -> list[dict]:
    """The table's rows; where there is no baseline yet, a note says why instead of blank scores."""
    need = df.attrs.get("min_baseline_days", 0)
    fields = [c["field"] for c in UNUSUAL_COLUMNS if c["field"] != "note"]
    rows = []
    for r in df.reindex(columns=[*fields, "baseline_days"]).astype({"symbol": str}).to_dict("records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        days = row.pop("baseline_days") or 0
        row["note"] = (f"{days} trading days" if row["z"] is not None
                       else f"no baseline yet: {days} of {need} trading days recorded")
        rows.append(row)
    return rows


def broken_at_gaps(data: pd.DataFrame, x: str, key: str, values: list[str]) -> pd.DataFrame:
    """Each `key`'s series with a blank point (`values` NaN) in the middle of every long pause, so
    that its line (or band) stops where the data does (see GAP_STEPS) and starts again after."""
    if len(data) < 2:
        return data
    data = data.sort_values([key, x], kind="stable")
    steps = data.groupby(key, sort=False, observed=True)[x].diff()
    usual = steps.groupby(data[key], sort=False, observed=True).transform("median")
    gaps = steps > (usual * GAP_STEPS).clip(lower=GAP_MIN)
    if not gaps.any():
        return data
    blanks = data[gaps].assign(**dict.fromkeys(values, float("nan")), **{x: data[x][gaps] - steps[gaps] / 2})
    return pd.concat([data, blanks]).sort_values([key, x], kind="stable")
