"""What the page's main-thread time went to, read from Chromium: a trace (kinds of work, scripts,
frames, paints by layer, the anatomy of the longest tasks, each task's wall and CPU time) and a
sampling CPU profile (functions grouped by the page component whose code they are). Used by
page_cpu.py; pure functions of the trace and profile, no browser needed."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

from _common import pct

LONG_MS = 50.0  # a main-thread task longer than this blocks input noticeably (and is a `longtask`)


# ------------------------------------------------------------------ trace: kinds of work

KIND_OF = {
    "script": ("FunctionCall", "EvaluateScript", "TimerFire", "FireAnimationFrame", "EventDispatch",
               "RunMicrotasks", "V8.Execute", "v8.run", "v8.compile", "v8.compileModule", "v8.evaluateModule",
               "v8.callFunction", "V8.Compile", "V8.CompileCode", "v8.produceCache", "CompileScript",
               "FireIdleCallback", "ResizeObserver", "IntersectionObserverController::computeIntersections",
               "XHRReadyStateChange", "ParseHTML", "WebSocketReceiveHandshakeResponse"),
    "gc": ("MajorGC", "MinorGC", "V8.GCScavenger", "V8.GCFinalizeMC", "V8.GCIncrementalMarking",
           "V8.GC_MC_BACKGROUND_EVACUATE_COPY", "BlinkGC.AtomicPhase", "ThreadState::performIdleLazySweep",
           "BlinkGC.IncrementalMarkingStep", "BlinkGC.CompleteSweep", "V8.GCCompactor", "V8.GCScavengerTask",
           "V8.GC_MC_COMPLETE_SWEEPING", "V8.GCIncrementalMarkingFinalize", "V8.GCIncrementalMarkingStart",
           "V8.GCFinalizeMCReduceMemory", "V8.GCMarkingTask", "V8.GCEpilogue", "V8.GCPrologue"),
    "style": ("UpdateLayoutTree", "RecalculateStyles", "ParseAuthorStyleSheet", "InvalidateLayout"),
    "layout": ("Layout", "HitTest", "UpdateLayerTree", "UpdateLayer"),
    "paint_composite": ("PrePaint", "Paint", "PaintImage", "Layerize", "CompositeLayers", "Commit",
                        "UpdateLayerTree", "ProxyMain::BeginMainFrame::commit", "PaintSetup", "Decode Image",
                        "RasterTask", "Rasterize", "ScrollLayer"),
}
EVENT_KIND = {name: kind for kind, names in KIND_OF.items() for name in names}
TASK_NAMES = ("ThreadControllerImpl::RunTask", "RunTask")


def kind_of(name: str) -> str:
    if name in EVENT_KIND:
        return EVENT_KIND[name]
    if name.startswith(("V8.GC", "BlinkGC", "v8.gc")):
        return "gc"
    if name.startswith(("V8.", "v8.")):
        return "script"
    return "other"


def main_thread_events(events: list[dict]) -> list[tuple]:
    """The busiest renderer main thread's complete events as (start, end, name, args, cpu) in µs, by
    start; cpu is the thread's own time (`tdur`), so waiting for a core on a busy machine is left out."""
    mains = {(e["pid"], e["tid"]) for e in events
             if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
    out: dict[tuple, list[tuple]] = defaultdict(list)
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key in mains and e.get("ph") == "X" and "ts" in e:
            dur = e.get("dur", 0)
            out[key].append((e["ts"], e["ts"] + dur, e["name"], e.get("args") or {}, e.get("tdur", dur)))
    if not out:
        return []
    evs = max(out.values(), key=len)
    evs.sort(key=lambda x: (x[0], -x[1]))
    return evs


def nest(evs: list[tuple]) -> list[dict]:
    """Each event with its self CPU time (its children's subtracted), the top-level task it belongs
    to, and whether a FunctionCall encloses it."""
    stack: list[dict] = []
    out: list[dict] = []
    task = -1
    for ts, end, name, args, cpu in evs:
        while stack and ts >= stack[-1]["end"]:
            stack.pop()
        if not stack:
            task += 1
        e = {"ts": ts, "end": min(end, stack[-1]["end"]) if stack else end, "name": name, "args": args,
             "cpu": cpu, "own": cpu, "task": task,
             "in_call": bool(stack) and (stack[-1]["in_call"] or stack[-1]["name"] == "FunctionCall")}
        if stack:
            stack[-1]["own"] -= cpu
        out.append(e)
        stack.append(e)
    return out


def trace_summary(path: str, seconds: float) -> dict:
    """From a Chromium trace of the page: the main thread's CPU by kind of work and by event, the
    scripts that run (outermost function calls), how often it makes frames, lays out and paints
    (paint by layer), and the anatomy of its longest tasks."""
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    timed = nest(main_thread_events(events))
    if not timed:
        return {}
    ms, per_s = seconds * 1000, lambda n: round(n / seconds, 1)  # noqa: E731
    share = lambda us: round(100 * us / 1000 / ms, 1)  # noqa: E731
    kinds, names, calls, counts = Counter(), Counter(), Counter(), Counter()
    paints: dict[str, list[float]] = defaultdict(list)
    tasks: dict[int, dict] = {}
    for e in timed:
        name, own = e["name"], e["own"]
        kinds["other" if name in TASK_NAMES else kind_of(name)] += own
        names[name] += own
        counts[name] += 1
        t = tasks.setdefault(e["task"], {"wall": e["end"] - e["ts"], "cpu": e["cpu"], "kinds": Counter(),
                                         "calls": Counter()})
        t["kinds"][kind_of(name)] += own
        if name == "FunctionCall" and not e["in_call"]:
            calls[call_label(e["args"])] += e["cpu"]
            t["calls"][call_label(e["args"])] += e["cpu"]
        if name == "Paint":
            paints[(e["args"].get("data") or {}).get("nodeName", "?")[:60]].append(e["cpu"])
    counts.update(e["name"] for e in events if e.get("ph") in ("I", "i", "n") and e.get("name") == "WebSocketReceive")
    longest = sorted(tasks.values(), key=lambda t: -t["wall"])[:5]
    return {
        "seconds": round(seconds, 1),
        "main_thread_cpu_pct": share(sum(t["cpu"] for t in tasks.values())),
        "main_thread_busy_wall_pct": share(sum(t["wall"] for t in tasks.values())),
        "cpu_pct_by_kind": {k: share(v) for k, v in kinds.most_common()},
        "cpu_pct_by_event": {k: share(v) for k, v in names.most_common(12)},
        "cpu_pct_by_script": {k: share(v) for k, v in calls.most_common(10)},
        "per_s": {"frames (Commit)": per_s(counts["Commit"]), "layouts": per_s(counts["Layout"]),
                  "style_recalcs": per_s(counts["UpdateLayoutTree"]), "paints": per_s(counts["Paint"]),
                  "animation_frame_callbacks": per_s(counts["FireAnimationFrame"]),
                  "websocket_frames_received": per_s(counts["WebSocketReceive"]),
                  "script_calls": per_s(counts["FunctionCall"])},
        "paint_by_layer": {k: {"per_s": per_s(len(v)), "cpu_pct": share(sum(v))}
                           for k, v in sorted(paints.items(), key=lambda kv: -sum(kv[1]))[:5]},
        "layout_objects_max": max((e["args"].get("beginData", {}).get("totalObjects", 0) for e in timed
                                   if e["name"] == "Layout"), default=0),
        "tasks_over_50ms_wall": sum(t["wall"] > LONG_MS * 1000 for t in tasks.values()),
        "tasks_over_50ms_cpu": sum(t["cpu"] > LONG_MS * 1000 for t in tasks.values()),
        "longest_tasks": [{"wall_ms": round(t["wall"] / 1000, 1), "cpu_ms": round(t["cpu"] / 1000, 1),
                           "cpu_ms_by_kind": {k: round(v / 1000, 1) for k, v in t["kinds"].most_common(4)},
                           "scripts_ms": {k: round(v / 1000, 1) for k, v in t["calls"].most_common(3)}}
                          for t in longest],
    }


def call_label(args: dict) -> str:
    """A FunctionCall as `function (file:line)`; LiveTable's ESM module is a blob: URL."""
    d = args.get("data") or {}
    url = d.get("url") or ""
    where = "table.js (ESM blob)" if url.startswith("blob:") else url.split("?")[0].rsplit("/", 1)[-1][:40]
    return f"{d.get('functionName') or '(anonymous)'} ({where or 'inline'}:{d.get('lineNumber', 0)})"


# ------------------------------------------------------------------ CPU profile: which code

# A sample belongs to the first component (in this order) one of whose rules matches a frame of its
# stack: (component, function-name pattern or None, url pattern or None). Bokeh's minified bundle
# keeps method names, so its work is told apart by them; LiveTable's ESM module is a blob: URL.
COMPONENTS = [
    ("LiveTable (table.js)", r"^(paint|fill|texts|fmt|newRow|add|schedule)$", r"^blob:"),
    ("Bokeh charts: canvas paint", r"^(repaint|_actual_paint|_paint_levels|_paint_empty|request_repaint)$", r"bokeh"),
    ("Bokeh charts: ranges and axes", r"^(_tick_label_extents|update_range|update_dataranges)$", r"bokeh"),
    ("Bokeh layout (after a resize or a child's change)", r"^(after_resize|compute_layout|_compute_layout|"
     r"_invalidate_layout_if_needed|invalidate_layout|resize_layout|update_layout)$", r"bokeh"),
    ("Panel HTML panes (markup replaced)", r"(html|markup|HTML|Markup)", r"panel"),
    ("Panel (other)", None, r"panel"),
    ("Bokeh websocket message / document patch", r"^(_on_message|consume|apply_json_patch|_handle_notebook|"
     r"_decode|decode|_deserialize|deserialize|_repull_session_doc)$", r"bokeh"),
    ("Bokeh (other)", None, r"bokeh"),
]


def frame_key(cf: dict) -> str:
    url = (cf.get("url") or "").split("?")[0].rsplit("/", 1)[-1][:40]
    return f"{cf.get('functionName') or '(anonymous)'} ({url or 'native'}:{cf.get('lineNumber', -1) + 1})"


def profile_summary(profile: dict) -> dict:
    """Self and inclusive time of functions, and time by page component, from a CPU profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    total_us = (profile["endTime"] - profile["startTime"]) or 1
    own: Counter = Counter()
    incl: Counter = Counter()
    comp: Counter = Counter()
    rules = [(name, fn and re.compile(fn), url and re.compile(url)) for name, fn, url in COMPONENTS]
    for i, sid in enumerate(samples):
        dt = deltas[i + 1] if i + 1 < len(deltas) else 0  # a sample stands for the time until the next
        leaf = nodes[sid]["callFrame"]
        name = leaf.get("functionName", "")
        if name in ("(idle)", "(root)"):
            continue
        own[frame_key(leaf)] += dt
        chain, nid = [], sid
        while nid is not None:
            chain.append(nodes[nid]["callFrame"])
            nid = parent.get(nid)
        for key in {frame_key(cf) for cf in chain if cf.get("url")}:
            incl[key] += dt
        comp[component(chain, name, rules)] += dt
    pct_of = lambda us: round(100 * us / total_us, 1)  # noqa: E731
    return {"seconds": round(total_us / 1e6, 1),
            "by_component_pct_of_wall": {k: pct_of(v) for k, v in comp.most_common()},
            "top_self_pct_of_wall": {k: pct_of(v) for k, v in own.most_common(15)},
            "top_inclusive_pct_of_wall": {k: pct_of(v) for k, v in incl.most_common(15)}}


def component(chain: list[dict], leaf_name: str, rules: list) -> str:
    if leaf_name == "(program)":
        return "(program): native work outside JS (style, layout, paint, messages)"
    if leaf_name == "(garbage collector)":
        return leaf_name
    for label, fn_rx, url_rx in rules:
        for cf in chain:
            if (fn_rx is None or fn_rx.search(cf.get("functionName", ""))) and url_rx.search(cf.get("url", "")):
                return label
    return "other (native, page scripts)"


# ------------------------------------------------------------------ the run


def task_cpu_figures(path: str) -> dict:
    """Every main-thread task's wall and CPU time from a `toplevel` trace: a task that is long in wall
    time but not in CPU time waited for a core (the machine, not the page)."""
    with open(path) as f:
        data = json.load(f)
    top: dict[int, dict] = {}  # the outermost event of each task
    for e in nest(main_thread_events(data["traceEvents"] if isinstance(data, dict) else data)):
        top.setdefault(e["task"], e)
    wall = [(e["end"] - e["ts"]) / 1000 for e in top.values()]
    cpu = [e["cpu"] / 1000 for e in top.values()]
    return {"tasks": len(top), "over_50ms_cpu": sum(c > LONG_MS for c in cpu),
            "over_50ms_wall": sum(w > LONG_MS for w in wall),
            "max_cpu_ms": round(max(cpu, default=0), 1), "p95_cpu_ms": round(pct(cpu, 95) or 0, 1),
            "max_wall_ms": round(max(wall, default=0), 1), "p95_wall_ms": round(pct(wall, 95) or 0, 1)}
