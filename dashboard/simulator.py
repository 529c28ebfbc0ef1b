"""A realistic, deterministic TickStockPL streaming session, published on Redis (`tickstock simulate`).

Each symbol's price follows its own random walk; every indicator, alert and pattern is computed
from those bars, so alerts follow real indicator crossings and patterns follow real candle shapes.
The same seed and options give the same messages (wall-clock timestamps aside).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import redis

from . import constants as C
from .channels import Channels
from .market import Ticker, candle_patterns, crossing_alerts

MODES: dict[str, float | None] = {"quick": 30.0, "standard": 120.0, "extended": 600.0, "single": None}  # s
DEFAULT_SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "WMT", "JPM", "V",
                   "UNH", "XOM", "JNJ", "PG", "MA", "HD", "COST", "BAC", "NFLX", "AMD")
_PRICES = {"AAPL": 228.0, "MSFT": 415.0, "NVDA": 138.0, "TSLA": 245.0, "AMZN": 198.0, "GOOGL": 172.0,
           "META": 585.0, "WMT": 84.0, "JPM": 238.0, "V": 310.0, "UNH": 520.0, "XOM": 118.0, "JNJ": 155.0,
           "PG": 168.0, "MA": 515.0, "HD": 405.0, "COST": 910.0, "BAC": 46.0, "NFLX": 890.0, "AMD": 125.0}

INDICATOR_TYPES = ("RSI", "SMA", "MACD", "BollingerBands")  # the order of a bar's indicator events
ALERT_TYPES = ("RSI_OVERBOUGHT", "RSI_OVERSOLD", "MACD_BULLISH_CROSS", "MACD_BEARISH_CROSS",
               "BB_UPPER_BREAK", "BB_LOWER_BREAK")
WARMUP_BARS = 30  # bars of history per symbol before the first event, so every indicator is defined
CRITICAL_PER_STEP = 1 / 330  # ~one critical alert per 1-2 minutes at 20 messages/s
PERSIST_EVERY_STEPS = 40  # bars between persistence_batch confirmations (~11 s at 20 messages/s)
BURST = 100  # most messages sent in one pipeline when behind schedule

Message = tuple[str, dict]


class SimulatorError(Exception):
    """The simulator cannot run: Redis unreachable or failing, or a bad option."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Session:
    """The producer's state: symbols taking turns to print a bar, and the session's health."""

    def __init__(self, seed: int, symbols: Sequence[str], channels: Channels):
        if not symbols:
            raise SimulatorError("no symbols to simulate")
        self.rng, self.aux = random.Random(seed), random.Random(f"{seed}:aux")
        self.session_id = str(uuid.UUID(int=random.Random(f"{seed}:session").getrandbits(128), version=4))
        self.ch, self.universe = channels, list(dict.fromkeys(symbols))
        self.symbols = [Ticker(s, _PRICES.get(s) or round(self.rng.lognormvariate(4.5, 0.8), 2),
                               self.rng.uniform(2e4, 3e5)) for s in self.universe]
        for _ in range(WARMUP_BARS):
            for sym in self.symbols:
                sym.step(self.rng)
        self.turn = 0
        self.rows: Counter[str] = Counter()  # rows awaiting the next persistence_batch, per table
        self.tps, self.lag, self.cpu, self.mem, self.reconnections = 1.75 * len(self.universe), 45.0, 32.0, 1250.0, 0

    def started(self) -> Message:
        now, n = _now(), len(self.universe)
        key = f"market_leaders:top_{n}" if tuple(self.universe) == DEFAULT_SYMBOLS else f"custom:{n}_symbols"
        return self.ch.session_started, {"event": "session_started", "timestamp": now, "data": {
            "session_id": self.session_id, "symbol_universe_key": key, "start_time": now, "trigger_type": "simulated"}}

    def stopped(self, reason: str) -> Message:
        now = _now()
        return self.ch.session_stopped, {"event": "session_stopped", "timestamp": now, "data": {
            "session_id": self.session_id, "stop_time": now, "reason": reason}}

    def step(self) -> list[Message]:
        """The next symbol's bar as indicator events, crossing alerts, pattern detections and more."""
        sym = self.symbols[self.turn % len(self.symbols)]
        self.turn += 1
        before, prev_close = sym.values, round(sym.close, 4)
        bar, prev_bar, breakouts = sym.step(self.rng)
        at, now, out = _now(), sym.values, []
        for kind, values in now.items():
            out.append((self.ch.indicators, {"event": "indicator_calculated", "session_id": self.session_id,
                        "timestamp": None, "calculation": {"indicator_type": kind, "symbol": sym.name,
                                                           "timestamp": at, "values": values, "timeframe": "1min"}}))
        out += [(self.ch.alerts_indicators, {"alert_type": a, "symbol": sym.name, "timestamp": None,
                                             "session_id": self.session_id, "data": d})
                for a, d in crossing_alerts(before, now, prev_close, round(bar["close"], 4))]
        shape = {k: round(bar[k], 2) for k in ("open", "high", "low", "close")} | {"volume": bar["volume"]}
        for name, q, extra in candle_patterns(bar, prev_bar) + [(n, q, {}) for n, q in breakouts]:
            confidence = round(0.5 + 0.49 * max(0.0, min(1.0, q)), 2)
            payload = {"event": "pattern_detected", "session_id": self.session_id, "timestamp": None,
                       "detection": {"pattern_type": name, "symbol": sym.name, "timestamp": at,
                                     "confidence": confidence, "parameters": shape | extra, "timeframe": "1min"}}
            out.append((self.ch.patterns_streaming, payload))
            if confidence >= C.HIGH_CONFIDENCE:
                out.append((self.ch.patterns_detected, payload))  # the same object: identical on both
            self.rows["intraday_patterns"] += 1
        self.rows["intraday_indicators"] += len(now)
        if self.aux.random() < CRITICAL_PER_STEP:
            out.append(self.critical())
        if self.turn % PERSIST_EVERY_STEPS == 0:
            out.append(self.persistence())
        return out

    def critical(self) -> Message:
        r = self.aux
        kind = r.choice(("CONNECTION_LOST", "DATA_FEED_DELAY", "MEMORY_PRESSURE", "PROCESSING_BACKLOG"))
        if kind == "CONNECTION_LOST":
            self.reconnections += 1
            message, data = "Lost connection to market data WebSocket", {
                "reconnect_attempts": r.randint(1, 5),
                "last_error": r.choice(("Connection timeout", "Connection reset by peer", "TLS handshake failed"))}
        elif kind == "DATA_FEED_DELAY":
            delay = r.randint(2000, 15000)
            message, data = f"Market data delayed by {delay} ms", {
                "delay_ms": delay, "symbols_affected": r.randint(1, len(self.universe))}
        elif kind == "MEMORY_PRESSURE":
            pct = round(r.uniform(88, 97), 1)
            message, data = f"Memory usage at {pct}% of limit", {"memory_mb": round(8192 * pct / 100, 1),
                                                                 "memory_percent": pct}
        else:
            depth = r.randint(500, 5000)
            message, data = f"{depth} bars waiting to be processed", {"queue_depth": depth}
        return self.ch.alerts_critical, {"type": kind, "message": message, "severity": "critical",
                                         "timestamp": None, "data": data}

    def persistence(self) -> Message:
        table = ("intraday_indicators", "intraday_patterns")[(self.turn // PERSIST_EVERY_STEPS) % 2]
        rows, self.rows[table] = self.rows[table], 0
        return self.ch.persistence, {"event": "persistence_batch", "timestamp": None, "session_id": self.session_id,
                                     "table": table, "rows": rows,
                                     "duration_ms": round(2.0 + 0.12 * rows * self.aux.uniform(0.7, 1.5), 1)}

    def health(self) -> Message:
        """Producer health: mean-reverting rates and resources, now and then degraded."""
        r, n = self.aux, len(self.universe)
        self.tps = max(1.0, self.tps + 0.3 * (1.75 * n - self.tps) + r.gauss(0, 0.08 * 1.75 * n))
        self.lag = max(5.0, self.lag + 0.3 * (45 - self.lag) + r.gauss(0, 8))
        self.cpu = min(99.0, max(2.0, self.cpu + 0.3 * (32 - self.cpu) + r.gauss(0, 3)))
        self.mem = max(600.0, self.mem + r.gauss(2, 6))
        tps, lag, cpu, issues, stale, failed = self.tps, self.lag, self.cpu, [], [], 0
        if r.random() < 0.12:
            issue = r.choice(("processing lag above 500 ms", "tick rate below expected", "CPU above 85%"))
            issues, stale = [issue], r.sample(self.universe, r.randint(1, min(5, n)))
            if issue.startswith("processing"):
                lag = r.uniform(520, 900)
            elif issue.startswith("tick"):
                tps, failed = tps * r.uniform(0.2, 0.4), 1
                self.reconnections += 1
            else:
                cpu = r.uniform(86, 97)
        return self.ch.health, {
            "event": "streaming_health", "timestamp": None, "session_id": self.session_id,
            "status": "degraded" if issues else "healthy", "issues": issues,
            "connection": {"active": 1, "failed": failed, "reconnections": self.reconnections},
            "data_flow": {"ticks_per_second": round(tps), "bars_per_minute": round(n * r.uniform(0.95, 1.0)),
                          "processing_lag_ms": round(lag)},
            "resources": {"cpu_percent": round(cpu, 1), "memory_mb": round(self.mem, 1),
                          "memory_percent": round(self.mem / 81.92, 1)},
            "active_symbols": n - len(stale), "stale_symbols": {"count": len(stale), "symbols": stale}}


def _stamp(payload: dict) -> dict:
    """Give a message its envelope timestamp when it leaves (a shared pattern copy keeps the first)."""
    if payload.get("timestamp") is None:
        payload["timestamp"] = _now()
    return payload


def _market(session: _Session) -> Iterator[Message]:
    while True:
        yield from session.step()


def generate(*, seed: int = 42, symbols: Sequence[str] | None = None, channels: Channels | None = None,
             health_every: int = 200) -> Iterator[Message]:
    """session_started, then an endless deterministic stream of (channel, payload); no pacing, no I/O."""
    session = _Session(seed, list(symbols or DEFAULT_SYMBOLS), channels or Channels())
    yield session.started()
    for count, (channel, payload) in enumerate(_market(session), start=1):
        yield channel, _stamp(payload)
        if health_every > 0 and count % health_every == 0:
            channel, payload = session.health()
            yield channel, _stamp(payload)


def _single(session: _Session) -> list[Message]:
    """One message of each kind, taken from the simulated market where it happens naturally."""
    wanted = {*INDICATOR_TYPES, *ALERT_TYPES, "pattern"}
    found: dict[str, dict] = {}
    for _ in range(200_000):
        for channel, payload in session.step():
            if channel == session.ch.indicators:
                found.setdefault(payload["calculation"]["indicator_type"], payload)
            elif channel == session.ch.alerts_indicators:
                found.setdefault(payload["alert_type"], payload)
            elif channel == session.ch.patterns_detected:
                found.setdefault("pattern", payload)
        if wanted <= found.keys():
            break
    else:
        raise SimulatorError(f"the simulated market never produced: {sorted(wanted - found.keys())}")
    ch = session.ch
    return [(ch.patterns_streaming, found["pattern"]), (ch.patterns_detected, found["pattern"]),
            *[(ch.indicators, found[k]) for k in INDICATOR_TYPES],
            *[(ch.alerts_indicators, found[k]) for k in ALERT_TYPES],
            session.health(), session.critical(), session.persistence()]


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url


def simulate(redis_url: str, *, rate: float = 20.0, duration: float | None = None, mode: str | None = "quick",
             symbols: Sequence[str] | None = None, seed: int = 42, prefix: str = C.DEFAULT_CHANNEL_PREFIX,
             health_interval: float = 10.0, stop_event: threading.Event | None = None,
             on_progress: Callable[[dict], None] | None = None) -> dict:
    """Publish a simulated session on Redis at `rate` messages/s (0: flat out); returns what was sent.

    `duration` overrides the mode's (`single` sends one message of each kind and ignores it); with
    neither, the run lasts until `stop_event` is set. session_stopped is always the last message.
    """
    if mode is not None and mode not in MODES:
        raise SimulatorError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if not (math.isfinite(rate) and rate >= 0) or not health_interval > 0:
        raise SimulatorError(f"rate must be >= 0 and health_interval > 0 (got {rate}, {health_interval})")
    run_for = duration if duration is not None else MODES[mode] if mode else None
    session = _Session(seed, list(symbols or DEFAULT_SYMBOLS), Channels(prefix))
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=10)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise SimulatorError(f"cannot reach Redis at {_safe(redis_url)}: {exc}") from exc
    sent: Counter[str] = Counter()
    t0 = last_progress = time.monotonic()

    def progress(force: bool = False) -> None:
        nonlocal last_progress
        if on_progress is not None and (force or time.monotonic() - last_progress >= 0.25):
            last_progress = time.monotonic()
            on_progress({"total": sum(sent.values()), "sent": dict(sent), "elapsed_s": round(last_progress - t0, 3)})

    def publish(batch: list[Message]) -> None:
        pipe = client.pipeline(transaction=False)
        for channel, payload in batch:
            pipe.publish(channel, json.dumps(_stamp(payload), separators=(",", ":")))
            sent[channel] += 1
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise SimulatorError(f"publishing to Redis at {_safe(redis_url)} failed: {exc}") from exc
        progress()

    def wait(seconds: float) -> None:
        if stop_event is not None:
            stop_event.wait(max(seconds, 0.0))
        elif seconds > 0:
            time.sleep(seconds)

    stopping = (lambda: stop_event.is_set()) if stop_event is not None else (lambda: False)
    reason = "simulation_complete"
    try:
        publish([session.started()])
        todo = iter(_single(session)) if mode == "single" else _market(session)
        end = None if mode == "single" or run_for is None else t0 + run_for
        paced, next_health = 1, t0  # health first, then every health_interval s
        while True:
            now = time.monotonic()
            if stopping():
                reason = "stopped"
                break
            if end is not None and now >= end:
                break
            due = int((now - t0) * rate) + 1 - paced if rate > 0 else BURST
            if due <= 0:
                wait(min(t0 + paced / rate, end if end is not None else math.inf) - now)
                continue
            batch = []
            if mode != "single" and now >= next_health:
                batch.append(session.health())
                next_health = max(next_health + health_interval, now)
            batch += itertools.islice(todo, min(due, BURST) - len(batch))
            if batch:
                publish(batch)
                paced += len(batch)
            if len(batch) < min(due, BURST):  # `single` ran out
                break
        publish([session.stopped(reason)])
    finally:
        client.close()
    progress(force=True)
    return {"session_id": session.session_id, "seed": seed, "duration_s": round(time.monotonic() - t0, 3),
            "rate": rate, "sent": dict(sent), "total": sum(sent.values())}
