"""The benchmarks' load: a paced publisher process sending a simulated TickStockPL stream with
latency probes (buffered pattern detections and critical alerts carrying unique ids) among it.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import random
import time

import _common  # noqa: F401  (puts the project on sys.path)
import redis

PROBE_SYMBOLS = [f"PROBE{i}" for i in range(8)]  # rotated: the same key recurs only every 8 probes


def probe_pattern(pid: str, seq: int, now: float) -> str:
    return json.dumps({"event": "pattern_detected", "timestamp": now,
                       "detection": {"pattern_type": "BenchProbe", "symbol": PROBE_SYMBOLS[seq % len(PROBE_SYMBOLS)],
                                     "confidence": 0.75, "timestamp": now, "parameters": {"probe": pid},
                                     "timeframe": "1min"}}, separators=(",", ":"))


def probe_critical(pid: str, now: float) -> str:
    return json.dumps({"type": "BENCH_PROBE", "message": f"{pid} latency probe", "severity": "critical",
                       "timestamp": now}, separators=(",", ":"))


def publisher_main(url: str, prefix: str, schedule: list[tuple[float, float]], probe_every: dict,
                   go, stop, out, seed: int = 7, symbols: int = 500, pregenerate: int = 0, pause=None) -> None:
    """Publish the simulated stream at the scheduled rates with probes among it; report via `out`.

    schedule: [(seconds, events per second), ...] (ends early when `stop` is set); probe_every:
    {"PB": (lo, hi), "CP": (lo, hi)} s between probes (uniform, so probes land at random phases of
    the flush cycle; empty: none). Every probe's wall-clock publish time (time.time() just before
    PUBLISH) is reported. The first `pregenerate` messages are encoded before the start, so the
    publisher's own CPU use during the run stays small. While `pause` is set nothing is published
    and the schedule's clock stands still.
    """
    from dashboard.tools.simulator import generate

    r = redis.Redis.from_url(url)
    gen = generate(seed=seed, symbols=[f"S{i:03d}" for i in range(symbols)], health_every=2000)
    rng = random.Random(seed)
    encoded = ((ch.replace("tickstock", prefix, 1), json.dumps(p, separators=(",", ":"))) for ch, p in gen)
    ready = list(itertools.islice(encoded, pregenerate))
    msgs = itertools.chain(ready, encoded)
    del ready
    pattern_ch, critical_ch = f"{prefix}:patterns:streaming", f"{prefix}:alerts:critical"
    probes: list[tuple[str, str, float]] = []
    seqs = {"PB": itertools.count(1), "CP": itertools.count(1)}
    sent = 0
    go.wait()
    t0 = time.monotonic()
    # cumulative schedule: at time t, int(expected(t)) background messages should have left
    bounds, acc, t_acc = [], 0.0, 0.0
    for seconds, rate in schedule:
        bounds.append((t_acc, t_acc + seconds, acc, rate))
        acc += seconds * rate
        t_acc += seconds
    total_s = t_acc

    def expected(t: float) -> float:
        for start, end, base, rate in bounds:
            if t < end:
                return base + (t - start) * rate
        return acc

    next_probe = {k: t0 + rng.uniform(*v) for k, v in probe_every.items()}
    while not stop.is_set():
        if pause is not None and pause.is_set():
            paused_at = time.monotonic()
            while pause.is_set() and not stop.is_set():
                time.sleep(0.02)
            gap = time.monotonic() - paused_at
            t0 += gap
            next_probe = {k: v + gap for k, v in next_probe.items()}
            continue
        now = time.monotonic()
        t = now - t0
        if t >= total_s:
            break
        due = int(expected(t)) - sent
        if due > 0:
            pipe = r.pipeline(transaction=False)
            for ch, payload in itertools.islice(msgs, min(due, 500)):
                pipe.publish(ch, payload)
                sent += 1
            pipe.execute()
        for kind, at in list(next_probe.items()):
            if now >= at:
                seq = next(seqs[kind])
                pid = f"{kind}{seq:06d}"
                wall = time.time()
                if kind == "PB":
                    r.publish(pattern_ch, probe_pattern(pid, seq, wall))
                else:
                    r.publish(critical_ch, probe_critical(pid, wall))
                probes.append((pid, kind, wall))
                next_probe[kind] = at + rng.uniform(*probe_every[kind])
        wake = min(next_probe.values(), default=now + 0.002)
        time.sleep(min(0.002, max(0.0005, wake - time.monotonic())))
    out.put({"sent": sent, "probes": probes, "elapsed_s": time.monotonic() - t0})
    r.close()


class Publisher:
    """The publisher in its own process (so its work does not share our GIL with Playwright); create it
    before Playwright starts (it is forked)."""

    def __init__(self, url: str, prefix: str, schedule: list[tuple[float, float]], probe_every: dict,
                 seed: int = 7, pregenerate: int = 0, symbols: int = 500):
        ctx = mp.get_context("fork")  # before Playwright starts; spawn's resource tracker is noisy
        self.go, self.stop_event, self.pause_event, self.out = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(target=publisher_main, args=(url, prefix, schedule, probe_every, self.go,
                                                             self.stop_event, self.out, seed, symbols, pregenerate,
                                                             self.pause_event),
                                daemon=True)
        self.proc.start()
        self.result: dict | None = None
        self.started_at: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> None:
        self.started_at = time.time()
        self.go.set()

    def pause(self) -> None:
        self.pause_event.set()

    def resume(self) -> None:
        self.pause_event.clear()

    def finish(self, timeout: float = 0.0) -> dict:
        """Wait up to `timeout` for the schedule to end, then stop it; what was sent."""
        try:
            self.result = self.out.get(timeout=timeout) if timeout > 0 else None
        except Exception:  # queue.Empty
            self.result = None
        if self.result is None:
            self.stop_event.set()
            self.result = self.out.get(timeout=60)
        self.proc.join(10)
        return self.result

    def close(self) -> None:
        self.stop_event.set()
        self.go.set()
        if self.proc.is_alive():
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
