"""Shared pieces of the browser benchmarks (latency.py, soak.py): small statistics, cleanup that
makes sure nothing (redis-server, the server, Chromium) outlives a run, a private Redis, and
per-process CPU/RSS sampling. The server, the publisher and the page's instrumentation live in
_server.py, _publisher.py and _page.py.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

# ------------------------------------------------------------------ small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_speed_s(n: int = 20_000_000) -> float:
    """Seconds a bare Python loop of `n` additions takes: the host's speed at that moment, printed
    beside figures that depend on it (the same code's figures move with it from run to run)."""
    start, total = time.perf_counter(), 0
    for i in range(n):
        total += i
    return round(time.perf_counter() - start, 2)


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest-rank on the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def summary(values: list[float], digits: int = 1) -> dict:
    """count, p50, p90, p99, max, mean of latencies (ms)."""
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    r = lambda v: round(v, digits)  # noqa: E731
    return {"count": len(values), "p50": r(pct(values, 50)), "p90": r(pct(values, 90)),
            "p99": r(pct(values, 99)), "max": r(max(values)), "mean": r(statistics.fmean(values)),
            "min": r(min(values))}


def linfit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x; returns (a, b, r^2)."""
    n = len(xs)
    if n < 2:
        return (float("nan"),) * 3
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0:
        return my, float("nan"), float("nan")
    b = sxy / sxx
    a = my - b * mx
    r2 = (sxy * sxy) / (sxx * syy) if syy else 1.0
    return a, b, r2


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ cleanup


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP behave like Ctrl-C, so `finally` blocks stop every subprocess."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def kill_descendants(timeout: float = 5.0) -> list[int]:
    """Terminate, then kill, every process this process started (directly or not)."""
    me = psutil.Process()
    procs = me.children(recursive=True)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return [p.pid for p in procs]


def start_watchdog(seconds: float) -> threading.Event:
    """A hard limit: past `seconds`, kill every descendant and exit 3 (a hung browser or server)."""
    done = threading.Event()

    def run():
        if not done.wait(seconds):
            print(f"benchmark watchdog: still running after {seconds:.0f} s, killing everything", file=sys.stderr,
                  flush=True)
            kill_descendants(2.0)
            os._exit(3)

    threading.Thread(target=run, name="watchdog", daemon=True).start()
    return done


# ------------------------------------------------------------------ redis and the server


def private_redis(stack: contextlib.ExitStack) -> tuple[str, int]:
    """A private embedded redis-server (stopped with the stack); its url and pid."""
    from dashboard.services.embedded import EmbeddedRedis

    server = stack.enter_context(EmbeddedRedis())
    return server.url, server.pid




# ------------------------------------------------------------------ processes: CPU and memory


class CpuMeter:
    """CPU seconds of groups of processes between two instants, as % of one core (100 * cpu_s / wall_s);
    "machine" is the whole machine's busy time on the same scale (2 cores: up to 200)."""

    def __init__(self, groups: dict):
        self.groups = groups  # name -> () -> list[psutil.Process]
        self._t0 = 0.0
        self._start: dict[str, dict[int, float]] = {}

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        try:
            t = p.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = {name: {p.pid: self._cpu(p) for p in procs()} for name, procs in self.groups.items()}
        psutil.cpu_percent(None)

    def stop(self) -> dict:
        wall = time.monotonic() - self._t0
        out = {"wall_s": round(wall, 1),
               "machine": round(psutil.cpu_percent(None) * (psutil.cpu_count() or 1), 1)}
        for name, procs in self.groups.items():
            used = 0.0
            for p in procs():
                used += self._cpu(p) - self._start.get(name, {}).get(p.pid, 0.0)
            out[name] = round(100 * used / wall, 1) if wall > 0 else None
        return out


def chromium_procs() -> list[psutil.Process]:
    """Chromium's processes (browser, renderers, utilities) among our descendants."""
    out = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in p.name().lower() or "headless_shell" in p.name().lower():
                out.append(p)
    return out


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def uss_mb(pid: int) -> float | None:
    try:
        return psutil.Process(pid).memory_full_info().uss / 2**20
    except psutil.Error:
        return None


def harness_procs() -> list[psutil.Process]:
    """This process and Playwright's driver (node): the benchmark's own cost."""
    out = [psutil.Process()]
    for p in psutil.Process().children(recursive=False):
        with contextlib.suppress(psutil.Error):
            if p.name() == "node" or "playwright" in " ".join(p.cmdline()[:3]):
                out.append(p)
    return out


def leftovers(names=("redis-server", "postgres", "chrom", "headless_shell")) -> list[str]:
    """Our descendants still running with one of these names (must be none at the end)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(n in p.name().lower() for n in names) or "dashboard.tools.cli" in " ".join(p.cmdline()):
                out.append(f"{p.pid}:{p.name()}")
    return out
