"""Month-scale history: 30 trading days on day partitions, 10 M indicator rows and 2 M patterns.

On a fresh database of our own (`tickstock_bench_<hex>`) on a private embedded PostgreSQL 16, or on
the server of `--database-url` (nothing but that database is touched):

1. Indicators: `--indicators` rows over the 30 trading days before today (500 symbols, RSI), made
   by PostgreSQL itself (`generate_series`) straight into the day partitions: setup, not measured.
2. Recorder: `--patterns` distinct detections over the same days through StreamingBuffer → Recorder
   → COPY into the partitioned table, rows/s from the first take to the last write. Target >= 100 k.
   The takes come as fast as one thread makes them (a burst: the takes share the GIL with the
   recorder). Then the same detections taken at a steady `--paced-rate` a second into a second
   database: whether the recorder keeps up with an ingest at that rate (its backlog, and how long
   after the last take it was done).
3. Compaction: what the recorder's upkeep does to each day once it is over (CLUSTER in symbol
   order, `analytics.partitions.compact_next`), timed over the 30 closed days: setup, reported.
4. Queries, best of 5 each: the REST summary over the last day (the handler's own SQL; target
   <= 50 ms), one symbol's month of patterns and of indicators into pandas (target <= 100 ms), every
   symbol's patterns of one day into pandas (target <= 0.5 s), and the last day's indicators.

    python benchmarks/month.py [--patterns 2000000] [--indicators 10000000] [--paced-rate 100000]
                               [--database-url URL]

The last line is one JSON object of every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import history as H  # the history benchmark's helpers: database, recorder run
import numpy as np
from _common import host_speed_s, install_signal_handlers, log
from _detections import history_events, tickers

import analytics  # noqa: E402
from analytics import partitions  # noqa: E402
from analytics.calendar import previous_trading_days  # noqa: E402
from analytics.db import connect  # noqa: E402
from analytics.sample import session_opens  # noqa: E402
from dashboard import runtime  # noqa: E402
from dashboard.services.embedded import EmbeddedPostgres  # noqa: E402
from dashboard.web import history_api  # noqa: E402

DAYS, REPEATS = 30, 5


def best(fn, repeats: int = REPEATS) -> dict:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return {"best_ms": round(min(times) * 1000, 1), "median_ms": round(sorted(times)[len(times) // 2] * 1000, 1),
            "rows": len(out) if hasattr(out, "__len__") else None}


def make_indicators(url: str, n: int, days: list, symbols: list[str]) -> float:
    """n RSI rows spread over the trading sessions of `days`, made inside PostgreSQL."""
    per_day = n // len(days)
    t = time.perf_counter()
    with connect(url) as conn:
        with conn.transaction():
            partitions.create(conn, "indicators", days)
        for _day, opens in zip(days, session_opens(days), strict=True):
            conn.execute(
                "INSERT INTO indicators (session_id, symbol, indicator, \"values\", calculated_at, timeframe) "
                "SELECT 'month', (%s::text[])[1 + i %% %s], 'RSI', jsonb_build_object('value', 30 + (i %% 40)), "
                "%s + make_interval(secs => (i / %s::float8) * 23400), '1min' FROM generate_series(0, %s - 1) AS i",
                (symbols, len(symbols), opens.to_pydatetime(), per_day, per_day))
            conn.commit()
        conn.execute("ANALYZE indicators")
        conn.commit()
    return time.perf_counter() - t


def compact_all(url: str) -> dict:
    """Every closed day's partition rewritten in symbol order, one at a time, as the recorder does."""
    t, n = time.perf_counter(), 0
    with connect(url) as conn:
        conn.autocommit = True
        while partitions.compact_next(conn) is not None:
            n += 1
    seconds = time.perf_counter() - t
    return {"partitions": n, "seconds": round(seconds, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patterns", type=int, default=2_000_000)
    ap.add_argument("--indicators", type=int, default=10_000_000)
    ap.add_argument("--paced-rate", type=int, default=100_000,
                    help="also take the detections at this steady rate (a second database); 0: skip")
    ap.add_argument("--database-url", help="a PostgreSQL server to use; default: a private embedded PostgreSQL")
    args = ap.parse_args()
    install_signal_handlers()
    runtime.tune_gc()  # as `tickstock serve/record/demo` run the stream
    H.METER = H.CpuMeter(os.getpid())
    today = datetime.now(UTC).date()
    days = previous_trading_days(today, DAYS)
    result: dict = {"patterns": args.patterns, "indicators": args.indicators, "days": [str(days[0]), str(days[-1])],
                    "host_loop_20m_s": [host_speed_s()]}  # before and after: how fast this host was meanwhile
    with contextlib.ExitStack() as stack:
        if args.database_url:
            server_url = args.database_url
        else:
            pg = H.service(stack, EmbeddedPostgres())
            server_url = pg.url
            H.METER = H.CpuMeter(pg.pid)
        url = stack.enter_context(H.bench_database(server_url))
        result["postgres_version"] = H.sql(url, "SHOW server_version")[0][0]
        analytics.upgrade(url)
        rng = np.random.default_rng(H.SEED)
        symbols = tickers(rng, H.SYMBOLS)
        log(f"1. making {args.indicators:,} indicator rows over {DAYS} trading days in PostgreSQL")
        result["indicators_setup_s"] = round(make_indicators(url, args.indicators, days, symbols), 1)
        log(f"2. {args.patterns:,} detections through the recorder into day partitions")
        events = history_events(args.patterns, symbols, rng, days)  # over the same 30 sessions
        rec = H.recorder_run(url, events, timeout=1200)
        result["recorder"] = {k: rec[k] for k in ("rows_per_s", "seconds", "rows_per_s_after_feed", "stored")}
        if args.paced_rate:
            log(f"2b. the same detections taken at a steady {args.paced_rate:,} a second, into a second database")
            with H.bench_database(server_url) as steady_url:
                analytics.upgrade(steady_url)
                rec = H.recorder_run(steady_url, events, timeout=1200, rate=args.paced_rate)
                H.dispose(steady_url)
            result["recorder_paced"] = {"rate": args.paced_rate, **{k: round(rec[k], 3) for k in (
                "fed_per_s", "rows_per_s", "drained_s_after_feed", "max_backlog_seen")}}
        del events
        H.sql(url, "VACUUM ANALYZE patterns", autocommit=True)
        log("3. compacting the closed days' partitions, as the recorder's upkeep does")
        result["compaction"] = compact_all(url)
        log("4. queries")
        last = days[-1]
        day_start = datetime(last.year, last.month, last.day, tzinfo=UTC)
        month_start = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
        hours = max(1, int((datetime.now(UTC) - day_start).total_seconds() // 3600) + 1)
        summary = history_api.SummaryHandler.query(SimpleNamespace(zone="America/New_York"), {}, min(hours, 168))
        eng = history_api.engine(url)
        busy = symbols[0]
        result["queries"] = {
            "rest_summary_last_day": best(lambda: summary(eng)["rows"]),
            "one_symbol_month_patterns": best(lambda: analytics.load_patterns(url, [busy], month_start)),
            "one_symbol_month_indicators": best(lambda: analytics.load_indicators(url, [busy], month_start)),
            "every_symbol_day_patterns": best(lambda: analytics.load_patterns(url, None, day_start,
                                                                              day_start + timedelta(days=1))),
            "every_symbol_day_indicators": best(lambda: analytics.load_indicators(url, None, day_start,
                                                                                  day_start + timedelta(days=1))),
        }
        H.dispose(url)
    result["host_loop_20m_s"].append(host_speed_s())
    q, r = result["queries"], result["recorder"]
    result["targets"] = {
        "recorder_ge_100k_rows_per_s": r["rows_per_s"] >= 100_000,
        "rest_summary_le_50_ms": q["rest_summary_last_day"]["best_ms"] <= 50,
        "one_symbol_month_le_100_ms": max(q["one_symbol_month_patterns"]["best_ms"],
                                          q["one_symbol_month_indicators"]["best_ms"]) <= 100,
        "every_symbol_day_le_500_ms": q["every_symbol_day_patterns"]["best_ms"] <= 500,
    }
    print(f"\nhost: a bare loop of 20 M additions took {result['host_loop_20m_s'][0]} s before, "
          f"{result['host_loop_20m_s'][1]} s after")
    if p := result.get("recorder_paced"):
        print(f"taken at a steady {p['fed_per_s']:,.0f} a second: written at {p['rows_per_s']:,.0f} rows/s, "
              f"done {p['drained_s_after_feed']:.2f} s after the last take, backlog at most "
              f"{p['max_backlog_seen']:,} events")
    print(f"recorder {r['rows_per_s']:,.0f} rows/s into day partitions; " + "; ".join(
        f"{k} {v['best_ms']} ms ({v['rows']:,} rows)" for k, v in q.items()))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
