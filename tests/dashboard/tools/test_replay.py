"""`tickstock replay`: a recorded session comes back onto Redis in order, and decodes as if live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import redis

from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest
from dashboard.tools.simulator import simulate
from tests.helpers import wait_for


def test_a_recorded_simulated_session_replays_in_order_with_its_rhythm(redis_url, channel_prefix,
                                                                        private_database_url):
    from dashboard.tools.replay import load_session

    rec = Ingest(Settings.from_env({}, channel_prefix=channel_prefix), redis_url).start()
    assert rec.subscriber.wait_subscribed(10)
    rec.record(private_database_url)
    sim = simulate(redis_url, rate=100, duration=2, mode=None, prefix=channel_prefix, health_interval=1, seed=5)
    wait_for(lambda: rec.buffer.stats()["received"] == sim["total"])
    rec.stop()  # flushes everything to the database
    stored = rec.recorder.snapshot()["rows_added"]
    expected = load_session(private_database_url, sim["session_id"])
    span = expected[-1][0] - expected[0][0]

    target = f"r{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    raw.psubscribe(f"{target}:*")
    watch = Ingest(Settings.from_env({}, channel_prefix=target), redis_url).start()
    assert watch.subscriber.wait_subscribed(10)
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": private_database_url,
           "STREAMING_CHANNEL_PREFIX": target}
    out = subprocess.run([sys.executable, "-m", "dashboard.tools.cli", "replay", "--session", sim["session_id"],
                          "--speed", "4", "--quiet"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["sent"] == len(expected)
    assert span / 4 * 0.8 <= summary["duration_s"] <= span / 4 + 3  # the recorded rhythm, 4x faster

    got = []
    deadline = time.monotonic() + 30
    while len(got) < len(expected):
        assert time.monotonic() < deadline, f"only {len(got)} of {len(expected)} replayed messages arrived"
        m = raw.get_message(timeout=1)  # None also for the (ignored) subscribe confirmation
        if m is not None:
            got.append((m["channel"].decode().split(":", 1)[1], json.loads(m["data"])))
    raw.close()
    assert [s for s, _ in got] == [s for _, s, _ in expected]  # the original order
    patterns = [p for s, p in got if s == "patterns:streaming"]
    assert len(patterns) == stored["patterns"]
    wait_for(lambda: watch.buffer.stats()["received"] == len(expected))
    watch.stop()
    st = watch.buffer.stats()
    assert st["rejected"] == 0 and st["identity_holds"]  # every replayed message decodes as if live


def test_replay_of_an_unknown_session_says_so(redis_url, private_database_url):
    import analytics

    analytics.upgrade(private_database_url)
    out = subprocess.run([sys.executable, "-m", "dashboard.tools.cli", "replay", "--session", "nope", "--quiet"],
                         env={**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": private_database_url},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no recorded session 'nope'" in out.stderr


def test_replay_can_be_stopped(redis_url, channel_prefix, private_database_url):
    from dashboard.tools.replay import replay

    rec = Ingest(Settings.from_env({}, channel_prefix=channel_prefix), redis_url).start()
    assert rec.subscriber.wait_subscribed(10)
    rec.record(private_database_url)
    sim = simulate(redis_url, rate=50, duration=1, mode=None, prefix=channel_prefix)
    wait_for(lambda: rec.buffer.stats()["received"] == sim["total"])
    rec.stop()
    stop = threading.Event()
    stop.set()
    summary = replay(private_database_url, redis_url, sim["session_id"], speed=0.01, prefix=channel_prefix,
                     progress=False, stop_event=stop)
    assert summary["sent"] <= 1
