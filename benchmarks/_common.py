"""Shared pieces of the browser benchmarks (latency.py, soak.py).

A private Redis, a `tickstock serve` subprocess, a paced publisher process that mixes a realistic
simulated stream with latency probes, an init script that timestamps probes in the page, a
websocket meter that decodes Bokeh messages, per-process CPU/RSS sampling, and the cleanup that
makes sure nothing (redis-server, the server, Chromium) outlives a run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1500, "height": 1200}
PROBE_SYMBOLS = [f"PROBE{i}" for i in range(8)]  # rotated: the same key recurs only every 8 probes


# ------------------------------------------------------------------ small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    from dashboard.services import EmbeddedRedis

    server = stack.enter_context(EmbeddedRedis())
    return server.url, server.pid


@dataclass
class Server:
    """A `tickstock serve` subprocess on its own port and channel prefix."""

    redis_url: str
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")
    extra_env: dict = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    trace_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/streaming"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0, trace: bool = False) -> Server:
        """Start and wait until subscribed. With `trace`, the server runs under `traced_serve`:
        the same `tickstock serve`, plus a log of when each probe id passes each stage."""
        env = {**os.environ, "REDIS_URL": self.redis_url, "STREAMING_CHANNEL_PREFIX": self.prefix,
               **self.extra_env}
        fd, name = tempfile.mkstemp(prefix="tickstock-bench-server-", suffix=".log")
        self.log_path = Path(name)
        if trace:
            tfd, tname = tempfile.mkstemp(prefix="tickstock-bench-trace-", suffix=".txt")
            os.close(tfd)
            self.trace_path = Path(tname)
            env["TICKSTOCK_BENCH_TRACE"] = tname
            cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                   "import _common; sys.exit(_common.traced_serve(sys.argv[1:]))"]
        else:
            cmd = [sys.executable, "-m", "dashboard.cli"]
        with os.fdopen(fd, "wb") as out:
            self.proc = subprocess.Popen([*cmd, "serve", "--port", str(self.port)],
                                         env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=str(ROOT))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tickstock serve exited:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.base}/streaming/api/status", timeout=2).read()
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tickstock serve did not answer within {timeout} s:\n{self.log_tail()}") from None
                time.sleep(0.1)
        client = redis.Redis.from_url(self.redis_url)
        try:
            while client.pubsub_numsub(f"{self.prefix}:alerts:critical")[0][1] < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server never subscribed")
                time.sleep(0.05)
        finally:
            client.close()
        return self

    def status(self, timeout: float = 60.0) -> dict:
        """GET /streaming/api/status (a busy server's event loop may take a while to answer)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/streaming/api/status",
                                            timeout=max(1.0, deadline - time.monotonic())) as resp:
                    return json.loads(resp.read())
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for c in children:  # anything the server started and left behind (an embedded service)
            with contextlib.suppress(psutil.Error):
                c.kill()
        self.proc = None
        for path in (self.log_path, self.trace_path):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()

    def read_trace(self) -> dict[str, dict[str, float]]:
        """{stage: {probe id: first time (epoch s)}} from the traced server."""
        out: dict[str, dict[str, float]] = {}
        if self.trace_path is None:
            return out
        with contextlib.suppress(OSError), self.trace_path.open() as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    out.setdefault(parts[1], {}).setdefault(parts[2], float(parts[0]))
        return out


# ------------------------------------------------------------------ the traced server


def traced_serve(argv: list[str]) -> int:
    """`tickstock serve` with timestamps of each probe id at each server stage, appended to the
    file named by $TICKSTOCK_BENCH_TRACE as "epoch_s stage id":

    recv  the subscriber handed the message to the ingest (decode starts)
    fan   the buffer fanned the event out to the sessions (the flush; at once for critical alerts)
    push  a session's drain pushed the row to its table (after the next-tick callback ran)
    ws    the websocket frame carrying it was written (tornado write_message)

    Wrappers only read; a missing hook (renamed code) just leaves that stage out."""
    import re

    path = os.environ["TICKSTOCK_BENCH_TRACE"]
    out = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the server)
    lock = threading.Lock()
    rx = re.compile(r"(?:PB|CP)\d{6}(?!\d)")
    brx = re.compile(rb"(?:PB|CP)\d{6}(?!\d)")

    def rec(stage: str, ids, t: float | None = None) -> None:
        t = time.time() if t is None else t
        with lock:
            for i in ids:
                out.write(f"{t:.6f} {stage} {i}\n")

    def ev_ids(events) -> list[str]:
        ids = []
        for ev in events:
            params = getattr(ev, "parameters", None)
            if isinstance(params, dict) and isinstance(params.get("probe"), str):
                ids.append(params["probe"])
            msg = getattr(ev, "message", None)
            if isinstance(msg, str) and msg[:2] in ("PB", "CP"):
                ids += rx.findall(msg[:8])
        return ids

    def wrap(owner, name: str, before) -> None:
        orig = getattr(owner, name, None)
        if orig is None:
            print(f"traced_serve: no {owner.__name__}.{name}; stage skipped", file=sys.stderr, flush=True)
            return

        def wrapper(*args, **kwargs):
            with contextlib.suppress(Exception):
                before(*args, **kwargs)
            return orig(*args, **kwargs)
        wrapper.__wrapped__ = orig
        setattr(owner, name, wrapper)

    from tornado.websocket import WebSocketHandler

    from dashboard import cli
    from dashboard.buffer import StreamingBuffer
    from dashboard.ingest import Ingest
    from dashboard.views.table import LiveTable

    def on_handle(self, replies):
        t = time.time()
        ids = []
        for r in replies:
            if type(r) is list and len(r) > 2 and isinstance(r[2], bytes) and (b"PB" in r[2] or b"CP" in r[2]):
                ids += [m.decode() for m in brx.findall(r[2])]
        if ids:
            rec("recv", ids, t)

    def on_fan(self, live, *args, **kwargs):
        ids = ev_ids(live)
        if ids:
            rec("fan", ids)

    def on_push(self, rows):
        ids = []
        for row in rows:
            for key in ("parameters", "message"):
                v = row.get(key)
                if isinstance(v, str) and ("PB" in v or "CP" in v):
                    ids += rx.findall(v)
        if ids:
            rec("push", ids)

    def on_write(self, message, *args, **kwargs):
        if isinstance(message, str) and ("PB" in message or "CP" in message):
            ids = rx.findall(message)
            if ids:
                rec("ws", ids)

    wrap(Ingest, "handle", on_handle)  # before the ingest exists: its subscriber binds the wrapper
    wrap(StreamingBuffer, "_fan_out", on_fan)
    wrap(LiveTable, "push", on_push)
    wrap(WebSocketHandler, "write_message", on_write)
    try:
        return cli.main(argv)
    finally:
        out.close()


# ------------------------------------------------------------------ the publisher process


def _probe_pattern(pid: str, seq: int, now: float) -> str:
    return json.dumps({"event": "pattern_detected", "timestamp": now,
                       "detection": {"pattern_type": "BenchProbe", "symbol": PROBE_SYMBOLS[seq % len(PROBE_SYMBOLS)],
                                     "confidence": 0.75, "timestamp": now, "parameters": {"probe": pid},
                                     "timeframe": "1min"}}, separators=(",", ":"))


def _probe_critical(pid: str, now: float) -> str:
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
    from dashboard.simulator import generate

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
                    r.publish(pattern_ch, _probe_pattern(pid, seq, wall))
                else:
                    r.publish(critical_ch, _probe_critical(pid, wall))
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


# ------------------------------------------------------------------ in the page

# Runs before any page script. Every shadow root Bokeh/Panel attaches (and the document) gets a
# MutationObserver (childList, subtree); the first time a probe id (PB000123 / CP000123) appears in
# added DOM nodes,
# Date.now() is recorded, per place (table row, banner, toast, other) and overall, plus the time
# of the next animation frame after it. A WebSocket wrapper records when the message carrying
# each probe id arrived in the page, so publish→websocket and websocket→DOM can be told apart. The
# time spent in these hooks is accumulated (`cost`) so the instrumentation's own share is known.
INIT_JS = r"""
(() => {
  if (window.__tsProbes) return;
  const dom = {}, frame = {}, ws = {}, places = {};
  const cost = {observer_ms: 0, ws_ms: 0, records: 0, since: performance.now()};
  window.__tsProbes = {dom, frame, ws, places, cost};
  const RX = /(?:PB|CP)\d{6}(?!\d)/g;
  function place(node) {
    let n = node, depth = 0;
    while (n && depth < 60) {
      if (n.nodeType === 1) {
        if (n.getAttribute && n.getAttribute("role") === "alert") return "banner";
        const tag = n.tagName;
        if (tag === "TR" || tag === "TBODY") return "table";
        const cls = typeof n.className === "string" ? n.className : "";
        if (cls.indexOf("notyf") >= 0) return "toast";
      }
      n = n.parentNode || n.host;
      depth++;
    }
    return "other";
  }
  function scan(node, t, fresh) {
    const text = node.nodeType === 3 ? node.data : node.textContent;
    if (!text || (text.indexOf("PB") < 0 && text.indexOf("CP") < 0)) return;
    RX.lastIndex = 0;
    let m;
    while ((m = RX.exec(text)) !== null) {
      const id = m[0];
      const where = place(node);
      const key = id + "@" + where;
      if (!(key in places)) places[key] = t;
      if (!(id in dom)) { dom[id] = t; fresh.push(id); }
    }
  }
  function observed(records) {
    const t0 = performance.now();
    const t = Date.now();
    const fresh = [];
    cost.records += records.length;
    for (const r of records) for (const n of r.addedNodes) scan(n, t, fresh);
    if (fresh.length) requestAnimationFrame(() => { const f = Date.now(); for (const id of fresh) frame[id] = f; });
    cost.observer_ms += performance.now() - t0;
  }
  const opts = {childList: true, subtree: true};
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    new MutationObserver(observed).observe(root, opts);
    return root;
  };
  new MutationObserver(observed).observe(document, opts);
  const Native = window.WebSocket;
  class Probed extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const t0 = performance.now();
        if (typeof e.data !== "string") return;
        const d = e.data;
        if (d.indexOf("PB") >= 0 || d.indexOf("CP") >= 0) {
          const t = Date.now();
          RX.lastIndex = 0;
          let m;
          while ((m = RX.exec(d)) !== null) if (!(m[0] in ws)) ws[m[0]] = t;
        }
        cost.ws_ms += performance.now() - t0;
      });
    }
  }
  window.WebSocket = Probed;
})();
"""

def wait_caught_up(pages: list, redis_url: str, prefix: str, seq: int, timeout_s: float = 120.0) -> float | None:
    """Publish a marker critical alert (id CP9xxxxx) and wait until every page shows it: the page
    has worked through whatever the websocket delivered before it. Seconds taken, None on timeout."""
    marker = f"CP{900000 + seq:06d}"
    client = redis.Redis.from_url(redis_url)
    t0 = time.monotonic()
    try:
        client.publish(f"{prefix}:alerts:critical", _probe_critical(marker, time.time()))
    finally:
        client.close()
    waiting = list(pages)
    while waiting and time.monotonic() - t0 < timeout_s:
        page = waiting[0]
        if page.evaluate(f"() => !!(window.__tsProbes && window.__tsProbes.dom[{marker!r}])"):
            waiting.pop(0)
        else:
            page.wait_for_timeout(200)
    return None if waiting else time.monotonic() - t0


COLLECT_JS = """() => { const p = window.__tsProbes || {dom: {}, frame: {}, ws: {}, places: {}, cost: {}};
  const c = p.cost || {}; const s = (performance.now() - (c.since || 0)) / 1000;
  return {...p, cost: {...c, seconds: s, pct_of_wall: s > 0 ? 100 * ((c.observer_ms || 0) + (c.ws_ms || 0)) / (s * 1000) : null}}; }"""


def open_dashboard(context, url: str, timeout_ms: int = 60_000, before_goto=None):
    """A new page with the dashboard loaded (tables and status bar drawn); `before_goto(page)` can
    attach listeners (a WsMeter) before the websocket opens."""
    page = context.new_page()
    page.on("dialog", lambda d: d.dismiss())
    result = before_goto(page) if before_goto is not None else None
    page.result = result
    page.goto(url, timeout=timeout_ms)
    page.locator("text=Pattern stream").wait_for(timeout=timeout_ms)
    page.locator("[data-status]").wait_for(timeout=timeout_ms)
    return page


# ------------------------------------------------------------------ websocket meter


def _plain(v):
    """Bokeh 3 wire values back to plain JSON ({"type": "map", "entries": ...} -> dict)."""
    if isinstance(v, dict):
        if v.get("type") == "map" and "entries" in v:
            out = {}
            for k, val in v["entries"]:
                out[k if isinstance(k, str) else json.dumps(k)] = _plain(val)
            return out
        return {k: _plain(val) for k, val in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _table_of(rows: list) -> str:
    if not rows:
        return "empty"
    r = rows[0]
    if "pattern" in r and "confidence" in r:
        return "patterns"
    if "sentence" in r:
        return "alerts"
    if "severity" in r and "message" in r:
        return "critical"
    if "symbol" in r and "other" in r:
        return "indicators"
    return "other"


def _find_ops(v, found: list) -> None:
    if isinstance(v, dict):
        if "op" in v and "rows" in v and isinstance(v["rows"], list):
            found.append(v)
            return
        for x in v.values():
            _find_ops(x, found)
    elif isinstance(v, list):
        for x in v:
            _find_ops(x, found)


@dataclass
class Update:
    t: float  # when the frames reached Playwright (our clock), s
    table: str
    op: str
    rows: int
    bytes: int  # header + metadata + content + buffers of the message carrying it


class WsMeter:
    """Counts every websocket frame the page receives and decodes Bokeh messages into table updates.

    Bokeh sends a message as frames: header (JSON with msgtype and num_buffers), metadata, content,
    then num_buffers binary buffers. Each LiveTable update is one PATCH-DOC message whose content
    holds the ESM custom event {op, rows}."""

    def __init__(self, page):
        self.frames = 0
        self.bytes = 0
        self.updates: list[Update] = []
        self.messages = 0
        self.by_msgtype: dict[str, list[int]] = {}
        self._parts: list = []
        self._expect = 0
        page.on("websocket", self._on_ws)

    def _on_ws(self, ws) -> None:
        ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        size = len(payload.encode()) if isinstance(payload, str) else len(payload)
        self.frames += 1
        self.bytes += size
        if not self._parts:
            try:
                header = json.loads(payload) if isinstance(payload, str) else None
            except ValueError:
                header = None
            if not isinstance(header, dict) or "msgtype" not in header:
                return  # out of step: skip until the next header
            self._expect = 3 + int(header.get("num_buffers") or 0)
        self._parts.append((payload, size))
        if len(self._parts) < self._expect:
            return
        parts, self._parts = self._parts, []
        self.messages += 1
        total = sum(s for _, s in parts)
        msgtype = json.loads(parts[0][0]).get("msgtype", "?")
        self.by_msgtype.setdefault(msgtype, []).append(total)
        content = parts[2][0]
        if not isinstance(content, str) or '"op"' not in content:
            return
        try:
            ops: list = []
            _find_ops(_plain(json.loads(content)), ops)
        except ValueError:
            return
        now = time.time()
        for op in ops:
            rows = op["rows"]
            self.updates.append(Update(now, _table_of(rows), str(op.get("op")), len(rows),
                                       total if len(ops) == 1 else len(json.dumps(op))))


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
            if any(n in p.name().lower() for n in names) or "dashboard.cli" in " ".join(p.cmdline()):
                out.append(f"{p.pid}:{p.name()}")
    return out
