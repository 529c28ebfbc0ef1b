"""The simulator on a real Redis: every message decodes, the stream is deterministic and follows its
own market (indicators, crossings, candles), critical alerts agree with health, each run is its own
session, and pacing sends what the summary says."""

from __future__ import annotations

import itertools
import json
import random
import re
import socket
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest
import redis

from analytics import events
from dashboard.tools.market import Ticker
from dashboard.tools.simulator import (
    ALERT_TYPES,
    CRITICAL_KINDS,
    INDICATOR_TYPES,
    MEMORY_LIMIT_MB,
    SimulatorError,
    generate,
    simulate,
)
from dashboard.wire import decoding
from dashboard.wire.channels import Channels
from tests.helpers import wait_for

CLOCK_KEYS = {"timestamp", "start_time", "stop_time"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def without_clock(obj):
    """A copy of a payload without its wall-clock timestamps."""
    if isinstance(obj, dict):
        return {k: without_clock(v) for k, v in obj.items() if k not in CLOCK_KEYS}
    if isinstance(obj, list):
        return [without_clock(v) for v in obj]
    return obj


class Listener:
    """A redis-py subscriber to every channel of one prefix, subscribed before anything is published."""

    def __init__(self, redis_url: str, prefix: str):
        self.channels = Channels(prefix)
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(*self.channels.all)
        self.messages: list[tuple[str, bytes, float]] = []  # channel, payload, received epoch
        wait_for(lambda: all(n >= 1 for _, n in self.client.pubsub_numsub(*self.channels.all)),
                 timeout=10, message="never subscribed")

    def collect(self, n: int, timeout: float = 10.0) -> list[tuple[str, bytes, float]]:
        """Read until `n` messages arrived in all (or fail after `timeout` s)."""
        def got_all() -> bool:
            while len(self.messages) < n and (m := self.pubsub.get_message(timeout=0.1)) is not None:
                self.messages.append((m["channel"].decode(), m["data"], time.time()))
            return len(self.messages) >= n
        wait_for(got_all, timeout=timeout, interval=0, message=f"received {len(self.messages)} of {n}")
        return self.messages

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def listener(redis_url, channel_prefix) -> Iterator[Listener]:
    sub = Listener(redis_url, channel_prefix)
    yield sub
    sub.close()


@pytest.fixture(scope="module")
def stream() -> list[tuple[str, dict]]:
    """A long stretch of the default session: ~4,300 bars, ~215 for each of the 20 symbols."""
    return list(itertools.islice(generate(seed=42), 20_000))


def decoded(listener: Listener, messages) -> list[events.AnyEvent]:
    return [decoding.decode(listener.channels.suffix(ch), ch, raw, at) for ch, raw, at in messages]


def with_latest(stream) -> Iterator[tuple[dict, dict, dict]]:
    """(payload, its symbol's latest and previous published values per indicator) along the stream."""
    latest: dict[str, dict] = defaultdict(dict)
    previous: dict[str, dict] = defaultdict(dict)
    for _, payload in stream:
        if calc := payload.get("calculation"):
            symbol, kind = calc["symbol"], calc["indicator_type"]
            if kind in latest[symbol]:
                previous[symbol][kind] = latest[symbol][kind]
            latest[symbol][kind] = calc["values"]
        symbol = payload.get("symbol", "")
        yield payload, latest[symbol], previous[symbol]


# ------------------------------------------------------------------ over Redis


def test_single_run_sends_one_message_of_each_kind_and_every_one_decodes(redis_url, listener):
    summary = simulate(redis_url, mode="single", rate=0, prefix=listener.channels.prefix, seed=3)
    got = decoded(listener, listener.collect(summary["total"]))
    kinds = Counter(type(e).__name__ for e in got)
    assert summary["total"] == len(got) == 17
    assert kinds == {"SessionStarted": 1, "Pattern": 2, "Indicator": 4, "IndicatorAlert": 6, "Health": 1,
                     "CriticalAlert": 1, "Persistence": 1, "SessionStopped": 1}
    assert isinstance(got[0], events.SessionStarted) and isinstance(got[-1], events.SessionStopped)
    assert got[-1].reason == "simulation_complete"
    assert {e.indicator for e in got if isinstance(e, events.Indicator)} == set(INDICATOR_TYPES)
    assert {e.alert_type for e in got if isinstance(e, events.IndicatorAlert)} == set(ALERT_TYPES)
    assert {e.channel for e in got if isinstance(e, events.Pattern)} == {
        listener.channels.patterns_streaming, listener.channels.patterns_detected}
    assert next(e for e in got if isinstance(e, events.CriticalAlert)).severity == "critical"
    assert {e.session_id for e in got if e.session_id} == {summary["session_id"]}
    for _, raw, received in listener.messages:
        stamp = json.loads(raw)["timestamp"]
        assert STAMP.match(stamp), stamp
        assert abs(received - datetime.fromisoformat(stamp).timestamp()) < 5  # wall clock, not market time


def test_high_confidence_detections_arrive_on_both_channels_identically_low_ones_only_on_streaming(
        redis_url, listener):
    summary = simulate(redis_url, rate=400, duration=1.0, prefix=listener.channels.prefix)
    got = listener.collect(summary["total"])
    ch = listener.channels
    streaming = [raw for c, raw, _ in got if c == ch.patterns_streaming]
    detected = [raw for c, raw, _ in got if c == ch.patterns_detected]
    high = [raw for raw in streaming if json.loads(raw)["detection"]["confidence"] >= 0.8]
    assert high and len(high) < len(streaming), "want both high- and low-confidence detections"
    assert detected == high  # byte-identical payloads, in the same order
    for i, (c, raw, _) in enumerate(got):  # each copy follows its original at once
        if c == ch.patterns_detected:
            assert got[i - 1][:2] == (ch.patterns_streaming, raw)
    confidences = [json.loads(raw)["detection"]["confidence"] for raw in streaming]
    assert all(0.5 <= c <= 0.99 for c in confidences)


def test_paced_run_sends_rate_times_duration_and_its_summary_matches_what_arrived(redis_url, listener):
    started = time.monotonic()
    summary = simulate(redis_url, rate=50, duration=2, prefix=listener.channels.prefix)
    elapsed = time.monotonic() - started
    got = listener.collect(summary["total"])
    assert 60 <= summary["total"] <= 140
    assert 1.9 <= elapsed < 4
    assert Counter(c for c, _, _ in got) == summary["sent"]
    assert got[0][0] == listener.channels.session_started and got[-1][0] == listener.channels.session_stopped
    assert got[1][0] == listener.channels.health  # health comes first, then every health_interval
    stamps = [datetime.fromisoformat(json.loads(raw)["timestamp"]).timestamp() for _, raw, _ in got]
    assert stamps == sorted(stamps) and 1.8 <= stamps[-1] - stamps[0] <= 2.5  # stamped as sent, paced
    assert summary["seed"] == 42 and summary["rate"] == 50 and summary["duration_s"] == pytest.approx(2, abs=0.5)


def test_stop_event_ends_the_run_early_and_still_sends_session_stopped(redis_url, listener):
    stop = threading.Event()
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(
        simulate(redis_url, mode="quick", rate=100, prefix=listener.channels.prefix, stop_event=stop)))
    runner.start()
    try:
        listener.collect(20)
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive() and result["duration_s"] < 5
    got = listener.collect(result["total"])
    assert got[-1][0] == listener.channels.session_stopped
    assert json.loads(got[-1][1])["data"]["reason"] == "stopped"


def test_unreachable_redis_is_a_simulator_error_naming_the_url():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SimulatorError, match=f"redis://127.0.0.1:{port}/0"):
        simulate(f"redis://127.0.0.1:{port}/0", mode="single")
    with pytest.raises(SimulatorError) as err:
        simulate(f"redis://user:hunter2@127.0.0.1:{port}/0", mode="single")
    assert "hunter2" not in str(err.value)


def test_each_run_is_a_session_of_its_own_and_a_given_session_id_repeats_the_stream(redis_url, listener):
    prefix = listener.channels.prefix
    first = simulate(redis_url, mode="single", rate=0, prefix=prefix)
    second = simulate(redis_url, mode="single", rate=0, prefix=prefix)  # the same (default) seed
    assert first["session_id"] != second["session_id"]
    again = [simulate(redis_url, mode="single", rate=0, prefix=prefix, seed=9, session_id="replayable-1")
             for _ in range(2)]
    assert {s["session_id"] for s in again} == {"replayable-1"}
    got = listener.collect(first["total"] + second["total"] + again[0]["total"] + again[1]["total"])
    runs = [[without_clock(json.loads(raw)) for _, raw, _ in got[i:i + 17]] for i in range(0, 68, 17)]
    ids = [{p.get("session_id") or p.get("data", {}).get("session_id") for p in run} - {None} for run in runs]
    assert ids == [{first["session_id"]}, {second["session_id"]}, {"replayable-1"}, {"replayable-1"}]
    assert runs[2] == runs[3]  # same seed, same session id: the same messages
    relabelled = [json.loads(json.dumps(p).replace(second["session_id"], first["session_id"])) for p in runs[1]]
    assert runs[0] == relabelled  # the same seed: the same stream under another session id


def test_a_second_simulator_neither_stops_nor_rewrites_the_first_ones_session(redis_url, channel_prefix,
                                                                              private_database_url):
    import analytics
    from dashboard.settings import Settings
    from dashboard.stream.ingest import Ingest

    rec = Ingest(Settings.from_env({}, channel_prefix=channel_prefix), redis_url).start()
    assert rec.subscriber.wait_subscribed(10)
    rec.record(private_database_url)
    stop, first = threading.Event(), {}
    runner = threading.Thread(target=lambda: first.update(simulate(
        redis_url, rate=50, duration=None, mode=None, prefix=channel_prefix, stop_event=stop)))
    runner.start()
    try:
        wait_for(lambda: rec.session.started is not None, message="the first run never started")
        second = simulate(redis_url, rate=100, duration=0.5, mode=None, prefix=channel_prefix)  # default seed too
        stops = f"{channel_prefix}:streaming:session_stopped"
        wait_for(lambda: rec.buffer.stats()["received_per_channel"].get(stops), message="the second run never stopped")
        # the first run goes on, so the status bar shows it again rather than STOPPED
        assert rec.session.stopped is None and rec.session.started.session_id != second["session_id"]
    finally:
        stop.set()
        runner.join(10)
    wait_for(lambda: rec.buffer.stats()["received"] == first["total"] + second["total"])
    rec.stop()  # flushes everything to the database
    rows = analytics.load_sessions(private_database_url).set_index("session_id")
    assert set(rows.index) == {first["session_id"], second["session_id"]}
    assert rows.loc[second["session_id"], "stop_reason"] == "simulation_complete"
    assert rows.loc[first["session_id"], "stop_reason"] == "stopped"  # its own stop, not the second run's
    # its own stop time, at or after the second run's (the same millisecond on a quick machine)
    assert rows.loc[first["session_id"], "stopped_at"] >= rows.loc[second["session_id"], "stopped_at"]


# ------------------------------------------------------------------ the pure stream


def test_critical_alerts_agree_with_the_health_reported_next():
    """An alert is an incident in the producer's state, so the next health report shows it."""
    checked: Counter = Counter()
    alert = None
    for channel, payload in itertools.islice(generate(seed=42, health_every=50), 60_000):
        if channel.endswith(":alerts:critical"):
            alert = payload
            continue
        if not channel.endswith(":streaming:health") or alert is None:
            continue
        kind, data, issues = alert["type"], alert["data"], payload["issues"]
        lag, res = payload["data_flow"]["processing_lag_ms"], payload["resources"]
        assert res["memory_percent"] == pytest.approx(100 * res["memory_mb"] / MEMORY_LIMIT_MB, abs=0.06)
        if kind == "MEMORY_PRESSURE":
            assert data["memory_percent"] == pytest.approx(100 * data["memory_mb"] / MEMORY_LIMIT_MB, abs=0.06)
            assert f"{data['memory_percent']}%" in alert["message"]
            assert res["memory_percent"] == pytest.approx(data["memory_percent"], abs=1.0)
            assert "memory above 85%" in issues and payload["status"] == "degraded"
        elif kind == "DATA_FEED_DELAY":
            assert f"{data['delay_ms']} ms" in alert["message"]
            assert lag >= data["delay_ms"] - 100 and "processing lag above 500 ms" in issues
        elif kind == "PROCESSING_BACKLOG":
            assert lag >= data["processing_lag_ms"] - 100 and res["cpu_percent"] >= data["cpu_percent"] - 15
        else:
            assert payload["connection"]["failed"] >= 1
        checked[kind] += 1
        alert = None
    assert set(checked) == set(CRITICAL_KINDS) and min(checked.values()) >= 3, checked


def test_health_reports_an_issue_exactly_when_its_figure_is_beyond_the_limit(stream):
    expected_tps = 1.75 * 20
    for channel, payload in stream:
        if channel.endswith(":streaming:health"):
            lag, res = payload["data_flow"]["processing_lag_ms"], payload["resources"]
            assert ("processing lag above 500 ms" in payload["issues"]) == (lag > 500)
            assert ("memory above 85%" in payload["issues"]) == (res["memory_percent"] > 85)
            assert ("tick rate below expected" in payload["issues"]) <= (
                payload["data_flow"]["ticks_per_second"] <= 0.5 * expected_tps + 1)
            assert (payload["status"] == "degraded") == bool(payload["issues"])


def test_same_seed_gives_the_same_stream_and_another_seed_a_different_one():
    def run(seed: int) -> list:
        return [(c, without_clock(p)) for c, p in itertools.islice(generate(seed=seed), 3000)]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert first[0][1]["data"]["session_id"] != run(8)[0][1]["data"]["session_id"]


def test_stream_starts_with_the_session_and_sends_health_every_n_messages():
    head = list(itertools.islice(generate(seed=1, symbols=["ABC", "XYZ"], health_every=50), 205))
    assert head[0][0] == Channels().session_started
    assert [i for i, (c, _) in enumerate(head) if c == Channels().health] == [51, 102, 153, 204]
    assert {p["calculation"]["symbol"] for _, p in head if "calculation" in p} == {"ABC", "XYZ"}


def test_every_generated_message_decodes(stream):
    ch = Channels()
    for channel, payload in stream[:5000]:
        decoding.decode(ch.suffix(channel), channel, json.dumps(payload).encode(), time.time())


def test_rsi_evolves_smoothly_per_symbol_and_stays_within_bounds(stream):
    rsi: dict[str, list[float]] = defaultdict(list)
    for _, p in stream:
        if (calc := p.get("calculation")) and calc["indicator_type"] == "RSI":
            rsi[calc["symbol"]].append(calc["values"]["value"])
    assert len(rsi) == 20 and min(len(v) for v in rsi.values()) > 100
    assert all(0 <= x <= 100 for values in rsi.values() for x in values)
    steps = [abs(b - a) for values in rsi.values() for a, b in itertools.pairwise(values)]
    assert statistics.mean(steps) < 8  # independent uniform noise on [0, 100] would give ~33
    assert 30 < statistics.mean(x for v in rsi.values() for x in v) < 70


def test_rsi_overbought_is_sent_only_when_that_symbols_latest_rsi_crossed_above_70(stream):
    seen = 0
    for payload, latest, previous in with_latest(stream):
        if payload.get("alert_type") == "RSI_OVERBOUGHT":
            seen += 1
            assert latest["RSI"]["value"] > 70
            assert payload["data"] == {"rsi": latest["RSI"]["value"]}
            if "RSI" in previous:  # the symbol's first published bar has its previous RSI in the warm-up
                assert previous["RSI"]["value"] <= 70
    assert seen >= 5


def test_every_indicator_alert_follows_from_its_symbols_latest_values(stream):
    count: Counter = Counter()
    for payload, latest, _ in with_latest(stream):
        kind, data = payload.get("alert_type"), payload.get("data")
        if kind is None:
            continue
        count[kind] += 1
        macd, bands = latest["MACD"], latest["BollingerBands"]
        if kind == "RSI_OVERSOLD":
            assert data["rsi"] == latest["RSI"]["value"] < 30
        elif kind.startswith("MACD"):
            assert data == {"macd": macd["macd"], "signal": macd["signal"]}
            assert (macd["macd"] > macd["signal"]) == (kind == "MACD_BULLISH_CROSS")
        elif kind == "BB_UPPER_BREAK":
            assert data["upper"] == bands["upper"] < data["close"]
        elif kind == "BB_LOWER_BREAK":
            assert data["lower"] == bands["lower"] > data["close"]
    assert set(count) == set(ALERT_TYPES)


def test_a_quick_run_at_the_default_rate_has_alerts_and_patterns():
    for seed in range(5):  # 30 s at 20 messages/s
        kinds = Counter(c.split(":", 1)[1] for c, _ in itertools.islice(generate(seed=seed), 600))
        assert kinds["alerts:indicators"] >= 5 and kinds["patterns:streaming"] >= 20, (seed, kinds)


def test_published_indicators_are_the_textbook_ones():
    ticker, rng = Ticker("T", 100.0, 1e5), random.Random(5)
    closes = [100.0]
    for _ in range(80):
        ticker.step(rng)
        closes.append(ticker.close)
    s = pd.Series(closes)
    gains, losses = s.diff().clip(lower=0)[1:].tolist(), (-s.diff()).clip(lower=0)[1:].tolist()
    avg_gain, avg_loss = sum(gains[:14]) / 14, sum(losses[:14]) / 14
    for g, lo in zip(gains[14:], losses[14:], strict=True):  # Wilder's smoothing
        avg_gain, avg_loss = (avg_gain * 13 + g) / 14, (avg_loss * 13 + lo) / 14
    fast, slow = s[1:].ewm(span=12, adjust=False).mean(), s[1:].ewm(span=26, adjust=False).mean()
    macd = fast - slow
    signal = macd.ewm(span=9, adjust=False).mean()
    window = s.iloc[-20:]
    v = ticker.values
    assert v["RSI"]["value"] == pytest.approx(100 - 100 / (1 + avg_gain / avg_loss), abs=0.01)
    assert v["SMA"]["value"] == pytest.approx(window.mean(), abs=1e-4)
    assert v["MACD"]["macd"] == pytest.approx(macd.iloc[-1], abs=1e-4)
    assert v["MACD"]["signal"] == pytest.approx(signal.iloc[-1], abs=1e-4)
    assert v["BollingerBands"]["upper"] == pytest.approx(window.mean() + 2 * window.std(ddof=0), abs=1e-4)
    assert v["BollingerBands"]["lower"] == pytest.approx(window.mean() - 2 * window.std(ddof=0), abs=1e-4)
