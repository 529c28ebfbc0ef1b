"""Ingest throughput: a publisher process at full speed against subscribe + decode + buffer.

Runs, in one go and against the same private Redis, (1) a bare redis-py `get_message` loop that
does nothing else and (2) the whole TickStock ingest (subscriber, decoder, buffer, one live
consumer draining like a browser session). Each must receive every message (zero loss); the
figure is messages/s from the first message received to the last. The last line printed is one
JSON object with both figures.

    python benchmarks/ingest.py [--messages 300000] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis  # noqa: E402

from dashboard.services.embedded import redis_url_or_embedded  # noqa: E402
from dashboard.settings import Settings  # noqa: E402
from dashboard.stream.ingest import Ingest  # noqa: E402
from dashboard.tools.simulator import generate  # noqa: E402


def resp(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def build_stream(n: int, prefix: str) -> bytes:
    """n PUBLISH commands of a realistic simulated session, as raw RESP (publishing costs ~nothing)."""
    msgs = itertools.islice(generate(seed=7, symbols=[f"S{i:03d}" for i in range(500)],
                                     channels=None, health_every=1000), n)
    cmds = []
    for channel, payload in msgs:
        channel = channel.replace("tickstock", prefix, 1)
        cmds.append(resp(b"PUBLISH", channel.encode(), json.dumps(payload).encode()))
    return b"".join(cmds)


def publisher(url: str, stream: bytes, go) -> None:
    """Send the prepared stream as fast as the socket takes it, reading the replies alongside."""
    conn = redis.ConnectionPool.from_url(url).make_connection()
    conn.connect()
    sock = conn._sock
    go.wait()
    drain = threading.Thread(target=lambda: _drain(sock), daemon=True)
    drain.start()
    sock.sendall(stream)
    sock.shutdown(socket.SHUT_WR)
    drain.join(60)


def _drain(sock) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(1 << 20):
            pass


def run_publisher(url: str, stream: bytes) -> tuple[mp.Process, object]:
    go = mp.Event()
    proc = mp.Process(target=publisher, args=(url, stream, go), daemon=True)
    proc.start()
    return proc, go


def bare_loop(url: str, prefix: str, stream: bytes, n: int) -> tuple[float, float]:
    """Messages/s of a bare redis-py pub/sub loop that only counts, and its CPU µs per message."""
    r = redis.Redis.from_url(url)
    ps = r.pubsub(ignore_subscribe_messages=True)
    ps.psubscribe(f"{prefix}:*")
    while ps.get_message(timeout=0.1) is not None:
        pass
    proc, go = run_publisher(url, stream)
    cpu = time.process_time()
    go.set()
    count, first = 0, None
    deadline = time.monotonic() + 300
    while count < n and time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m is not None and m["type"] == "pmessage":
            if first is None:
                first = time.perf_counter()
            count += 1
    elapsed = time.perf_counter() - first
    cpu = time.process_time() - cpu
    proc.join(30)
    ps.close()
    if count != n:
        raise SystemExit(f"bare loop lost messages: {count} of {n}")
    return n / elapsed, cpu / n * 1e6


def ingest_run(url: str, prefix: str, stream: bytes, n: int) -> tuple[float, dict]:
    """Messages/s of the whole ingest, with a live consumer draining every 50 ms."""
    settings = Settings.from_env({}, channel_prefix=prefix)
    ingest = Ingest(settings, url)
    consumer = ingest.buffer.register("bench", mode="live")
    stop = threading.Event()
    drained = [0]

    def session():
        while not stop.is_set():
            consumer.wait(0.05)
            drained[0] += len(consumer.drain())

    reader = threading.Thread(target=session, daemon=True)
    reader.start()
    ingest.start()
    if not ingest.subscriber.wait_subscribed(10):
        raise SystemExit("ingest could not subscribe")
    proc, go = run_publisher(url, stream)
    cpu = time.process_time()
    go.set()
    acc = ingest.buffer.account
    sub = ingest.subscriber
    deadline = time.monotonic() + 300
    while sub.last_batch_at is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    first = sub.last_batch_at  # the first read's time (the subscriber stamps every read)
    while acc.received < n and time.monotonic() < deadline:
        time.sleep(0.05)  # coarse polling: the benchmark must not steal the ingest's GIL
    elapsed = sub.last_batch_at - first
    cpu = time.process_time() - cpu  # every thread of this process: subscriber, flusher, session
    proc.join(30)
    ingest.stop()
    stop.set()
    reader.join(5)
    drained[0] += len(consumer.drain())
    stats = ingest.buffer.stats()
    lost = n - stats["received"] + stats["rejected"] + stats["dropped"] + consumer.dropped
    if lost or not stats["identity_holds"]:
        raise SystemExit(f"ingest lost messages: {json.dumps(stats)}")
    stats["drained_by_session"] = drained[0]
    stats["cpu_us_per_msg"] = cpu / n * 1e6
    return n / elapsed, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    args = ap.parse_args()
    n = args.messages
    prefix = f"bench{os.getpid()}"
    with contextlib.ExitStack() as stack:
        url = redis_url_or_embedded(args.redis_url, stack)
        r = redis.Redis.from_url(url)
        if not args.redis_url:  # our private server: keep it from dropping either reader
            r.config_set("client-output-buffer-limit", "pubsub 0 0 0")
        print(f"preparing {n} messages of a simulated session ...", flush=True)
        stream = build_stream(n, prefix)
        print(f"  {len(stream) / 1e6:.1f} MB of PUBLISH commands", flush=True)
        bare, bare_cpu = bare_loop(url, prefix, stream, n)
        print(f"bare redis-py get_message loop: {bare:,.0f} messages/s (nothing lost), "
              f"{bare_cpu:.2f} µs CPU per message", flush=True)
        rate, stats = ingest_run(url, prefix, stream, n)
        print(f"tickstock ingest (subscribe + decode + buffer + session drain): {rate:,.0f} events/s, "
              f"received {stats['received']}, delivered {stats['delivered']}, deduplicated "
              f"{stats['deduplicated']}, filtered {stats['filtered']}, dropped {stats['dropped']}, "
              f"{stats['cpu_us_per_msg']:.2f} µs CPU per message", flush=True)
        print(f"ratio: {rate / bare:.2f}x the bare loop", flush=True)
    print(json.dumps({"messages": n, "bare_redis_py_msgs_per_s": round(bare),
                      "ingest_events_per_s": round(rate), "ratio": round(rate / bare, 2),
                      "bare_cpu_us_per_msg": round(bare_cpu, 2),
                      "ingest_cpu_us_per_msg": round(stats["cpu_us_per_msg"], 2),
                      "lost": 0, "deduplicated": stats["deduplicated"], "filtered": stats["filtered"]}))


if __name__ == "__main__":
    main()
