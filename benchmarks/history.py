"""History benchmark: recorder rows/s, 1 M pattern rows into pandas, REST latency of a busy symbol.

All in one go, against a fresh database of our own (`tickstock_bench_<hex>`) on a private embedded
PostgreSQL 16 (or on the server of `--database-url`, where nothing but that database is touched):

1. Recorder throughput: `--rows` distinct pattern detections (about 500 symbols, OHLCV parameters
   like the simulator's, a session id per day) taken by a `StreamingBuffer` in chunks of 500 (as
   the ingest hands over one socket read), drained by the real `Recorder` (consumer mode "all")
   and COPYed into the empty, upgraded database. The figure runs from the first `take` to the
   recorder's last write (its `last_write_at`; `snapshot()` is polled every 0.25 s to see when
   every row is written). For comparison, the same rows (`rows_by_table` of the same events, made
   beforehand) through bare `analytics.write_rows` in batches of the recorder's batch size, on one
   connection, into the truncated table. Target >= 100 k rows/s.
2. Loading the rows into pandas with `analytics.load_patterns`: all columns, and symbol,
   pattern_type, confidence, detected_at; best of 3 each (after VACUUM ANALYZE, as autovacuum
   would have done). Target <= 1.5 s. `pandas.read_sql` of the same SELECT once, for comparison.
3. REST latency: 100,000 detections of one symbol spread over the last 23.5 hours are added,
   `tickstock serve` is started against the database (and a private embedded Redis), and
   `GET /streaming/api/patterns/<SYM>?hours=24&limit=1000` then `limit=100` are each sent 200
   times, one after another on one keep-alive connection; p50/p99 ms and the JSON body size.

Each phase also reports CPU time: this process's, the embedded PostgreSQL's (per row), and the
server's per request, which hardly move when other work on the machine stretches the wall time.

Everything started here (PostgreSQL, Redis, the server) is stopped and the database dropped, also
on Ctrl-C / SIGTERM and when the time limit (`--time-limit`, default 600 s) runs out. The last
line printed is one JSON object with every figure.

    python benchmarks/history.py [--rows 1000000] [--database-url URL] [--time-limit 600]
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import gc
import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

import analytics  # noqa: E402
from analytics.db import connect, dispose, engine_for, normalise_url  # noqa: E402
from analytics.records import rows_by_table  # noqa: E402
from analytics.sample import SESSION_OPEN_UTC, SESSION_SECONDS, trading_days  # noqa: E402
from dashboard.buffer import StreamingBuffer  # noqa: E402
from dashboard.events import Pattern  # noqa: E402
from dashboard.recorder import BACKLOG_LIMIT, BATCH_MAX, Recorder  # noqa: E402
from dashboard.services import EmbeddedPostgres, EmbeddedRedis  # noqa: E402

SEED = 7
SYMBOLS = 500
DAYS = 20  # trading days the main rows are spread over (ending END, long before "now")
END = date(2025, 1, 24)
TAKE_CHUNK = 500  # events per buffer.take, like one socket read of the ingest
POLL_S = 0.25  # how often the recorder's snapshot is looked at
REST_ROWS = 100_000
REST_REQUESTS = 200
LOAD_REPEATS = 3
FOUR_COLUMNS = ["symbol", "pattern_type", "confidence", "detected_at"]
PATTERN_TYPES = ("Doji", "Hammer", "ShootingStar", "Engulfing", "BreakoutUp", "BreakoutDown")  # the simulator's
TYPE_WEIGHTS = (0.22, 0.14, 0.14, 0.10, 0.20, 0.20)
CHANNEL = "tickstock:patterns:streaming"
READ_SQL = ("SELECT id, session_id, symbol, pattern_type, confidence, detected_at, timeframe, parameters, "
            "high_confidence, published_at, received_at FROM patterns")


def _s(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.2f} s CPU"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


# ------------------------------------------------------------------ bounded, and nothing left behind

_emergency: list[Callable[[], None]] = []  # last-resort stops, run by the watchdog if `finally` never comes


def install_signal_handlers() -> None:
    """SIGTERM / SIGHUP behave like Ctrl-C, so every `finally` (and the ExitStack) runs."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def start_watchdog(seconds: float) -> threading.Event:
    """Past `seconds`, interrupt the main thread (clean stop); 60 s later, stop everything by force."""
    done = threading.Event()

    def run() -> None:
        if done.wait(seconds):
            return
        print(f"history benchmark: time limit of {seconds:.0f} s reached, stopping", file=sys.stderr, flush=True)
        _thread.interrupt_main()
        if done.wait(60):
            return
        print("history benchmark: clean stop did not finish, stopping by force", file=sys.stderr, flush=True)
        for stop in reversed(_emergency):
            with contextlib.suppress(Exception):
                stop()
        os._exit(3)

    threading.Thread(target=run, name="watchdog", daemon=True).start()
    return done


# ------------------------------------------------------------------ CPU accounting

class CpuMeter:
    """CPU seconds used by this process and by the embedded PostgreSQL (postmaster, its live children,
    and, through the postmaster's reaped-children times, backends that have exited), so a figure
    disturbed by other work on the machine can be told apart: CPU per row hardly moves when the
    wall time does."""

    def __init__(self, postmaster_pid: int | None = None):
        import psutil

        self.psutil = psutil
        self.postmaster = psutil.Process(postmaster_pid) if postmaster_pid else None

    def own(self) -> float:
        t = os.times()
        return t.user + t.system

    def postgres(self) -> float | None:
        if self.postmaster is None:
            return None
        total = 0.0
        with contextlib.suppress(self.psutil.Error):
            t = self.postmaster.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
            for child in self.postmaster.children(recursive=True):
                with contextlib.suppress(self.psutil.Error):
                    c = child.cpu_times()
                    total += c.user + c.system
        return total

    def sample(self) -> tuple[float, float, float | None]:
        return time.perf_counter(), self.own(), self.postgres()

    def since(self, start: tuple[float, float, float | None]) -> dict:
        wall, own, pg = self.sample()
        out = {"wall_s": wall - start[0], "client_cpu_s": own - start[1]}
        out["postgres_cpu_s"] = None if pg is None or start[2] is None else pg - start[2]
        return out


METER = CpuMeter()


def per_row_us(cpu: dict, n: int) -> dict:
    """CPU µs per row, client and server, from a CpuMeter.since() result."""
    out = {"client_cpu_us_per_row": round(cpu["client_cpu_s"] / n * 1e6, 2)}
    if cpu["postgres_cpu_s"] is not None:
        out["postgres_cpu_us_per_row"] = round(cpu["postgres_cpu_s"] / n * 1e6, 2)
    out["cpu_use_of_wall"] = (None if cpu["postgres_cpu_s"] is None  # cores busy on average, both sides
                              else round((cpu["client_cpu_s"] + cpu["postgres_cpu_s"]) / cpu["wall_s"], 2))
    return out


# ------------------------------------------------------------------ the database


@contextlib.contextmanager
def bench_database(server_url: str):
    """A fresh database `tickstock_bench_<hex>` on the server of `server_url`, dropped afterwards."""
    name = f"tickstock_bench_{uuid.uuid4().hex[:12]}"
    url = sa.make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        dispose(url)
        with connect(server_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    with connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    _emergency.append(drop)
    try:
        yield url
    finally:
        drop()
        _emergency.remove(drop)
        log(f"dropped database {name}")


def sql(url: str, statement: str, params=None, autocommit: bool = False):
    with connect(url, autocommit=autocommit) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else None


# ------------------------------------------------------------------ data


def tickers(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct ticker-like symbols, 1 to 5 capital letters (mostly 3 and 4)."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out: set[str] = set()
    while len(out) < n:
        size = int(rng.choice([1, 2, 3, 4, 5], p=[0.02, 0.10, 0.38, 0.45, 0.05]))
        out.add("".join(rng.choice(letters, size)))
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
    move = close * rng.normal(0, 0.004, n)
    open_ = np.round(close - move, 2)
    high = np.round(np.maximum(open_, close) + np.abs(rng.normal(0, 0.002, n)) * close, 2)
    low = np.round(np.minimum(open_, close) - np.abs(rng.normal(0, 0.002, n)) * close, 2)
    volume = rng.integers(1_000, 900_000, n)
    ratio = np.round(rng.uniform(0.0, 4.0, n), 4)
    bullish = rng.random(n) < 0.5
    detected = pd.DatetimeIndex(detected_ns, tz="UTC").to_pydatetime()
    published = pd.DatetimeIndex(published_ns, tz="UTC").to_pydatetime()
    extras = {0: "body_ratio", 1: "wick_ratio", 2: "wick_ratio"}
    events = []
    append = events.append
    for s, k, c, d, p, r, o, h, lo, cl, v, x, b, sid in zip(
            sym.tolist(), kinds.tolist(), confidence.tolist(), detected, published, received.tolist(),
            open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist(), ratio.tolist(),
            bullish.tolist(), session_ids.tolist(), strict=True):
        params = {"open": o, "high": h, "low": lo, "close": cl, "volume": v}
        if k in extras:
            params[extras[k]] = x
        elif k == 3:
            params["direction"] = "bullish" if b else "bearish"
            params["engulf_ratio"] = round(1.5 + x, 2)
        append(Pattern(channel=CHANNEL, ts=p, received=r, session_id=sid, symbol=s, pattern=PATTERN_TYPES[k],
                       confidence=c, detected_at=d, timeframe="1min", parameters=params,
                       high_confidence=c >= 0.8))
    return events


def history_events(n: int, symbols: list[str], rng: np.random.Generator) -> list[Pattern]:
    """n detections over DAYS trading sessions, in time order, symbols of uneven activity."""
    days = trading_days(DAYS, END)
    per_day = math.ceil(n / len(days))
    step_us = int(SESSION_SECONDS * 1e6) // per_day
    i = np.arange(n)
    day = i // per_day
    opens_ns = np.array([(pd.Timestamp(d, tz="UTC") + SESSION_OPEN_UTC).value for d in days], dtype=np.int64)
    offset_us = (i % per_day) * step_us + rng.integers(0, step_us, n)  # strictly increasing within a day
    detected_ns = opens_ns[day] + offset_us * 1000
    weights = rng.lognormal(0, 1.0, len(symbols))
    weights /= weights.sum()
    sessions = np.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in days], dtype=object)[day]
    return make_events(detected_ns, lambda r, m: np.array(symbols, dtype=object)[r.choice(len(symbols), m, p=weights)],
                       sessions, rng)


def recent_events(n: int, symbol: str, rng: np.random.Generator) -> list[Pattern]:
    """n detections of one symbol spread evenly over the last 23.5 hours up to 30 s ago."""
    now_ns = time.time_ns()
    start_ns, end_ns = now_ns - int(23.5 * 3600e9), now_ns - int(30e9)
    step = (end_ns - start_ns) // n
    detected_ns = start_ns + np.arange(n, dtype=np.int64) * step + rng.integers(0, step, n)
    sessions = np.full(n, str(uuid.UUID(bytes=rng.bytes(16), version=4)), dtype=object)
    return make_events(detected_ns, lambda r, m: np.full(m, symbol, dtype=object), sessions, rng)


# ------------------------------------------------------------------ 1. recorder


def recorder_run(url: str, events: list[Pattern], timeout: float) -> dict:
    """The events through StreamingBuffer -> Recorder -> COPY; rows/s from the first take to the last write."""
    n = len(events)
    buffer = StreamingBuffer(recent=3 * 1000)  # as the ingest makes it with the default settings
    buffer.start()
    recorder = Recorder(buffer, url, migrate=False, backlog_limit=max(BACKLOG_LIMIT, n))
    recorder.start()
    try:
        cpu0 = METER.sample()
        t0 = time.time()
        for k in range(0, n, TAKE_CHUNK):
            chunk = events[k:k + TAKE_CHUNK]
            buffer.take(chunk, received={CHANNEL: len(chunk)})
        fed = time.time() - t0
        at_fed = recorder.snapshot()
        deadline = time.monotonic() + timeout
        max_backlog = at_fed["backlog"]
        while True:
            snap = recorder.snapshot()
            max_backlog = max(max_backlog, snap["backlog"])
            if snap["written"] >= n or snap["dropped"]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the recorder wrote {snap['written']} of {n} events in {timeout:.0f} s: {snap}")
            time.sleep(POLL_S)
        elapsed = snap["last_write_at"] - t0
        cpu = METER.since(cpu0)
        # the recorder alone, once the takes were done (no feeder thread sharing the GIL)
        after = (n - at_fed["written"]) / (snap["last_write_at"] - t0 - fed) if n > at_fed["written"] else None
    finally:
        recorder.stop()
        buffer.stop()
    stored = sql(url, "SELECT count(*) FROM patterns")[0][0]
    if snap["dropped"] or stored != n:
        raise RuntimeError(f"recorder lost rows: stored {stored} of {n}, snapshot {snap}")
    return {"seconds": elapsed, "rows_per_s": n / elapsed, "feed_seconds": fed,
            "written_when_fed": at_fed["written"], "rows_per_s_after_feed": after, "batches": snap["batches"],
            "retries": snap["retries"], "max_backlog_seen": max_backlog, "stored": stored, **per_row_us(cpu, n)}


def bare_write(url: str, events: list[Pattern]) -> dict:
    """The same rows (made beforehand) through analytics.write_rows, batch by batch on one connection."""
    n = len(events)
    t = time.perf_counter()
    batches = [rows_by_table(events[k:k + BATCH_MAX])["patterns"] for k in range(0, n, BATCH_MAX)]
    convert = time.perf_counter() - t
    written, seconds = 0, 0.0
    with connect(url) as conn:
        cpu0 = METER.sample()
        for rows in batches:
            t = time.perf_counter()
            written += analytics.write_rows(conn, "patterns", rows)
            seconds += time.perf_counter() - t
        cpu = METER.since(cpu0)
    stored = sql(url, "SELECT count(*) FROM patterns")[0][0]
    if written != n or stored != n:
        raise RuntimeError(f"write_rows stored {stored} (reported {written}) of {n}")
    return {"seconds": seconds, "rows_per_s": n / seconds, "rows_by_table_seconds": convert,
            "rows_by_table_per_s": n / convert, **per_row_us(cpu, n)}


# ------------------------------------------------------------------ 2. loads


def loads(url: str, n: int) -> dict:
    out: dict = {}
    for label, columns in (("all_columns", None), ("four_columns", FOUR_COLUMNS)):
        runs, cpus = [], []
        for _ in range(LOAD_REPEATS):
            gc.collect()
            cpu0 = METER.sample()
            t = time.perf_counter()
            frame = analytics.load_patterns(url, columns=columns)
            runs.append(time.perf_counter() - t)
            cpus.append(METER.since(cpu0))
            if len(frame) != n:
                raise RuntimeError(f"load_patterns returned {len(frame)} rows, expected {n}")
            if label == "all_columns" and not isinstance(frame["parameters"].iloc[0], dict):
                raise RuntimeError("load_patterns: parameters not decoded")
            del frame
        best = cpus[runs.index(min(runs))]
        out[label] = {"best_s": min(runs), "runs_s": runs, "best_client_cpu_s": best["client_cpu_s"],
                      "best_postgres_cpu_s": best["postgres_cpu_s"]}
        log(f"  load_patterns {label}: best {min(runs):.2f} s of {', '.join(f'{r:.2f}' for r in runs)} "
            f"(best run: {best['client_cpu_s']:.2f} s CPU here, {_s(best['postgres_cpu_s'])} in PostgreSQL)")
    gc.collect()
    engine = engine_for(url)
    t = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text(READ_SQL), conn)
    out["read_sql_s"] = time.perf_counter() - t
    if len(frame) != n:
        raise RuntimeError(f"read_sql returned {len(frame)} rows, expected {n}")
    del frame
    gc.collect()
    log(f"  pandas.read_sql (psycopg2, all columns): {out['read_sql_s']:.2f} s")
    return out


# ------------------------------------------------------------------ 3. REST


class Server:
    """`python -m dashboard.cli serve` against our database and a private Redis."""

    def __init__(self, redis_url: str, database_url: str):
        self.port = free_port()
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update(REDIS_URL=redis_url, DATABASE_URL=database_url, STREAMING_CHANNEL_PREFIX=self.prefix)
        fd, name = tempfile.mkstemp(prefix="tickstock-bench-history-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(fd, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "serve", "--port", str(self.port)],
                                         env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=str(ROOT))
        _emergency.append(self.stop)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tickstock serve exited:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/streaming/api/status")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"tickstock serve did not answer within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(OSError):
            self.log_path.unlink()
        with contextlib.suppress(ValueError):
            _emergency.remove(self.stop)


def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    t = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    elapsed = (time.perf_counter() - t) * 1000
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
    return elapsed, body


def explain_ms(url: str, symbol: str, limit: int) -> float:
    """Median execution time in PostgreSQL of the endpoint's SELECT (EXPLAIN ANALYZE, 5 runs)."""
    runs = []
    with connect(url) as conn:
        for _ in range(5):
            plan = conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT detected_at, symbol, pattern_type, confidence, timeframe, "
                "high_confidence, session_id, parameters FROM patterns WHERE symbol = %s AND detected_at >= %s "
                "ORDER BY detected_at DESC LIMIT %s",
                (symbol, datetime.now(UTC) - pd.Timedelta(hours=24), limit)).fetchone()[0]
            runs.append(plan[0]["Execution Time"])
    return statistics.median(runs)


def rest(redis_url: str, url: str, symbol: str) -> dict:
    server = Server(redis_url, normalise_url(url))
    try:
        t = time.perf_counter()
        server.wait_ready()
        log(f"  tickstock serve answering after {time.perf_counter() - t:.1f} s (pid {server.proc.pid})")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        out: dict = {"symbol": symbol, "requests_each": REST_REQUESTS}
        try:
            for limit in (1000, 100):
                path = f"/streaming/api/patterns/{symbol}?hours=24&limit={limit}"
                cold, body = get(conn, path)  # the first one also opens the server's database pool
                for _ in range(4):
                    get(conn, path)
                payload = json.loads(body)
                if payload["count"] != limit or payload["rows"][0]["symbol"] != symbol:
                    raise RuntimeError(f"unexpected answer: count {payload['count']}, expected {limit}")
                times = []
                proc = METER.psutil.Process(server.proc.pid)
                t_cpu = proc.cpu_times()
                for _ in range(REST_REQUESTS):
                    ms, body = get(conn, path)
                    times.append(ms)
                u_cpu = proc.cpu_times()
                server_ms = (u_cpu.user + u_cpu.system - t_cpu.user - t_cpu.system) / REST_REQUESTS * 1000
                sql_ms = explain_ms(url, symbol, limit)
                figures = {"sql_execution_ms": sql_ms, "server_cpu_ms_per_request": server_ms, "p50_ms": pct(times, 50), "p90_ms": pct(times, 90), "p99_ms": pct(times, 99),
                           "max_ms": max(times), "mean_ms": statistics.fmean(times), "first_ms": cold,
                           "body_bytes": len(body)}
                out[f"limit_{limit}"] = figures = {k: round(v, 2) if isinstance(v, float) else v
                                                   for k, v in figures.items()}
                log(f"  limit={limit}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                    f"max {figures['max_ms']:.1f} ms, first {cold:.1f} ms, body {len(body):,} bytes "
                    f"(server CPU {server_ms:.1f} ms a request; the SELECT itself {sql_ms:.1f} ms in PostgreSQL)")
        finally:
            conn.close()
        return out
    finally:
        server.stop()


# ------------------------------------------------------------------ main


def main() -> int:
    global METER
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="pattern rows for the recorder and the loads")
    ap.add_argument("--database-url", default=None,
                    help="a PostgreSQL server to use (a database of our own is created and dropped there); "
                         "default: a private embedded PostgreSQL")
    ap.add_argument("--time-limit", type=float, default=600.0, help="stop everything after this many seconds")
    args = ap.parse_args()
    if args.rows < TAKE_CHUNK:
        ap.error(f"--rows: at least {TAKE_CHUNK}")
    n = args.rows
    install_signal_handlers()
    done = start_watchdog(args.time_limit)
    started = time.monotonic()
    load_before = os.getloadavg()
    result: dict = {"rows": n, "cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load_before]}
    try:
        with contextlib.ExitStack() as stack:
            if args.database_url:
                server_url, result["postgres"] = args.database_url, "given (--database-url)"
            else:
                pg = EmbeddedPostgres()
                _emergency.append(pg.stop)
                stack.callback(_emergency.remove, pg.stop)
                stack.enter_context(pg)
                server_url, result["postgres"] = pg.url, "embedded (fsync off)"
                METER = CpuMeter(pg.pid)
            url = stack.enter_context(bench_database(server_url))
            result["postgres_version"] = sql(url, "SHOW server_version")[0][0]
            analytics.upgrade(url)
            log(f"database {sa.make_url(url).database} on PostgreSQL {result['postgres_version']} "
                f"({result['postgres']}), schema upgraded")

            t = time.perf_counter()
            rng = np.random.default_rng(SEED)
            symbols = tickers(rng, SYMBOLS)
            events = history_events(n, symbols, rng)
            json_bytes = statistics.fmean(len(json.dumps(e.parameters)) for e in events[:10_000])
            log(f"made {n:,} distinct pattern events over {len({e.symbol for e in events})} symbols in "
                f"{time.perf_counter() - t:.1f} s (parameters ~{json_bytes:.0f} bytes of JSON)")

            log("1. recorder: StreamingBuffer -> Recorder -> COPY")
            rec = recorder_run(url, events, timeout=max(120.0, n / 5_000))
            log(f"  {rec['rows_per_s']:,.0f} rows/s: {n:,} rows in {rec['seconds']:.2f} s "
                f"(takes done after {rec['feed_seconds']:.2f} s with {rec['written_when_fed']:,} written, "
                f"{rec['batches']} batches, backlog up to {rec['max_backlog_seen']:,})")
            if rec["rows_per_s_after_feed"]:
                log(f"  after the takes were done: {rec['rows_per_s_after_feed']:,.0f} rows/s")
            log(f"  CPU per row: {rec['client_cpu_us_per_row']:.1f} µs here (takes + recorder), "
                f"{rec.get('postgres_cpu_us_per_row', '?')} µs in PostgreSQL; "
                f"{rec['cpu_use_of_wall'] or '?'} cores busy on average")
            sql(url, "TRUNCATE patterns RESTART IDENTITY")
            sql(url, "CHECKPOINT", autocommit=True)
            bare = bare_write(url, events)
            log(f"  bare write_rows, same rows, batches of {BATCH_MAX:,}: {bare['rows_per_s']:,.0f} rows/s "
                f"({bare['seconds']:.2f} s; making the rows with rows_by_table took {bare['rows_by_table_seconds']:.2f} s "
                f"more, {bare['rows_by_table_per_s']:,.0f} rows/s)")
            log(f"  CPU per row: {bare['client_cpu_us_per_row']:.1f} µs here, "
                f"{bare.get('postgres_cpu_us_per_row', '?')} µs in PostgreSQL; "
                f"{bare['cpu_use_of_wall'] or '?'} cores busy on average")
            result["recorder"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in rec.items()}
            result["bare_write_rows"] = {k: round(v, 3) for k, v in bare.items()}
            del events
            gc.collect()

            log(f"2. loading {n:,} pattern rows into pandas")
            sql(url, "VACUUM ANALYZE patterns", autocommit=True)
            loaded = loads(url, n)
            result["load"] = {
                "all_columns_best_s": round(loaded["all_columns"]["best_s"], 3),
                "all_columns_runs_s": [round(x, 3) for x in loaded["all_columns"]["runs_s"]],
                "four_columns_best_s": round(loaded["four_columns"]["best_s"], 3),
                "four_columns_runs_s": [round(x, 3) for x in loaded["four_columns"]["runs_s"]],
                "read_sql_s": round(loaded["read_sql_s"], 3),
                "cpu_of_best_runs_s": {label: {"client": round(loaded[label]["best_client_cpu_s"], 2),
                                               "postgres": None if loaded[label]["best_postgres_cpu_s"] is None
                                               else round(loaded[label]["best_postgres_cpu_s"], 2)}
                                       for label in ("all_columns", "four_columns")},
            }

            symbol = symbols[0]
            log(f"3. REST: {REST_ROWS:,} detections of {symbol} in the last 24 h")
            recent = recent_events(REST_ROWS, symbol, np.random.default_rng(SEED + 1))
            added = analytics.write_rows(url, "patterns", rows_by_table(recent)["patterns"])
            del recent
            sql(url, "VACUUM ANALYZE patterns", autocommit=True)
            total = sql(url, "SELECT count(*) FROM patterns")[0][0]
            in_day = sql(url, "SELECT count(*) FROM patterns WHERE symbol = %s AND detected_at >= now() - "
                              "interval '24 hours'", (symbol,))[0][0]
            log(f"  added {added:,} rows; {in_day:,} of {symbol} in the last 24 h, {total:,} rows in the table")
            redis_server = EmbeddedRedis()
            _emergency.append(redis_server.stop)
            stack.callback(_emergency.remove, redis_server.stop)
            stack.enter_context(redis_server)
            result["rest"] = {**rest(redis_server.url, url, symbol), "rows_of_symbol_24h": in_day,
                              "rows_in_table": total}
            dispose(url)
    finally:
        done.set()
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["total_seconds"] = round(time.monotonic() - started, 1)
    result["targets"] = {
        "recorder_rows_per_s_ge_100k": result["recorder"]["rows_per_s"] >= 100_000,
        "load_all_columns_le_1_5_s": result["load"]["all_columns_best_s"] <= 1.5,
        "load_four_columns_le_1_5_s": result["load"]["four_columns_best_s"] <= 1.5,
    }
    r, b, ld, rs = result["recorder"], result["bare_write_rows"], result["load"], result["rest"]
    print()
    print(f"recorder (buffer -> Recorder -> COPY): {r['rows_per_s']:,.0f} rows/s   (target >= 100,000)")
    print(f"bare write_rows, same rows:             {b['rows_per_s']:,.0f} rows/s")
    print(f"load_patterns, {n:,} rows, all columns: {ld['all_columns_best_s']:.2f} s best of {LOAD_REPEATS}   "
          f"(target <= 1.5 s)")
    print(f"load_patterns, 4 columns:               {ld['four_columns_best_s']:.2f} s best of {LOAD_REPEATS}")
    print(f"pandas.read_sql, all columns:           {ld['read_sql_s']:.2f} s")
    for limit in (1000, 100):
        f = rs[f"limit_{limit}"]
        print(f"REST patterns/{rs['symbol']}?hours=24&limit={limit}: p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, "
              f"{f['body_bytes']:,} bytes")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
