"""The registry of kinds is complete: every record type is registered, and no registered kind lacks
a piece (channel, lane and key, decoder, history, live view, REST, replay), so a forgotten place
fails here instead of silently dropping a kind."""

from __future__ import annotations

import json

import msgspec
import pytest

import analytics
from analytics import events
from analytics.events import ENVELOPE, HISTORY, RECORDS, Event
from analytics.frames import JSON_TEXT
from analytics.records import event_row
from analytics.tables import WRITABLE
from dashboard.settings import Settings
from dashboard.stream.buffer import BUFFERED as BUFFERED_RECORDS
from dashboard.stream.ingest import Ingest
from dashboard.stream.session import SessionTracker
from dashboard.tools.replay import LAYOUTS, wire_message
from dashboard.web.history_api import ROUTES
from dashboard.web.views.rows import LIVE_ROWS
from dashboard.wire import decoding
from dashboard.wire.channels import Channels
from dashboard.wire.kinds import BUFFERED, BY_NAME, KINDS, LANES, STATE, Coalesce, Dedup
from dashboard.wire.variants import READERS, SHAPES
from tests.fixtures import sample_record

CH = Channels()
IDS = [k.name for k in KINDS]


def all_subclasses(cls: type) -> set[type]:
    return {c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))}


def test_every_record_type_is_in_the_contract_and_registered_once():
    assert all_subclasses(Event) == set(RECORDS.values())  # a record type left out of AnyEvent fails here
    assert [k.record for k in KINDS] == list(RECORDS.values())  # each registered once, in the contract's order


def test_channel_suffixes_are_unique_and_every_channel_decodes_to_its_kind():
    suffixes = [s for k in KINDS for s in k.channels]
    assert len(suffixes) == len(set(suffixes))
    assert set(CH.all) == {CH.name(s) for s in suffixes}
    for kind in KINDS:
        for suffix in kind.channels:
            reader = decoding.reader(suffix, CH.name(suffix))
            with pytest.raises(decoding.Rejected) as rejected:
                reader(b"not json", 0.0)
            assert rejected.value.code == "not_json", (kind.name, suffix)  # read, not refused as unknown


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_lane_and_key_fit_the_record(kind):
    fields = set(kind.record.__struct_fields__)
    assert kind.lane in LANES
    if kind.lane != BUFFERED:
        assert kind.key is None, "only buffered kinds collapse repeats"
    else:
        assert "symbol" in fields, "buffered events count towards the active symbols"
    if isinstance(kind.key, Coalesce):
        assert set(kind.key.key) <= fields
    if isinstance(kind.key, Dedup):
        assert {*kind.key.identity, *kind.key.window, kind.key.floor, kind.key.mark} <= fields
    if kind.confident is not None:
        assert kind.confident in kind.channels[1:] and isinstance(kind.key, Dedup)


def test_the_buffer_and_the_ingest_take_their_lanes_from_the_registry():
    assert set(BUFFERED_RECORDS) == {k.record for k in KINDS if k.lane == BUFFERED}
    ingest = Ingest(Settings.from_env({}), "redis://127.0.0.1:1/0")  # built, not started: nothing connects
    states = {CH.name(s) for k in KINDS if k.lane == STATE for s in k.channels}
    assert {route[0] for route in ingest._routes.values() if route[2]} == states


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_every_kind_has_a_reader_of_its_own_or_one_made_from_its_record(kind):
    assert kind.name in READERS
    sample = sample_record(kind.record)
    flat = {"session_id": "s1", "timestamp": "2025-01-24T10:15:00Z",
            **{name: value for name, value in msgspec.to_builtins(sample).items() if name not in {*ENVELOPE, "kind"}}}
    if kind.name not in SHAPES:  # the record-made reader reads a flat message of the record's fields back
        got = decoding.decode(kind.channels[0], CH.name(kind.channels[0]), json.dumps(flat).encode(), 0.0)
        assert msgspec.structs.replace(got, received=sample.received) == sample


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_every_kind_is_shown_live(kind):
    if kind.live == "rows":  # a table of the page: its row builder
        assert callable(LIVE_ROWS.get(kind.name)), f"dashboard.web.views.rows.LIVE_ROWS lacks {kind.name!r}"
        assert kind.lane != STATE
    elif kind.live in ("session", "health"):  # a state kind: the status bar or the health panel reads it
        tracker = SessionTracker()
        before = tracker.snapshot(now=0.0)
        tracker.update(sample_record(kind.record))
        after = tracker.snapshot(now=0.0)
        changed = after["health"] != before["health"] if kind.live == "health" else \
            {**after, "health": None} != {**before, "health": None}
        assert kind.lane == STATE and changed, kind.name
    else:
        assert kind.live is None and kind.lane == STATE, "only state reports may be counted and not shown"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_every_kind_shown_is_recorded_in_its_table(kind):
    if kind.live is None:
        assert kind.record not in HISTORY  # counted only (persistence confirmations)
        assert event_row(sample_record(kind.record)) is None
        return
    table, row = event_row(sample_record(kind.record))
    assert table == HISTORY[kind.record].table and set(row) == set(WRITABLE[table])


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_every_recorded_buffered_kind_has_its_rest_endpoint(kind):
    paths = {route[0] for route in ROUTES}
    if kind.lane == BUFFERED:
        assert kind.rest is not None, f"{kind.name} has no REST endpoint"
    if kind.rest is not None:
        table = HISTORY[kind.record].table
        assert set(kind.rest.columns) <= set(WRITABLE[table]) and HISTORY[kind.record].time in kind.rest.columns
        assert kind.rest.filter is None or kind.rest.filter in WRITABLE[table]
        assert any(p.startswith(f"/streaming/api/{kind.rest.name}") for p in paths)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.record in HISTORY and HISTORY[k.record].table != "sessions"],
                         ids=lambda k: k.name)
def test_every_recorded_kind_replays_as_the_record_it_was(kind):
    """Record -> history row (as the loaders give it) -> replay's message -> decoder: the same record.
    (Sessions frame a replay from their own row; test_replay covers them.)"""
    sample = sample_record(kind.record)
    frame = analytics.live_frame([sample], kind=kind.name)
    for column in JSON_TEXT.get(HISTORY[kind.record].table, ()):
        frame[column] = analytics.parse_json(frame[column])
    message = {**wire_message(kind, frame.to_dict("records")[0], "s1"), "timestamp": "2025-01-24T10:15:00Z"}
    got = decoding.decode(kind.channels[0], CH.name(kind.channels[0]), json.dumps(message).encode(),
                          sample.received)
    assert got == sample, (kind.name, "layout" if kind.name in LAYOUTS else "flat")


def test_the_registry_names_each_kind_by_its_record():
    assert list(BY_NAME) == [events.kind_name(k.record) for k in KINDS]
