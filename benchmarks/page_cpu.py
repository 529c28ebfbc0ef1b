"""The page's own cost in Chromium: renderer CPU, the main thread's long tasks, and what dominates.

A private Redis, `tickstock serve` as a subprocess, ONE page in headless Chromium. The page opens
with no load; then a publisher process sends a simulated TickStockPL stream (500 symbols:
indicators, patterns, indicator and critical alerts, health) at `--rate` events/s. After
`--warmup` seconds (the tables fill), a `--seconds` window is measured with nothing attached to
the page but passive observers (a PerformanceObserver, a count of the websocket messages and of
the rows the tables announce) and a trace of top-level tasks only (`--no-task-trace`: none):

- CPU, as % of one core: the CPU time (user + system, from /proc via psutil) of Chromium's
  renderer process over the window, split by thread (main, compositor, raster and other pool
  workers, IO), and of every Chromium process (browser, GPU/viz, network). Process CPU time is
  the headline rather than CDP's `TaskDuration`: that counts the main thread only, so the
  compositor and raster threads, a real part of what the page costs, would be missing.
  `Performance.getMetrics` (in thread time) still splits the main thread's time into script,
  style and layout; the rest of its tasks is paint, commit, messaging and GC outside script.
  The browser and network processes also carry Playwright's own instrumentation (it reports
  every websocket frame over CDP), so the renderer is the figure to judge the page by.
- Long tasks: a PerformanceObserver (registered before any page script) keeps every `longtask`
  entry (main-thread tasks over 50 ms: count, max, p95) and every `long-animation-frame` entry
  (frames over 50 ms, with the scripts that ran in them: which function, how long, and the
  style/layout/render time of the frame). These are wall times: on a crowded machine a task
  that waits for a core grows too, so the window's trace of top-level tasks gives every
  main-thread task's CPU time as well (tasks over 50 ms of CPU, max, p95).
- What the page was sent per second, and the machine's busy share: a saturated machine starves
  the page (it then draws fewer frames, so its CPU is understated); the summary says so.

Then, under the same load, attribution (these add overhead, so they come after the window):
a Chromium trace (`--trace-seconds`) gives the main thread's CPU by kind of work (script, GC,
style, layout, paint/composite, other) and by script, frames, layouts and paints per second
(paint by layer), and the anatomy of its longest tasks (wall and CPU); a
sampling CPU profile (`--profile-seconds`) gives the functions that take the time, grouped by
the page component whose code they are (LiveTable, Bokeh charts, HTML panes, Bokeh's document
and websocket handling, Panel). Finally the load stops and the page is measured idle for
`--idle-seconds` (the page's fixed cost: clocks and the once-a-second panes).

    python benchmarks/page_cpu.py [--rate 1000] [--seconds 60] [--warmup 10] [--width 1500]

Prints figures as it goes and a summary; the last line is one JSON object with every figure.
Targets: the renderer at most 20 % of a core, and no main-thread task over 50 ms. Stops by itself
(a watchdog) and leaves no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psutil  # noqa: E402
from _chromium import ChromiumMeter  # noqa: E402
from _common import (  # noqa: E402
    install_signal_handlers,
    kill_descendants,
    leftovers,
    log,
    pct,
    private_redis,
    start_watchdog,
)
from _page import CHROMIUM_ARGS, CHROMIUM_PATH  # noqa: E402
from _page_trace import profile_summary, task_cpu_figures, trace_summary  # noqa: E402
from _publisher import Publisher  # noqa: E402
from _server import Server  # noqa: E402

TARGET_PCT = 20.0  # % of one core, the renderer

# ------------------------------------------------------------------ in the page

# Registered before any page script: keeps long tasks and long animation frames (with their
# scripts' attribution) in window.__tsLong. Passive: the browser reports only entries over 50 ms.
OBSERVE_JS = r"""
(() => {
  if (window.__tsLong) return;
  const tasks = [], frames = [], ws = {messages: 0, bytes: 0}, rows = {};
  window.__tsLong = {tasks, frames, ws, rows};
  const Native = window.WebSocket;  // counts what the page is sent, to tell a page that kept up
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => { ws.messages++; ws.bytes += e.data.length || e.data.byteLength || 0; });
    }
  };
  document.addEventListener("tickstock-rows", (e) => { rows[e.detail.table] = (rows[e.detail.table] || 0) + e.detail.rows; });
  const keep = (type, fn) => {
    try { new PerformanceObserver((list) => list.getEntries().forEach(fn)).observe({type, buffered: true}); }
    catch (e) { window.__tsLong[type] = String(e); }
  };
  keep("longtask", (e) => tasks.push({start: e.startTime, duration: e.duration}));
  keep("long-animation-frame", (e) => frames.push({
    start: e.startTime, duration: e.duration, blocking: e.blockingDuration,
    render: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
    style_layout: e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0,
    scripts: e.scripts.map((s) => ({duration: s.duration, invoker: s.invoker, type: s.invokerType,
      fn: s.sourceFunctionName, url: s.sourceURL, pos: s.sourceCharPosition,
      forced_layout: s.forcedStyleAndLayoutDuration}))}));
})();
"""

WINDOW_JS = """([lo, hi]) => { const L = window.__tsLong;
  const inside = (e) => e.start >= lo && e.start < hi;
  return {tasks: L.tasks.filter(inside), frames: L.frames.filter(inside)}; }"""
COUNTS_JS = "() => ({ws: {...window.__tsLong.ws}, rows: {...window.__tsLong.rows}})"


def received(before: dict, after: dict, wall: float) -> dict:
    """What the page was sent per second over the window: websocket messages (Bokeh sends a message
    as several), KiB, and the rows each live table announced (table.js's `tickstock-rows` events)."""
    per_s = lambda a, b: round((a - b) / wall, 1)  # noqa: E731
    return {"websocket_messages_per_s": per_s(after["ws"]["messages"], before["ws"]["messages"]),
            "websocket_kib_per_s": per_s(after["ws"]["bytes"] / 1024, before["ws"]["bytes"] / 1024),
            "rows_per_s": {k: per_s(v, before["rows"].get(k, 0)) for k, v in after["rows"].items()}}

# ------------------------------------------------------------------ CDP Performance metrics

METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "LayoutCount",
           "RecalcStyleCount", "JSHeapUsedSize", "Nodes", "JSEventListeners")


def cdp_metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def metrics_delta(before: dict, after: dict, wall: float) -> dict:
    """The main thread's busy time over the window, split, as % of wall time (CDP's own clocks)."""
    share = {k: round(100 * (after[k] - before[k]) / wall, 1)
             for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")}
    share["other_in_tasks"] = round(share["TaskDuration"] - share["ScriptDuration"] - share["LayoutDuration"]
                                    - share["RecalcStyleDuration"], 1)
    return {"pct_of_wall": share,
            "layouts_per_s": round((after["LayoutCount"] - before["LayoutCount"]) / wall, 1),
            "style_recalcs_per_s": round((after["RecalcStyleCount"] - before["RecalcStyleCount"]) / wall, 1),
            "js_heap_mb": round(after["JSHeapUsedSize"] / 2**20, 1), "dom_nodes": int(after["Nodes"]),
            "js_event_listeners": int(after["JSEventListeners"])}


# ------------------------------------------------------------------ long tasks


def long_task_figures(seen: dict) -> dict:
    durations = [t["duration"] for t in seen["tasks"]]
    frames = seen["frames"]
    scripts: dict[str, list[float]] = defaultdict(list)
    for f in frames:
        for s in f["scripts"]:
            scripts[script_label(s)].append(s["duration"])
    return {
        "long_tasks": {"count_over_50ms": len(durations), "max_ms": round(max(durations, default=0), 1),
                       "p95_ms": round(pct(durations, 95) or 0, 1), "total_ms": round(sum(durations)),
                       "count_over_100ms": sum(d > 100 for d in durations)},
        "longest_tasks": [longest_task(t, frames) for t in sorted(seen["tasks"], key=lambda t: -t["duration"])[:5]],
        "long_frames": {"count": len(frames), "max_ms": round(max((f["duration"] for f in frames), default=0), 1),
                        "style_layout_ms_total": round(sum(f["style_layout"] for f in frames)),
                        "render_ms_total": round(sum(f["render"] for f in frames)),
                        "script_ms_total": round(sum(s["duration"] for f in frames for s in f["scripts"]))},
        "long_frame_scripts": [{"script": k, "count": len(v), "total_ms": round(sum(v)), "max_ms": round(max(v))}
                               for k, v in sorted(scripts.items(), key=lambda kv: -sum(kv[1]))[:10]],
    }


def longest_task(task: dict, frames: list[dict]) -> dict:
    """A long task with the long animation frame it was part of, if any: its rendering time (style,
    layout, paint) and its scripts."""
    lo, hi = task["start"], task["start"] + task["duration"]
    frame = next((f for f in frames if f["start"] <= hi and lo <= f["start"] + f["duration"]), None)
    out = {"ms": round(task["duration"]), "at_s": round(task["start"] / 1000, 1)}
    if frame is not None:
        out.update(frame_ms=round(frame["duration"]), render_ms=round(frame["render"]),
                   style_layout_ms=round(frame["style_layout"]),
                   scripts=[f"{script_label(s)} {round(s['duration'])} ms" for s in frame["scripts"]][:4])
    return out


def script_label(s: dict) -> str:
    """A long frame's script as `invoker -> function (file)`."""
    url = (s.get("url") or "").split("?")[0].rsplit("/", 1)[-1][:40]
    fn = s.get("fn") or "?"
    return f"{s.get('invoker') or s.get('type')} -> {fn} ({url or 'inline'})"


def open_page(context, url: str, timeout_ms: int = 120_000):
    """The dashboard in a new page, once its first live table is drawn (a table element, whatever the
    titles and layout around it), with dialogs dismissed."""
    page = context.new_page()
    page.on("dialog", lambda d: d.dismiss())
    page.goto(url, timeout=timeout_ms)
    page.locator("table").first.wait_for(timeout=timeout_ms)
    return page


def measure_window(browser, page, cdp, seconds: float, task_trace: bool) -> dict:
    """CPU by process and thread, CDP metrics, and the long tasks and frames inside the window; with
    `task_trace`, a trace of top-level tasks only (cheap) gives every main-thread task's CPU time."""
    path = None
    if task_trace:
        fd, path = tempfile.mkstemp(prefix="tickstock-page-cpu-tasks-", suffix=".json")
        os.close(fd)
        browser.start_tracing(page=page, path=path, categories=["toplevel"])
    try:
        meter = ChromiumMeter()
        lo, counts = page.evaluate("performance.now()"), page.evaluate(COUNTS_JS)
        before = cdp_metrics(cdp)
        meter.start()
        time.sleep(seconds)  # nothing to pump: the observers keep their entries in the page
        cpu = meter.stop()
        after = cdp_metrics(cdp)
        hi = page.evaluate("performance.now()")
        seen = page.evaluate(WINDOW_JS, [lo, hi])
        out = {"cpu_pct_of_one_core": cpu, "cdp_main_thread": metrics_delta(before, after, cpu["wall_s"]),
               "page_received": received(counts, page.evaluate(COUNTS_JS), cpu["wall_s"]), **long_task_figures(seen)}
        if path is not None:
            browser.stop_tracing()
            out["main_thread_tasks"] = task_cpu_figures(path)
        return out
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)


def attribution(browser, page, cdp, trace_s: float, profile_s: float, keep_trace: str | None) -> dict:
    out: dict = {}
    if trace_s > 0:
        path = keep_trace
        if path is None:
            fd, path = tempfile.mkstemp(prefix="tickstock-page-cpu-", suffix=".json")
            os.close(fd)
        try:
            browser.start_tracing(page=page, path=path, categories=[
                "devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel", "v8", "blink.user_timing"])
            t0 = time.monotonic()
            time.sleep(trace_s)
            browser.stop_tracing()
            out["trace"] = trace_summary(path, time.monotonic() - t0)
        finally:
            if not keep_trace:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        log(f"trace: main thread CPU {out['trace'].get('main_thread_cpu_pct')} % of one core, by kind "
            f"{out['trace'].get('cpu_pct_by_kind')}")
    if profile_s > 0:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Profiler.start")
        time.sleep(profile_s)
        out["profile"] = profile_summary(cdp.send("Profiler.stop")["profile"])
        cdp.send("Profiler.disable")
        log(f"profile by component: {out['profile']['by_component_pct_of_wall']}")
    return out


def print_summary(r: dict) -> None:
    w = r["window"]
    cpu, lt, cdp = w["cpu_pct_of_one_core"], w["long_tasks"], w["cdp_main_thread"]["pct_of_wall"]
    print(f"\n=== page cost in Chromium, one page at {r['rate']:g} events/s, {cpu['wall_s']:g} s window ===")
    print(f"renderer CPU      {cpu['renderer']:6.1f} % of one core  (target <= {TARGET_PCT:g})")
    print(f"all Chromium      {cpu['chromium_all']:6.1f} % of one core  {cpu['by_process']}")
    print(f"renderer threads  {cpu['renderer_threads']}")
    print(f"page received     {w['page_received']}")
    if cpu["machine_saturated"]:
        print(f"WARNING: the machine was saturated ({cpu['machine_busy_pct_of_one_core']} % of one core busy on "
              f"{r['cpus']} cores): a starved page draws less, so its CPU is understated and its tasks' wall times "
              "overstated; rerun on a quieter machine")
    print(f"main thread (CDP) tasks {cdp['TaskDuration']} % of wall: script {cdp['ScriptDuration']}, "
          f"style {cdp['RecalcStyleDuration']}, layout {cdp['LayoutDuration']}, other {cdp['other_in_tasks']}")
    print(f"long tasks        {lt['count_over_50ms']} over 50 ms ({lt['count_over_100ms']} over 100 ms), "
          f"max {lt['max_ms']} ms, p95 {lt['p95_ms']} ms  (target: none over 50 ms)")
    if "main_thread_tasks" in w:
        print(f"main-thread tasks {w['main_thread_tasks']}  (trace: CPU time vs wall time of each task)")
    print(f"long frames       {w['long_frames']}")
    for s in w["long_frame_scripts"][:6]:
        print(f"   {s['total_ms']:6d} ms in {s['count']:4d} long frames (max {s['max_ms']} ms): {s['script']}")
    if "idle" in r:
        print(f"idle page         renderer {r['idle']['cpu_pct_of_one_core']['renderer']} % of one core, "
              f"{r['idle']['long_tasks']['count_over_50ms']} long tasks")
    for name, figures in r.get("attribution", {}).items():
        print(f"{name}:")
        for k, v in figures.items():
            print(f"   {k}: {v}")
    print(f"targets: {r['targets']}")


def run(args, result: dict) -> None:
    """Serve, open the page, load it, measure; figures into `result`. Everything started is stopped."""
    loaded = args.warmup + args.seconds + args.trace_seconds + args.profile_seconds
    with contextlib.ExitStack() as stack:
        stack.callback(kill_descendants)  # last resort, after the orderly stops below
        url, _ = private_redis(stack)
        server = Server(url)
        stack.callback(server.stop)
        log("starting tickstock serve ...")
        server.start()
        publisher = Publisher(url, server.prefix, [(loaded + 60, args.rate)], {}, pregenerate=int(args.rate * (loaded + 5)))
        stack.callback(publisher.close)

        from playwright.sync_api import sync_playwright

        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        context = browser.new_context(viewport={"width": args.width, "height": args.height})
        context.add_init_script(OBSERVE_JS)
        page = open_page(context, server.url)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        log(f"page open ({server.url}); publishing {args.rate:g} events/s, warm-up {args.warmup:g} s")
        publisher.start()
        time.sleep(args.warmup)
        log(f"measuring {args.seconds:g} s ...")
        window = measure_window(browser, page, cdp, args.seconds, not args.no_task_trace)
        result["window"] = window
        log(f"renderer {window['cpu_pct_of_one_core']['renderer']} % of one core, all Chromium "
            f"{window['cpu_pct_of_one_core']['chromium_all']} %; long tasks {window['long_tasks']}")
        result["attribution"] = attribution(browser, page, cdp, args.trace_seconds, args.profile_seconds,
                                            args.keep_trace)
        pub = publisher.finish()
        result["publish_rate_achieved"] = round(pub["sent"] / pub["elapsed_s"], 1)
        result["session_dropped"] = [c.get("dropped") for c in server.status()["buffer"]["consumers"]]
        if args.idle_seconds > 0:
            time.sleep(2)  # the last flush
            result["idle"] = measure_window(browser, page, cdp, args.idle_seconds, False)
    cpu, lt = window["cpu_pct_of_one_core"], window["long_tasks"]
    result["targets"] = {"renderer_le_20pct": cpu["renderer"] <= TARGET_PCT,
                         "chromium_all_le_20pct": cpu["chromium_all"] <= TARGET_PCT,
                         "no_task_over_50ms": lt["count_over_50ms"] == 0}
    if "main_thread_tasks" in window:
        result["targets"]["no_task_over_50ms_cpu"] = window["main_thread_tasks"]["over_50ms_cpu"] == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="events/s published (default 1000)")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window, s (default 60)")
    ap.add_argument("--warmup", type=float, default=10.0, help="load before the window, s (default 10)")
    ap.add_argument("--no-task-trace", action="store_true",
                    help="no `toplevel` trace during the window (no CPU time per long task)")
    ap.add_argument("--trace-seconds", type=float, default=8.0, help="Chromium trace after the window (0: none)")
    ap.add_argument("--keep-trace", metavar="PATH", help="keep the trace there (chrome://tracing, Perfetto)")
    ap.add_argument("--profile-seconds", type=float, default=8.0, help="CPU profile after the trace (0: none)")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="the page with no load at the end (0: none)")
    ap.add_argument("--width", type=int, default=1500, help="viewport width, px (default 1500)")
    ap.add_argument("--height", type=int, default=1200, help="viewport height, px (default 1200)")
    args = ap.parse_args()
    install_signal_handlers()
    watchdog = start_watchdog(args.warmup + args.seconds * 2 + args.trace_seconds + args.profile_seconds
                              + args.idle_seconds + 300)
    result: dict = {"rate": args.rate, "window_s": args.seconds, "warmup_s": args.warmup,
                    "viewport": [args.width, args.height], "cpus": psutil.cpu_count()}
    try:
        run(args, result)
    finally:
        watchdog.set()
        result["leftover_processes"] = leftovers()
    print_summary(result)
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
