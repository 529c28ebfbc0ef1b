"""The subscriber on a real Redis: receives, survives restarts, pauses and being dropped as slow."""

from __future__ import annotations

import threading

import redis

from dashboard.stream.subscriber import Subscriber
from tests.helpers import wait_for


class Collector:
    """A handler that keeps what it got; `gate` lets a test make it slow."""

    def __init__(self):
        self.messages: list[tuple[bytes, bytes]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, batch):
        self.gate.wait(30)
        with self.lock:
            self.messages.extend((r[1], r[2]) for r in batch if type(r) is list and r[0] == b"message")

    def payloads(self, channel: bytes) -> list[bytes]:
        with self.lock:
            return [p for c, p in self.messages if c == channel]


def test_receives_every_message_in_order_on_every_channel(redis_url, channel_prefix):
    chans = [f"{channel_prefix}:a", f"{channel_prefix}:b"]
    got = Collector()
    sub = Subscriber(redis_url, chans, got).start()
    try:
        assert sub.wait_subscribed(10)
        r = redis.Redis.from_url(redis_url)
        pipe = r.pipeline(transaction=False)
        for i in range(5000):
            pipe.publish(chans[i % 2], str(i))
        pipe.execute()
        wait_for(lambda: len(got.messages) == 5000, message=f"got {len(got.messages)} of 5000")
        assert got.payloads(chans[0].encode()) == [str(i).encode() for i in range(0, 5000, 2)]
        snap = sub.snapshot()
        assert snap["state"] == "connected" and snap["messages"] == 5000
    finally:
        sub.stop()
    assert sub.snapshot()["state"] == "stopped"


def test_recovers_when_redis_restarts_mid_stream(private_redis, channel_prefix):
    chan = f"{channel_prefix}:x"
    got = Collector()
    sub = Subscriber(private_redis.url, [chan], got).start()
    try:
        assert sub.wait_subscribed(10)
        r = redis.Redis.from_url(private_redis.url)
        r.publish(chan, "before")
        wait_for(lambda: got.payloads(chan.encode()) == [b"before"])
        private_redis.stop()
        wait_for(lambda: sub.snapshot()["state"] != "connected", timeout=5,
                 message="the subscriber did not notice Redis going away")
        private_redis.start()
        wait_for(lambda: sub.snapshot()["state"] == "connected", timeout=15,
                 message="the subscriber did not reconnect after Redis came back")
        r = redis.Redis.from_url(private_redis.url)
        r.publish(chan, "after")
        wait_for(lambda: got.payloads(chan.encode()) == [b"before", b"after"])
        snap = sub.snapshot()
        assert snap["reconnects"] == 1 and snap["disconnected_s"] > 0
    finally:
        sub.stop()


def test_notices_an_unresponsive_redis_by_ping_and_reconnects(private_redis, channel_prefix):
    chan = f"{channel_prefix}:x"
    got = Collector()
    sub = Subscriber(private_redis.url, [chan], got, ping_idle=0.3, ping_timeout=0.7).start()
    try:
        assert sub.wait_subscribed(10)
        r = redis.Redis.from_url(private_redis.url)
        r.execute_command("CLIENT", "PAUSE", "2500", "ALL")  # the link stays open but nothing answers
        wait_for(lambda: sub.snapshot()["last_error"] and "PING" in sub.snapshot()["last_error"], timeout=5,
                 message="a silent Redis was not detected")
        wait_for(lambda: sub.snapshot()["reconnects"] >= 1 and sub.snapshot()["state"] == "connected",
                 timeout=15, message="no reconnect after the pause ended")
        r.publish(chan, "after")
        wait_for(lambda: b"after" in got.payloads(chan.encode()))
    finally:
        sub.stop()


def test_recovers_when_redis_drops_it_as_a_slow_subscriber(private_redis, channel_prefix):
    chan = f"{channel_prefix}:x"
    r = redis.Redis.from_url(private_redis.url)
    r.config_set("client-output-buffer-limit", "pubsub 64kb 32kb 1")
    got = Collector()
    sub = Subscriber(private_redis.url, [chan], got).start()
    try:
        assert sub.wait_subscribed(10)
        got.gate.clear()  # the handler now blocks: the subscriber falls behind
        r.publish(chan, "first")
        wait_for(lambda: sub.messages >= 1)
        blob = b"x" * 4096
        pipe = r.pipeline(transaction=False)
        for _ in range(4000):  # 16 MB: past what the kernel buffers and the 64 kB limit
            pipe.publish(chan, blob)
        pipe.execute()
        wait_for(lambda: int(r.info("stats").get("client_output_buffer_limit_disconnections", 0)) >= 1
                 or r.pubsub_numsub(chan)[0][1] == 0, timeout=10,
                 message="Redis did not drop the slow subscriber")
        got.gate.set()
        wait_for(lambda: sub.snapshot()["reconnects"] >= 1 and sub.snapshot()["state"] == "connected",
                 timeout=15, message="no reconnect after being dropped")
        r.publish(chan, "after")
        wait_for(lambda: b"after" in got.payloads(chan.encode()))
    finally:
        got.gate.set()
        sub.stop()


def test_unreachable_redis_keeps_retrying_without_crashing():
    sub = Subscriber("redis://127.0.0.1:1/0", ["x"], Collector(), connect_timeout=0.5).start()
    try:
        wait_for(lambda: sub.snapshot()["last_error"], timeout=5)
        snap = sub.snapshot()
        assert snap["state"] in ("connecting", "reconnecting") and "onnect" in snap["last_error"]
    finally:
        sub.stop()


def test_a_stop_takes_every_message_redis_delivered_before_it(redis_url, channel_prefix):
    """`tickstock record` stopped by SIGTERM right after a publisher finished still counts all of it."""
    chan = f"{channel_prefix}:a"
    got = Collector()
    sub = Subscriber(redis_url, [chan], got).start()
    try:
        assert sub.wait_subscribed(10)
        r = redis.Redis.from_url(redis_url)
        got.gate.clear()  # the handler is busy with the first message while the rest arrive
        r.publish(chan, b"first")
        wait_for(lambda: sub.messages >= 1, message="the first message never arrived")
        pipe = r.pipeline(transaction=False)
        for i in range(3000):
            pipe.publish(chan, str(i).encode())
        pipe.execute()
        stopper = threading.Thread(target=sub.stop)
        stopper.start()
        wait_for(lambda: sub._stop.is_set(), message="stop was never asked for")
        got.gate.set()
        stopper.join(10)
        assert got.payloads(chan.encode()) == [b"first"] + [str(i).encode() for i in range(3000)]
    finally:
        got.gate.set()
        sub.stop()
