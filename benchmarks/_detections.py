"""The benchmarks' detections: pattern records as the decoder makes them, with the simulator's
pattern types and OHLCV parameters, distinct keys, times in trading sessions (history.py, month.py)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from datetime import date

import _common  # noqa: F401  (puts the project root on sys.path)
import numpy as np
import pandas as pd

from analytics.events import Pattern  # noqa: E402
from analytics.sample import SESSION_SECONDS, session_opens  # noqa: E402

PATTERN_TYPES = ("Doji", "Hammer", "ShootingStar", "Engulfing", "BreakoutUp", "BreakoutDown")  # the simulator's
TYPE_WEIGHTS = (0.22, 0.14, 0.14, 0.10, 0.20, 0.20)
CHANNEL = "tickstock:patterns:streaming"


def tickers(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct ticker-like symbols, 1 to 5 capital letters (mostly 3 and 4)."""
    letters, out = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), set()
    while len(out) < n:
        out.add("".join(rng.choice(letters, int(rng.choice([1, 2, 3, 4, 5], p=[0.02, 0.10, 0.38, 0.45, 0.05])))))
    return sorted(out)


def make_events(detected_ns: np.ndarray, symbol_of: Callable[[np.random.Generator, int], np.ndarray],
                session_ids: np.ndarray, rng: np.random.Generator) -> list[Pattern]:
    """Pattern records as the decoder makes them, one per detection time (distinct times: distinct keys)."""
    n = len(detected_ns)
    sym = symbol_of(rng, n)
    kinds = rng.choice(len(PATTERN_TYPES), n, p=TYPE_WEIGHTS)
    confidence = np.round(0.5 + 0.49 * rng.beta(2.0, 2.0, n), 2)
    published_ns = detected_ns + rng.integers(1_000_000, 20_000_000, n)  # 1-20 ms to leave the producer
    received = (published_ns + rng.integers(200_000, 3_000_000, n)) / 1e9  # and 0.2-3 ms to arrive
    close = np.round(rng.lognormal(4.3, 0.8, n), 2)
    open_ = np.round(close - close * rng.normal(0, 0.004, n), 2)
    high = np.round(np.maximum(open_, close) + np.abs(rng.normal(0, 0.002, n)) * close, 2)
    low = np.round(np.minimum(open_, close) - np.abs(rng.normal(0, 0.002, n)) * close, 2)
    ohlcv = zip(open_.tolist(), high.tolist(), low.tolist(), close.tolist(), rng.integers(1_000, 900_000, n).tolist(),
                strict=True)
    ratio, bullish = np.round(rng.uniform(0.0, 4.0, n), 4).tolist(), (rng.random(n) < 0.5).tolist()
    detected = pd.DatetimeIndex(detected_ns, tz="UTC").to_pydatetime()
    published = pd.DatetimeIndex(published_ns, tz="UTC").to_pydatetime()
    extras = {0: "body_ratio", 1: "wick_ratio", 2: "wick_ratio"}
    events = []
    for s, k, c, d, p, r, bar, x, b, sid in zip(sym.tolist(), kinds.tolist(), confidence.tolist(), detected, published,
                                                received.tolist(), ohlcv, ratio, bullish, session_ids.tolist(),
                                                strict=True):
        params = dict(zip(("open", "high", "low", "close", "volume"), bar, strict=True))
        if k in extras:
            params[extras[k]] = x
        elif k == 3:
            params.update(direction="bullish" if b else "bearish", engulf_ratio=round(1.5 + x, 2))
        events.append(Pattern(channel=CHANNEL, ts=p, received=r, session_id=sid, symbol=s, pattern=PATTERN_TYPES[k],
                              confidence=c, detected_at=d, timeframe="1min", parameters=params,
                              high_confidence=c >= 0.8))
    return events


def history_events(n: int, symbols: list[str], rng: np.random.Generator, days: list[date]) -> list[Pattern]:
    """n detections over the trading sessions of `days`, in time order, symbols of uneven activity."""
    per_day = math.ceil(n / len(days))
    step_us, i = int(SESSION_SECONDS * 1e6) // per_day, np.arange(n)
    day = i // per_day
    opens_ns = np.array([ts.value for ts in session_opens(days)], dtype=np.int64)  # 09:30 New York, DST included
    offset_us = (i % per_day) * step_us + rng.integers(0, step_us, n)  # strictly increasing within a day
    detected_ns = opens_ns[day] + offset_us * 1000
    weights = (w := rng.lognormal(0, 1.0, len(symbols))) / w.sum()
    sessions = np.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in days], dtype=object)[day]
    return make_events(detected_ns, lambda r, m: np.array(symbols, dtype=object)[r.choice(len(symbols), m, p=weights)],
                       sessions, rng)


def recent_events(n: int, symbol: str, rng: np.random.Generator) -> list[Pattern]:
    """n detections of one symbol spread evenly over the last 23.5 hours up to 30 s ago."""
    start_ns, end_ns = time.time_ns() - int(23.5 * 3600e9), time.time_ns() - int(30e9)
    step = (end_ns - start_ns) // n
    detected_ns = start_ns + np.arange(n, dtype=np.int64) * step + rng.integers(0, step, n)
    sessions = np.full(n, str(uuid.UUID(bytes=rng.bytes(16), version=4)), dtype=object)
    return make_events(detected_ns, lambda r, m: np.full(m, symbol, dtype=object), sessions, rng)
