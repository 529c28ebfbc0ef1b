"""Which Chromium process is which (the page's renderer, the GPU process, utilities, the browser),
and how much CPU each, and each renderer thread, used between two instants: page_cpu.py's meter.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from pathlib import Path

import psutil

SATURATED = 0.9  # the machine's busy share of all its cores from which the figures are not the page's own


def chromium_kind(p: psutil.Process) -> str:
    """renderer / gpu / utility (network, storage) / browser, from Chromium's --type switch. Headless
    Chromium also runs renderers of its own (--top-chrome-webui, extensions): "renderer" is the
    page's only."""
    cmdline = " ".join(p.cmdline())
    m = re.search(r"--type=([\w-]+)", cmdline)
    if m is None:
        return "browser"
    if m.group(1) == "renderer" and ("--top-chrome-webui" in cmdline or "--extension-process" in cmdline):
        return "chromium's own renderer"
    return {"gpu-process": "gpu"}.get(m.group(1), m.group(1))


def chromium_processes(root: psutil.Process) -> list[psutil.Process]:
    out = []
    for p in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in p.name().lower() or "headless_shell" in p.name().lower():
                out.append(p)
    return out


def thread_name(pid: int, tid: int) -> str:
    """The thread's name with its serial number dropped (ThreadPoolForeg, CompositorTileW, ...); the
    process's own thread is the renderer's main thread (its name is the executable's)."""
    if tid == pid:
        return "main"
    try:
        name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"
    return re.sub(r"[\d/]+$", "", name) or name


class ChromiumMeter:
    """CPU seconds of every Chromium process, and of each renderer thread, between two instants."""

    def __init__(self):
        self.me = psutil.Process()
        self._t0 = 0.0
        self._procs: dict[int, float] = {}
        self._threads: dict[tuple[int, int], float] = {}

    def _snapshot(self) -> tuple[dict, dict, dict]:
        procs, threads, kinds = {}, {}, {}
        for p in chromium_processes(self.me):
            with contextlib.suppress(psutil.Error):
                kinds[p.pid] = chromium_kind(p)
                t = p.cpu_times()
                procs[p.pid] = t.user + t.system
                if kinds[p.pid] == "renderer":
                    for th in p.threads():
                        threads[(p.pid, th.id)] = th.user_time + th.system_time
        return procs, threads, kinds

    def start(self) -> None:
        self._procs, self._threads, _ = self._snapshot()
        self._t0 = time.monotonic()
        psutil.cpu_percent(None)

    def stop(self) -> dict:
        procs, threads, kinds = self._snapshot()
        wall = time.monotonic() - self._t0
        cores = psutil.cpu_count() or 1
        machine = psutil.cpu_percent(None) * cores
        to_pct = lambda s: round(100 * s / wall, 1)  # noqa: E731
        by_kind: Counter = Counter()
        for pid, cpu in procs.items():
            by_kind[kinds[pid]] += cpu - self._procs.get(pid, 0.0)
        by_thread: Counter = Counter()
        for (pid, tid), cpu in threads.items():
            by_thread[thread_name(pid, tid)] += cpu - self._threads.get((pid, tid), 0.0)
        return {"wall_s": round(wall, 1), "machine_busy_pct_of_one_core": round(machine, 1),
                "machine_saturated": machine >= SATURATED * 100 * cores,
                "renderer": to_pct(by_kind["renderer"]), "chromium_all": to_pct(sum(by_kind.values())),
                "by_process": {k: to_pct(v) for k, v in by_kind.most_common()},
                "renderer_threads": {k: to_pct(v) for k, v in by_thread.most_common() if v > 0.005 * wall}}
