"""Patterns, indicators and indicator alerts partitioned by day (declarative range partitions).

Each table becomes a partitioned parent with one partition per UTC day of its event time: a query
for a range reads only its days, and retention drops whole days. Existing rows are kept: the old
table is renamed, a partition is made for every day it holds (and for the coming days), its rows
are copied over in time order, and it is dropped. The serial `id` of indicators and alerts goes
(a partitioned table's primary key would have to include the time; nothing reads the id); the
natural unique keys, which lead with or contain the time, stay.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD_DAYS = 7
# table: (time column, its unique key as a constraint clause, its other indexes: name -> columns)
TABLES = {
    "patterns": ("detected_at", "uq_patterns_symbol_detected_at_pattern_type_timeframe UNIQUE NULLS NOT DISTINCT "
                 "(symbol, detected_at, pattern_type, timeframe)", {}),
    "indicators": ("calculated_at", "uq_indicators_calculated_at_symbol_indicator_timeframe_key UNIQUE "
                   "(calculated_at, symbol, indicator, timeframe_key)",
                   {"ix_indicators_symbol_calculated_at": "symbol, calculated_at"}),
    "indicator_alerts": ("alerted_at", "uq_indicator_alerts_alerted_at_symbol_alert_type UNIQUE "
                         "(alerted_at, symbol, alert_type)",
                         {"ix_indicator_alerts_symbol_alerted_at": "symbol, alerted_at"}),
}

_MAKE_PARTITIONS = """
DO $$
DECLARE d date;
BEGIN
    FOR d IN
        SELECT DISTINCT ({time} AT TIME ZONE 'UTC')::date FROM {old}
        UNION SELECT (now() AT TIME ZONE 'UTC')::date + g FROM generate_series(-1, {ahead}) AS g
    LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF {table} FOR VALUES FROM (%L) TO (%L)',
                       '{table}_' || to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC',
                       (d + 1)::timestamp AT TIME ZONE 'UTC');
    END LOOP;
END $$
"""

_RENAME_INDEXES = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = '{old}'::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name, left(r.name, 50) || '_old');
    END LOOP;
END $$
"""


def upgrade() -> None:
    for table, (time, unique, indexes) in TABLES.items():
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(_RENAME_INDEXES.format(old=old))
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED) "
                   f"PARTITION BY RANGE ({time})")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS id")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {unique}")
        for name, columns in indexes.items():
            op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
        op.execute(_MAKE_PARTITIONS.format(table=table, old=old, time=time, ahead=AHEAD_DAYS))
        columns = f"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute " \
                  f"WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
        op.execute(f"""
DO $$
DECLARE cols text;
BEGIN
    SELECT ({columns}) INTO cols;
    EXECUTE format('INSERT INTO {table} (%s) SELECT %s FROM {old} ORDER BY {time}', cols, cols);
END $$""")
        op.execute(f"DROP TABLE {old}")


def downgrade() -> None:
    """Back to one plain table each (rows kept; indicators and alerts get a new serial id)."""
    for table, (time, unique, indexes) in TABLES.items():
        old = f"{table}_partitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(_RENAME_INDEXES.format(old=old))
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED)")
        if table != "patterns":
            op.execute(f"ALTER TABLE {table} ADD COLUMN id bigserial")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {unique}")
        for name, columns in indexes.items():
            op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
        cols = ", ".join(f'"{c}"' for c in _plain_columns(table))
        op.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {old} ORDER BY {time}")
        op.execute(f"DROP TABLE {old} CASCADE")


def _plain_columns(table: str) -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        f"SELECT attname FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' AND attname <> 'id' ORDER BY attnum").fetchall()
    return [r[0] for r in rows]
