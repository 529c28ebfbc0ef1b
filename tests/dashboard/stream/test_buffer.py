"""The buffer's promise: every message ends delivered, deduplicated, filtered, rejected or dropped."""

from __future__ import annotations

import threading

from analytics.events import Health, IndicatorAlert
from dashboard.stream.buffer import StreamingBuffer
from tests.fixtures import T0
from tests.fixtures import critical_record as critical
from tests.fixtures import indicator_record as indicator
from tests.fixtures import pattern_record as pattern
from tests.helpers import wait_for

S, D = "tickstock:patterns:streaming", "tickstock:patterns:detected"


def identity(stats: dict) -> bool:
    return stats["received"] == (stats["delivered"] + stats["deduplicated"] + stats["filtered"]
                                 + stats["rejected"] + stats["dropped"] + stats["pending"])


def take(buf: StreamingBuffer, events, now: float = 0.0) -> None:
    received: dict[str, int] = {}
    for e in events:
        received[e.channel] = received.get(e.channel, 0) + 1
    buf.take(events, received=received, now=now)


def test_same_detection_on_both_channels_is_shown_once_flagged_high_confidence():
    buf = StreamingBuffer(min_confidence=0.5)
    c = buf.register("s")
    low_but_detected = pattern(conf=0.75)
    take(buf, [low_but_detected, pattern(conf=0.75, channel=D)])
    buf.flush()
    shown = c.drain()
    assert len(shown) == 1 and shown[0].high_confidence
    st = buf.stats()
    assert st["deduplicated_by"] == {"cross_channel": 1} and st["delivered"] == 1 and identity(st)


def test_both_channel_copy_arriving_after_a_flush_is_still_one_detection():
    buf = StreamingBuffer()
    c = buf.register("s")
    take(buf, [pattern()], now=0.0)
    buf.flush()
    take(buf, [pattern(channel=D)], now=0.4)
    buf.flush()
    assert len(c.drain()) == 1
    assert buf.stats()["deduplicated_by"] == {"cross_channel": 1}


def test_dedup_window_keeps_the_latest_of_the_same_symbol_and_pattern():
    buf = StreamingBuffer(dedup_window=0.1)
    c = buf.register("s")
    take(buf, [pattern(conf=0.81, seconds=0)], now=10.0)
    take(buf, [pattern(conf=0.93, seconds=1)], now=10.05)  # 50 ms later: replaces
    take(buf, [pattern(symbol="MSFT", seconds=1)], now=10.06)  # another symbol: kept
    take(buf, [pattern(conf=0.71, seconds=2)], now=10.2)  # 150 ms after the last: a new row
    buf.flush()
    shown = [(e.symbol, e.confidence) for e in c.drain()]
    assert shown == [("AAPL", 0.93), ("MSFT", 0.85), ("AAPL", 0.71)]
    st = buf.stats()
    assert st["deduplicated"] == 1 and st["deduplicated_by"] == {"window": 1} and identity(st)


def test_indicators_coalesce_to_the_latest_value_per_symbol_and_indicator():
    buf = StreamingBuffer()
    c = buf.register("s")
    take(buf, [indicator(value=v) for v in (10, 20, 30)] + [indicator(name="SMA", value=5)])
    buf.flush()
    got = {(e.symbol, e.indicator): e.values["value"] for e in c.drain()}
    assert got == {("AAPL", "RSI"): 30.0, ("AAPL", "SMA"): 5.0}
    assert buf.stats()["deduplicated_by"] == {"coalesced": 2}


def test_confidence_filter_hides_low_patterns_from_the_live_view_but_counts_them():
    buf = StreamingBuffer(min_confidence=0.7)
    live = buf.register("live")
    recorder = buf.register("recorder", mode="all")
    tail = buf.register("tail", mode="with_filtered")
    take(buf, [pattern(conf=0.69, symbol="LOW"), pattern(conf=0.7, symbol="EDGE")])
    buf.flush()
    assert [e.symbol for e in live.drain()] == ["EDGE"]
    assert sorted(e.symbol for e in recorder.drain()) == ["EDGE", "LOW"]
    assert sorted(e.symbol for e in tail.drain()) == ["EDGE", "LOW"]
    st = buf.stats()
    assert (st["filtered"], st["delivered"]) == (1, 1) and identity(st)


def test_critical_alerts_and_state_events_do_not_wait_for_a_flush():
    buf = StreamingBuffer(interval=60.0)
    urgent_calls = []
    c = buf.register("s", on_ready=urgent_calls.append)
    take(buf, [pattern(), critical(), Health(channel="tickstock:streaming:health", ts=T0, received=0.0,
                                             status="healthy")])
    got = c.drain()  # no flush has run
    assert [type(e).__name__ for e in got] == ["CriticalAlert", "Health"]
    assert urgent_calls == [True]
    assert buf.stats()["pending"] == 1


def test_reaching_max_buffer_size_flushes_early_instead_of_dropping():
    buf = StreamingBuffer(max_size=10, dedup_window=0)
    c = buf.register("s")
    take(buf, [pattern(symbol=f"S{i}") for i in range(25)])
    assert c.queued == 20 and buf.stats()["pending"] == 5
    assert buf.early_flushes == 2
    buf.flush()
    assert len(c.drain()) == 25 and buf.stats()["dropped"] == 0


def test_overload_beyond_capacity_is_counted_as_dropped_never_silent():
    buf = StreamingBuffer(max_size=1000, pending_capacity=50, dedup_window=0)
    c = buf.register("s")
    take(buf, [pattern(symbol=f"S{i}") for i in range(80)] + [critical()])
    buf.flush()
    st = buf.stats()
    assert st["dropped"] == 30 and st["delivered"] == 51 and identity(st)
    assert len(c.drain()) == 51  # the critical alert still went through


def test_a_consumer_that_falls_behind_its_capacity_counts_what_it_lost():
    buf = StreamingBuffer(dedup_window=0)
    slow = buf.register("slow", capacity=10)
    fast = buf.register("fast")
    take(buf, [pattern(symbol=f"S{i}") for i in range(25)])
    buf.flush()
    assert len(fast.drain()) == 25
    kept = slow.drain()
    assert [e.symbol for e in kept] == [f"S{i}" for i in range(15, 25)]
    assert slow.dropped == 15 and slow.delivered + slow.dropped == buf.stats()["delivered"]


def test_two_consumers_each_see_every_event_at_their_own_pace():
    buf = StreamingBuffer(dedup_window=0)
    a, b = buf.register("a"), buf.register("b")
    for i in range(5):
        take(buf, [pattern(symbol=f"S{i}"), IndicatorAlert(channel="tickstock:alerts:indicators", ts=T0,
                                                           received=0.0, symbol=f"S{i}", alert_type="RSI_OVERBOUGHT")])
        buf.flush()
        if i == 2:
            assert len(a.drain()) == 6
    assert len(a.drain()) == 4 and len(b.drain()) == 10


def test_unregistered_consumer_receives_nothing_more():
    buf = StreamingBuffer()
    c = buf.register("gone")
    buf.unregister(c)
    take(buf, [pattern()])
    buf.flush()
    assert c.queued == 0 and buf.stats()["consumers"] == []


def test_buffer_disabled_sends_every_event_straight_away():
    buf = StreamingBuffer(enabled=False, interval=60.0)
    c = buf.register("s")
    take(buf, [pattern(), indicator(value=1), indicator(value=2)])
    assert len(c.drain()) == 3 and buf.stats()["pending"] == 0


def test_flusher_thread_delivers_within_the_interval():
    buf = StreamingBuffer(interval=0.05)
    ready = threading.Event()
    c = buf.register("s", on_ready=lambda urgent: ready.set())
    buf.start()
    try:
        take(buf, [pattern()])
        assert ready.wait(2.0)
        assert len(c.drain()) == 1
    finally:
        buf.stop()


def test_stats_report_rates_active_symbols_and_dedup_rate():
    buf = StreamingBuffer()
    take(buf, [pattern(symbol="A"), pattern(symbol="A", channel=D), pattern(symbol="B")])
    st = buf.stats()
    assert st["active_symbols"] == 2
    assert st["dedup_rate"] == round(1 / 3, 4)
    wait_for(lambda: buf.stats()["events_per_s_by_type"].get("pattern", 0) > 0, timeout=8,
             message="the per-second counters never showed the patterns")
