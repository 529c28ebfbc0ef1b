"""The figures of latency.py from what it collected: probe latencies by stage, the page's main-thread
trace, bytes per table update, and the printed summary.
"""

from __future__ import annotations

import json
import statistics

from _common import linfit, summary


def probe_latencies(probes: list, seen: dict, lo: float, hi: float, server: dict | None = None) -> dict:
    """Latencies (ms) of the probes published in [lo, hi] (wall s), by kind: publish→DOM and, with
    the traced server's stages, where the time went (each stage's increment over the previous)."""
    dom, ws, frame, places = seen["dom"], seen["ws"], seen["frame"], seen["places"]
    server = server or {}
    chain = [("recv", server.get("recv", {})), ("fan", server.get("fan", {})), ("push", server.get("push", {})),
             ("ws_sent", server.get("ws", {})), ("ws_received", ws), ("dom", dom)]
    out: dict = {}
    for kind in ("PB", "CP"):
        stages: dict[str, list[float]] = {"dom": [], "frame": [], "ws_received": [], "ws_sent": []}
        steps: dict[str, list[float]] = {}
        if kind == "CP":
            stages.update({"table": [], "banner": [], "toast": []})
        published = missing = undrawn = 0
        for pid, k, wall in probes:
            if k != kind or not (lo <= wall <= hi):
                continue
            published += 1
            t_pub = wall * 1000
            if pid not in dom:
                missing += 1
                undrawn += pid in ws  # reached the page, but newer rows pushed it off screen before a frame
                continue
            stages["dom"].append(dom[pid] - t_pub)
            if pid in ws:
                stages["ws_received"].append(ws[pid] - t_pub)
            if pid in server.get("ws", {}):
                stages["ws_sent"].append(server["ws"][pid] * 1000 - t_pub)
            if pid in frame:
                stages["frame"].append(frame[pid] - t_pub)
            if kind == "CP":
                for where in ("table", "banner", "toast"):
                    if f"{pid}@{where}" in places:
                        stages[where].append(places[f"{pid}@{where}"] - t_pub)
            prev_name, prev_t = "publish", t_pub
            for name, times in chain:
                if pid not in times:
                    continue
                t = times[pid] * (1000 if times is not dom and times is not ws else 1)
                steps.setdefault(f"{prev_name}→{name}", []).append(t - prev_t)
                prev_name, prev_t = name, t
        thirds = [[], [], []]  # is the page keeping up, or does a backlog grow during the phase?
        for pid, k, wall in probes:
            if k == kind and lo <= wall <= hi and pid in dom:
                thirds[min(2, int(3 * (wall - lo) / max(1e-9, hi - lo)))].append(dom[pid] - wall * 1000)
        out[kind] = {"published": published, "missing": missing, "arrived_not_drawn": undrawn,
                     "dom_p50_by_third_of_phase": [summary(t)["p50"] for t in thirds],
                     **{stage: summary(v) for stage, v in stages.items() if v},
                     "breakdown": {step: summary(v) for step, v in steps.items()}}
    return out


def browser_trace_summary(path: str, seconds: float) -> dict:
    """Busy share of the busiest renderer main thread, by kind of work, from a Chromium trace."""
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    mains = {(e["pid"], e["tid"]) for e in events
             if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"}
    per_thread: dict[tuple, dict[str, float]] = {}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key in mains and e.get("ph") == "X":
            d = per_thread.setdefault(key, {})
            d[e["name"]] = d.get(e["name"], 0.0) + e.get("dur", 0) / 1e3
    if not per_thread:
        return {}
    def busy(d: dict) -> float:
        return max(d.get("RunTask", 0.0), d.get("ThreadControllerImpl::RunTask", 0.0))

    busiest = max(per_thread.values(), key=busy)
    ms = seconds * 1000
    wanted = ("FunctionCall", "UpdateLayoutTree", "Layout", "PrePaint", "Paint", "Layerize",
              "FireAnimationFrame", "MajorGC", "MinorGC", "ParseHTML")
    return {"seconds": seconds, "main_thread_busy_pct": round(100 * busy(busiest) / ms, 1),
            "pct_of_wall_by_event": {k: round(100 * busiest.get(k, 0) / ms, 1) for k in wanted},
            "note": "nested events overlap (FunctionCall, Layout, Paint... run inside RunTask)"}


def table_bytes(updates: list, max_rows: int) -> dict:
    """Bytes per update against new rows and table size, per table, from one session's frames."""
    out = {}
    for table in ("patterns", "alerts", "indicators", "critical"):
        size = 0
        rows_early, rows_full = [], []
        all_rows, all_bytes, sizes = [], [], []
        for u in updates:
            if u.table not in (table, "empty"):
                continue
            if u.op == "reset":
                if u.table == table:
                    size = min(max_rows, u.rows)
                continue
            if u.table != table:
                continue
            before = size
            size = min(max_rows, size + u.rows)
            all_rows.append(u.rows)
            all_bytes.append(u.bytes)
            sizes.append(before)
            (rows_full if before >= max_rows else rows_early).append((u.rows, u.bytes, before))
        if not all_rows:
            continue

        def describe(group: list) -> dict:
            if not group:
                return {"updates": 0}
            rows = [g[0] for g in group]
            byts = [g[1] for g in group]
            a, b, r2 = linfit(rows, byts)
            return {"updates": len(group), "mean_new_rows": round(statistics.fmean(rows), 1),
                    "mean_table_rows_before": round(statistics.fmean(g[2] for g in group), 1),
                    "mean_bytes_per_update": round(statistics.fmean(byts)),
                    "bytes_per_new_row": round(sum(byts) / max(1, sum(rows)), 1),
                    "fit_fixed_bytes": round(a, 1), "fit_bytes_per_row": round(b, 1), "fit_r2": round(r2, 4)}

        entry = {"updates": len(all_rows), "all": describe(list(zip(all_rows, all_bytes, sizes, strict=True)))}
        if table == "patterns":
            entry["first_50"] = describe(rows_early[:50])
            entry["table_full"] = describe(rows_full)
        out[table] = entry
    return out


def print_summary(r: dict) -> None:
    def lat(d: dict | None) -> str:
        d = d or {}
        return (f"p50 {d['p50']}, p90 {d['p90']}, p99 {d['p99']}, max {d['max']} ms (n={d['count']})"
                if d.get("count") else "no samples")

    print()
    print(f"=== TickStock Live latency: {r['publish_rate_achieved']:g} events/s published "
          f"({r['published']} messages), {r['cpus']} CPUs ===")
    for label, key in (("1 session", "latency_one_session_ms"), ("3 sessions (all pages)", "latency_three_sessions_ms")):
        b, c = r[key]["buffered"], r[key]["critical"]
        print(f"{label}:")
        print(f"  buffered (pattern) publish→DOM: {lat(b.get('dom'))}; missing {b['missing']} "
              f"(of which reached the page but were off screen before a frame: {b.get('arrived_not_drawn')})")
        print(f"  critical alert publish→DOM:     {lat(c.get('dom'))}; missing {c['missing']}")
        if "not_shown_60s_after_phase" in b:
            print(f"  publish→websocket message in the page: buffered {lat(b.get('ws_received'))}")
            print(f"                                         critical {lat(c.get('ws_received'))}")
            print("  (missing: not yet shown 60 s after the phase ended, i.e. later than that or never; the table "
                  "draws only the rows on screen, so a page behind by more than a screenful never draws some)")
        if b.get("ws_sent") or c.get("ws_sent"):
            print(f"  server side, publish→websocket write: buffered {lat(b.get('ws_sent'))}")
            print(f"                                        critical {lat(c.get('ws_sent'))}")
        if "dom_p50_by_third_of_phase" in b:
            print(f"  p50 publish→DOM in each third of the phase: buffered {b['dom_p50_by_third_of_phase']}, "
                  f"critical {c['dom_p50_by_third_of_phase']} ms")
        for where in ("table", "banner", "toast"):
            if where in c:
                print(f"      critical {where:6s}: {lat(c[where])}")
        for name, d in (("buffered", b), ("critical", c)):
            if d.get("breakdown"):
                print(f"  where the time goes ({name}), per stage:")
                for step, v in d["breakdown"].items():
                    print(f"      {step:26s} {lat(v)}")
    t = r["targets"]
    print(f"targets (publish→DOM, 1 session): buffered p99 ≤ 350 ms: {t['buffered_p99_le_350ms']}; critical p99 "
          f"≤ 100 ms: {t['critical_p99_le_100ms']}; bytes ∝ new rows: {t['bytes_per_update_proportional_to_new_rows']}")
    print(f"  the same on the server side alone (publish→websocket write): buffered "
          f"{t['server_side_buffered_p99_le_350ms']}, critical {t['server_side_critical_p99_le_100ms']}")
    cu = r.get("page_backlog_catch_up_s") or {}
    one_cu = cu.get("one_session")
    one_cu = f"more than {r.get('catch_up_timeout_s')}" if one_cu is None else one_cu
    three_cu = cu.get("three_sessions")
    three_cu = "more than 60" if three_cu is None else three_cu
    print(f"page backlog: once the load paused, page 1 needed {one_cu} s to catch up after the 1-session phase, "
          f"the 3 pages {three_cu} s after the 3-session phase")
    tr = r.get("browser_main_thread") or {}
    if tr:
        print(f"page main thread (Chromium trace, {tr['seconds']:.1f} s): busy {tr['main_thread_busy_pct']}% "
              f"of wall time; by event: {tr['pct_of_wall_by_event']}")
    print(f"the probes' own hooks in the pages (observers, websocket listener): "
          f"{r.get('instrumentation_pct_of_page_wall_time')} % of wall time per page")
    pat = r["websocket"]["tables"].get("patterns", {})
    for label, key in (("first 50 updates", "first_50"), ("table full (1,000 rows)", "table_full")):
        g = pat.get(key, {})
        if g.get("updates"):
            print(f"pattern table, {label}: {g['updates']} updates, {g['mean_new_rows']} new rows and "
                  f"{g['mean_bytes_per_update']} bytes per update, table {g['mean_table_rows_before']} rows before; "
                  f"{g['bytes_per_new_row']} bytes per new row (fit: {g['fit_fixed_bytes']} + {g['fit_bytes_per_row']}"
                  f" × rows, r² {g['fit_r2']})")
    for name in ("alerts", "indicators", "critical"):
        g = r["websocket"]["tables"].get(name, {}).get("all")
        if g and g.get("updates"):
            print(f"{name} table: {g['updates']} updates, {g['mean_new_rows']} rows and {g['mean_bytes_per_update']} "
                  f"bytes per update ({g['bytes_per_new_row']} bytes/row)")
    print(f"websocket bytes the page took in (it lags, so this is its intake, not what the server sent): "
          f"{r['websocket']['bytes_per_s_taken_in_by_page_one_session'] / 1024:.1f} KiB/s")
    s = r["server"]
    print(f"server CPU (% of one core): no session {s['cpu_percent']['no_session']}, 1 session "
          f"{s['cpu_percent']['one_session']}, 3 sessions {s['cpu_percent']['three_sessions']} "
          f"→ {s['cpu_percent']['per_session']} per session")
    print(f"server RSS: {s['rss_mb']['one_session']} MB with 1 session, {s['rss_mb']['three_sessions']} MB with 3 "
          f"({s['rss_mb']['per_extra_session']} MB per extra session), {s['rss_mb']['after_closing_all']} MB after "
          f"closing all; consumers left after closing tabs: {s['consumers_after_closing_tabs']} "
          f"(released after {s['sessions_released_after_s']} s)")
    for label, key in (("1 session", "one_session"), ("3 sessions", "three_sessions"), ("0 sessions", "no_session")):
        c = r["cpu_percent_of_one_core"][key]
        print(f"CPU % of one core, {label}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    b = r["buffer"]
    print(f"accounting: received {b['received']} = delivered {b['delivered']} + deduplicated {b['deduplicated']} + "
          f"filtered {b['filtered']} + rejected {b['rejected']} + dropped {b['dropped']} + pending {b['pending']}: "
          f"{b['identity_holds']}; flushes {b['flushes']} (early {b['early_flushes']}); consumer dropped "
          f"{b['consumer_dropped']}; subscriber reconnects {r['subscriber_reconnects']}")
    print(f"leftover processes: {r['leftover_processes'] or 'none'}")
