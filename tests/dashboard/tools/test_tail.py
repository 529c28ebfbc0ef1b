"""`tickstock tail` against a real Redis: every valid event out, every bad one counted, the sum exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import redis

from tests.dashboard.wire.test_decoding import MALFORMED
from tests.fixtures import wire_examples
from tests.helpers import wait_for


def start_tail(redis_url: str, prefix: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "REDIS_URL": redis_url, "STREAMING_CHANNEL_PREFIX": prefix, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "dashboard.tools.cli", "tail", *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_subscribed(r: redis.Redis, channel: str) -> None:
    wait_for(lambda: r.pubsub_numsub(channel)[0][1] >= 1, timeout=20, message="tail never subscribed")


def test_tail_prints_every_valid_event_and_counts_every_bad_one(redis_url, channel_prefix):
    r = redis.Redis.from_url(redis_url)
    wire = wire_examples()
    bad = [(ch.replace("tickstock", channel_prefix, 1), p) for _, ch, p, _ in MALFORMED
           if ch.startswith("tickstock:patterns") or ch.startswith("tickstock:alerts") or ch.startswith("tickstock:indicators")]
    total = len(wire) + len(bad) + 2  # the array [1, 2, 3] is a batch of three events, each rejected
    proc = start_tail(redis_url, channel_prefix, "--json", "--count", str(total), "--duration", "60")
    try:
        wait_subscribed(r, f"{channel_prefix}:alerts:critical")
        for ex in wire:
            r.publish(ex["channel"].replace("tickstock", channel_prefix, 1), json.dumps(ex["payload"]))
        for ch, payload in bad:
            r.publish(ch, payload if isinstance(payload, bytes) else json.dumps(payload))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().strip().splitlines()
    summary = json.loads(lines[-1])
    events = [json.loads(line) for line in lines[:-1]]
    rejections = [json.loads(line) for line in err.decode().strip().splitlines()]
    # the wire file holds 16 messages: one detection twice (both channels) and 15 distinct events
    assert len(events) == len(wire) - 1
    assert sorted(e["kind"] for e in events).count("pattern") == 4
    assert summary["received"] == total
    assert summary["rejected"] == len(bad) + 2 == len(rejections)
    assert all(r["reason"] for r in rejections)
    assert summary["deduplicated"] == 1 and summary["dropped"] == 0
    assert summary["identity_holds"]
    assert summary["received"] == (summary["delivered"] + summary["deduplicated"] + summary["filtered"]
                                   + summary["rejected"] + summary["dropped"])
    assert summary["received_per_channel"][f"{channel_prefix}:patterns:detected"] == 1


def test_tail_shows_low_confidence_patterns_marked_filtered(redis_url, channel_prefix):
    r = redis.Redis.from_url(redis_url)
    proc = start_tail(redis_url, channel_prefix, "--count", "2", "--duration", "30")
    try:
        wait_subscribed(r, f"{channel_prefix}:patterns:streaming")
        for sym, conf in (("LOW", 0.3), ("HIGH", 0.9)):
            r.publish(f"{channel_prefix}:patterns:streaming",
                      json.dumps({"symbol": sym, "pattern": "Doji", "confidence": conf}))
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    lines = [json.loads(x) for x in out.decode().strip().splitlines()]
    summary, events = lines[-1], lines[:-1]
    assert {e["symbol"]: e.get("filtered", False) for e in events} == {"LOW": True, "HIGH": False}
    assert (summary["delivered"], summary["filtered"]) == (1, 1) and summary["identity_holds"]


def test_tail_quiet_prints_only_the_accounting_and_stops_after_duration(redis_url, channel_prefix):
    proc = start_tail(redis_url, channel_prefix, "--quiet", "--duration", "1")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["received"] == 0 and summary["identity_holds"] and summary["duration_s"] >= 1


def test_tail_names_the_bad_setting_and_exits_2(redis_url, channel_prefix):
    proc = start_tail(redis_url, channel_prefix, "--duration", "1", env={"STREAMING_BUFFER_INTERVAL": "fast"})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "STREAMING_BUFFER_INTERVAL" in err.decode() and out == b""


def test_tail_without_any_redis_says_how_to_give_one():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.run([sys.executable, "-m", "dashboard.tools.cli", "tail", "--duration", "1"], env=env,
                          capture_output=True, timeout=30)
    assert proc.returncode == 2 and b"--redis-url" in proc.stderr
