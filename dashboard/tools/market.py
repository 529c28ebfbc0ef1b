"""One symbol's simulated market: random-walk bars, incremental indicators, candle patterns, crossings.

Pure and deterministic given the `random.Random` passed in; the simulator turns it into wire events.
"""

from __future__ import annotations

import math
import random
from collections import deque

BAR_VOL = 0.004  # typical per-bar log-return volatility (lively 1-minute bars)
DRIFT_SD = 0.0005  # per-bar innovation of each symbol's persistent drift (trends make RSI swing)
RSI_N, SMA_N, BB_N, BB_K, MACD_FAST, MACD_SLOW, MACD_SIGNAL = 14, 20, 20, 2.0, 12, 26, 9
BREAKOUT_N = 20  # bars whose high / low a close must cross for a breakout
OVERBOUGHT, OVERSOLD = 70.0, 30.0  # RSI levels whose crossing raises an alert


def ema(prev: float | None, x: float, n: int) -> float:
    """The n-period exponential moving average after `x` (seeded with the first value)."""
    return x if prev is None else prev + 2.0 / (n + 1) * (x - prev)


class Ticker:
    """One symbol's price path, its last bars and its incrementally updated indicators."""

    def __init__(self, name: str, price: float, volume: float):
        self.name, self.close, self.base_volume = name, price, volume
        self.drift, self.vol = 0.0, BAR_VOL
        self.closes: deque[float] = deque(maxlen=max(SMA_N, BB_N))
        self.highs: deque[float] = deque(maxlen=BREAKOUT_N)
        self.lows: deque[float] = deque(maxlen=BREAKOUT_N)
        self.changes = 0
        self.avg_gain = self.avg_loss = 0.0
        self.fast = self.slow = self.signal = None
        self.bar: dict | None = None
        self.above = self.below = False  # close beyond the prior N-bar high / low
        self.values: dict[str, dict[str, float]] = {}

    def step(self, rng: random.Random) -> tuple[dict, dict | None, list[tuple[str, float]]]:
        """A new bar; returns it, the previous bar and the breakouts of the prior N-bar high / low it made."""
        self.drift = 0.9 * self.drift + rng.gauss(0.0, DRIFT_SD)
        self.vol = BAR_VOL * math.exp(0.9 * math.log(self.vol / BAR_VOL) + rng.gauss(0.0, 0.12))
        prev_close, prev_bar = self.close, self.bar
        o = prev_close * math.exp(rng.gauss(0.0, self.vol * 0.15))
        c = o * math.exp(self.drift + rng.gauss(0.0, self.vol))
        h = max(o, c) * math.exp(rng.expovariate(2.0 / self.vol))
        lo = min(o, c) * math.exp(-rng.expovariate(2.0 / self.vol))
        move = abs(math.log(c / prev_close)) / self.vol
        v = int(self.base_volume * rng.lognormvariate(0.0, 0.35) * (1.0 + 0.5 * move))
        breakouts = []
        if len(self.highs) == self.highs.maxlen:
            hh, ll = max(self.highs), min(self.lows)
            above, below = c > hh, c < ll
            if above and not self.above:
                breakouts.append(("BreakoutUp", min(1.0, (c / hh - 1.0) / (2 * self.vol))))
            if below and not self.below:
                breakouts.append(("BreakoutDown", min(1.0, (1.0 - c / ll) / (2 * self.vol))))
            self.above, self.below = above, below
        self.close, self.bar = c, {"open": o, "high": h, "low": lo, "close": c, "volume": v}
        self.highs.append(h)
        self.lows.append(lo)
        self._indicators(prev_close, c)
        return self.bar, prev_bar, breakouts

    def _indicators(self, prev: float, close: float) -> None:
        self.closes.append(close)
        gain, loss = max(close - prev, 0.0), max(prev - close, 0.0)
        self.changes += 1
        n = min(self.changes, RSI_N)  # running mean up to RSI_N changes, then Wilder's smoothing
        self.avg_gain += (gain - self.avg_gain) / n
        self.avg_loss += (loss - self.avg_loss) / n
        rsi = 100.0 if self.avg_loss == 0 else 100.0 - 100.0 / (1.0 + self.avg_gain / self.avg_loss)
        self.fast, self.slow = ema(self.fast, close, MACD_FAST), ema(self.slow, close, MACD_SLOW)
        macd = self.fast - self.slow
        self.signal = ema(self.signal, macd, MACD_SIGNAL)
        window = list(self.closes)[-BB_N:]
        mid = sum(window) / len(window)
        sd = math.sqrt(sum((x - mid) ** 2 for x in window) / len(window))
        sma = sum(list(self.closes)[-SMA_N:]) / min(len(self.closes), SMA_N)
        self.values = {
            "RSI": {"value": round(rsi, 2)},
            "SMA": {"value": round(sma, 4)},
            "MACD": {"macd": round(macd, 4), "signal": round(self.signal, 4),
                     "histogram": round(macd - self.signal, 4)},
            "BollingerBands": {"upper": round(mid + BB_K * sd, 4), "middle": round(mid, 4),
                               "lower": round(mid - BB_K * sd, 4)},
        }


def candle_patterns(bar: dict, prev: dict | None) -> list[tuple[str, float, dict]]:
    """Candle patterns of one bar, each with its cleanliness in [0, 1] and a shape metric."""
    o, h, lo, c = bar["open"], bar["high"], bar["low"], bar["close"]
    rng_ = h - lo
    if rng_ <= 0:
        return []
    body, upper, lower = abs(c - o), h - max(o, c), min(o, c) - lo
    ratio = body / rng_
    found = []
    if ratio < 0.08:
        found.append(("Doji", 1.0 - ratio / 0.08, {"body_ratio": round(ratio, 4)}))
    elif lower >= 2 * body and upper <= 0.15 * rng_:
        found.append(("Hammer", min(1.0, (lower / body - 2) / 3) * (1 - upper / (0.15 * rng_)),
                      {"wick_ratio": round(lower / body, 2)}))
    elif upper >= 2 * body and lower <= 0.15 * rng_:
        found.append(("ShootingStar", min(1.0, (upper / body - 2) / 3) * (1 - lower / (0.15 * rng_)),
                      {"wick_ratio": round(upper / body, 2)}))
    if prev is not None:
        po, pc = prev["open"], prev["close"]
        pbody = abs(pc - po)
        bullish = pc < po and c > o and o <= pc and c >= po
        bearish = pc > po and c < o and o >= pc and c <= po
        if (bullish or bearish) and pbody > 0 and body >= 1.5 * pbody:
            found.append(("Engulfing", min(1.0, (body / pbody - 1.5) / 2),
                          {"direction": "bullish" if bullish else "bearish",
                           "engulf_ratio": round(body / pbody, 2)}))
    return found


def crossing_alerts(before: dict, now: dict, prev_close: float, close: float) -> list[tuple[str, dict]]:
    """Indicator alerts for the crossings between a symbol's previous and latest values."""
    out = []
    rsi0, rsi1 = before["RSI"]["value"], now["RSI"]["value"]
    if rsi0 <= OVERBOUGHT < rsi1:
        out.append(("RSI_OVERBOUGHT", {"rsi": rsi1}))
    if rsi0 >= OVERSOLD > rsi1:
        out.append(("RSI_OVERSOLD", {"rsi": rsi1}))
    m0, m1 = before["MACD"], now["MACD"]
    if m0["macd"] <= m0["signal"] and m1["macd"] > m1["signal"]:
        out.append(("MACD_BULLISH_CROSS", {"macd": m1["macd"], "signal": m1["signal"]}))
    if m0["macd"] >= m0["signal"] and m1["macd"] < m1["signal"]:
        out.append(("MACD_BEARISH_CROSS", {"macd": m1["macd"], "signal": m1["signal"]}))
    b0, b1 = before["BollingerBands"], now["BollingerBands"]
    if prev_close <= b0["upper"] and close > b1["upper"]:
        out.append(("BB_UPPER_BREAK", {"close": close, "upper": b1["upper"]}))
    if prev_close >= b0["lower"] and close < b1["lower"]:
        out.append(("BB_LOWER_BREAK", {"close": close, "lower": b1["lower"]}))
    return out
