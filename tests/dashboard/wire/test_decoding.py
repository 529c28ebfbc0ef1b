"""Decoding: every wire example becomes a typed record; everything else is rejected with a reason."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from analytics import events as E
from dashboard.wire import decoding as D
from dashboard.wire.channels import Channels
from tests.fixtures import FIELD, VARIANTS_2, all_wire_examples, wire_examples

CH = Channels()
NOW = 1_750_000_000.0


def dec(channel: str, payload) -> E.AnyEvent:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return D.decode(CH.suffix(channel), channel, raw, NOW)


EXPECTED_KIND = {
    CH.session_started: E.SessionStarted, CH.session_stopped: E.SessionStopped, CH.health: E.Health,
    CH.patterns_streaming: E.Pattern, CH.patterns_detected: E.Pattern, CH.indicators: E.Indicator,
    CH.alerts_indicators: E.IndicatorAlert, CH.alerts_critical: E.CriticalAlert, CH.persistence: E.Persistence,
}


def members(out) -> list:
    """The events of one decoded message: itself, or each member of its batch."""
    return list(out) if type(out) is D.Batch else [out]


@pytest.mark.parametrize("example", all_wire_examples(), ids=lambda e: e["note"][:60])
def test_every_wire_example_decodes_to_its_typed_records(example):
    out = members(dec(example["channel"], example["payload"]))
    expected = example.get("expect") or [{}] * len(out)
    assert len(out) == len(expected)
    for ev, want in zip(out, expected, strict=True):
        if "rejected" in want:
            assert isinstance(ev, D.Rejected) and ev.code == want["rejected"]
            continue
        assert type(ev) is EXPECTED_KIND[example["channel"]]
        assert ev.channel == example["channel"]
        assert ev.ts.tzinfo is not None


def _same(got, want) -> bool:
    if isinstance(got, datetime):
        return got == datetime.fromisoformat(want)
    if isinstance(got, float) and isinstance(want, (int, float)):
        return math.isclose(got, want)
    return got == want


@pytest.mark.parametrize("example", wire_examples(FIELD), ids=lambda e: e["note"][:70])
def test_every_producer_layout_keeps_the_content_it_sent(example):
    out = members(dec(example["channel"], example["payload"]))
    for ev, want in zip(out, example["expect"], strict=True):
        if "rejected" in want:
            continue
        fields = {k: v for k, v in want.items() if k != "kind"}
        got = {k: getattr(ev, k) for k in fields}
        assert type(ev).__struct_config__.tag == want["kind"]
        assert all(_same(got[k], v) for k, v in fields.items()), (got, fields)


def test_a_batch_of_five_is_five_events_each_with_its_own_content():
    example = next(e for e in wire_examples(FIELD) if "'patterns'" in e["note"])
    out = dec(example["channel"], example["payload"])
    assert type(out) is D.Batch
    assert [e.symbol for e in out] == ["A", "B", "C", "D", "E"]
    assert [e.confidence for e in out] == [0.7, 0.75, 0.8, 0.85, 0.95]


def test_health_status_that_was_sent_is_never_unknown():
    for status_at in ({"status": "ok"}, {"state": "ok"}, {"summary": {"status": "ok"}},
                      {"health": {"overall_status": "ok"}}):
        ev = dec(CH.health, {"event": "health_update", "data": {**status_at, "cpu_percent": 5}})
        assert ev.status == "ok", status_at
    assert dec(CH.health, {"event": "health_update", "cpu_percent": 5}).status == "unknown"


def test_the_second_variants_file_keeps_bar_and_nested_figures():
    out = [members(dec(e["channel"], e["payload"])) for e in wire_examples(VARIANTS_2)]
    assert [p.symbol for p in out[0]] == ["KO", "PEP"] and [p.symbol for p in out[1]] == ["XOM", "CVX"]
    assert out[2][0].values == {"value": 41.7}
    health = out[3][0]
    assert (health.status, health.ticks_per_second, health.processing_lag_ms) == ("degraded", 912.0, 240.0)
    session = out[4][0]
    assert (session.universe, session.details) == ("sp500", {"symbol_count": 503})
    assert out[5][0].parameters == {"open": 101.2, "high": 103.9, "low": 100.8, "close": 101.0, "volume": 1830000}


def test_pattern_variants_all_yield_symbol_pattern_and_confidence():
    got = [(e.symbol, e.pattern, e.confidence) for e in
           (dec(x["channel"], x["payload"]) for x in wire_examples()) if type(e) is E.Pattern]
    assert got == [("AAPL", "Doji", 0.85), ("AAPL", "Doji", 0.85), ("TSLA", "Hammer", 0.72),
                   ("NVDA", "HeadShoulders", 0.91), ("MSFT", "BreakoutDaily", 0.85)]


def test_nested_detection_keeps_detection_time_apart_from_publish_time():
    ev = dec(CH.patterns_streaming, wire_examples()[1]["payload"])
    assert ev.detected_at == datetime(2025, 1, 24, 10, 15, tzinfo=UTC)
    assert ev.ts == datetime(2025, 1, 24, 10, 15, 30, tzinfo=UTC)
    assert ev.parameters == {"open": 150.0, "close": 150.05, "body_ratio": 0.0003}
    assert ev.timeframe == "1min" and ev.high_confidence


def test_older_event_type_variant_keeps_levels_and_uses_tier_as_timeframe():
    ev = dec(CH.patterns_streaming, wire_examples()[5]["payload"])
    assert ev.parameters["levels"] == [410.25, 412.75, 408.5]
    assert ev.timeframe == "daily"
    assert ev.detected_at == datetime(2025, 1, 24, 10, 18, tzinfo=UTC)


def test_detected_channel_flags_high_confidence_even_below_threshold():
    payload = {"symbol": "AAPL", "pattern": "Doji", "confidence": 0.5}
    assert dec(CH.patterns_detected, payload).high_confidence
    assert not dec(CH.patterns_streaming, payload).high_confidence


def test_indicator_values_and_variants():
    by_name = {e.indicator: e for e in (dec(x["channel"], x["payload"]) for x in wire_examples())
               if type(e) is E.Indicator}
    assert by_name["RSI"].values == {"value": 72.5}
    assert by_name["MACD"].values == {"macd": 0.4312, "signal": 0.3921, "histogram": 0.0391}
    assert by_name["BollingerBands"].symbol == "TSLA"
    flat = dec(CH.indicators, {"indicator": "SMA", "symbol": "X", "value": 10})
    assert flat.values == {"value": 10.0}


def test_health_fields_are_flattened():
    ev = dec(CH.health, wire_examples()[12]["payload"])
    assert (ev.status, ev.processing_lag_ms, ev.cpu_percent, ev.stale_count) == ("degraded", 730.0, 91.0, 7)
    assert ev.stale_symbols[:2] == ["BAC", "JPM"] and ev.reconnections == 2


def test_persistence_keeps_unknown_fields_as_details():
    ev = dec(CH.persistence, {"event": "persistence_batch", "table": "t", "rows": 3, "extra": {"a": 1}})
    assert (ev.table, ev.rows, ev.details) == ("t", 3, {"extra": {"a": 1}})


def test_epoch_and_naive_timestamps_are_read_as_utc():
    ev = dec(CH.patterns_streaming, {"symbol": "A", "pattern": "P", "confidence": 0.9, "timestamp": 1737713700})
    assert ev.ts == datetime(2025, 1, 24, 10, 15, tzinfo=UTC)
    ms = dec(CH.patterns_streaming, {"symbol": "A", "pattern": "P", "confidence": 0.9, "timestamp": 1737713700000})
    assert ms.ts == ev.ts
    naive = dec(CH.alerts_critical, {"type": "X", "message": "m", "timestamp": "2025-01-24T10:15:00"})
    assert naive.ts == ev.ts


PATTERN = CH.patterns_streaming
OK = {"symbol": "AAPL", "pattern_type": "Doji", "confidence": 0.8}
DEEP = b'{"symbol":"A","pattern":"P","confidence":0.9,"parameters":{"x":' + b"[" * 200 + b"]" * 200 + b"}}"
MALFORMED = [
    ("not json", PATTERN, b"not json", "not_json"),
    ("empty message", PATTERN, b"", "not_json"),
    ("truncated json", PATTERN, b'{"symbol": "AAPL", ', "not_json"),
    ("invalid utf-8", PATTERN, b'{"symbol": "\xff\xfe"}', "not_json"),
    ("NaN literal", PATTERN, b'{"symbol":"A","pattern":"P","confidence":NaN}', "not_json"),
    ("array", PATTERN, b"[1, 2, 3]", "not_object"),
    ("string", PATTERN, b'"hello"', "not_object"),
    ("null", PATTERN, b"null", "not_object"),
    ("missing symbol", PATTERN, {"pattern_type": "Doji", "confidence": 0.8}, "missing_symbol"),
    ("empty symbol", PATTERN, {**OK, "symbol": "   "}, "empty_symbol"),
    ("symbol number", PATTERN, {**OK, "symbol": 123}, "bad_field"),
    ("missing pattern", PATTERN, {"symbol": "AAPL", "confidence": 0.8}, "missing_pattern_type"),
    ("empty pattern", PATTERN, {**OK, "pattern_type": ""}, "empty_pattern_type"),
    ("confidence text", PATTERN, {**OK, "confidence": "high"}, "bad_confidence"),
    ("confidence bool", PATTERN, {**OK, "confidence": True}, "bad_confidence"),
    ("confidence above 1", PATTERN, {**OK, "confidence": 1.5}, "bad_confidence"),
    ("confidence negative", PATTERN, {**OK, "confidence": -0.01}, "bad_confidence"),
    ("confidence missing", PATTERN, {"symbol": "AAPL", "pattern": "Doji"}, "bad_confidence"),
    ("confidence huge", PATTERN, b'{"symbol":"A","pattern":"P","confidence":1e999}', "bad_confidence"),
    ("nested confidence text", PATTERN, {"detection": {**OK, "confidence": "high"}}, "bad_confidence"),
    ("bad timestamp", PATTERN, {**OK, "timestamp": "yesterday"}, "bad_timestamp"),
    ("timestamp object", PATTERN, {**OK, "timestamp": {"t": 1}}, "bad_timestamp"),
    ("negative epoch", PATTERN, {**OK, "timestamp": -5}, "bad_timestamp"),
    ("time beyond what history can hold", PATTERN, {"detection": {**OK, "timestamp": "9999-12-31T23:00:00Z"}},
     "bad_timestamp"),
    ("time before 1970", CH.indicators, {"calculation": {"indicator_type": "RSI", "symbol": "A", "values": {"v": 1},
                                                         "timestamp": "1969-12-31T23:59:59Z"}}, "bad_timestamp"),
    ("bad nested timestamp", PATTERN, {"detection": {**OK, "timestamp": "2025-13-45T99:00:00Z"}}, "bad_timestamp"),
    ("too large", PATTERN, {**OK, "parameters": {"blob": "x" * 70_000}}, "too_large"),
    ("too deep", PATTERN, DEEP, "too_deep"),
    ("indicator without values", CH.indicators, {"indicator_type": "RSI", "symbol": "A"}, "missing_values"),
    ("indicator without type", CH.indicators, {"symbol": "A", "values": {"value": 1}}, "missing_indicator_type"),
    ("indicator values text", CH.indicators, {"indicator": "RSI", "symbol": "A", "values": {"value": "x"}}, "missing_values"),
    ("alert without type", CH.alerts_indicators, {"symbol": "A", "data": {}}, "missing_alert_type"),
    ("alert without symbol", CH.alerts_indicators, {"alert_type": "RSI_OVERBOUGHT"}, "missing_symbol"),
    ("critical without type or message", CH.alerts_critical, {"severity": "critical"}, "missing_alert_type"),
    ("empty batch", PATTERN, b"[]", "empty_batch"),
    ("empty batch under a plural key", PATTERN, {"event": "patterns_detected", "detections": []}, "empty_batch"),
    ("session without id", CH.session_started, {"event": "session_started", "data": {}}, "missing_session_id"),
    ("canonical blank symbol", PATTERN, {"detection": {**OK, "symbol": "  "}}, "empty_symbol"),
    ("canonical blank pattern", PATTERN, {"detection": {**OK, "pattern_type": " "}}, "empty_pattern_type"),
    ("canonical confidence above 1", PATTERN, {"detection": {**OK, "confidence": 1.01}}, "bad_confidence"),
    ("canonical deep parameters", PATTERN, b'{"detection":{"symbol":"A","pattern_type":"P","confidence":0.9,'
     b'"parameters":{"x":' + b"[" * 200 + b"]" * 200 + b"}}}", "too_deep"),
    ("canonical indicator blank symbol", CH.indicators,
     {"calculation": {"indicator_type": "RSI", "symbol": "", "values": {"value": 1}}}, "empty_symbol"),
    ("canonical indicator empty values", CH.indicators,
     {"calculation": {"indicator_type": "RSI", "symbol": "A", "values": {}}}, "missing_values"),
    ("indicator value beyond float", CH.indicators,
     b'{"calculation":{"indicator_type":"RSI","symbol":"A","values":{"value":' + b"9" * 400 + b"}}}",
     "missing_values"),
    ("NUL in a symbol", PATTERN, {"detection": {**OK, "symbol": "A\u0000"}}, "nul_character"),
    ("NUL in parameters", PATTERN, {**OK, "parameters": {"note": "x\u0000y"}}, "nul_character"),
    ("canonical with deep outer parameters", PATTERN,
     b'{"detection":{"symbol":"A","pattern_type":"P","confidence":0.9},"parameters":{"x":'
     + b"[" * 40 + b"]" * 40 + b"}}", "too_deep"),
    ("unknown channel", "tickstock:nope", OK, "unknown_channel"),
    ("foreign prefix", "other:patterns:streaming", OK, "unknown_channel"),
]


@pytest.mark.parametrize(("channel", "payload", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_messages_are_rejected_with_a_reason(channel, payload, code):
    try:
        out = dec(channel, payload)
    except D.Rejected as exc:
        rejections = [exc]
    else:  # a batch: each member is judged on its own
        assert type(out) is D.Batch, out
        rejections = out
    assert rejections and all(isinstance(r, D.Rejected) for r in rejections), rejections
    assert {r.code for r in rejections} == {code}
    assert all(r.reason for r in rejections)


def test_hostile_strings_survive_decoding_unchanged():
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    ev = dec(PATTERN, {**OK, "symbol": evil, "pattern_type": evil})
    assert ev.symbol == evil and ev.pattern == evil


def test_json_output_round_trips():
    ev = dec(PATTERN, OK)
    back = json.loads(E.to_json(ev))
    assert back["kind"] == "pattern" and back["symbol"] == "AAPL" and math.isclose(back["confidence"], 0.8)


def test_an_integer_beyond_float_range_drops_that_value_only():
    raw = b'{"calculation":{"indicator_type":"MACD","symbol":"A","values":{"macd":1.5,"signal":' + b"9" * 400 + b"}}}"
    ev = dec(CH.indicators, raw)
    assert ev.values == {"macd": 1.5}


NEAR_CANONICAL = [  # messages the strict canonical shapes refuse or must read exactly like the general ones
    (PATTERN, {"session_id": "s", "timestamp": "2025-01-24T10:15:00Z",
               "detection": {**OK, "timestamp": "2025-01-24T10:14:59Z", "parameters": {"open": 1, "x": "y"},
                             "timeframe": "1min"}}),
    (CH.patterns_detected, {"detection": {**OK, "confidence": 0.5}}),
    (PATTERN, {"detection": {**OK, "timeframe": ""}, "timeframe": ""}),
    (PATTERN, {"detection": OK, "parameters": {"outer": 1}}),
    (PATTERN, {"detection": OK, "parameters": {"outer": {"nested": [1, {"a": 2}]}}}),
    (PATTERN, {"detection": {**OK, "levels": [1, 2]}, "session_id": 42}),
    (PATTERN, {"detection": {**OK, "tier": "daily", "timestamp": "2025-01-24T10:15:00"}}),
    (PATTERN, {"detection": {**OK, "symbol": " AAPL ", "detection_timestamp": 1737713700}}),
    (PATTERN, {"detection": {**OK, "metadata": {}}, "timestamp": 1737713700.5}),
    (CH.indicators, {"calculation": {"indicator_type": "RSI", "symbol": "A", "values": {"value": 70}}}),
    (CH.indicators, {"calculation": {"indicator_type": "MACD", "symbol": "A", "values": {"macd": 1, "s": None}}}),
    (CH.indicators, {"calculation": {"indicator_type": "SMA", "symbol": "A", "values": {"v": 1}, "timeframe": ""},
                     "timeframe": "5min", "session_id": 7}),
    (CH.indicators, {"calculation": {"indicator": "RSI", "symbol": "A", "values": 55.5}}),
    (CH.indicators, {"calculation": {"indicator_type": "SMA", "symbol": "A", "values": {"v": 1}, "timeframe": ""},
                     "timeframe": ""}),  # empty timeframes are none on both paths
]


PARITY = NEAR_CANONICAL + [(e["channel"], e["payload"]) for e in all_wire_examples()]


def comparable(out):
    """A decoded message in a form two decodes can be compared by (rejections by their code)."""
    return [m.code if isinstance(m, D.Rejected) else m for m in members(out)]


@pytest.mark.parametrize(("channel", "payload"), PARITY, ids=[str(i) for i in range(len(PARITY))])
def test_fast_path_and_general_path_make_the_same_record(channel, payload):
    raw = json.dumps(payload).encode()
    assert comparable(dec(channel, raw)) == comparable(D.decode_general(CH.suffix(channel), channel, raw, NOW))


def test_a_simulated_session_decodes_the_same_on_both_paths():
    import itertools

    from dashboard.tools.simulator import generate

    stream = itertools.islice(generate(seed=3, symbols=["AAPL", "MSFT", "NVDA"], channels=None, health_every=50), 3000)
    kinds = set()
    for channel, payload in stream:
        raw = json.dumps(payload).encode()
        fast = dec(channel, raw)
        assert fast == D.decode_general(CH.suffix(channel), channel, raw, NOW)
        kinds.add(type(fast))
    assert {E.Pattern, E.Indicator, E.IndicatorAlert, E.Health} <= kinds
