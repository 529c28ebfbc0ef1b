"""Batch writes: COPY-fast, idempotent, every kind of live event lands in its table once."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
import sqlalchemy as sa

from analytics import db
from analytics.writer import (
    Prepared,
    UnknownTable,
    validate_rows,
    write_batch,
    write_events,
    write_rows,
)
from tests.fixtures import T0
from tests.fixtures import pattern_row as pattern
from tests.helpers import wait_for


def count(url: str, table: str) -> int:
    with db.engine_for(url).connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_writing_the_same_rows_twice_stores_them_once(history_url):
    rows = [pattern(i) for i in range(500)]
    assert write_rows(history_url, "patterns", rows) == 500
    assert write_rows(history_url, "patterns", rows) == 0
    assert count(history_url, "patterns") == 500


def test_a_batch_overlapping_stored_rows_adds_only_the_new_ones(history_url):
    write_rows(history_url, "patterns", [pattern(i) for i in range(100)])
    assert write_rows(history_url, "patterns", [pattern(i) for i in range(50, 150)]) == 50
    assert count(history_url, "patterns") == 150


def test_repeats_inside_one_batch_are_stored_once(history_url):
    rows = [pattern(1), pattern(1, channel_note="again"), pattern(2)]
    assert write_rows(history_url, "patterns", rows) == 2


def test_detections_without_timeframe_are_still_deduplicated(history_url):
    assert write_rows(history_url, "patterns", [pattern(1, timeframe=None)]) == 1
    assert write_rows(history_url, "patterns", [pattern(1, timeframe=None)]) == 0
    assert write_rows(history_url, "patterns", [pattern(1, timeframe="")]) == 0  # '' and NULL are one key
    assert write_rows(history_url, "patterns", [pattern(1, timeframe="daily")]) == 1


def record(i: int = 0, **overrides):
    """A typed pattern record as the decoder makes it (the recorder's fast path)."""
    from analytics.events import Pattern

    fields = {"channel": "tickstock:patterns:streaming", "ts": T0 + timedelta(seconds=i, milliseconds=500),
              "received": (T0 + timedelta(seconds=i, milliseconds=505)).timestamp(), "session_id": "s1",
              "symbol": "AAPL", "pattern": "Doji", "confidence": 0.85, "detected_at": T0 + timedelta(seconds=i),
              "timeframe": "1min", "parameters": {"close": 150.0 + i, "note": "x"}, "high_confidence": True}
    return Pattern(**(fields | overrides))


def test_typed_records_store_the_same_values_as_rows(history_url):
    assert write_events(history_url, [record(i) for i in range(3)]) == {"patterns": 3}
    with db.engine_for(history_url).connect() as conn:
        got = conn.execute(sa.text("SELECT * FROM patterns ORDER BY detected_at")).mappings().all()
    assert [dict(r) for r in got] == [
        pattern(i, parameters={"close": 150.0 + i, "note": "x"}) for i in range(3)]


def test_a_record_keeps_its_receive_time_to_the_microsecond(history_url):
    received = [T0.timestamp() + f for f in (0.123456, 0.999999, 1e-6)]
    write_events(history_url, [record(i, received=r) for i, r in enumerate(received)])
    with db.engine_for(history_url).connect() as conn:
        got = conn.execute(sa.text("SELECT received_at FROM patterns ORDER BY detected_at")).scalars().all()
    assert got == [datetime.fromtimestamp(r, UTC) for r in received]


def test_typed_records_without_timeframe_are_stored_once_across_batches(history_url):
    first = [record(1, timeframe=None), record(1, timeframe=None, channel="tickstock:patterns:detected"),
             record(1, timeframe="")]
    assert write_events(history_url, first) == {"patterns": 1}  # repeats in one batch
    assert write_events(history_url, [record(1, timeframe=None), record(2, timeframe=None)]) == {"patterns": 1}
    assert write_rows(history_url, "patterns", [pattern(1, timeframe=None), pattern(2, timeframe="")]) == 0
    with db.engine_for(history_url).connect() as conn:
        assert conn.execute(sa.text("SELECT timeframe, count(*) FROM patterns GROUP BY 1")).all() == [(None, 2)]


def test_typed_records_with_an_oversized_key_are_refused_and_the_rest_stored(history_url, caplog):
    assert write_events(history_url, [record(1, symbol="X" * 300), record(2)]) == {"patterns": 1}
    assert "longer than" in caplog.text


def test_detection_received_on_both_pattern_channels_is_stored_once(history_url, wire_events):
    doji = [e for e in wire_events if getattr(e, "pattern", None) == "Doji"]
    assert {e.channel for e in doji} == {"tickstock:patterns:streaming", "tickstock:patterns:detected"}
    assert write_events(history_url, doji) == {"patterns": 1}  # same batch
    assert write_events(history_url, doji[1:]) == {"patterns": 0}  # a later batch
    with db.engine_for(history_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT symbol, pattern_type, high_confidence FROM patterns")).all()
    assert rows == [("AAPL", "Doji", True)]


def test_every_wire_event_lands_in_its_table(history_url, wire_events):
    counts = write_events(history_url, wire_events)
    assert counts == {"sessions": 1, "patterns": 4, "indicators": 3, "indicator_alerts": 2,
                      "critical_alerts": 1, "health": count_health(wire_events)}
    assert write_events(history_url, wire_events) == dict.fromkeys(counts, 0)


def count_health(events) -> int:
    return len({(e.ts, e.session_id) for e in events if type(e).__name__ == "Health"})


def test_session_start_and_stop_merge_into_one_row(history_url):
    start = {"kind": "session_started", "session_id": "s9", "universe": "top_500", "trigger_type": "manual",
             "started_at": T0, "ts": T0, "details": {"symbols": 500}}
    stop = {"kind": "session_stopped", "session_id": "s9", "stopped_at": T0 + timedelta(hours=6),
            "reason": "market_close", "ts": T0 + timedelta(hours=6), "details": {"bars": 195}}
    assert write_events(history_url, [start]) == {"sessions": 1}
    assert write_events(history_url, [stop]) == {"sessions": 1}
    assert write_events(history_url, [start, stop]) == {"sessions": 0}  # nothing new
    with db.engine_for(history_url).connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM sessions")).one()
    assert row == ("s9", "top_500", "manual", T0, T0 + timedelta(hours=6), "market_close",
                   {"symbols": 500, "bars": 195})


def test_session_events_are_counted_written_or_duplicate(history_url):
    start = {"kind": "session_started", "session_id": "s8", "universe": "u", "started_at": T0, "ts": T0}
    stop = {"kind": "session_stopped", "session_id": "s8", "stopped_at": T0 + timedelta(hours=1), "ts": T0}
    first = write_batch(history_url, Prepared([start, start, stop]))  # one row; the repeat changes nothing
    assert (first.written, first.duplicate, first.skipped, first.added) == (2, 1, [], {"sessions": 1})
    again = write_batch(history_url, Prepared([stop, start]))
    assert (again.written, again.duplicate, again.added) == (0, 2, {"sessions": 0})


def test_missing_optional_values_take_the_table_defaults(history_url):
    assert write_rows(history_url, "patterns", [pattern(parameters=None, high_confidence=None)]) == 1
    with db.engine_for(history_url).connect() as conn:
        assert conn.execute(sa.text("SELECT parameters, high_confidence FROM patterns")).one() == ({}, False)


def test_rows_missing_required_values_are_skipped_without_failing_the_batch(history_url, caplog):
    rows = [pattern(1), pattern(2, symbol=None), pattern(3, detected_at=None), pattern(4)]
    assert write_rows(history_url, "patterns", rows) == 2
    assert "2 row(s) not stored, e.g. patterns: missing symbol" in caplog.text


def test_oversized_key_text_is_refused_but_long_messages_are_stored(history_url):
    assert write_rows(history_url, "patterns", [pattern(1, symbol="X" * 5000)]) == 0
    message = "disk full " * 2000
    alert = {"alert_type": "DISK", "message": message, "severity": "critical", "alerted_at": T0}
    assert write_rows(history_url, "critical_alerts", [alert]) == 1
    assert write_rows(history_url, "critical_alerts", [alert]) == 0


def test_write_rows_accepts_a_psycopg_connection_inside_a_transaction(history_url):
    with db.connect(history_url) as conn:
        assert write_rows(conn, "patterns", [pattern(1)]) == 1
        assert write_rows(conn, "patterns", [pattern(1), pattern(2)]) == 1  # staged path, same connection
        conn.commit()
    assert count(history_url, "patterns") == 2


def test_concurrent_writers_of_the_same_rows_store_them_once(history_url):
    rows = [pattern(i) for i in range(200)]
    result: list[int] = []
    with (db.connect(history_url) as first, db.connect(history_url) as second,
          db.connect(history_url, autocommit=True) as watcher):
        with first.transaction():
            assert write_rows(first, "patterns", rows[:150]) == 150
            writer = threading.Thread(target=lambda: result.append(write_rows(second, "patterns", rows)))
            writer.start()
            wait_for(lambda: blocked(watcher, second.info.backend_pid), message="second writer never waited")
        writer.join(timeout=10)
        second.commit()
    assert result == [50]
    assert count(history_url, "patterns") == 200


def blocked(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == "Lock"


def test_unknown_tables_are_refused_by_name(history_url):
    with pytest.raises(UnknownTable, match="nope"):
        write_rows(history_url, "nope", [pattern()])


def test_validate_rows_fills_defaults_and_drops_repeats():
    ready, problems = validate_rows("indicator_alerts", [
        {"symbol": "AAPL", "alert_type": "RSI_OVERBOUGHT", "alerted_at": T0},
        {"symbol": "AAPL", "alert_type": "RSI_OVERBOUGHT", "alerted_at": T0},
        {"symbol": "AAPL", "alerted_at": T0},
    ])
    assert len(ready) == 1 and ready[0][3] == {} and problems == ["indicator_alerts: missing alert_type"]


def test_an_unreachable_database_raises_operational_error():
    with pytest.raises(psycopg.OperationalError):
        write_rows("postgresql://postgres@127.0.0.1:1/nowhere", "patterns", [pattern()])


def cjk(n: int, seed: int) -> str:
    """n four-byte characters that barely compress (three such keys overflow a B-tree entry)."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x20000, 0x2A6DF)) for _ in range(n))


def test_rows_postgresql_refuses_are_split_off_and_skipped_with_the_reason(history_url):
    records = [record(i) for i in range(200)]
    records[3] = record(3, symbol="A\x00B")  # text with a NUL
    records[50] = record(50, parameters={"note": "\x00"})  # jsonb refuses \u0000
    records[51] = record(51, symbol=cjk(256, 1), pattern=cjk(256, 2), timeframe=cjk(256, 3))  # index row too large
    records[199] = record(199, session_id="\ud800")  # not UTF-8 at all: psycopg refuses to send it
    outcome = write_batch(history_url, Prepared([*records, record(10)]))
    assert (outcome.written, outcome.duplicate, outcome.added) == (196, 1, {"patterns": 196})
    assert outcome.skipped[:2] == ['patterns: invalid byte sequence for encoding "UTF8": 0x00 (column symbol)',
                                   "patterns: unsupported Unicode escape sequence (column parameters)"]
    assert outcome.skipped[2].startswith("patterns: index row size")
    assert outcome.skipped[3].startswith("patterns: UnicodeEncodeError: 'utf-8' codec can't encode character")
    assert count(history_url, "patterns") == 196
    again = write_batch(history_url, Prepared(records))  # all stored or refused already
    assert (again.written, again.duplicate, len(again.skipped)) == (0, 196, 4)


def test_refused_rows_are_skipped_in_the_staged_path_too(history_url):
    write_events(history_url, [record(i) for i in range(0, 100, 2)])  # the direct COPY meets stored keys
    records = [record(i) for i in range(100)]
    records[31] = record(31, parameters={"note": "\x00"})
    outcome = write_batch(history_url, Prepared(records))
    assert (outcome.written, outcome.duplicate, len(outcome.skipped)) == (49, 50, 1)
    assert count(history_url, "patterns") == 99


def test_integers_beyond_their_int4_column_are_skipped_not_stored_wrapped(history_url):
    from analytics.events import Health

    def health(minute: int, **figures) -> Health:
        return Health(channel="tickstock:streaming:health", ts=T0 + timedelta(minutes=minute), received=1.0,
                      session_id="s1", status="healthy", **figures)

    outcome = write_batch(history_url, Prepared([
        health(0, active_symbols=2**31 - 1), health(1, active_symbols=5_000_000_000),
        health(2, stale_count=-(2**31) - 1), health(3, reconnections=-(2**31))]))
    assert outcome.written == 2 and outcome.skipped == [
        "health: integer out of range (column active_symbols: 5000000000)",
        "health: integer out of range (column stale_count: -2147483649)"]
    with db.engine_for(history_url).connect() as conn:
        got = conn.execute(sa.text("SELECT active_symbols, reconnections FROM health ORDER BY reported_at")).all()
    assert got == [(2**31 - 1, None), (None, -(2**31))]


def test_an_event_that_cannot_be_converted_is_skipped_alone(history_url):
    late = {"kind": "indicator_alert", "symbol": "AAPL", "alert_type": "RSI", "data": {},
            "ts": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))}  # year 10000 in UTC
    events = [{**late, "ts": T0 + timedelta(seconds=i)} for i in range(9)] + [late, record(1)]
    outcome = write_batch(history_url, Prepared(events))
    assert (outcome.written, outcome.duplicate) == (10, 0)
    assert outcome.skipped == ["indicator_alerts: could not convert (OverflowError: date value out of range)"]


def test_events_of_kinds_without_a_table_are_not_recorded(history_url, wire_events):
    prepared = Prepared(wire_events)
    persistence = sum(type(e).__name__ == "Persistence" for e in wire_events)
    assert persistence and prepared.not_recorded == persistence
    assert prepared.count == len(wire_events) - persistence
    outcome = write_batch(history_url, prepared)
    assert outcome.written + outcome.duplicate == prepared.count and not outcome.skipped


def test_errors_that_are_not_about_the_rows_are_raised_and_nothing_is_skipped(history_url):
    with db.connect(history_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE patterns RENAME TO patterns_away")
    with pytest.raises(psycopg.errors.UndefinedTable):
        write_batch(history_url, Prepared([record(1), record(2, symbol="A\x00B")]))
