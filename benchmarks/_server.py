"""`tickstock serve` as a subprocess for the benchmarks, optionally traced: read-only hooks log when
each latency probe passes each server stage (received, fanned out, pushed, written to the websocket).
"""

from __future__ import annotations

import contextlib
import json
import os
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

import psutil
import redis
from _common import ROOT, free_port


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
                   "import _server; sys.exit(_server.traced_serve(sys.argv[1:]))"]
        else:
            cmd = [sys.executable, "-m", "dashboard.tools.cli"]
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

    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.ingest import Ingest
    from dashboard.tools import cli
    from dashboard.web.views.table import LiveTable

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
