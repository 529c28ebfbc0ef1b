"""Seeded, deterministic sample history: sessions, patterns, indicators and alerts for N days.

The demo, the notebooks, the tests and the benchmarks share it. The same arguments always give
the same frames (in the loaders' shape), and the last day carries a burst of one symbol's
detections so unusual-activity statistics have something to find.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .calendar import exchange, previous_trading_days
from .frames import shape

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "AMD", "WMT", "JPM")
PATTERN_TYPES = ("Doji", "Hammer", "BullishEngulfing", "BearishEngulfing", "HeadShoulders", "BreakoutDaily")
INDICATORS = {"RSI": ("value",), "MACD": ("macd", "signal", "histogram"), "BollingerBands": ("upper", "middle", "lower")}
SESSION_SECONDS = 6.5 * 3600  # a full session, 09:30 to 16:00 New York
BURST_SYMBOL = "NVDA"  # detections on the last day are multiplied for this symbol
BURST_FACTOR = 4


def trading_days(days: int, end: date) -> list[date]:
    """The last `days` trading days (exchange calendar) up to and including `end`."""
    return previous_trading_days(end + timedelta(days=1), days)


def session_id(day: date) -> str:
    """The deterministic session id of a sample trading day."""
    return f"sample-{day.isoformat()}"


def session_opens(days: Sequence[date]) -> pd.DatetimeIndex:
    """Each day's 09:30 New York in UTC (daylight saving included), from the exchange calendar."""
    return pd.DatetimeIndex([exchange().session_open(pd.Timestamp(d)) for d in days]).tz_convert("UTC")


def sample_sessions(days: Sequence[date]) -> pd.DataFrame:
    """One session per trading day, 09:30 to 16:00 New York."""
    opens = session_opens(days)
    return shape(pd.DataFrame({
        "session_id": [session_id(d) for d in days],
        "universe": "market_leaders:top_500",
        "trigger_type": "scheduled",
        "started_at": opens,
        "stopped_at": opens + pd.Timedelta(seconds=SESSION_SECONDS),
        "stop_reason": "market_close",
        "details": [{"symbol_count": 500} for _ in days],
    }), "sessions")


def sample_patterns(
    days: Sequence[date], symbols: Sequence[str], per_symbol_day: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Pattern detections: Poisson counts per symbol and day, uniform times within the session."""
    rates = per_symbol_day * rng.uniform(0.5, 1.5, len(symbols))
    counts = rng.poisson(np.tile(rates, (len(days), 1)))  # days x symbols
    if BURST_SYMBOL in symbols:
        counts[-1, list(symbols).index(BURST_SYMBOL)] *= BURST_FACTOR
    day_idx = np.repeat(np.arange(len(days)).repeat(len(symbols)), counts.ravel())
    sym_idx = np.repeat(np.tile(np.arange(len(symbols)), len(days)), counts.ravel())
    n = len(day_idx)
    offsets = rng.integers(0, int(SESSION_SECONDS * 1e6), n)  # microseconds into the session
    detected = session_opens(days)[day_idx] + pd.to_timedelta(offsets, unit="us")
    confidence = np.round(0.5 + 0.5 * rng.beta(2.0, 2.0, n), 4)
    price = np.round(rng.uniform(50, 500, n), 2)
    frame = pd.DataFrame({
        "session_id": np.array([session_id(d) for d in days], dtype=object)[day_idx],
        "symbol": np.array(symbols, dtype=object)[sym_idx],
        "pattern_type": np.array(PATTERN_TYPES, dtype=object)[rng.integers(0, len(PATTERN_TYPES), n)],
        "confidence": confidence,
        "detected_at": detected,
        "timeframe": "1min",
        "parameters": [{"close": p} for p in price.tolist()],
        "high_confidence": confidence >= 0.8,
        "published_at": detected + pd.Timedelta(milliseconds=500),
        "received_at": detected + pd.Timedelta(milliseconds=505),
    })
    frame = frame.drop_duplicates(["symbol", "pattern_type", "detected_at"]).sort_values(
        ["detected_at", "symbol"], kind="stable"
    )
    return shape(frame, "patterns")


def sample_indicators(
    days: Sequence[date], symbols: Sequence[str], every_minutes: int, rng: np.random.Generator
) -> pd.DataFrame:
    """RSI, MACD and Bollinger Bands for every symbol every `every_minutes` during each session."""
    steps = int(SESSION_SECONDS // 60 // every_minutes)
    minutes = pd.to_timedelta(np.arange(steps) * every_minutes, unit="min")
    frames = []
    for sym in symbols:
        walk = 100 + np.cumsum(rng.normal(0, 0.4, len(days) * steps))
        rsi = np.clip(50 + 25 * np.sin(np.arange(len(walk)) / 7.0 + rng.uniform(0, 6)) + rng.normal(0, 6, len(walk)), 1, 99)
        phase = rng.uniform(0, 6)
        macd = np.sin(np.arange(len(walk)) / 11.0 + phase)
        signal = np.sin((np.arange(len(walk)) - 3) / 11.0 + phase)  # the MACD three steps late, as a signal line is
        width = rng.uniform(1, 3, len(walk))
        opens = session_opens(days)
        times = (opens[0] + minutes).append([o + minutes for o in opens[1:]])
        sessions = np.repeat([session_id(d) for d in days], steps)
        values = {
            "RSI": {"value": np.round(rsi, 3)},
            "MACD": {"macd": np.round(macd, 4), "signal": np.round(signal, 4), "histogram": np.round(macd - signal, 4)},
            "BollingerBands": {"upper": np.round(walk + width, 3), "middle": np.round(walk, 3),
                               "lower": np.round(walk - width, 3)},
        }
        for name, cols in values.items():
            frames.append(pd.DataFrame({"session_id": sessions, "symbol": sym, "indicator": name,
                                        "calculated_at": times, **cols}))
    frame = pd.concat(frames, ignore_index=True)
    frame["timeframe"] = "1min"
    frame["calculated_at"] = pd.to_datetime(frame["calculated_at"], utc=True)
    frame["published_at"] = frame["calculated_at"] + pd.Timedelta(milliseconds=300)
    frame["received_at"] = frame["calculated_at"] + pd.Timedelta(milliseconds=305)
    frame = frame.sort_values(["calculated_at", "symbol", "indicator"], kind="stable")
    value_cols = sorted({c for cols in INDICATORS.values() for c in cols})
    return shape(frame, "indicators", value_cols)


def sample_alerts(indicators: pd.DataFrame) -> pd.DataFrame:
    """Indicator alerts where RSI crosses 70 / 30 and MACD crosses its signal line."""
    out = []
    for (sym, name), grp in indicators.groupby(["symbol", "indicator"], observed=True, sort=True):
        grp = grp.sort_values("calculated_at")
        if name == "RSI":
            value = grp["value"].to_numpy()
            prev = np.r_[np.nan, value[:-1]]
            for mask, kind in (((value > 70) & (prev <= 70), "RSI_OVERBOUGHT"), ((value < 30) & (prev >= 30), "RSI_OVERSOLD")):
                hits = grp[mask]
                out += [(s, sym, kind, {"rsi": float(v)}, t) for s, v, t in
                        zip(hits["session_id"], hits["value"], hits["calculated_at"], strict=True)]
        elif name == "MACD":
            hist = grp["histogram"].to_numpy()
            prev = np.r_[np.nan, hist[:-1]]
            for mask, kind in (((hist > 0) & (prev <= 0), "MACD_BULLISH_CROSS"), ((hist < 0) & (prev >= 0), "MACD_BEARISH_CROSS")):
                hits = grp[mask]
                out += [(s, sym, kind, {"macd": float(m), "signal": float(g)}, t) for s, m, g, t in
                        zip(hits["session_id"], hits["macd"], hits["signal"], hits["calculated_at"], strict=True)]
    frame = pd.DataFrame(out, columns=["session_id", "symbol", "alert_type", "data", "alerted_at"])
    frame["received_at"] = pd.to_datetime(frame["alerted_at"], utc=True) + pd.Timedelta(milliseconds=5)
    return shape(frame.sort_values(["alerted_at", "symbol", "alert_type"], kind="stable"), "indicator_alerts")


def sample_history(
    days: int = 20,
    symbols: Sequence[str] = SYMBOLS,
    patterns_per_symbol_day: float = 40.0,
    indicator_every_minutes: int = 15,
    end: date = date(2025, 1, 24),
    seed: int = 7,
) -> dict[str, pd.DataFrame]:
    """Frames keyed by table name (sessions, patterns, indicators, indicator_alerts), in the loaders' shape."""
    rng = np.random.default_rng(seed)
    tdays = trading_days(days, end)
    indicators = sample_indicators(tdays, symbols, indicator_every_minutes, rng)
    return {
        "sessions": sample_sessions(tdays),
        "patterns": sample_patterns(tdays, symbols, patterns_per_symbol_day, rng),
        "indicators": indicators,
        "indicator_alerts": sample_alerts(indicators),
    }
