"""History benchmark: recorder rows/s, 1 M pattern rows into pandas, REST latency of a busy symbol.

On a fresh database of our own (`tickstock_bench_<hex>`) on a private embedded PostgreSQL 16, or on
the server of `--database-url` (nothing but that database is touched):

1. Recorder: `--rows` distinct detections (~500 symbols, the simulator's OHLCV parameters) taken by
   a `StreamingBuffer` 500 at a time (one socket read of the ingest), drained by the real `Recorder`
   and COPYed; rows/s from the first take to its last write. Then the same records through bare
   `analytics.write_events` in the recorder's batch size into the truncated table. Target >= 100 k.
2. `analytics.load_patterns`: all columns (parameters as JSON text), all with `parse_parameters`,
   and four columns; best of 3 each. Target <= 1.5 s. `pandas.read_sql` once, for comparison.
3. REST: 100,000 detections of one symbol in the last 23.5 h added, `tickstock serve` started, and
   `/streaming/api/patterns/<SYM>?hours=24&limit=1000` then `100` sent 200 times each: p50/p99.

CPU time is reported too (here, the embedded PostgreSQL, the server per request): it hardly moves
when other work stretches the wall time. Everything started is stopped and the database dropped,
also on Ctrl-C / SIGTERM and past `--time-limit`. The last line is one JSON object of every figure.

    python benchmarks/history.py [--rows 1000000] [--database-url URL] [--time-limit 600]
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import gc
import http.client
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import psutil
import sqlalchemy as sa
from _common import install_signal_handlers, log, pct  # also puts the project root on sys.path
from _detections import CHANNEL, history_events, recent_events, tickers
from _server import Server

import analytics  # noqa: E402
from analytics.db import connect, dispose, engine_for, normalise_url  # noqa: E402
from analytics.events import Pattern  # noqa: E402
from analytics.sample import trading_days  # noqa: E402
from dashboard import runtime  # noqa: E402
from dashboard.services.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from dashboard.stream.buffer import StreamingBuffer  # noqa: E402
from dashboard.stream.recorder import BACKLOG_LIMIT, BATCH_MAX, Recorder  # noqa: E402

SEED, SYMBOLS = 7, 500
DAYS, END = 20, date(2025, 1, 24)  # trading days the main rows are spread over, long before "now"
TAKE_CHUNK = 500  # events per buffer.take, like one socket read of the ingest
POLL_S = 0.25  # how often the recorder's snapshot is looked at
REST_ROWS, REST_REQUESTS, LOAD_REPEATS = 100_000, 200, 3
FOUR_COLUMNS = ["symbol", "pattern_type", "confidence", "detected_at"]
READ_SQL = ("SELECT session_id, symbol, pattern_type, confidence, detected_at, timeframe, parameters, "
            "high_confidence, published_at, received_at FROM patterns")


_emergency: list[Callable[[], None]] = []  # last-resort stops, run by the watchdog if `finally` never comes


def start_watchdog(seconds: float) -> threading.Event:
    """Past `seconds`, interrupt the main thread (clean stop); 60 s later, stop everything by force."""
    done = threading.Event()

    def run() -> None:
        if done.wait(seconds):
            return
        print(f"history benchmark: time limit of {seconds:.0f} s reached, stopping", file=sys.stderr, flush=True)
        _thread.interrupt_main()
        if not done.wait(60):
            for stop in reversed(_emergency):
                with contextlib.suppress(Exception):
                    stop()
            os._exit(3)

    threading.Thread(target=run, name="watchdog", daemon=True).start()
    return done


class CpuMeter:
    """CPU seconds of this process and of the embedded PostgreSQL (postmaster, live children, and
    exited backends through its reaped-children times): CPU per row hardly moves when wall time does."""

    def __init__(self, postmaster_pid: int | None = None):
        self.postmaster = psutil.Process(postmaster_pid) if postmaster_pid else None

    def postgres(self) -> float | None:
        if self.postmaster is None:
            return None
        with contextlib.suppress(psutil.Error):
            total = sum(self.postmaster.cpu_times()[:4])  # user, system, and of reaped children
            for child in self.postmaster.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
            return total
        return None

    def sample(self) -> tuple[float, float, float | None]:
        return time.perf_counter(), sum(os.times()[:2]), self.postgres()

    def since(self, start: tuple[float, float, float | None]) -> dict:
        wall, own, pg = self.sample()
        return {"wall_s": wall - start[0], "client_cpu_s": own - start[1],
                "postgres_cpu_s": None if pg is None or start[2] is None else pg - start[2]}


METER = CpuMeter()


def per_row_us(cpu: dict, n: int) -> dict:
    """CPU µs per row, client and server, and cores busy on average, from a CpuMeter.since() result."""
    out = {"client_cpu_us_per_row": round(cpu["client_cpu_s"] / n * 1e6, 2), "cpu_use_of_wall": None}
    if cpu["postgres_cpu_s"] is not None:
        out["postgres_cpu_us_per_row"] = round(cpu["postgres_cpu_s"] / n * 1e6, 2)
        out["cpu_use_of_wall"] = round((cpu["client_cpu_s"] + cpu["postgres_cpu_s"]) / cpu["wall_s"], 2)
    return out


@contextlib.contextmanager
def bench_database(server_url: str):
    """A fresh database `tickstock_bench_<hex>` on the server of `server_url`, dropped afterwards."""
    name = f"tickstock_bench_{uuid.uuid4().hex[:12]}"
    url = sa.make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        dispose(url)
        sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True)  # its sessions too

    sql(server_url, f'CREATE DATABASE "{name}"', autocommit=True)
    _emergency.append(drop)
    try:
        yield url
    finally:
        drop()
        _emergency.remove(drop)
        log(f"dropped database {name}")


def service(stack: contextlib.ExitStack, server):
    """An embedded server started for the rest of the run, stopped by the watchdog if need be."""
    _emergency.append(server.stop)
    stack.callback(_emergency.remove, server.stop)
    return stack.enter_context(server)


def sql(url: str, statement: str, params=None, autocommit: bool = False):
    with connect(url, autocommit=autocommit) as conn:
        return cur.fetchall() if (cur := conn.execute(statement, params)).description else None


def recorder_run(url: str, events: list[Pattern], timeout: float, rate: float | None = None) -> dict:
    """The events through StreamingBuffer -> Recorder -> COPY; rows/s from the first take to the last write.

    With `rate`, the takes are paced at that many events a second (a steady ingest rather than a
    burst): the recorder kept up if its backlog stayed within a few batches and it was done soon
    after the last take."""
    n = len(events)
    buffer = StreamingBuffer(recent=3 * 1000)  # as the ingest makes it with the default settings
    buffer.start()
    recorder = Recorder(buffer, url, migrate=False, backlog_limit=max(BACKLOG_LIMIT, n), compact=False).start()
    try:
        max_backlog, poll_at = 0, time.perf_counter() + POLL_S
        cpu0, t0, start = METER.sample(), time.time(), time.perf_counter()
        for k in range(0, n, TAKE_CHUNK):
            if rate:  # each take when it is due; the backlog looked at as the run goes
                if (ahead := start + k / rate - time.perf_counter()) > 0:
                    time.sleep(ahead)
                if time.perf_counter() >= poll_at:
                    max_backlog, poll_at = max(max_backlog, recorder.backlog), poll_at + POLL_S
            buffer.take(events[k:k + TAKE_CHUNK], received={CHANNEL: len(events[k:k + TAKE_CHUNK])})
        fed, at_fed = time.time() - t0, recorder.snapshot()
        deadline, snap, max_backlog = time.monotonic() + timeout, at_fed, max(max_backlog, at_fed["backlog"])
        while snap["written"] < n and not snap["dropped"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the recorder wrote {snap['written']} of {n} events in {timeout:.0f} s: {snap}")
            time.sleep(POLL_S)
            snap = recorder.snapshot()
            max_backlog = max(max_backlog, snap["backlog"])
        elapsed, cpu = snap["last_write_at"] - t0, METER.since(cpu0)
        # the recorder alone, once the takes were done (no feeder thread sharing the GIL)
        after = (n - at_fed["written"]) / (elapsed - fed) if n > at_fed["written"] else None
    finally:
        recorder.stop()
        buffer.stop()
    stored = sql(url, "SELECT count(*) FROM patterns")[0][0]
    if snap["dropped"] or stored != n:
        raise RuntimeError(f"recorder lost rows: stored {stored} of {n}, snapshot {snap}")
    return {"seconds": elapsed, "rows_per_s": n / elapsed, "feed_seconds": fed, "fed_per_s": n / fed,
            "drained_s_after_feed": elapsed - fed, "written_when_fed": at_fed["written"], "rows_per_s_after_feed": after, "batches": snap["batches"],
            "retries": snap["retries"], "max_backlog_seen": max_backlog, "stored": stored, **per_row_us(cpu, n)}


def bare_write(url: str, events: list[Pattern]) -> dict:
    """The same records through analytics.write_events, batch by batch on one connection."""
    n, written, seconds = len(events), 0, 0.0
    with connect(url) as conn:
        cpu0 = METER.sample()
        for k in range(0, n, BATCH_MAX):
            t = time.perf_counter()
            written += analytics.write_events(conn, events[k:k + BATCH_MAX]).get("patterns", 0)
            seconds += time.perf_counter() - t
        cpu = METER.since(cpu0)
    stored = sql(url, "SELECT count(*) FROM patterns")[0][0]
    if written != n or stored != n:
        raise RuntimeError(f"write_events stored {stored} (reported {written}) of {n}")
    return {"seconds": seconds, "rows_per_s": n / seconds, **per_row_us(cpu, n)}


LOADS = {"all_columns": {}, "all_columns_parsed": {"parse_parameters": True}, "four_columns": {"columns": FOUR_COLUMNS}}


def loads(url: str, n: int) -> dict:
    """Each load of LOADS, best of LOAD_REPEATS (wall and CPU of the best run); read_sql once."""
    out: dict = {}
    for label, kwargs in LOADS.items():
        runs = []
        for _ in range(LOAD_REPEATS):
            gc.collect()
            cpu0 = METER.sample()
            frame = analytics.load_patterns(url, **kwargs)
            runs.append(METER.since(cpu0))
            params = frame["parameters"].iloc[0] if "parameters" in frame else ""
            if len(frame) != n or not isinstance(params, dict if "parse_parameters" in kwargs else str):
                raise RuntimeError(f"load_patterns {label}: {len(frame)} rows of {n}, parameters {type(params)}")
            del frame
        best = min(runs, key=lambda r: r["wall_s"])
        out[label] = {"best_s": round(best["wall_s"], 3), "runs_s": [round(r["wall_s"], 3) for r in runs],
                      "best_client_cpu_s": round(best["client_cpu_s"], 2), "best_postgres_cpu_s": best["postgres_cpu_s"]}
        log(f"  load_patterns {label}: best {best['wall_s']:.2f} s of {', '.join(f'{r:.2f}' for r in out[label]['runs_s'])} "
            f"(best run: {best['client_cpu_s']:.2f} s CPU here, {best['postgres_cpu_s'] or 0:.2f} s CPU in PostgreSQL)")
    gc.collect()
    t = time.perf_counter()
    with engine_for(url).connect() as conn:
        rows = len(pd.read_sql(sa.text(READ_SQL), conn))
    out["read_sql_s"] = round(time.perf_counter() - t, 3)
    if rows != n:
        raise RuntimeError(f"read_sql returned {rows} rows, expected {n}")
    log(f"  pandas.read_sql (psycopg2, all columns): {out['read_sql_s']:.2f} s")
    return out


def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    t = time.perf_counter()
    conn.request("GET", path)
    body = (resp := conn.getresponse()).read()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
    return (time.perf_counter() - t) * 1000, body


def explain_ms(url: str, symbol: str, limit: int) -> float:
    """Median execution time in PostgreSQL of the endpoint's SELECT (EXPLAIN ANALYZE, 5 runs)."""
    query = ("EXPLAIN (ANALYZE, FORMAT JSON) SELECT detected_at, symbol, pattern_type, confidence, timeframe, "
             "high_confidence, session_id, parameters FROM patterns WHERE symbol = %s AND detected_at >= %s "
             "ORDER BY detected_at DESC LIMIT %s")
    since = datetime.now(UTC) - pd.Timedelta(hours=24)
    with connect(url) as conn:
        return statistics.median(conn.execute(query, (symbol, since, limit)).fetchone()[0][0]["Execution Time"]
                                 for _ in range(5))


def rest(redis_url: str, url: str, symbol: str) -> dict:
    """`tickstock serve` on the database; each limit's requests one after another on one connection."""
    server = Server(redis_url, extra_env={"DATABASE_URL": normalise_url(url)})
    _emergency.append(server.stop)
    out: dict = {"symbol": symbol, "requests_each": REST_REQUESTS}
    try:
        t = time.perf_counter()
        server.start()
        log(f"  tickstock serve answering after {time.perf_counter() - t:.1f} s (pid {server.pid})")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for limit in (1000, 100):
            path = f"/streaming/api/patterns/{symbol}?hours=24&limit={limit}"
            cold, body = get(conn, path)  # the first one also opens the server's database pool
            for _ in range(4):
                get(conn, path)
            payload = json.loads(body)
            if payload["count"] != limit or payload["rows"][0]["symbol"] != symbol:
                raise RuntimeError(f"unexpected answer: count {payload['count']}, expected {limit}")
            cpu0 = sum((proc := psutil.Process(server.pid)).cpu_times()[:2])
            times = [get(conn, path)[0] for _ in range(REST_REQUESTS)]
            server_ms = (sum(proc.cpu_times()[:2]) - cpu0) / REST_REQUESTS * 1000
            sql_ms = explain_ms(url, symbol, limit)
            figures = {"sql_execution_ms": sql_ms, "server_cpu_ms_per_request": server_ms,
                       **{f"p{q}_ms": pct(times, q) for q in (50, 90, 99)}, "max_ms": max(times),
                       "mean_ms": statistics.fmean(times), "first_ms": cold, "body_bytes": len(body)}
            out[f"limit_{limit}"] = f = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
            log(f"  limit={limit}: p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms, "
                f"first {cold:.1f} ms, body {len(body):,} bytes (server CPU {server_ms:.1f} ms a request; the "
                f"SELECT itself {sql_ms:.1f} ms in PostgreSQL)")
        conn.close()
        return out
    finally:
        server.stop()
        _emergency.remove(server.stop)


def recorder_phase(url: str, events: list[Pattern], result: dict) -> None:
    n = len(events)
    log("1. recorder: StreamingBuffer -> Recorder -> COPY")
    rec = recorder_run(url, events, timeout=max(120.0, n / 5_000))
    log(f"  {rec['rows_per_s']:,.0f} rows/s: {n:,} rows in {rec['seconds']:.2f} s (takes done after "
        f"{rec['feed_seconds']:.2f} s with {rec['written_when_fed']:,} written, {rec['batches']} batches, backlog up "
        f"to {rec['max_backlog_seen']:,}); after the takes: {rec['rows_per_s_after_feed'] or 0:,.0f} rows/s")
    log(f"  CPU per row: {rec['client_cpu_us_per_row']:.1f} µs here (takes + recorder), "
        f"{rec.get('postgres_cpu_us_per_row', '?')} µs in PostgreSQL; {rec['cpu_use_of_wall'] or '?'} cores busy")
    sql(url, "TRUNCATE patterns; CHECKPOINT", autocommit=True)
    bare = bare_write(url, events)
    log(f"  bare write_events, same records, batches of {BATCH_MAX:,}: {bare['rows_per_s']:,.0f} rows/s "
        f"({bare['seconds']:.2f} s); CPU per row: {bare['client_cpu_us_per_row']:.1f} µs here, "
        f"{bare.get('postgres_cpu_us_per_row', '?')} µs in PostgreSQL")
    result["recorder"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in rec.items()}
    result["bare_write_events"] = {k: round(v, 3) for k, v in bare.items() if v is not None}


def rest_phase(stack: contextlib.ExitStack, url: str, symbol: str, result: dict) -> None:
    log(f"3. REST: {REST_ROWS:,} detections of {symbol} in the last 24 h")
    added = analytics.write_events(url, recent_events(REST_ROWS, symbol, np.random.default_rng(SEED + 1)))["patterns"]
    sql(url, "VACUUM ANALYZE patterns", autocommit=True)
    total = sql(url, "SELECT count(*) FROM patterns")[0][0]
    in_day = sql(url, "SELECT count(*) FROM patterns WHERE symbol = %s AND detected_at >= now() - "
                      "interval '24 hours'", (symbol,))[0][0]
    log(f"  added {added:,} rows; {in_day:,} of {symbol} in the last 24 h, {total:,} rows in the table")
    redis_server = service(stack, EmbeddedRedis())
    result["rest"] = {**rest(redis_server.url, url, symbol), "rows_of_symbol_24h": in_day, "rows_in_table": total}


def main() -> int:
    global METER
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="pattern rows for the recorder and the loads")
    ap.add_argument("--database-url", help="a PostgreSQL server to use (a database of our own is created and "
                                           "dropped there); default: a private embedded PostgreSQL")
    ap.add_argument("--time-limit", type=float, default=600.0, help="stop everything after this many seconds")
    args = ap.parse_args()
    if args.rows < TAKE_CHUNK:
        ap.error(f"--rows: at least {TAKE_CHUNK}")
    n, started, done = args.rows, time.monotonic(), start_watchdog(args.time_limit)
    install_signal_handlers()
    runtime.tune_gc()  # the recorder as `tickstock serve/record/demo` run it
    result: dict = {"rows": n, "cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        with contextlib.ExitStack() as stack:
            if args.database_url:
                server_url, result["postgres"] = args.database_url, "given (--database-url)"
            else:
                pg = service(stack, EmbeddedPostgres())
                server_url, result["postgres"] = pg.url, "embedded (fsync off)"
                METER = CpuMeter(pg.pid)
            url = stack.enter_context(bench_database(server_url))
            result["postgres_version"] = sql(url, "SHOW server_version")[0][0]
            analytics.upgrade(url)
            log(f"database {sa.make_url(url).database} on PostgreSQL {result['postgres_version']} "
                f"({result['postgres']}), schema upgraded")
            t, rng = time.perf_counter(), np.random.default_rng(SEED)
            symbols = tickers(rng, SYMBOLS)
            events = history_events(n, symbols, rng, trading_days(DAYS, END))
            log(f"made {n:,} distinct pattern events over {len({e.symbol for e in events})} symbols in "
                f"{time.perf_counter() - t:.1f} s")
            recorder_phase(url, events, result)
            del events
            log(f"2. loading {n:,} pattern rows into pandas")
            sql(url, "VACUUM ANALYZE patterns", autocommit=True)
            result["load"] = loads(url, n)
            rest_phase(stack, url, symbols[0], result)
            dispose(url)
    finally:
        done.set()
    result.update(loadavg_at_end=[round(x, 2) for x in os.getloadavg()], total_seconds=round(time.monotonic() - started, 1))
    r, b, ld, rs = result["recorder"], result["bare_write_events"], result["load"], result["rest"]
    result["targets"] = {"recorder_rows_per_s_ge_100k": r["rows_per_s"] >= 100_000,
                         **{f"load_{k}_le_1_5_s": ld[k]["best_s"] <= 1.5 for k in LOADS}}
    print(f"\nrecorder {r['rows_per_s']:,.0f} rows/s (target >= 100,000), bare write_events {b['rows_per_s']:,.0f} "
          f"rows/s; load_patterns of {n:,} rows, best of {LOAD_REPEATS} (target <= 1.5 s): "
          + ", ".join(f"{k} {ld[k]['best_s']:.2f} s" for k in LOADS) + f"; read_sql {ld['read_sql_s']:.2f} s; REST "
          + ", ".join(f"limit={q}: p50 {rs[f'limit_{q}']['p50_ms']:.1f} / p99 {rs[f'limit_{q}']['p99_ms']:.1f} ms"
                      for q in (1000, 100)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
