"""The history schema: one table per kind of TickStockPL event, indexed for symbol-and-time queries.

Column names follow TickStockPL's `intraday_patterns` / `intraday_indicators`. Each table has a
natural unique key so recording is idempotent: the same event written twice (or received on
both pattern channels) is stored once. Nullable parts of a key (timeframe, session) must still
conflict when NULL: patterns use UNIQUE NULLS NOT DISTINCT (PostgreSQL 15+), the older tables a
generated, NOT NULL `*_key` column; a critical alert's message enters its key as an md5, so any
length fits in the index.

Indexes are few on purpose: each one costs every recorded row. Patterns, the busiest table, have
a single index, their unique key led by symbol, which also serves the symbol-and-time queries
(REST, history view); no serial id (measured on 1 M rows: 9.2 µs of PostgreSQL CPU per row with
id, generated key, time-led key and a (symbol, time) index, 6.4 µs with this one key). The other
tables lead their key with the event time and have a (symbol, time) index.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

TZ = DateTime(timezone=True)
EMPTY = text("''")


def _id() -> Column:
    return Column("id", BigInteger, primary_key=True, autoincrement=True)


def _key(name: str, source: str) -> Column:
    """A generated NOT NULL copy of a nullable key column (NULL becomes '')."""
    return Column(name, Text, Computed(f"coalesce({source}, '')", persisted=True), nullable=False)


def _digest(name: str, source: str) -> Column:
    """A generated md5 of a long text column, so the unique index stays small whatever its length."""
    return Column(name, Text, Computed(f"md5({source})", persisted=True), nullable=False)


sessions = Table(
    "sessions",
    metadata,
    Column("session_id", Text, primary_key=True),
    Column("universe", Text),
    Column("trigger_type", Text),
    Column("started_at", TZ),
    Column("stopped_at", TZ),
    Column("stop_reason", Text),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # other figures sent
    Index(None, "started_at"),
)

patterns = Table(
    "patterns",
    metadata,
    Column("session_id", Text),
    Column("symbol", Text, nullable=False),
    Column("pattern_type", Text, nullable=False),
    Column("confidence", Double, nullable=False),
    Column("detected_at", TZ, nullable=False),
    Column("timeframe", Text),
    Column("parameters", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("high_confidence", Boolean, nullable=False, server_default=text("false")),
    Column("published_at", TZ),
    Column("received_at", TZ),
    UniqueConstraint("symbol", "detected_at", "pattern_type", "timeframe", postgresql_nulls_not_distinct=True),
)

indicators = Table(
    "indicators",
    metadata,
    _id(),
    Column("session_id", Text),
    Column("symbol", Text, nullable=False),
    Column("indicator", Text, nullable=False),
    Column("values", JSONB, nullable=False),
    Column("calculated_at", TZ, nullable=False),
    Column("timeframe", Text),
    Column("published_at", TZ),
    Column("received_at", TZ),
    _key("timeframe_key", "timeframe"),
    UniqueConstraint("calculated_at", "symbol", "indicator", "timeframe_key"),
    Index(None, "symbol", "calculated_at"),
)

indicator_alerts = Table(
    "indicator_alerts",
    metadata,
    _id(),
    Column("session_id", Text),
    Column("symbol", Text, nullable=False),
    Column("alert_type", Text, nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("alerted_at", TZ, nullable=False),
    Column("received_at", TZ),
    UniqueConstraint("alerted_at", "symbol", "alert_type"),
    Index(None, "symbol", "alerted_at"),
)

critical_alerts = Table(
    "critical_alerts",
    metadata,
    _id(),
    Column("session_id", Text),
    Column("alert_type", Text, nullable=False),
    Column("message", Text, nullable=False, server_default=EMPTY),
    Column("severity", Text, nullable=False, server_default=text("'critical'")),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("alerted_at", TZ, nullable=False),
    Column("received_at", TZ),
    _digest("message_key", "message"),
    UniqueConstraint("alerted_at", "alert_type", "message_key"),
)

health = Table(
    "health",
    metadata,
    _id(),
    Column("session_id", Text),
    Column("status", Text, nullable=False),
    Column("issues", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("ticks_per_second", Double),
    Column("bars_per_minute", Double),
    Column("processing_lag_ms", Double),
    Column("cpu_percent", Double),
    Column("memory_mb", Double),
    Column("memory_percent", Double),
    Column("active_symbols", Integer),
    Column("stale_count", Integer, nullable=False, server_default=text("0")),
    Column("stale_symbols", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("connections_active", Integer),
    Column("connections_failed", Integer),
    Column("reconnections", Integer),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # other figures sent
    Column("reported_at", TZ, nullable=False),
    Column("received_at", TZ),
    _key("session_key", "session_id"),
    UniqueConstraint("reported_at", "session_key"),
)

TABLES: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}

# Columns a writer supplies (no serial ids, no generated keys).
WRITABLE: dict[str, list[str]] = {
    name: [c.name for c in t.columns if c.autoincrement is not True and c.computed is None]
    for name, t in TABLES.items()
}

# The natural key each table is deduplicated on (its UNIQUE constraint).
CONFLICT_KEYS: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id",),
    "patterns": ("symbol", "detected_at", "pattern_type", "timeframe"),
    "indicators": ("calculated_at", "symbol", "indicator", "timeframe_key"),
    "indicator_alerts": ("alerted_at", "symbol", "alert_type"),
    "critical_alerts": ("alerted_at", "alert_type", "message_key"),
    "health": ("reported_at", "session_key"),
}

# Generated key columns and the nullable column each one copies.
KEY_SOURCES: dict[str, str] = {"timeframe_key": "timeframe", "session_key": "session_id", "message_key": "message"}

# Longest text accepted in an indexed key column (a B-tree entry must fit in about 2.7 kB).
MAX_KEY_TEXT = 256

# Python values standing in for a missing value in NOT NULL columns (the server defaults).
DEFAULTS: dict[str, dict[str, object]] = {
    "sessions": {"details": {}},
    "patterns": {"parameters": {}, "high_confidence": False},
    "indicators": {},
    "indicator_alerts": {"data": {}},
    "critical_alerts": {"message": "", "severity": "critical", "data": {}},
    "health": {"issues": [], "stale_count": 0, "stale_symbols": [], "details": {}},
}
