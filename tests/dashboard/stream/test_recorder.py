"""The recorder on real PostgreSQL: everything decoded is stored once, through an outage, and every
event handed to it is accounted for: written, duplicate, skipped (with a reason), dropped or pending."""

from __future__ import annotations

import json
import math
import random
import threading
from datetime import timedelta

import sqlalchemy as sa

from dashboard.services.embedded import EmbeddedPostgres
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest
from dashboard.web.views.live import LiveDashboard
from tests.fixtures import T0, as_json, detection
from tests.helpers import frequent_thread_switches, wait_for


def numbered(i: int, conf: float = 0.9) -> str:
    """The i-th of a stream of distinct detections, as published."""
    return as_json(detection(f"S{i:04d}", "Doji", conf, T0 + timedelta(seconds=i), session_id="rec-1",
                             parameters={"i": i}))


def count(url: str, table: str) -> int:
    with sa.create_engine(url).connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()


def balanced(snap: dict) -> bool:
    """The recorder's identity: every event handed over has exactly one fate (and status says so)."""
    fates = snap["written"] + snap["duplicate"] + snap["skipped"] + snap["dropped"] + snap["pending"]
    return snap["handed"] == fates and snap["identity_holds"]


def settled(recorder, handed: int):
    """A snapshot once `handed` events have all met their fate (nothing pending), else None."""
    snap = recorder.snapshot()
    return snap if snap["handed"] == handed and snap["pending"] == 0 else None


def test_every_decoded_event_is_stored_once_including_filtered_and_duplicates(
        ingest, redis_client, channel_prefix, private_database_url):
    ingest.record(private_database_url)
    p = channel_prefix
    for i in range(50):
        redis_client.publish(f"{p}:patterns:streaming", numbered(i, conf=0.5 if i % 5 == 0 else 0.9))
    for i in range(0, 50, 2):  # high-confidence copies on the other channel, and plain repeats
        redis_client.publish(f"{p}:patterns:detected", numbered(i))
        redis_client.publish(f"{p}:patterns:streaming", numbered(i))
    redis_client.publish(f"{p}:alerts:indicators", json.dumps({"alert_type": "RSI_OVERBOUGHT", "symbol": "S0001",
                                                              "timestamp": "2025-01-24T10:00:01Z", "data": {"rsi": 71}}))
    redis_client.publish(f"{p}:alerts:critical", json.dumps({"type": "CONNECTION_LOST", "message": "m",
                                                            "timestamp": "2025-01-24T10:00:02Z"}))
    wait_for(lambda: ingest.buffer.stats()["received"] == 102, message="not all messages arrived")
    rec = ingest.recorder
    snap = wait_for(lambda: settled(rec, 102), message="recorder never caught up")
    assert count(private_database_url, "patterns") == 50  # filtered ones too; copies and repeats once
    assert count(private_database_url, "indicator_alerts") == 1
    assert count(private_database_url, "critical_alerts") == 1
    assert ingest.status()["recorder"]["rows_added"]["patterns"] == 50
    assert (snap["written"], snap["duplicate"], snap["skipped"], snap["dropped"]) == (52, 50, 0, 0)
    assert balanced(snap)


def test_database_outage_loses_nothing_and_the_dashboard_keeps_running(
        ingest, redis_client, channel_prefix, tmp_path):
    pg = EmbeddedPostgres(data_dir=tmp_path / "pg")
    pg.start()
    try:
        ingest.record(pg.url)
        live = ingest.buffer.register("live")
        rec = ingest.recorder
        for i in range(100):
            redis_client.publish(f"{channel_prefix}:patterns:streaming", numbered(i))
        wait_for(lambda: rec.written == 100, message=f"first writes: {rec.snapshot()}")
        pg.stop()
        for i in range(100, 300):
            redis_client.publish(f"{channel_prefix}:patterns:streaming", numbered(i))
        wait_for(lambda: rec.state == "retrying" and rec.backlog == 200, timeout=20,
                 message=f"the outage was not noticed: {rec.snapshot()}")
        assert ingest.status()["recorder"]["last_error"]
        page = LiveDashboard(ingest)  # the page shows the backlog, in red (between two attempts to write)

        def shown_red() -> bool:
            page.refresh_status()
            return '<div class="ts-card bad" data-metric="recorder_backlog"><div class="v">200<' in page.metrics_pane.object
        wait_for(shown_red, message="the backlog is not shown in red")
        page.close()
        wait_for(lambda: ingest.buffer.stats()["delivered"] == 300)
        assert len(live.drain()) == 300  # the live side never waited for the database
        pg.start()
        wait_for(lambda: rec.backlog == 0 and rec.written == 300, timeout=30,
                 message=f"the backlog was not written after the database came back: {rec.snapshot()}")
        assert count(pg.url, "patterns") == 300
        assert rec.snapshot()["dropped"] == 0 and rec.retries >= 1
    finally:
        ingest.stop()
        pg.stop()


def test_stopping_flushes_what_is_pending(redis_url, channel_prefix, redis_client, private_database_url):
    ing = Ingest(Settings.from_env({"STREAMING_BUFFER_INTERVAL": "60000"}, channel_prefix=channel_prefix),
                 redis_url).start()
    assert ing.subscriber.wait_subscribed(10)
    ing.record(private_database_url)
    for i in range(20):
        redis_client.publish(f"{channel_prefix}:patterns:streaming", numbered(i))
    wait_for(lambda: ing.buffer.stats()["received"] == 20)
    ing.stop()  # no flush has run yet: stopping must still store all 20
    assert count(private_database_url, "patterns") == 20


def test_concurrent_writers_store_duplicates_split_across_batches_once(private_database_url):
    """Small batches keep both writer connections busy while copies of the same detections land in
    different batches (cross-channel copies, repeats): every detection is stored exactly once."""
    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.recorder import WRITERS, Recorder
    from dashboard.wire.decoding import decode

    buffer = StreamingBuffer()
    recorder = Recorder(buffer, private_database_url, batch_max=37).start()
    try:
        events = []
        for i in range(2_000):
            raw = numbered(i).encode()
            events.append(decode("patterns:streaming", "t:patterns:streaming", raw, 1.0))
            if i % 3 == 0:  # the copy on :detected, a few detections later (often the next batch)
                events.append(decode("patterns:detected", "t:patterns:detected", numbered(max(0, i - 20)).encode(), 1.0))
        for k in range(0, len(events), 50):
            buffer.take(events[k:k + 50])
        buffer.flush()
        snap = wait_for(lambda: settled(recorder, len(events)), timeout=60, message="recorder never caught up")
        assert WRITERS > 1 and recorder.batches > 2 * WRITERS
        assert count(private_database_url, "patterns") == 2_000
        assert recorder.rows_added["patterns"] == 2_000
        assert snap["written"] == 2_000 and snap["duplicate"] == len(events) - 2_000 and snap["skipped"] == 0
        assert snap["backlog"] == 0 and balanced(snap)
    finally:
        recorder.stop()


def test_stop_is_bounded_when_the_database_never_answers():
    """A server that accepts connections and then says nothing (a paused PostgreSQL, a black hole):
    stop() gives up after its timeout instead of hanging, and says what was left unwritten."""
    import socket
    import threading
    import time

    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.recorder import Recorder
    from dashboard.wire.decoding import decode

    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(silent.accept()[0]) for _ in range(8)], daemon=True).start()
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
    buffer = StreamingBuffer()
    recorder = Recorder(buffer, url, migrate=False, stop_timeout=1.0).start()
    try:
        buffer.take([decode("patterns:streaming", "t:patterns:streaming", numbered(i).encode(), 1.0) for i in range(5)])
        buffer.flush()
        wait_for(lambda: accepted, message="the recorder never tried to connect")
        started = time.monotonic()
        recorder.stop()
        assert time.monotonic() - started < 10
        snap = recorder.snapshot()
        assert snap["state"] == "stopped" and snap["written"] == 0 and snap["backlog"] == 5
        assert snap["handed"] == snap["pending"] == 5 and balanced(snap)
    finally:
        silent.close()
        for s in accepted:
            s.close()


def cjk(rng: random.Random, n: int = 256) -> str:
    """n characters of four UTF-8 bytes each that barely compress: three of them make an index
    entry over B-tree's 2,704-byte limit, though each is within the key-length check."""
    return "".join(chr(rng.randrange(0x20000, 0x2A6DF)) for _ in range(n))


def test_values_postgresql_refuses_are_skipped_with_their_reason_and_the_rest_is_written(
        ingest, redis_client, channel_prefix, private_database_url):
    """Messages a producer really can send, through Redis, the decoder, the buffer and the recorder:
    an index entry too large for B-tree and a repeat. (A time past year 9999 in UTC never reaches the
    recorder: the decoder rejects times history cannot hold; the writer's tests cover that skip.)"""
    ingest.record(private_database_url)
    p, rng = channel_prefix, random.Random(3)
    for i in range(40):
        redis_client.publish(f"{p}:patterns:streaming", numbered(i))
    redis_client.publish(f"{p}:patterns:streaming", numbered(5))  # a repeat: duplicate
    ts = "2025-01-24T10:00:00Z"
    redis_client.publish(f"{p}:patterns:streaming", json.dumps({  # index row size 3,104 > 2,704
        "event": "pattern_detected", "timestamp": ts, "detection": {
            "pattern_type": cjk(rng), "symbol": cjk(rng), "timeframe": cjk(rng), "confidence": 0.9, "timestamp": ts}}))
    for stamp in ("2025-01-24T10:00:01Z", "9999-12-31T23:00:00-05:00"):  # the second is year 10000 in UTC
        redis_client.publish(f"{p}:alerts:indicators", json.dumps({
            "alert_type": "RSI_OVERBOUGHT", "symbol": "S0001", "timestamp": stamp, "data": {"rsi": 71}}))
    redis_client.publish(f"{p}:streaming:health", json.dumps({
        "event": "streaming_health", "timestamp": ts, "session_id": "rec-1", "status": "healthy"}))
    redis_client.publish(f"{p}:streaming:persistence", json.dumps({  # not a recorded kind
        "event": "persistence_batch", "timestamp": ts, "session_id": "rec-1", "table": "patterns", "rows": 40}))
    wait_for(lambda: ingest.buffer.stats()["received"] == 46, message="not all messages arrived")
    rec = ingest.recorder
    snap = wait_for(lambda: settled(rec, 44), message="recorder never caught up")
    assert ingest.buffer.stats()["rejected_by"] == {"bad_timestamp": 1}

    assert count(private_database_url, "patterns") == 40
    assert count(private_database_url, "indicator_alerts") == 1
    assert count(private_database_url, "health") == 1
    assert (snap["written"], snap["duplicate"], snap["skipped"], snap["dropped"]) == (42, 1, 1, 0)
    assert snap["not_recorded"] == 1 and balanced(snap)
    reasons = [s["reason"] for s in ingest.status()["recorder"]["last_skips"]]
    assert len(reasons) == 1
    assert reasons[0].startswith("patterns: index row size 3104 exceeds btree version 4 maximum 2704 for index")

    page = LiveDashboard(ingest)  # the page shows the skipped events in red, the rest plainly
    page.refresh_status()
    cards = page.metrics_pane.object
    page.close()
    assert '<div class="ts-card bad" data-metric="recorder_skipped"><div class="v">1<' in cards
    assert '<div class="ts-card" data-metric="recorder_written"><div class="v">42<' in cards
    assert '<div class="ts-card" data-metric="recorder_duplicate"><div class="v">1<' in cards
    assert '<div class="ts-card" data-metric="recorder_dropped"><div class="v">0<' in cards


def test_rows_refused_inside_one_batch_are_isolated_and_the_batch_written(private_database_url):
    """Typed records as a program could hand them over (the decoder refuses NUL characters and
    integers beyond a column's range before this): PostgreSQL refuses a NUL in text and a \\u0000
    in jsonb, the batch is split until those rows are alone; an int4 overflow is caught before
    psycopg would store it wrapped. NaN fits a float8 column, so it is written."""
    from datetime import UTC, datetime

    from analytics.events import Health
    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.recorder import Recorder
    from dashboard.wire.decoding import decode

    def event(i: int, **fields):
        e = decode("patterns:streaming", "t:patterns:streaming", numbered(i).encode(), 1.0)
        for name, value in fields.items():
            setattr(e, name, value)
        return e

    events = [event(i) for i in range(500)]
    events[100] = event(100, symbol="NUL\x00SYM")
    events[200] = event(200, parameters={"note": "a\x00b"})
    events[300] = event(300, symbol="X" * 300)
    events[400] = event(400, confidence=math.nan)
    events.append(event(7))  # a repeat of a row in the same batch
    events += [Health(channel="t:streaming:health", ts=datetime(2025, 1, 24, 10, minute, tzinfo=UTC), received=1.0,
                      session_id="rec-1", status="healthy", active_symbols=symbols)
               for minute, symbols in ((1, 480), (2, 5_000_000_000))]
    buffer = StreamingBuffer()
    recorder = Recorder(buffer, private_database_url).start()
    try:
        buffer.take(events)
        buffer.flush()
        snap = wait_for(lambda: settled(recorder, len(events)), timeout=30, message="recorder never caught up")
    finally:
        recorder.stop()
    assert snap["batches"] == 1
    assert (snap["written"], snap["duplicate"], snap["skipped"]) == (498, 1, 4) and balanced(snap)
    assert count(private_database_url, "patterns") == 497
    reasons = sorted(s["reason"] for s in snap["last_skips"])
    assert reasons == ["health: integer out of range (column active_symbols: 5000000000)",
                       "patterns: a key column is longer than 256 characters",
                       'patterns: invalid byte sequence for encoding "UTF8": 0x00 (column symbol)',
                       "patterns: unsupported Unicode escape sequence (column parameters)"]
    with sa.create_engine(private_database_url).connect() as conn:
        assert conn.execute(sa.text("select confidence = 'NaN' from patterns where symbol = 'S0400'")).scalar_one()
        assert conn.execute(sa.text("select active_symbols from health")).all() == [(480,)]  # none wrapped


def test_connections_terminated_mid_stream_lose_nothing_and_skip_nothing(private_database_url):
    """pg_terminate_backend on the recorder's connections while it writes: the batches in flight are
    kept and written again; nothing is skipped or lost."""
    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.recorder import Recorder
    from dashboard.wire.decoding import decode

    buffer = StreamingBuffer()
    recorder = Recorder(buffer, private_database_url, batch_max=200).start()
    admin = sa.create_engine(private_database_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    n, terminated = 6_000, 0
    try:
        events = [decode("patterns:streaming", "t:patterns:streaming", numbered(i).encode(), 1.0) for i in range(n)]
        for k in range(0, n, 500):
            buffer.take(events[k:k + 500])
            buffer.flush()
            if k % 1_500 == 0:  # once the recorder is connected and writing, cut it off
                written = recorder.written
                wait_for(lambda w=written: recorder.written > w, message="the recorder is not writing")
                with admin.connect() as conn:
                    terminated += conn.execute(sa.text(
                        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                        "where datname = current_database() and pid <> pg_backend_pid()")).scalar_one()
        snap = wait_for(lambda: settled(recorder, n), timeout=60, message="the recorder did not catch up")
    finally:
        recorder.stop()
        admin.dispose()
    assert terminated >= 4 and snap["retries"] >= 1
    # a commit whose acknowledgement was lost with its connection comes back as duplicates
    assert snap["written"] + snap["duplicate"] == n and snap["skipped"] == 0 and snap["dropped"] == 0
    assert count(private_database_url, "patterns") == n and balanced(snap)


def test_status_read_while_events_are_handed_and_written_is_whole_and_never_raises(private_database_url):
    """A page (or /api/status) reads the recorder's status in a loop while the ingest hands it events
    and it drains, converts and writes them: every read is of one instant, so it never fails, its
    account balances, and it has a lag exactly when it has a backlog."""
    import threading
    import time

    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.recorder import Recorder
    from dashboard.wire.decoding import decode

    buffer = StreamingBuffer()
    recorder = Recorder(buffer, private_database_url, batch_max=20).start()
    received = time.time() - 1_000  # every pending event is clearly late: its lag is about 1000 s
    events = [decode("patterns:streaming", "t:patterns:streaming", numbered(i).encode(), received)
              for i in range(3_000)]
    done = threading.Event()
    errors: list[BaseException] = []
    wrong: list[dict] = []
    reads = [0]

    def status() -> None:
        while not done.is_set():
            try:
                snap = recorder.snapshot()
                recorder.lag_s()
            except Exception as exc:  # e.g. IndexError from a queue drained under the reader
                errors.append(exc)
                return
            reads[0] += 1
            if not balanced(snap) or (snap["backlog"] > 0) != (snap["lag_s"] > 0):
                wrong.append(snap)

    reader = threading.Thread(target=status)
    try:
        with frequent_thread_switches():
            reader.start()
            for k in range(0, len(events), 7):
                buffer.take(events[k:k + 7])
                buffer.flush()
            snap = wait_for(lambda: settled(recorder, len(events)), timeout=60, message="recorder never caught up")
    finally:
        done.set()
        reader.join(10)
        recorder.stop()
    assert not errors, f"reading the status raised: {errors[0]!r}"
    assert not wrong, (f"{len(wrong)} of {reads[0]} reads were not of one instant, first: "
                       f"{ {k: wrong[0][k] for k in ('handed', 'pending', 'backlog', 'lag_s')} }")
    assert reads[0] > 10 and snap["written"] == len(events) and snap["lag_s"] == 0


def test_the_recorder_compacts_closed_days_in_the_background_and_says_so(private_database_url):
    """Days already over when it starts are rewritten in symbol order, off the recording loop, which
    keeps writing meanwhile; the status counts them; stopping ends the compactor too."""
    from analytics import db, write_rows
    from dashboard.stream.buffer import StreamingBuffer
    from dashboard.stream.recorder import Recorder
    from dashboard.wire.decoding import decode
    from tests.fixtures import pattern_row

    db.upgrade(private_database_url)
    write_rows(private_database_url, "patterns", [pattern_row(day * 86_400 + i, symbol=f"S{i % 7}")
                                                  for day in range(2) for i in range(50)])  # Jan 24 and 25, 2025
    buffer = StreamingBuffer()
    recorder = Recorder(buffer, private_database_url).start()
    try:
        buffer.take([decode("patterns:streaming", "t:patterns:streaming", numbered(1000 + i).encode(), 1.0)
                     for i in range(20)])
        buffer.flush()
        wait_for(lambda: {"patterns_20250124", "patterns_20250125"} <= set(recorder.compacted), timeout=30,
                 message="closed days never compacted")
        assert wait_for(lambda: settled(recorder, 20))["written"] == 20  # recording went on meanwhile
        assert recorder.snapshot()["partitions"]["compacted"] == len(recorder.compacted) >= 2
        with sa.create_engine(private_database_url).connect() as conn:
            clustered = conn.execute(sa.text(
                "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid WHERE x.indisclustered "
                "AND c.relname LIKE 'patterns_2025012%'")).scalars().all()
        assert {"patterns_20250124", "patterns_20250125"} <= set(clustered)
    finally:
        recorder.stop()
    assert recorder._compactor is None and not any(t.name == "tickstock-recorder-compactor"
                                                   for t in threading.enumerate())
