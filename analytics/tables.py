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

A recorded kind (`events.HISTORY`) with no table declared here gets one made from its record:
a column per stored field, typed and defaulted as the field is, and its natural key as the one
unique index. The tables declared here must agree with their records (tests check it); keys,
defaults and writable columns are read off the tables.
"""

from __future__ import annotations

import msgspec
import msgspec.inspect
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

from .events import HISTORY, Event, Stored

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
    return Column(name, Text, Computed(f"coalesce({source}, '')", persisted=True), nullable=False,
                  info={"source": source})


def _digest(name: str, source: str) -> Column:
    """A generated md5 of a long text column, so the unique index stays small whatever its length."""
    return Column(name, Text, Computed(f"md5({source})", persisted=True), nullable=False, info={"source": source})


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
    postgresql_partition_by="RANGE (detected_at)",  # one partition per UTC day: analytics.partitions
)

indicators = Table(
    "indicators",
    metadata,
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
    postgresql_partition_by="RANGE (calculated_at)",
)

indicator_alerts = Table(
    "indicator_alerts",
    metadata,
    Column("session_id", Text),
    Column("symbol", Text, nullable=False),
    Column("alert_type", Text, nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("alerted_at", TZ, nullable=False),
    Column("received_at", TZ),
    UniqueConstraint("alerted_at", "symbol", "alert_type"),
    Index(None, "symbol", "alerted_at"),
    postgresql_partition_by="RANGE (alerted_at)",
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


# ---------------------------------------------------------------- tables made from their records

_SQL_TYPES = {msgspec.inspect.StrType: Text(), msgspec.inspect.FloatType: Double(), msgspec.inspect.IntType: Integer(),
              msgspec.inspect.BoolType: Boolean(), msgspec.inspect.DateTimeType: TZ,
              msgspec.inspect.DictType: JSONB(), msgspec.inspect.ListType: JSONB()}
_OPTIONAL = ("published_at", "received_at")  # a row written from a frame or by hand may lack them


def server_default(value: object) -> str:
    """The SQL default standing for a record field's default value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return "'" + msgspec.json.encode(value).decode().replace("'", "''") + "'::jsonb"


def _field_default(f: msgspec.inspect.Field) -> object:
    return f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default


def record_columns(record: type[Event], stored: Stored) -> list[Column]:
    """The columns a record's stored fields imply: its type, NOT NULL unless the field may be None
    (and for the publish and receive times), the field's default as the server's."""
    fields = {f.name: f for f in msgspec.inspect.type_info(record).fields}
    out = []
    for name, column in stored.columns(record).items():
        f = fields[name]
        kinds = [t for t in getattr(f.type, "types", (f.type,)) if not isinstance(t, msgspec.inspect.NoneType)]
        nullable = len(kinds) < len(getattr(f.type, "types", (f.type,))) or column in _OPTIONAL
        default = _field_default(f)
        has_default = default is not msgspec.NODEFAULT and default is not None and not nullable
        kind = TZ if name == "received" else _SQL_TYPES[type(kinds[0])]  # epoch seconds, stored as a time
        out.append(Column(column, kind, nullable=nullable,
                          server_default=text(server_default(default)) if has_default else None))
    return out


def record_table(record: type[Event], stored: Stored, meta: MetaData = metadata) -> Table:
    """The table of a recorded kind that none above is declared for: its record's columns and its
    natural key as the one unique index (NULLs not distinct), nothing else (each index costs every row)."""
    return Table(stored.table, meta, *record_columns(record, stored),
                 UniqueConstraint(*stored.key, postgresql_nulls_not_distinct=True))


for _record, _stored in HISTORY.items():
    if _stored.table not in metadata.tables:
        record_table(_record, _stored)

# ---------------------------------------------------------------- derived facts

TABLES: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}

# Columns a writer supplies (no serial ids, no generated keys).
WRITABLE: dict[str, list[str]] = {
    name: [c.name for c in t.columns if c.autoincrement is not True and c.computed is None]
    for name, t in TABLES.items()
}


def _unique_key(table: Table) -> tuple[str, ...]:
    unique = [u for u in table.constraints if isinstance(u, UniqueConstraint)]
    return tuple(c.name for c in (unique[0].columns if unique else table.primary_key.columns))


# The natural key each table is deduplicated on (its UNIQUE constraint, else its primary key).
CONFLICT_KEYS: dict[str, tuple[str, ...]] = {name: _unique_key(t) for name, t in TABLES.items()}

# Generated key columns and the nullable column each one copies.
KEY_SOURCES: dict[str, str] = {c.name: c.info["source"] for t in TABLES.values() for c in t.columns
                               if c.computed is not None}

# Longest text accepted in an indexed key column (a B-tree entry must fit in about 2.7 kB).
MAX_KEY_TEXT = 256


def _defaults(table: Table) -> dict[str, object]:
    """The record defaults of the NOT NULL columns with a server default (the same value)."""
    columns = {c.name for c in table.columns if c.server_default is not None and not c.nullable and c.computed is None}
    out = {}
    for record, stored in HISTORY.items():
        if stored.table != table.name:
            continue
        fields = {f.name: f for f in msgspec.inspect.type_info(record).fields}
        for name, column in stored.columns(record).items():
            if column in columns and column not in out:
                out[column] = _field_default(fields[name])
    return out


# Python values standing in for a missing value in NOT NULL columns (the server defaults).
DEFAULTS: dict[str, dict[str, object]] = {name: _defaults(t) for name, t in TABLES.items()}
