"""Migrations and URLs: the schema is created by Alembic, upgrades are idempotent, URLs normalised."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from analytics import db, partitions
from analytics.tables import TABLES, metadata

EXPECTED_INDEXES = {
    "sessions": {"ix_sessions_started_at"},
    "patterns": {"uq_patterns_symbol_detected_at_pattern_type_timeframe"},  # the one index: key and lookups
    "indicators": {"ix_indicators_symbol_calculated_at"},
    "indicator_alerts": {"ix_indicator_alerts_symbol_alerted_at"},
    "critical_alerts": set(),
    "health": set(),
}
EXPECTED_UNIQUE = {
    "patterns": ["symbol", "detected_at", "pattern_type", "timeframe"],
    "indicators": ["calculated_at", "symbol", "indicator", "timeframe_key"],
    "indicator_alerts": ["alerted_at", "symbol", "alert_type"],
    "critical_alerts": ["alerted_at", "alert_type", "message_key"],
    "health": ["reported_at", "session_key"],
}


def test_fresh_database_has_no_revision(private_database_url):
    assert db.current_revision(private_database_url) is None
    db.dispose(private_database_url)


def test_upgrade_creates_every_table_index_and_unique_key(private_database_url):
    assert db.upgrade(private_database_url) == db.head_revision()
    inspector = sa.inspect(db.engine_for(private_database_url))
    assert set(TABLES) <= set(inspector.get_table_names())
    for table, names in EXPECTED_INDEXES.items():
        assert {ix["name"] for ix in inspector.get_indexes(table)} >= names, table
    for table, columns in EXPECTED_UNIQUE.items():
        assert [uq["column_names"] for uq in inspector.get_unique_constraints(table)] == [columns], table
    assert inspector.get_pk_constraint("sessions")["constrained_columns"] == ["session_id"]
    db.dispose(private_database_url)


def test_current_revision_is_head_and_second_upgrade_is_a_no_op(history_url):
    with db.engine_for(history_url).begin() as conn:
        conn.execute(sa.text("INSERT INTO sessions (session_id) VALUES ('kept')"))
    assert db.current_revision(history_url) == db.head_revision()
    assert db.upgrade(history_url) == db.head_revision()
    with db.engine_for(history_url).connect() as conn:
        assert conn.execute(sa.text("SELECT session_id FROM sessions")).scalars().all() == ["kept"]


def test_migrated_schema_matches_the_table_definitions(history_url):
    with db.engine_for(history_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_server_default": True,
                                                         "include_name": partitions.include_name})
        assert compare_metadata(context, metadata) == []


def test_downgrade_to_base_removes_every_table(history_url):
    assert db.downgrade(history_url, "base") is None
    assert not set(TABLES) & set(sa.inspect(db.engine_for(history_url)).get_table_names())


@pytest.mark.parametrize("given", [
    "postgresql://u:p%40ss@h:5433/d?sslmode=disable",
    "postgres://u:p%40ss@h:5433/d?sslmode=disable",
    "postgresql+psycopg://u:p%40ss@h:5433/d?sslmode=disable",
    "postgresql+psycopg2://u:p%40ss@h:5433/d?sslmode=disable",
])
def test_normalise_url_always_names_psycopg2_and_keeps_the_rest(given):
    assert db.normalise_url(given) == "postgresql+psycopg2://u:p%40ss@h:5433/d?sslmode=disable"


def test_conninfo_carries_password_and_query_options():
    info = db.conninfo("postgresql+psycopg2://u:p%40ss@h:5433/d?sslmode=disable")
    assert set(info.split()) == {"host=h", "port=5433", "user=u", "password=p@ss", "dbname=d", "sslmode=disable"}


@pytest.mark.parametrize("bad", ["mysql://u@h/d", "not a url", "sqlite:///x.db"])
def test_non_postgresql_urls_are_refused(bad):
    with pytest.raises(db.DatabaseURLError):
        db.normalise_url(bad)


def test_upgrade_from_0001_keeps_every_pattern_and_the_new_key_still_deduplicates(private_database_url):
    url = private_database_url
    assert db.upgrade(url, "0001") == "0001"
    insert = sa.text("INSERT INTO patterns (symbol, pattern_type, confidence, detected_at, timeframe, parameters) "
                     "VALUES (:s, 'Doji', 0.9, :t, :tf, '{\"close\": 1.5}')")
    with db.engine_for(url).begin() as conn:
        for s, tf in (("AAPL", "1min"), ("AAPL", None), ("MSFT", ""), ("MSFT", "daily")):
            conn.execute(insert, {"s": s, "t": "2025-01-24T15:00:00Z", "tf": tf})
    assert db.upgrade(url) == db.head_revision()
    with db.engine_for(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT symbol, timeframe, parameters FROM patterns ORDER BY 1, 2")).all()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("patterns")}
    assert rows == [("AAPL", "1min", {"close": 1.5}), ("AAPL", None, {"close": 1.5}),
                    ("MSFT", "daily", {"close": 1.5}), ("MSFT", None, {"close": 1.5})]  # '' is now NULL
    assert not {"id", "timeframe_key"} & columns
    with pytest.raises(sa.exc.IntegrityError), db.engine_for(url).begin() as conn:  # NULL timeframe: one key
        conn.execute(insert, {"s": "AAPL", "t": "2025-01-24T15:00:00Z", "tf": None})
    assert db.downgrade(url, "0001") == "0001"  # and back, data kept
    with db.engine_for(url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM patterns")).one() == (4, 4)
    db.dispose(url)
