"""Batch writes: COPY-fast, idempotent, every kind of live event lands in its table once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa

from analytics import db
from analytics.writer import UnknownTable, validate_rows, write_events, write_rows
from tests.helpers import wait_for

T0 = datetime(2025, 1, 24, 15, 0, tzinfo=UTC)


def pattern(i: int = 0, **overrides) -> dict:
    row = {"session_id": "s1", "symbol": "AAPL", "pattern_type": "Doji", "confidence": 0.85,
           "detected_at": T0 + timedelta(seconds=i), "timeframe": "1min", "parameters": {"close": 150.0 + i},
           "high_confidence": True, "published_at": T0 + timedelta(seconds=i, milliseconds=500),
           "received_at": T0 + timedelta(seconds=i, milliseconds=505)}
    row.update(overrides)
    return row


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
    from dashboard.events import Pattern

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
             "started_at": T0, "ts": T0}
    stop = {"kind": "session_stopped", "session_id": "s9", "stopped_at": T0 + timedelta(hours=6),
            "reason": "market_close", "ts": T0 + timedelta(hours=6)}
    assert write_events(history_url, [start]) == {"sessions": 1}
    assert write_events(history_url, [stop]) == {"sessions": 1}
    assert write_events(history_url, [start, stop]) == {"sessions": 0}  # nothing new
    with db.engine_for(history_url).connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM sessions")).one()
    assert row == ("s9", "top_500", "manual", T0, T0 + timedelta(hours=6), "market_close")


def test_missing_optional_values_take_the_table_defaults(history_url):
    assert write_rows(history_url, "patterns", [pattern(parameters=None, high_confidence=None)]) == 1
    with db.engine_for(history_url).connect() as conn:
        assert conn.execute(sa.text("SELECT parameters, high_confidence FROM patterns")).one() == ({}, False)


def test_rows_missing_required_values_are_skipped_without_failing_the_batch(history_url, caplog):
    rows = [pattern(1), pattern(2, symbol=None), pattern(3, detected_at=None), pattern(4)]
    assert write_rows(history_url, "patterns", rows) == 2
    assert "2 patterns row(s) not stored" in caplog.text


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
