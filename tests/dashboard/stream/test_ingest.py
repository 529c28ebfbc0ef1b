"""The whole ingest on a real Redis: subscribe, decode, buffer, fan out, account."""

from __future__ import annotations

import json
import time

import redis

from analytics.events import CriticalAlert, Pattern
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest
from tests.fixtures import detection
from tests.helpers import wait_for


def send(r: redis.Redis, prefix: str, suffix: str, payload) -> None:
    r.publish(f"{prefix}:{suffix}", payload if isinstance(payload, (bytes, str)) else json.dumps(payload))


def settled(ing: Ingest, received: int) -> dict:
    wait_for(lambda: ing.buffer.stats()["received"] >= received, message="messages did not arrive")
    ing.buffer.flush()
    return ing.buffer.stats()


def test_both_channel_duplicate_is_one_delivered_detection(ingest, redis_client, channel_prefix):
    consumer = ingest.buffer.register("s")
    send(redis_client, channel_prefix, "patterns:streaming", detection())
    send(redis_client, channel_prefix, "patterns:detected", detection())
    st = settled(ingest, 2)
    got = consumer.drain()
    assert len(got) == 1 and got[0].high_confidence
    assert st["deduplicated_by"] == {"cross_channel": 1} and st["identity_holds"]
    seen = ingest.status()["subscriber"]["last_message_at"]
    assert set(seen) == {f"{channel_prefix}:patterns:streaming", f"{channel_prefix}:patterns:detected"}


def test_dedup_window_keeps_the_latest_on_real_traffic(ingest, redis_client, channel_prefix):
    consumer = ingest.buffer.register("s")
    pipe = redis_client.pipeline(transaction=False)  # back to back: well inside 100 ms
    pipe.publish(f"{channel_prefix}:patterns:streaming", json.dumps(detection(conf=0.81, ts="2025-01-24T10:15:00Z")))
    pipe.publish(f"{channel_prefix}:patterns:streaming", json.dumps(detection(conf=0.97, ts="2025-01-24T10:15:01Z")))
    pipe.execute()
    st = settled(ingest, 2)
    got = consumer.drain()
    assert [p.confidence for p in got] == [0.97]
    assert st["deduplicated_by"] == {"window": 1}


def test_critical_alert_reaches_consumers_before_any_flush(redis_url, channel_prefix, redis_client):
    slow = Ingest(Settings.from_env({"STREAMING_BUFFER_INTERVAL": "60000"}, channel_prefix=channel_prefix),
                  redis_url).start()
    try:
        assert slow.subscriber.wait_subscribed(10)
        consumer = slow.buffer.register("s")
        send(redis_client, channel_prefix, "patterns:streaming", detection())
        sent = time.monotonic()
        send(redis_client, channel_prefix, "alerts:critical", {"type": "CONNECTION_LOST", "message": "x"})
        assert consumer.wait(5)
        got = wait_for(lambda: [e for e in consumer.drain() if isinstance(e, CriticalAlert)])
        assert got[0].alert_type == "CONNECTION_LOST" and time.monotonic() - sent < 5
        assert slow.buffer.stats()["pending"] == 1  # the pattern still waits for its flush
    finally:
        slow.stop()


def test_confidence_filter_counts_and_keeps_low_patterns_for_the_recorder(ingest, redis_client, channel_prefix):
    live, recorder = ingest.buffer.register("live"), ingest.buffer.register("rec", mode="all")
    send(redis_client, channel_prefix, "patterns:streaming", detection("LOW", conf=0.5))
    send(redis_client, channel_prefix, "patterns:streaming", detection("HIGH", conf=0.9))
    st = settled(ingest, 2)
    assert [p.symbol for p in live.drain()] == ["HIGH"]
    assert sorted(p.symbol for p in recorder.drain()) == ["HIGH", "LOW"]
    assert st["filtered"] == 1 and st["identity_holds"]


def test_two_consumers_see_every_event_of_a_simulated_session(ingest, redis_url, channel_prefix):
    from dashboard.tools.simulator import simulate

    a, b = ingest.buffer.register("a"), ingest.buffer.register("b")
    summary = simulate(redis_url, rate=0, duration=None, mode="single", prefix=channel_prefix)
    st = settled(ingest, summary["total"])
    got_a, got_b = a.drain(), b.drain()
    assert len(got_a) == len(got_b) == st["delivered"] > 0
    assert [type(e).__name__ for e in got_a] == [type(e).__name__ for e in got_b]
    assert st["received"] == summary["total"] and st["identity_holds"]
    assert sum(isinstance(e, Pattern) for e in got_a) >= 1


def test_bad_messages_are_rejected_with_reasons_and_the_loop_keeps_running(ingest, redis_client, channel_prefix):
    for bad in (b"\x00\xff", '"hello"', json.dumps({"symbol": "X", "pattern": "Y", "confidence": "high"}),
                json.dumps({"parameters": {"a": 1}}), "x" * 70_000):
        send(redis_client, channel_prefix, "patterns:streaming", bad)
    send(redis_client, channel_prefix, "patterns:streaming", detection("OK"))
    st = settled(ingest, 6)
    assert st["rejected"] == 5 and st["delivered"] == 1 and st["identity_holds"]
    reasons = {r["code"] for r in ingest.status()["rejections"]}
    assert reasons == {"not_json", "not_object", "bad_confidence", "missing_symbol", "too_large"}
    assert ingest.subscriber.snapshot()["state"] == "connected"


def test_a_decoder_bug_costs_one_counted_message_not_the_stream(ingest, redis_client, channel_prefix):
    """Defence in depth: an unexpected exception while decoding is a counted rejection."""
    channel = f"{channel_prefix}:indicators:streaming".encode()
    name, _, state = ingest._routes[channel]

    def broken(raw, received):
        raise ZeroDivisionError("bug")

    ingest._routes[channel] = (name, broken, state)
    consumer = ingest.buffer.register("s")
    send(redis_client, channel_prefix, "indicators:streaming", {"indicator_type": "RSI", "symbol": "A", "value": 1})
    send(redis_client, channel_prefix, "patterns:streaming", detection())
    st = settled(ingest, 2)
    assert st["rejected_by"] == {"decoder_error": 1} and st["identity_holds"]
    assert [e.symbol for e in consumer.drain()] == ["AAPL"]
    assert ingest.rejections[-1]["reason"] == "ZeroDivisionError: bug"
    assert ingest.subscriber.snapshot()["connects"] == 1  # the link was never dropped


def test_a_batch_of_five_counts_as_five_events_each_delivered_on_its_own(ingest, redis_client, channel_prefix):
    consumer = ingest.buffer.register("s")
    members = [detection(symbol, ts=f"2025-01-24T10:15:0{i}Z")["detection"] for i, symbol in enumerate("ABCDE")]
    send(redis_client, channel_prefix, "patterns:streaming",
         {"event": "patterns_detected", "session_id": "s1", "detections": members})
    send(redis_client, channel_prefix, "patterns:streaming", [detection("F"), {"symbol": "G"}])
    st = settled(ingest, 7)
    got = consumer.drain()
    assert sorted(p.symbol for p in got) == ["A", "B", "C", "D", "E", "F"]
    assert {p.session_id for p in got if p.symbol in "ABCDE"} == {"s1"}
    assert (st["received"], st["messages"], st["batches"], st["batched_events"]) == (7, 2, 2, 7)
    assert st["delivered"] == 6 and st["rejected_by"] == {"missing_pattern_type": 1} and st["identity_holds"]
    assert ingest.status()["rejections"][-1]["reason"].startswith("batch member 1:")


def test_every_member_of_a_batch_is_recorded(redis_url, channel_prefix, redis_client, private_database_url):
    from analytics import db, load_patterns

    db.upgrade(private_database_url)
    ing = Ingest(Settings.from_env({}, channel_prefix=channel_prefix), redis_url).start()
    try:
        ing.record(private_database_url)
        assert ing.subscriber.wait_subscribed(10)
        send(redis_client, channel_prefix, "patterns:streaming",
             [{"type": "pattern_detected", "symbol": s, "pattern": "Doji", "confidence": 0.5,
               "timestamp": "2025-01-24T10:15:00Z", "bar": {"close": 10 + i}} for i, s in enumerate("VWXYZ")])
        wait_for(lambda: len(load_patterns(private_database_url, progress=False)) == 5, timeout=15,
                 message="the batch's five detections were not all recorded")
        frame = load_patterns(private_database_url, progress=False, parse_parameters=True)
        assert sorted(frame["symbol"]) == list("VWXYZ")
        assert sorted(p["close"] for p in frame["parameters"]) == [10, 11, 12, 13, 14]
    finally:
        ing.stop()
        db.dispose(private_database_url)
