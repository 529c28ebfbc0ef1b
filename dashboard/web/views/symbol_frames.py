"""One symbol's events as frames, and what its charts and tables draw from them: plain functions,
testable without a browser (`symbol.SymbolView` shows them).

Frames keep the loaders' shape and UTC times, so history and live events join with
`analytics.combine` (each event once, in time order). What a chart draws is on the wall clock of
the page's zone: Bokeh's time axes know only UTC, so the times are shifted before they are plotted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd

import analytics
from analytics.frames import NATURAL_KEYS, TIME_COLUMN, value_column
from analytics.stats import MARKET_TZ, local_dates, window_days
from dashboard.web.views.history_frames import alert_indicator, reason, wall_times
from dashboard.web.views.rows import key_parameters

SPANS = {"today's session": None, "last hour": 1, "last 6 hours": 6, "last 24 hours": 24}  # hours back
# the series each indicator draws: its value keys, and the panel they are drawn on
SERIES = {"SMA": ("value",), "BollingerBands": ("upper", "middle", "lower"), "RSI": ("value",),
          "MACD": ("macd", "signal", "histogram")}
PANEL_OF = {"SMA": "price", "BollingerBands": "price", "RSI": "RSI", "MACD": "MACD"}
BASE_DAYS = 20  # trading days before today that a base rate counts over (at most)
MAX_POINTS = 20_000  # per series and marker kind
RECENT_PATTERNS = 50  # rows of the recent-patterns table


def empty(table: str) -> pd.DataFrame:
    return analytics.live_frame([], kind={"patterns": "pattern", "indicators": "indicator",
                                          "indicator_alerts": "indicator_alert"}[table])


@dataclass
class Frames:
    """One symbol's events in the loaders' shape (times in UTC), oldest first."""

    indicators: pd.DataFrame = field(default_factory=lambda: empty("indicators"))
    patterns: pd.DataFrame = field(default_factory=lambda: empty("patterns"))
    alerts: pd.DataFrame = field(default_factory=lambda: empty("indicator_alerts"))

    @classmethod
    def of(cls, events: list) -> Frames:
        """Live events (records) as frames."""
        return cls(analytics.live_frame(events, kind="indicator"), analytics.live_frame(events, kind="pattern"),
                   analytics.live_frame(events, kind="indicator_alert"))

    def joined(self, later: Frames) -> Frames:
        """These frames and `later` as one: each event once, in time order (the history/live seam)."""
        return Frames(*(_tail(analytics.combine(a, b)) for a, b in zip(self.parts(), later.parts(), strict=True)))

    def after(self, shown: Frames) -> Frames:
        """The rows of these frames that come after what `shown` holds (per indicator for
        indicators), so a live batch never repeats or reorders what is drawn."""
        return Frames(_newer_per_indicator(self.indicators, shown.indicators),
                      _unseen(self.patterns, shown.patterns, "patterns"),
                      _unseen(self.alerts, shown.alerts, "indicator_alerts"))

    def parts(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self.indicators, self.patterns, self.alerts


def _newer_per_indicator(frame: pd.DataFrame, shown: pd.DataFrame) -> pd.DataFrame:
    if shown.empty:
        return frame
    last = shown.groupby(shown["indicator"].astype(str))["calculated_at"].max()
    before = frame["indicator"].astype(str).map(last)
    return frame[before.isna() | (frame["calculated_at"] > before)]


def _unseen(frame: pd.DataFrame, shown: pd.DataFrame, table: str) -> pd.DataFrame:
    """The rows of `frame` later than the newest of `shown`, and those at its time that are not
    among its rows (two detections of one bar may come in two batches)."""
    if shown.empty or frame.empty:
        return frame
    time, key = TIME_COLUMN[table], list(NATURAL_KEYS[table])
    last = shown[time].max()
    tied = frame[frame[time] == last]
    known = shown.loc[shown[time] == last, key].astype(str).drop_duplicates()
    fresh = tied[key].astype(str).merge(known, how="left", indicator=True)["_merge"].eq("left_only").to_numpy()
    return pd.concat([tied[fresh], frame[frame[time] > last]])


def _tail(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if len(frame) <= MAX_POINTS else frame.iloc[-MAX_POINTS:].reset_index(drop=True)


# ---------------------------------------------------------------- what the charts draw


def series(indicators: pd.DataFrame, indicator: str, zone: str) -> pd.DataFrame:
    """One indicator's values over wall-clock time in `zone` (`t` and one column per value key)."""
    rows = indicators[indicators["indicator"].astype(str) == indicator]
    out = pd.DataFrame({"t": wall_times(rows["calculated_at"], zone)})
    for key in SERIES[indicator]:
        column = value_column(key)
        out[key] = rows[column].astype(float).to_numpy() if column in rows else float("nan")
    return out.reset_index(drop=True)


def _located(marks: pd.DataFrame, line: pd.DataFrame) -> pd.DataFrame:
    """Markers with `y`: the latest value of `line` (t, y) at or before each marker's time (NaN
    before the line's first value)."""
    if marks.empty or line.empty:
        return marks.assign(y=float("nan"))
    return pd.merge_asof(marks.sort_values("t", kind="stable"), line.sort_values("t"), on="t", direction="backward")


def alert_marks(alerts: pd.DataFrame, indicators: pd.DataFrame, panel: str, zone: str) -> pd.DataFrame:
    """The alerts about the indicators of `panel`, each on its indicator's line (`t`, `y`, `alert`)."""
    about = alerts["alert_type"].astype(str).map(alert_indicator)
    mine = alerts[about.map(PANEL_OF).eq(panel)]
    marks = pd.DataFrame({"t": wall_times(mine["alerted_at"], zone), "alert": mine["alert_type"].astype(str)})
    line = _panel_line(indicators, panel, zone)
    return _located(marks, line).dropna(subset=["y"])[["t", "y", "alert"]].reset_index(drop=True)


def _panel_line(indicators: pd.DataFrame, panel: str, zone: str) -> pd.DataFrame:
    """The line a panel's markers sit on: the price's middle band (or SMA), RSI, or MACD."""
    if panel == "RSI":
        line = series(indicators, "RSI", zone).rename(columns={"value": "y"})
    elif panel == "MACD":
        line = series(indicators, "MACD", zone).rename(columns={"macd": "y"})
    else:
        bands = series(indicators, "BollingerBands", zone).rename(columns={"middle": "y"})
        line = bands if len(bands) else series(indicators, "SMA", zone).rename(columns={"value": "y"})
    return line[["t", "y"]].dropna()


def pattern_marks(patterns: pd.DataFrame, indicators: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Detections on the price panel (`t`, `y`, `pattern`, `confidence`): at the bar's close when
    the detection carries it, else on the middle band."""
    marks = pd.DataFrame({"t": wall_times(patterns["detected_at"], zone),
                          "pattern": patterns["pattern_type"].astype(str),
                          "confidence": patterns["confidence"].astype(float),
                          "close": [_close(p) for p in patterns["parameters"]] if len(patterns) else []})
    located = _located(marks, _panel_line(indicators, "price", zone))
    located["y"] = located["close"].fillna(located["y"])
    return located.dropna(subset=["y"])[["t", "y", "pattern", "confidence"]].reset_index(drop=True)


def _close(parameters) -> float:
    """A detection's close price, if its parameters carry one."""
    value = _params(parameters).get("close")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def chart_data(frames: Frames, zone: str, context: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """What each chart source draws from `frames`; markers are placed on the lines of `context`
    (all the symbol's indicator values; by default those of `frames`)."""
    context = frames.indicators if context is None else context
    out = {name: series(frames.indicators, name, zone) for name in SERIES}
    out["patterns"] = pattern_marks(frames.patterns, context, zone)
    for panel in ("price", "RSI", "MACD"):
        out[f"{panel} alerts"] = alert_marks(frames.alerts, context, panel, zone)
    return out


EMPTY = chart_data(Frames(), "UTC")  # the shape of each source


# ---------------------------------------------------------------- patterns and base rates


def recent_rows(patterns: pd.DataFrame) -> list[dict]:
    """The recent-patterns table's rows, oldest first."""
    tail = patterns.iloc[-RECENT_PATTERNS:]
    return [{"time": at.timestamp() * 1000.0, "pattern": str(name), "confidence": float(conf),
             "parameters": key_parameters(_params(params))}
            for at, name, conf, params in zip(tail["detected_at"], tail["pattern_type"], tail["confidence"],
                                              tail["parameters"], strict=True)]


def _params(parameters) -> dict:
    """A detection's parameters: a dict live, JSON text as loaded."""
    out = analytics.parse_json(pd.Series([parameters]))[0] if isinstance(parameters, str) else parameters
    return out if isinstance(out, dict) else {}


def base_rates(baseline: pd.DataFrame, today: pd.DataFrame, day: date, days: int = BASE_DAYS) -> list[dict]:
    """Per pattern type: today's detections, and detections per trading day over the recorded
    history before `day` (the `days` trading days before it, from the first day with a detection
    on); "—" where nothing is recorded before today."""
    window = window_days(day, days)
    dates = local_dates(baseline) if len(baseline) else pd.Series(dtype=object)
    recorded = [d for d in window if len(dates) and d >= dates.min()]
    counts = baseline[dates.isin(recorded)]["pattern_type"].astype(str).value_counts() if recorded else pd.Series()
    today_counts = today[local_dates(today) == day]["pattern_type"].astype(str).value_counts() if len(today) \
        else pd.Series()
    rows = []
    for name in sorted(set(counts.index) | set(today_counts.index)):
        per_day = counts.get(name, 0) / len(recorded) if recorded else None
        rows.append({"pattern": name, "today": int(today_counts.get(name, 0)), "per_day": per_day,
                     "days": f"{len(recorded)} trading days" if recorded else "no history"})
    return rows


# ---------------------------------------------------------------- loading history


@dataclass(frozen=True, eq=False)
class SymbolRequest:
    """One opening's history read, fixed when the symbol was opened."""

    database_url: str
    symbol: str
    start: datetime
    end: datetime
    day: date  # today in exchange time: base rates count the trading days before it


@dataclass
class SymbolHistory:
    frames: Frames
    baseline: pd.DataFrame  # the patterns of the base-rate window


def window(span: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The range a span reads: since midnight in exchange time for today's session, else hours back."""
    end = now or datetime.now(UTC)
    hours = SPANS[span]
    if hours is not None:
        return end - timedelta(hours=hours), end
    midnight = pd.Timestamp(end).tz_convert(MARKET_TZ).normalize()
    return midnight.tz_convert(UTC).to_pydatetime(), end


def fetch_symbol(request: SymbolRequest) -> SymbolHistory | str:
    """(worker thread) The symbol's recorded events in the range and its base-rate window; a
    failure is a sentence for the page."""
    url, symbols = request.database_url, [request.symbol]
    first = window_days(request.day, BASE_DAYS)[0]
    base_start = pd.Timestamp(first).tz_localize(MARKET_TZ).tz_convert(UTC).to_pydatetime()
    base_end = pd.Timestamp(request.day).tz_localize(MARKET_TZ).tz_convert(UTC).to_pydatetime()
    try:
        frames = Frames(analytics.load_indicators(url, symbols, request.start, request.end,
                                                  indicators=list(SERIES)),
                        analytics.load_patterns(url, symbols, request.start, request.end),
                        analytics.load_alerts(url, symbols, request.start, request.end))
        baseline = analytics.load_patterns(url, symbols, base_start, base_end,
                                           columns=["pattern_type", "detected_at"])
    except Exception as exc:  # the database is away: say so, keep the live part
        return f"history unavailable: {reason(exc)}"
    return SymbolHistory(Frames().joined(frames), baseline)
