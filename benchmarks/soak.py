"""Soak: server memory over a long run with 3 browser sessions under a steady load.

A private Redis, `tickstock serve` as a subprocess, three Chromium sessions on /streaming, and a
publisher process sending a simulated TickStockPL stream (500 symbols) at `--rate` events/s for a
60 s warm-up plus `--minutes`. The server's RSS is sampled every 10 s; the figures are RSS at the
start (after the warm-up) and at the end, growth, max, the growth rate fitted over the run (MB per
10 minutes) and whether growth stays within 20 MB over 10 minutes. At the end the load stops, a
marker critical alert shows how long each page needed to work through its backlog (all three must
show it: the sessions are alive), and /status must show the accounting identity holding and no
consumer (session) having dropped anything. Also reported: CPU use, and each page's JS heap and DOM
node count before the load and after it (once caught up; Chrome DevTools Performance metrics).

    python benchmarks/soak.py [--minutes 10] [--rate 200] [--warmup 60] [--sessions 3]

Prints a human summary; the last line is one JSON object with every figure. Stops by itself (a
watchdog kills everything past the time budget) and leaves no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
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
    linfit,
    log,
    private_redis,
    rss_mb,
    start_watchdog,
    uss_mb,
)
from _page import CHROMIUM_ARGS, CHROMIUM_PATH, INIT_JS, VIEWPORT, open_dashboard, wait_caught_up  # noqa: E402
from _publisher import Publisher  # noqa: E402
from _server import Server  # noqa: E402

SAMPLE_EVERY_S = 10.0
GROWTH_LIMIT_MB = 20.0  # per 10 minutes


def page_metrics(cdp) -> dict:
    """JS heap and DOM size of one page (Chrome DevTools Performance.getMetrics, after a full GC so
    garbage does not count)."""
    try:
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    except Exception as exc:  # a page too busy to answer, or gone
        return {"error": str(exc)[:200]}
    return {"js_heap_used_mb": round(metrics.get("JSHeapUsedSize", 0) / 2**20, 1),
            "dom_nodes": int(metrics.get("Nodes", 0)),
            "event_listeners": int(metrics.get("JSEventListeners", 0))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="measured minutes after the warm-up (default 10)")
    ap.add_argument("--rate", type=float, default=200.0, help="events/s (default 200)")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the first RSS figure (default 60)")
    ap.add_argument("--sessions", type=int, default=3, help="browser sessions (default 3)")
    args = ap.parse_args()
    install_signal_handlers()
    run_s = args.minutes * 60
    budget = args.warmup + run_s
    watchdog = start_watchdog(budget + 900)
    result: dict = {"minutes": args.minutes, "rate": args.rate, "warmup_s": args.warmup, "sessions": args.sessions,
                    "cpus": psutil.cpu_count(), "sample_every_s": SAMPLE_EVERY_S}
    ok = False
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(kill_descendants)  # last resort, after the orderly stops below
            url, redis_pid = private_redis(stack)
            server = Server(url)
            stack.callback(server.stop)
            log("starting tickstock serve ...")
            server.start()
            log(f"server pid {server.pid} at {server.url}; Redis {url}")
            publisher = Publisher(url, server.prefix, [(budget + 600, args.rate)], {},
                                  pregenerate=int(min(args.rate * (budget + 30), 200_000)))
            stack.callback(publisher.close)

            from playwright.sync_api import sync_playwright

            pw = stack.enter_context(sync_playwright())
            browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
            stack.callback(browser.close)
            pages, cdps = [], []
            for _ in range(args.sessions):
                ctx = browser.new_context(viewport=VIEWPORT)
                ctx.add_init_script(INIT_JS)
                page = open_dashboard(ctx, server.url, timeout_ms=120_000)
                cdp = ctx.new_cdp_session(page)
                cdp.send("Performance.enable")
                pages.append(page)
                cdps.append(cdp)
            pages_start = [page_metrics(c) for c in cdps]  # idle pages answer at once; busy ones queue it
            rss_idle = rss_mb(server.pid)
            log(f"{args.sessions} sessions open; server RSS {rss_idle:.1f} MB; publishing {args.rate:g} events/s "
                f"({args.warmup:g} s warm-up, then {args.minutes:g} min)")

            srv = psutil.Process(server.pid)
            cpu = CpuMeter({"server": lambda: [srv], "chromium": chromium_procs,
                            "redis": lambda: [psutil.Process(redis_pid)],
                            "publisher": lambda: [psutil.Process(publisher.pid)], "harness": harness_procs})
            publisher.start()
            t0 = time.monotonic()
            while (left := t0 + args.warmup - time.monotonic()) > 0:
                pages[0].wait_for_timeout(max(1, min(1000, left * 1000)))
            start_rss, start_uss = rss_mb(server.pid), uss_mb(server.pid)
            samples = [(0.0, start_rss)]
            cpu.start()
            log(f"warm-up done: server RSS {start_rss:.1f} MB")
            t_run = time.monotonic()
            next_sample = t_run + SAMPLE_EVERY_S
            last_log = t_run
            while (now := time.monotonic()) < t_run + run_s:
                pages[0].wait_for_timeout(max(1, min(1000, (min(next_sample, t_run + run_s) - now) * 1000)))
                now = time.monotonic()
                if now >= next_sample:
                    samples.append((round(now - t_run, 1), rss_mb(server.pid)))
                    next_sample += SAMPLE_EVERY_S
                    if now - last_log >= 60:
                        last_log = now
                        log(f"  {(now - t_run) / 60:.1f} min: server RSS {samples[-1][1]:.1f} MB")
            end_rss, end_uss = rss_mb(server.pid), uss_mb(server.pid)
            samples.append((round(time.monotonic() - t_run, 1), end_rss))
            cpu_run = cpu.stop()
            status_under_load = server.status()
            pub = publisher.finish()
            log(f"load stopped after {time.monotonic() - t0:.0f} s ({pub['sent']} messages); server RSS {end_rss:.1f} MB")
            catch_up = wait_caught_up(pages, url, server.prefix, 1, timeout_s=300)
            log(f"pages caught up with their backlog after "
                f"{'more than 300' if catch_up is None else f'{catch_up:.1f}'} s")
            pages_end = [page_metrics(c) for c in cdps]
            time.sleep(1.0)
            status = server.status()
            buf = status["buffer"]
            rss_after = rss_mb(server.pid)

            xs = [t / 60 for t, _ in samples]
            ys = [r for _, r in samples]
            _, slope, r2 = linfit(xs, ys)
            growth = end_rss - start_rss
            per_10 = slope * 10 if slope == slope else None  # NaN check
            judged = growth if args.minutes >= 10 else per_10
            consumers = buf["consumers"]
            result.update({
                "published": pub["sent"],
                "publish_rate_achieved": round(pub["sent"] / pub["elapsed_s"], 1),
                "server_rss_mb": {"idle_with_sessions": round(rss_idle, 1), "start": round(start_rss, 1),
                                  "end": round(end_rss, 1), "growth": round(growth, 1), "max": round(max(ys), 1),
                                  "min": round(min(ys), 1), "after_load_stopped": round(rss_after, 1),
                                  "fitted_growth_per_10_min": per_10 is not None and round(per_10, 1),
                                  "fit_r2": round(r2, 3) if r2 == r2 else None},
                "server_uss_mb": {"start": start_uss and round(start_uss, 1), "end": end_uss and round(end_uss, 1)},
                "rss_samples": [[t, round(r, 1)] for t, r in samples],
                "cpu_percent_of_one_core": cpu_run,
                "pages": {"start": pages_start, "end": pages_end},
                "pages_caught_up_after_s": catch_up and round(catch_up, 1),
                "buffer": {k: buf.get(k) for k in ("received", "delivered", "deduplicated", "filtered", "rejected",
                                                   "dropped", "pending", "identity_holds", "consumer_dropped",
                                                   "flushes", "early_flushes")},
                "consumers": [{k: c.get(k) for k in ("name", "delivered", "dropped", "queued")} for c in consumers],
                "consumer_queued_under_load": [c.get("queued") for c in status_under_load["buffer"]["consumers"]],
                "subscriber_reconnects": status["subscriber"].get("reconnects"),
            })
            result["targets"] = {
                "memory_growth_le_20mb_per_10min": judged is not None and judged <= GROWTH_LIMIT_MB,
                "judged_on": "measured growth" if args.minutes >= 10 else "fitted growth per 10 min (run < 10 min)",
                "accounting_identity_holds": bool(buf.get("identity_holds")),
                "no_session_dropped": all(c.get("dropped") == 0 for c in consumers) and len(consumers) == args.sessions,
                "all_pages_alive": catch_up is not None,
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


def print_summary(r: dict) -> None:
    m = r["server_rss_mb"]
    t = r["targets"]
    print()
    print(f"=== TickStock Live soak: {r['sessions']} sessions, {r['publish_rate_achieved']:g} events/s, "
          f"{r['minutes']:g} min after a {r['warmup_s']:g} s warm-up ({r['published']} messages), {r['cpus']} CPUs ===")
    print(f"server RSS: start {m['start']} MB, end {m['end']} MB, growth {m['growth']} MB, max {m['max']} MB, "
          f"min {m['min']} MB; fitted {m['fitted_growth_per_10_min']} MB per 10 min (r² {m['fit_r2']}); "
          f"{m['after_load_stopped']} MB after the load stopped")
    print(f"  samples (s, MB): {r['rss_samples']}")
    print(f"memory growth ≤ 20 MB per 10 min: {t['memory_growth_le_20mb_per_10min']} ({t['judged_on']})")
    b = r["buffer"]
    print(f"accounting: received {b['received']} = delivered {b['delivered']} + deduplicated {b['deduplicated']} + "
          f"filtered {b['filtered']} + rejected {b['rejected']} + dropped {b['dropped']} + pending {b['pending']}: "
          f"{b['identity_holds']}")
    print(f"sessions: {[(c['name'], c['delivered'], c['dropped']) for c in r['consumers']]} (name, delivered, dropped);"
          f" none dropped: {t['no_session_dropped']}; queued under load {r['consumer_queued_under_load']}")
    print(f"pages caught up {r['pages_caught_up_after_s']} s after the load stopped; before the load "
          f"{r['pages']['start']}; after {r['pages']['end']}")
    print("CPU % of one core: " + ", ".join(f"{k} {v}" for k, v in r["cpu_percent_of_one_core"].items()))
    print(f"subscriber reconnects {r['subscriber_reconnects']}; leftover processes: {r['leftover_processes'] or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
