"""A realistic, deterministic TickStockPL streaming session, published on Redis (`tickstock simulate`).

Each symbol's price follows its own random walk; every indicator, alert and pattern is computed
from those bars, so alerts follow real indicator crossings and patterns follow real candle shapes.
The producer's health (rates, lag, CPU, memory) is a state of its own: a critical alert is an
incident in that state (memory pressure raises the memory the next health reports show, easing
off report by report), and its figures are read from it, so alerts and health always agree.

The stream is a function of the seed and the options; the session id only labels it. A live run
(`simulate`) takes a new session id unless given one, so two runs never share a session; the same
seed and the same `session_id` give the same messages (wall-clock timestamps aside): the same bars,
indicators, alerts and patterns, and critical alerts at the same places. Health reports come from a
random stream of their own, so when the clock paces them (`health_interval`) only where they fall
between the others, and the figures of an alert read from the health state, depend on timing.
`generate`, the pure stream for tests and benchmarks (health every N messages, no clock), is the
same to the byte for a seed; it derives its session id from the seed unless given one.
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

from dashboard import constants as C
from dashboard.tools.market import Ticker, candle_patterns, crossing_alerts
from dashboard.wire.channels import Channels

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
CRITICAL_KINDS = ("CONNECTION_LOST", "DATA_FEED_DELAY", "MEMORY_PRESSURE", "PROCESSING_BACKLOG")
MEMORY_LIMIT_MB = 8192.0  # the simulated producer's memory limit; health reports memory_percent of it
EASE = 0.5  # share of an incident's excess lag, CPU and memory left after each health report
BACKLOG_MS_PER_BAR = 0.5  # processing lag a waiting bar adds
PERSIST_EVERY_STEPS = 40  # bars between persistence_batch confirmations (~11 s at 20 messages/s)
BURST = 100  # most messages sent in one pipeline when behind schedule

Message = tuple[str, dict]


class SimulatorError(Exception):
    """The simulator cannot run: Redis unreachable or failing, or a bad option."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seeded_session_id(seed: int) -> str:
    """The session id `generate` uses for a seed when given none."""
    return str(uuid.UUID(int=random.Random(f"{seed}:session").getrandbits(128), version=4))


class _Session:
    """The producer's state: symbols taking turns to print a bar, and the session's health."""

    def __init__(self, seed: int, symbols: Sequence[str], channels: Channels, session_id: str):
        if not symbols:
            raise SimulatorError("no symbols to simulate")
        # the market; critical alerts and persistence; health reports (paced apart by the clock)
        self.rng, self.aux, self.vitals = (random.Random(x) for x in (seed, f"{seed}:aux", f"{seed}:vitals"))
        self.session_id = session_id
        self.ch, self.universe = channels, list(dict.fromkeys(symbols))
        self.symbols = [Ticker(s, _PRICES.get(s) or round(self.rng.lognormvariate(4.5, 0.8), 2),
                               self.rng.uniform(2e4, 3e5)) for s in self.universe]
        for _ in range(WARMUP_BARS):
            for sym in self.symbols:
                sym.step(self.rng)
        self.turn = 0
        self.rows: Counter[str] = Counter()  # rows awaiting the next persistence_batch, per table
        # health: baselines that wander and revert, an incident's excess on top, connection counts
        self.tps, self.lag, self.cpu, self.mem = 1.75 * len(self.universe), 45.0, 32.0, 1250.0
        self.excess = {"lag": 0.0, "cpu": 0.0, "mem": 0.0}
        self.reconnections = self.failed = 0  # failed: connections lost since the last health report

    def started(self) -> Message:
        now, n = _now(), len(self.universe)
        key = f"market_leaders:top_{n}" if tuple(self.universe) == DEFAULT_SYMBOLS else f"custom:{n}_symbols"
        return self.ch.of("session_started"), {"event": "session_started", "timestamp": now, "data": {
            "session_id": self.session_id, "symbol_universe_key": key, "start_time": now, "trigger_type": "simulated"}}

    def stopped(self, reason: str) -> Message:
        now = _now()
        return self.ch.of("session_stopped"), {"event": "session_stopped", "timestamp": now, "data": {
            "session_id": self.session_id, "stop_time": now, "reason": reason}}

    def step(self) -> Iterator[Message]:
        """The next symbol's bar as indicator events, crossing alerts, pattern detections and more."""
        sym = self.symbols[self.turn % len(self.symbols)]
        self.turn += 1
        before, prev_close = sym.values, round(sym.close, 4)
        bar, prev_bar, breakouts = sym.step(self.rng)
        at, now, out = _now(), sym.values, []
        for kind, values in now.items():
            out.append((self.ch.of("indicator"), {"event": "indicator_calculated", "session_id": self.session_id,
                        "timestamp": None, "calculation": {"indicator_type": kind, "symbol": sym.name,
                                                           "timestamp": at, "values": values, "timeframe": "1min"}}))
        out += [(self.ch.of("indicator_alert"), {"alert_type": a, "symbol": sym.name, "timestamp": None,
                                             "session_id": self.session_id, "data": d})
                for a, d in crossing_alerts(before, now, prev_close, round(bar["close"], 4))]
        shape = {k: round(bar[k], 2) for k in ("open", "high", "low", "close")} | {"volume": bar["volume"]}
        for name, q, extra in candle_patterns(bar, prev_bar) + [(n, q, {}) for n, q in breakouts]:
            confidence = round(0.5 + 0.49 * max(0.0, min(1.0, q)), 2)
            payload = {"event": "pattern_detected", "session_id": self.session_id, "timestamp": None,
                       "detection": {"pattern_type": name, "symbol": sym.name, "timestamp": at,
                                     "confidence": confidence, "parameters": shape | extra, "timeframe": "1min"}}
            out.append((self.ch.of("pattern"), payload))
            if confidence >= C.HIGH_CONFIDENCE:
                out.append((self.ch.confident("pattern"), payload))  # the same object: identical on both
            self.rows["intraday_patterns"] += 1
        self.rows["intraday_indicators"] += len(now)
        yield from out
        if self.aux.random() < CRITICAL_PER_STEP:
            yield self.critical()  # made as it is sent: a health report sent before it must not show it yet
        if self.turn % PERSIST_EVERY_STEPS == 0:
            yield self.persistence()

    def figures(self) -> dict[str, float]:
        """Processing lag (ms), CPU (%) and memory (MB) now: baseline plus any incident's excess."""
        ex = self.excess
        return {"lag": self.lag + ex["lag"], "cpu": min(99.0, self.cpu + ex["cpu"]), "mem": self.mem + ex["mem"]}

    def _raise(self, key: str, level: float) -> None:
        """An incident: lag, CPU or memory at `level` at least, until it eases off."""
        base = {"lag": self.lag, "cpu": self.cpu, "mem": self.mem}[key]
        self.excess[key] = max(self.excess[key], level - base)

    def critical(self) -> Message:
        """A critical alert: an incident in the health state, its figures read back from that state."""
        r = self.aux
        kind = r.choice(CRITICAL_KINDS)
        if kind == "CONNECTION_LOST":
            self.reconnections += 1
            self.failed += 1
            message, data = "Lost connection to market data WebSocket", {
                "reconnect_attempts": r.randint(1, 5),
                "last_error": r.choice(("Connection timeout", "Connection reset by peer", "TLS handshake failed"))}
        elif kind == "DATA_FEED_DELAY":
            self._raise("lag", r.randint(2000, 15000))
            delay = round(self.figures()["lag"])
            message, data = f"Market data delayed by {delay} ms", {
                "delay_ms": delay, "symbols_affected": r.randint(1, len(self.universe))}
        elif kind == "MEMORY_PRESSURE":
            self._raise("mem", MEMORY_LIMIT_MB * r.uniform(0.88, 0.97))
            mb = self.figures()["mem"]
            pct = round(100 * mb / MEMORY_LIMIT_MB, 1)
            message, data = f"Memory usage at {pct}% of limit", {"memory_mb": round(mb, 1), "memory_percent": pct}
        else:
            depth = r.randint(500, 5000)
            self._raise("lag", depth * BACKLOG_MS_PER_BAR)
            self._raise("cpu", r.uniform(86, 97))
            now = self.figures()
            message, data = f"{depth} bars waiting to be processed", {
                "queue_depth": depth, "processing_lag_ms": round(now["lag"]), "cpu_percent": round(now["cpu"], 1)}
        return self.ch.of("critical_alert"), {"type": kind, "message": message, "severity": "critical",
                                         "timestamp": None, "data": data}

    def persistence(self) -> Message:
        table = ("intraday_indicators", "intraday_patterns")[(self.turn // PERSIST_EVERY_STEPS) % 2]
        rows, self.rows[table] = self.rows[table], 0
        return self.ch.of("persistence"), {"event": "persistence_batch", "timestamp": None, "session_id": self.session_id,
                                     "table": table, "rows": rows,
                                     "duration_ms": round(2.0 + 0.12 * rows * self.aux.uniform(0.7, 1.5), 1)}

    def health(self) -> Message:
        """Producer health: mean-reverting rates and resources, now and then degraded; issues follow the figures."""
        r, n = self.vitals, len(self.universe)
        expected_tps = 1.75 * n
        self.tps = max(1.0, self.tps + 0.3 * (expected_tps - self.tps) + r.gauss(0, 0.08 * expected_tps))
        self.lag = max(5.0, self.lag + 0.3 * (45 - self.lag) + r.gauss(0, 8))
        self.cpu = min(99.0, max(2.0, self.cpu + 0.3 * (32 - self.cpu) + r.gauss(0, 3)))
        self.mem = max(600.0, self.mem + 0.05 * (1250 - self.mem) + r.gauss(0, 6))
        tps, failed = self.tps, self.failed
        if r.random() < 0.12:  # a passing incident of the producer's own
            incident = r.choice(("lag", "tick rate", "cpu"))
            if incident == "lag":
                self._raise("lag", r.uniform(520, 900))
            elif incident == "cpu":
                self._raise("cpu", r.uniform(86, 97))
            else:
                tps, failed = tps * r.uniform(0.2, 0.4), failed + 1
                self.reconnections += 1
        now = self.figures()
        mem_pct = round(100 * now["mem"] / MEMORY_LIMIT_MB, 1)
        issues = [issue for issue, on in (("processing lag above 500 ms", now["lag"] > 500),
                                          ("tick rate below expected", tps < 0.5 * expected_tps),
                                          ("CPU above 85%", now["cpu"] > 85),
                                          ("memory above 85%", mem_pct > 85)) if on]
        stale = r.sample(self.universe, r.randint(1, min(5, n))) if issues else []
        self.failed = 0
        for key in self.excess:  # an incident eases off report by report
            self.excess[key] *= EASE
        return self.ch.of("health"), {
            "event": "streaming_health", "timestamp": None, "session_id": self.session_id,
            "status": "degraded" if issues else "healthy", "issues": issues,
            "connection": {"active": 1, "failed": failed, "reconnections": self.reconnections},
            "data_flow": {"ticks_per_second": round(tps), "bars_per_minute": round(n * r.uniform(0.95, 1.0)),
                          "processing_lag_ms": round(now["lag"])},
            "resources": {"cpu_percent": round(now["cpu"], 1), "memory_mb": round(now["mem"], 1),
                          "memory_percent": mem_pct},
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
             health_every: int = 200, session_id: str | None = None) -> Iterator[Message]:
    """session_started, then an endless deterministic stream of (channel, payload); no pacing, no I/O.

    Without `session_id` the session's id is `seeded_session_id(seed)`."""
    session = _Session(seed, list(symbols or DEFAULT_SYMBOLS), channels or Channels(),
                       session_id or seeded_session_id(seed))
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
            if channel == session.ch.of("indicator"):
                found.setdefault(payload["calculation"]["indicator_type"], payload)
            elif channel == session.ch.of("indicator_alert"):
                found.setdefault(payload["alert_type"], payload)
            elif channel == session.ch.confident("pattern"):
                found.setdefault("pattern", payload)
        if wanted <= found.keys():
            break
    else:
        raise SimulatorError(f"the simulated market never produced: {sorted(wanted - found.keys())}")
    ch = session.ch
    return [(ch.of("pattern"), found["pattern"]), (ch.confident("pattern"), found["pattern"]),
            *[(ch.of("indicator"), found[k]) for k in INDICATOR_TYPES],
            *[(ch.of("indicator_alert"), found[k]) for k in ALERT_TYPES],
            session.critical(), session.health(), session.persistence()]  # the health after the incident


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url


def simulate(redis_url: str, *, rate: float = 20.0, duration: float | None = None, mode: str | None = "quick",
             symbols: Sequence[str] | None = None, seed: int = 42, prefix: str = C.DEFAULT_CHANNEL_PREFIX,
             health_interval: float = 10.0, stop_event: threading.Event | None = None,
             on_progress: Callable[[dict], None] | None = None, session_id: str | None = None) -> dict:
    """Publish a simulated session on Redis at `rate` messages/s (0: flat out); returns what was sent.

    `duration` overrides the mode's (`single` sends one message of each kind and ignores it); with
    neither, the run lasts until `stop_event` is set. session_stopped is always the last message.
    Without `session_id` the run gets a new one (uuid4), so it never takes over another run's session.
    """
    if mode is not None and mode not in MODES:
        raise SimulatorError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if not (math.isfinite(rate) and rate >= 0) or not health_interval > 0:
        raise SimulatorError(f"rate must be >= 0 and health_interval > 0 (got {rate}, {health_interval})")
    run_for = duration if duration is not None else MODES[mode] if mode else None
    session = _Session(seed, list(symbols or DEFAULT_SYMBOLS), Channels(prefix), session_id or str(uuid.uuid4()))
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
