"""Mutated producer messages: the decoder never raises anything but Rejected, and the canonical
fast path and the general path agree on every message either accepts."""

from __future__ import annotations

import itertools
import json
import random

from analytics.events import to_json
from dashboard.tools.simulator import generate
from dashboard.wire import decoding as D
from dashboard.wire.channels import Channels
from tests.dashboard.wire.test_decoding import comparable
from tests.fixtures import all_wire_examples

CH = Channels()
NOW = 1_750_000_000.0
ODD = [None, "", " ", "x", 0, -1, 1.5, True, 1e308, -1e20, 10**30, 10**400, 5e-324, [], {},
       [1, [2, [3]]], {"a": {"b": {}}}, "2025-13-45", "2025-01-01T00:00:00", "\u0000"]
KEYS = ["symbol", "timestamp", "values", "value", "confidence", "detection", "calculation", "data",
        "alert", "stale_symbols", "connection", "session_id", "parameters", "levels", "timeframe"]


def mutate(obj, rng: random.Random):
    """One random change: a field replaced, removed or added, at any depth."""
    if isinstance(obj, dict) and obj:
        obj = dict(obj)
        key = rng.choice(list(obj))
        r = rng.random()
        if r < 0.4:
            obj[key] = rng.choice(ODD)
        elif r < 0.6:
            del obj[key]
        elif r < 0.8 and isinstance(obj[key], (dict, list)):
            obj[key] = mutate(obj[key], rng)
        else:
            obj[rng.choice(KEYS)] = rng.choice(ODD)
        return obj
    if isinstance(obj, list) and obj:
        obj = list(obj)
        obj[rng.randrange(len(obj))] = rng.choice(ODD)
        return obj
    return rng.choice(ODD)


def test_mutated_messages_are_decoded_or_rejected_and_both_paths_agree():
    samples = [(e["channel"], e["payload"]) for e in all_wire_examples()]
    samples += list(itertools.islice(generate(seed=1, symbols=["A", "B"], channels=None, health_every=20), 300))
    rng = random.Random(20261124)
    accepted = rejected = 0
    for _ in range(20_000):
        channel, payload = rng.choice(samples)
        for _ in range(rng.randint(1, 3)):
            payload = mutate(payload, rng)
        raw = json.dumps(payload).encode()
        if rng.random() < 0.05:
            raw = raw[: rng.randint(0, 50)]
        suffix = CH.suffix(channel)
        try:
            out = D.decode(suffix, channel, raw, NOW)
        except D.Rejected as exc:
            assert exc.code and exc.reason
            rejected += 1
            continue
        assert comparable(out) == comparable(D.decode_general(suffix, channel, raw, NOW)), raw
        for event in (out if type(out) is D.Batch else [out]):
            if isinstance(event, D.Rejected):
                assert event.code and event.reason
                rejected += 1
                continue
            assert json.loads(to_json(event))["kind"]
            accepted += 1
    assert accepted > 2_000 and rejected > 2_000  # both outcomes were exercised
