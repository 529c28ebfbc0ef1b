"""The contract between live and history: the record types, where each kind is stored, and the
tables, keys and frames that follow from it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import DateTime, MetaData, Text, UniqueConstraint

from analytics.events import (
    HISTORY,
    STORES,
    Health,
    IndicatorAlert,
    Pattern,
    SessionStopped,
    table_columns,
)
from analytics.frames import NATURAL_KEYS, SCHEMAS, TIME_COLUMN
from analytics.records import event_row
from analytics.tables import (
    CONFLICT_KEYS,
    KEY_SOURCES,
    TABLES,
    WRITABLE,
    record_columns,
    record_table,
)
from tests.fixtures import T0, sample_record

SINGLE = [record for record, stored in HISTORY.items()
          if sum(s.table == stored.table for s in HISTORY.values()) == 1]


def test_analytics_imports_neither_the_dashboard_nor_panel():
    code = ("import sys, analytics, analytics.events, analytics.writer; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dashboard', 'panel', 'bokeh'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("record", SINGLE, ids=lambda r: r.__name__)
def test_each_declared_table_is_what_its_record_implies(record):
    """Its writable columns are the record's stored fields, in order, of the same type, nullability
    and default: a field added to a record and not to its table (or the reverse) fails here."""
    table = TABLES[HISTORY[record].table]
    implied = record_columns(record, HISTORY[record])
    assert [c.name for c in implied] == WRITABLE[table.name]
    for column in implied:
        declared = table.c[column.name]
        default = declared.server_default.arg.text if declared.server_default is not None else None
        implied_default = column.server_default.arg.text if column.server_default is not None else None
        assert (type(declared.type), declared.nullable, default) == \
               (type(column.type), column.nullable, implied_default), column.name


def test_a_table_several_kinds_fill_has_exactly_their_columns():
    for table in TABLES:
        assert set(table_columns(table)) == set(WRITABLE[table]), table


def test_natural_keys_times_and_labels_name_columns_of_their_table():
    for table, stored in STORES.items():
        key = {KEY_SOURCES.get(c, c) for c in CONFLICT_KEYS[table]}
        assert set(stored.key) == key, table  # the unique constraint is the natural key
        assert isinstance(TABLES[table].c[stored.time].type, DateTime)
        assert all(isinstance(TABLES[table].c[c].type, Text) for c in stored.labels)
        assert all(s.time == stored.time and s.key == stored.key for s in HISTORY.values() if s.table == table)
    assert {t: s.time for t, s in STORES.items()} == TIME_COLUMN
    assert {t: s.key for t, s in STORES.items()} == NATURAL_KEYS
    assert list(SCHEMAS) == list(STORES)


def test_a_kind_with_no_declared_table_gets_one_from_its_record():
    stored = replace(HISTORY[IndicatorAlert], table="volume_spikes")
    table = record_table(IndicatorAlert, stored, MetaData())
    assert [c.name for c in table.columns] == WRITABLE["indicator_alerts"]
    (unique,) = [u for u in table.constraints if isinstance(u, UniqueConstraint)]
    assert [c.name for c in unique.columns] == list(stored.key)
    assert unique.dialect_options["postgresql"]["nulls_not_distinct"]


def test_rows_are_built_from_the_typed_record():
    row = event_row(sample_record(Pattern, timeframe="", received=0.0))[1]
    assert row["pattern_type"] == "PATTERN" and row["published_at"] == T0
    assert row["timeframe"] is None  # in a key, '' is no value
    assert row["received_at"] is None  # 0: not known
    table, health = event_row(sample_record(Health))
    assert table == "health" and health["reported_at"] == T0 and health["details"] == {"a": 1.5}
    table, stop = event_row(sample_record(SessionStopped))
    assert table == "sessions" and stop["stop_reason"] == "REASON" and stop["started_at"] is None


def test_a_dict_naming_its_kind_is_read_by_field_or_column_name():
    at = datetime(2025, 1, 24, 15, tzinfo=UTC)
    by_field = {"kind": "pattern", "symbol": "A", "pattern": "Doji", "confidence": 1, "ts": at,
                "received": at.timestamp()}
    by_column = {"kind": "pattern", "symbol": "A", "pattern_type": "Doji", "confidence": 1, "ts": at,
                 "received_at": at}
    assert event_row(by_field) == event_row(by_column)
    row = event_row(by_field)[1]
    assert row["detected_at"] == at  # its own time defaults to the publish time
    assert row["confidence"] == 1.0 and isinstance(row["confidence"], float)
    assert row["parameters"] == {} and row["high_confidence"] is False  # the record's defaults
    assert event_row({"kind": "persistence", "table": "x"}) is None
