"""Publish-to-DOM latency in Chromium at ~1,000 events/s, websocket bytes per update, server cost per session.

A private Redis, `tickstock serve` as a subprocess, headless Chromium. A publisher process sends a
simulated TickStockPL stream (500 symbols: indicators, patterns, indicator and critical alerts,
health, persistence) at `--rate` events/s and, among it, latency probes:

- buffered probes: pattern detections (confidence 0.75, on :patterns:streaming) whose parameters
  carry a unique id (the row shows `probe=PB000042`); the symbol rotates over PROBE0..PROBE7, so no
  two probes share symbol+pattern within the dedup window and the filter widgets do not grow;
- critical probes: critical alerts whose message starts with a unique id (`CP000042 latency probe`).

Each probe's publish time is time.time() just before PUBLISH. In the page an init script observes
every shadow root (MutationObserver) and records Date.now() when the id first appears in the DOM
(also per place: table row, banner, toast), when the websocket message carrying it arrived, and the
next animation frame. Same machine, same clock. The server runs under `_server.traced_serve` (the
same `tickstock serve` with read-only hooks) which logs when each probe id was received from Redis,
fanned out by the buffer, pushed by the session's drain and written to the websocket, so the
latency splits into stages (`--no-server-trace`: plain server).

Phases, under the same load: 1 session (`--seconds`), a short Chromium trace of that page's main
thread, 3 sessions (`--three-seconds`), then 0 sessions (`--idle-seconds`: the ingest alone), which
gives server CPU and RSS per session. The load pauses while sessions 2 and 3 open and while the
pages work through any backlog before their timestamps are collected (a marker critical alert
shows when each page has caught up; that time is reported). Websocket frames of the first session
are decoded (Bokeh messages) to show bytes per table update against new rows and table size.

    python benchmarks/latency.py [--rate 1000] [--seconds 50] [--three-seconds 25] [--idle-seconds 12]

Prints a human summary; the last line is one JSON object with every figure. Stops by itself (a
watchdog kills everything past the time budget) and leaves no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psutil  # noqa: E402
from _common import (  # noqa: E402
    CpuMeter,
    chromium_procs,
    harness_procs,
    install_signal_handlers,
    kill_descendants,
    leftovers,
    log,
    private_redis,
    rss_mb,
    start_watchdog,
    summary,
    uss_mb,
)
from _latency_report import browser_trace_summary, print_summary, probe_latencies, table_bytes  # noqa: E402
from _page import (  # noqa: E402
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    COLLECT_JS,
    INIT_JS,
    VIEWPORT,
    WsMeter,
    open_dashboard,
    wait_caught_up,
)
from _publisher import Publisher  # noqa: E402
from _server import Server  # noqa: E402

FLUSH_MS = 250  # STREAMING_BUFFER_INTERVAL default; the target is flush + 100 ms
MAX_ROWS = 1000  # STREAMING_MAX_HISTORY_SIZE default


def pump(page, seconds: float, tick=None) -> None:
    """Let time pass while Playwright delivers its events (websocket frames) to our handlers."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if page is not None:
            page.wait_for_timeout(max(1, min(500, left * 1000)))
        else:
            time.sleep(min(0.5, left))
        if tick is not None:
            tick()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="background events/s (default 1000)")
    ap.add_argument("--seconds", type=float, default=50.0, help="1-session phase, s (default 50)")
    ap.add_argument("--three-seconds", type=float, default=25.0, help="3-session phase, s (default 25)")
    ap.add_argument("--idle-seconds", type=float, default=12.0, help="0-session phase, s (default 12)")
    ap.add_argument("--probe-interval", type=float, default=0.25,
                    help="mean seconds between buffered probes (uniform in [0.5x, 1.5x]; default 0.25)")
    ap.add_argument("--critical-interval", type=float, default=0.5,
                    help="mean seconds between critical probes (uniform in [0.5x, 1.5x]; default 0.5)")
    ap.add_argument("--trace-seconds", type=float, default=5.0,
                    help="Chromium trace of the page's main thread after the 1-session phase (0: none)")
    ap.add_argument("--catch-up-timeout", type=float, default=300.0,
                    help="seconds to let page 1 work through its backlog before its probes are read (default 300)")
    ap.add_argument("--no-server-trace", action="store_true",
                    help="plain `tickstock serve` (no per-stage timestamps of the probes)")
    args = ap.parse_args()
    install_signal_handlers()
    p1, p3, p0 = args.seconds, args.three_seconds, args.idle_seconds
    budget = p1 + p3 + p0 + args.trace_seconds
    watchdog = start_watchdog(budget + args.catch_up_timeout + 600)
    m, mc = args.probe_interval, args.critical_interval
    probe_every = {"PB": (0.5 * m, 1.5 * m), "CP": (0.5 * mc, 1.5 * mc)}
    result: dict = {"rate": args.rate, "phases_s": {"one_session": p1, "three_sessions": p3, "no_session": p0},
                    "flush_interval_ms": FLUSH_MS, "cpus": psutil.cpu_count(),
                    "server_traced": not args.no_server_trace, "catch_up_timeout_s": args.catch_up_timeout}
    ok = False
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(kill_descendants)  # last resort, after the orderly stops below
            url, redis_pid = private_redis(stack)
            server = Server(url)
            stack.callback(server.stop)
            log("starting tickstock serve ...")
            server.start(trace=not args.no_server_trace)
            log(f"server pid {server.pid} at {server.url}, prefix {server.prefix}; Redis {url}")
            # open-ended: stopped at the end; messages for the planned phases are encoded up front
            publisher = Publisher(url, server.prefix, [(budget + 300, args.rate)], probe_every,
                                  pregenerate=int(args.rate * (budget + 60)))
            stack.callback(publisher.close)

            from playwright.sync_api import sync_playwright

            pw = stack.enter_context(sync_playwright())
            browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
            stack.callback(browser.close)
            contexts = []

            def new_session(meter: bool = False):
                ctx = browser.new_context(viewport=VIEWPORT)
                ctx.add_init_script(INIT_JS)
                contexts.append(ctx)
                page = open_dashboard(ctx, server.url, timeout_ms=120_000, before_goto=WsMeter if meter else None)
                return ctx, page, page.result

            srv = psutil.Process(server.pid)
            groups = {"server": lambda: [srv], "chromium": chromium_procs,
                      "redis": lambda: [psutil.Process(redis_pid)],
                      "publisher": lambda: [psutil.Process(publisher.pid)], "harness": harness_procs}
            rss_samples: list[tuple[float, float]] = []

            def sample():
                with contextlib.suppress(psutil.Error):
                    rss_samples.append((time.time(), rss_mb(server.pid)))

            rss_idle_before = rss_mb(server.pid)
            ctx1, page1, meter1 = new_session(meter=True)
            pump(page1, 2)
            rss_one_idle = rss_mb(server.pid)
            log(f"session 1 open; server RSS {rss_idle_before:.1f} MB before, {rss_one_idle:.1f} MB with it")

            # ---------------------------------------------------------------- 1 session
            publisher.start()
            t0m, t0w = time.monotonic(), time.time()
            log(f"publishing {args.rate:g} events/s, a buffered probe every ~{m:g} s and a critical one every ~{mc:g} s; "
                f"1 session for {p1:g} s")
            warm = min(10.0, p1 / 4)
            pump(page1, warm, sample)
            cpu = CpuMeter(groups)
            cpu.start()
            bytes0, tb0 = meter1.bytes, time.monotonic()
            pump(page1, p1 - (time.monotonic() - t0m), sample)
            cpu_one = cpu.stop()
            end1w = time.time()
            ws_rate_one = (meter1.bytes - bytes0) / (time.monotonic() - tb0)
            rss_one, uss_one = rss_mb(server.pid), uss_mb(server.pid)
            st_one = server.status()
            log(f"1 session: CPU % of one core {cpu_one}; server RSS {rss_one:.1f} MB; "
                f"websocket {ws_rate_one / 1024:.1f} KiB/s")

            trace = {}
            if args.trace_seconds > 0:
                fd, trace_path = tempfile.mkstemp(prefix="tickstock-bench-chromium-", suffix=".json")
                os.close(fd)
                stack.callback(lambda: os.path.exists(trace_path) and os.unlink(trace_path))
                browser.start_tracing(page=page1, path=trace_path, categories=["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel"])
                t_tr = time.monotonic()
                pump(page1, args.trace_seconds, sample)
                browser.stop_tracing()
                trace = browser_trace_summary(trace_path, time.monotonic() - t_tr)
                log(f"page main thread busy {trace.get('main_thread_busy_pct')}% of wall time "
                    f"({trace.get('pct_of_wall_by_event')})")

            # ---------------------------------------------------------------- 3 sessions
            t_status = time.monotonic()
            server.status()
            status_s = time.monotonic() - t_status
            # On 2 cores a page opened at 1,000 events/s may not finish loading for minutes (the
            # first session's page already saturates the machine), so the load pauses while two more
            # sessions open; the time the first page needs to work through its backlog is a figure.
            publisher.pause()
            catch_up_s = wait_caught_up([page1], url, server.prefix, 1, timeout_s=args.catch_up_timeout)
            seen1 = page1.evaluate(COLLECT_JS)
            log(f"load paused; page 1 caught up with its backlog after "
                f"{f'more than {args.catch_up_timeout:g}' if catch_up_s is None else f'{catch_up_s:.1f}'} s")
            t_open = time.monotonic()
            _, page2, _ = new_session()
            _, page3, _ = new_session()
            open_s = time.monotonic() - t_open
            publisher.resume()
            opened_w = time.time()
            log(f"sessions 2 and 3 open (took {open_s:.1f} s, load paused); load resumed")
            pump(page1, min(5.0, p3 / 4), sample)
            cpu.start()
            pump(page1, p3, sample)
            cpu_three = cpu.stop()
            end3w = time.time()
            rss_three, uss_three = rss_mb(server.pid), uss_mb(server.pid)
            st_three = server.status()
            log(f"3 sessions: CPU % of one core {cpu_three}; server RSS {rss_three:.1f} MB")
            # let late probes land (a saturated page works through its backlog), then collect
            publisher.pause()
            catch_up3_s = wait_caught_up([page1, page2, page3], url, server.prefix, 2, timeout_s=60)
            seen = [page.evaluate(COLLECT_JS) for page in (page1, page2, page3)]
            publisher.resume()
            log(f"load paused; the 3 pages caught up after "
                f"{'more than 60' if catch_up3_s is None else f'{catch_up3_s:.1f}'} s; load resumed")

            # ---------------------------------------------------------------- 0 sessions
            for ctx in contexts:
                ctx.close()
            closed = time.monotonic()
            while server.status()["buffer"]["consumers"] and time.monotonic() - closed < 45:
                time.sleep(0.5)  # Bokeh destroys a session once its websocket has been gone a while
            released_s = time.monotonic() - closed
            consumers_after_close = len(server.status()["buffer"]["consumers"])
            log(f"tabs closed; consumers left {consumers_after_close} after {released_s:.1f} s")
            pump(None, 2, sample)
            cpu.start()
            pump(None, p0, sample)
            cpu_zero = cpu.stop()
            rss_zero = rss_mb(server.pid)
            log(f"0 sessions: server CPU {cpu_zero['server']}%, RSS {rss_zero:.1f} MB")

            pub = publisher.finish()
            time.sleep(1.5)  # the last flush
            status = server.status()
            buf = status["buffer"]
            server_trace = server.read_trace()

            # ---------------------------------------------------------------- figures
            probes = pub["probes"]
            one = probe_latencies(probes, seen1, t0w + 3, end1w, server_trace)
            three = {}
            lo, hi = opened_w + 2, end3w
            for kind in ("PB", "CP"):
                merged: list[float] = []
                arrived: list[float] = []  # publish → the websocket message in the page
                published = missing = undrawn = 0
                for s in seen:
                    lat = probe_latencies(probes, s, lo, hi)[kind]
                    published += lat["published"]
                    missing += lat["missing"]
                    undrawn += lat["arrived_not_drawn"]
                    merged += [s["dom"][pid] - wall * 1000 for pid, k, wall in probes
                               if k == kind and lo <= wall <= hi and pid in s["dom"]]
                    arrived += [s["ws"][pid] - wall * 1000 for pid, k, wall in probes
                                if k == kind and lo <= wall <= hi and pid in s["ws"]]
                three[kind] = {"published_x_sessions": published, "not_shown_60s_after_phase": missing,
                               "missing": missing, "arrived_not_drawn": undrawn,
                               "dom": summary(merged), "ws_received": summary(arrived)}
            tables = table_bytes(meter1.updates, MAX_ROWS)
            per_session_cpu = round((cpu_three["server"] - cpu_zero["server"]) / 3, 1)
            result.update({
                "published": pub["sent"] + len(probes),
                "published_background": pub["sent"],
                "publish_rate_achieved": round(pub["sent"] / pub["elapsed_s"], 1),
                "latency_one_session_ms": {"buffered": one["PB"], "critical": one["CP"]},
                "latency_three_sessions_ms": {"buffered": three["PB"], "critical": three["CP"]},
                "browser_main_thread": trace,
                "instrumentation_pct_of_page_wall_time": [
                    x.get("cost", {}).get("pct_of_wall") and round(x["cost"]["pct_of_wall"], 2) for x in seen],
                "websocket": {"bytes_per_s_taken_in_by_page_one_session": round(ws_rate_one),
                              "messages_by_type_session1": {k: len(v) for k, v in meter1.by_msgtype.items()},
                              "tables": tables},
                "server": {
                    "cpu_percent": {"no_session": cpu_zero["server"], "one_session": cpu_one["server"],
                                    "three_sessions": cpu_three["server"], "per_session": per_session_cpu,
                                    "first_session": round(cpu_one["server"] - cpu_zero["server"], 1)},
                    "rss_mb": {"before_sessions_idle": round(rss_idle_before, 1),
                               "one_session_idle": round(rss_one_idle, 1), "one_session": round(rss_one, 1),
                               "three_sessions": round(rss_three, 1), "after_closing_all": round(rss_zero, 1),
                               "per_extra_session": round((rss_three - rss_one) / 2, 1),
                               "max": round(max(r for _, r in rss_samples), 1)},
                    "uss_mb": {"one_session": uss_one and round(uss_one, 1),
                               "three_sessions": uss_three and round(uss_three, 1)},
                    "consumers_after_closing_tabs": consumers_after_close,
                    "sessions_released_after_s": round(released_s, 1),
                    "consumer_queued_end_of_phase": {
                        "one_session": [c["queued"] for c in st_one["buffer"]["consumers"]],
                        "three_sessions": [c["queued"] for c in st_three["buffer"]["consumers"]]},
                },
                "cpu_percent_of_one_core": {"one_session": cpu_one, "three_sessions": cpu_three,
                                            "no_session": cpu_zero},
                "sessions_open_time_s_load_paused": round(open_s, 1),
                "page_backlog_catch_up_s": {"one_session": None if catch_up_s is None else round(catch_up_s, 1),
                                            "three_sessions": None if catch_up3_s is None else round(catch_up3_s, 1)},
                "status_endpoint_answer_s_one_session": round(status_s, 2),
                "buffer": {k: buf.get(k) for k in ("received", "delivered", "deduplicated", "filtered", "rejected",
                                                   "dropped", "pending", "identity_holds", "consumer_dropped",
                                                   "flushes", "early_flushes", "deduplicated_by")},
                "consumer_dropped_three_sessions": [c["dropped"] for c in st_three["buffer"]["consumers"]],
                "subscriber_reconnects": status["subscriber"].get("reconnects"),
            })
            pb, cp = one["PB"].get("dom", {}), one["CP"].get("dom", {})
            pat = tables.get("patterns", {})
            early, full = pat.get("first_50", {}), pat.get("table_full", {})
            proportional = bool(early.get("updates") and full.get("updates")
                                and abs(full["bytes_per_new_row"] / early["bytes_per_new_row"] - 1) < 0.25
                                and full["mean_bytes_per_update"] < 0.2 * full["mean_table_rows_before"]
                                * early["bytes_per_new_row"])
            spb, scp = one["PB"].get("ws_sent", {}), one["CP"].get("ws_sent", {})
            result["targets"] = {
                "buffered_p99_le_350ms": pb.get("p99") is not None and pb["p99"] <= FLUSH_MS + 100,
                "critical_p99_le_100ms": cp.get("p99") is not None and cp["p99"] <= 100,
                "server_side_buffered_p99_le_350ms": spb.get("p99") is not None and spb["p99"] <= FLUSH_MS + 100,
                "server_side_critical_p99_le_100ms": scp.get("p99") is not None and scp["p99"] <= 100,
                "bytes_per_update_proportional_to_new_rows": proportional,
                "no_probe_lost": all(one[k]["missing"] == one[k]["arrived_not_drawn"] for k in ("PB", "CP")),
                "accounting_identity_holds": buf.get("identity_holds"),
            }
            ok = True
    finally:
        watchdog.set()
    result["leftover_processes"] = leftovers()
    if not ok:
        return 1
    print_summary(result)
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
