"""Day partitions of the high-volume tables: made ahead of need, dropped past retention.

`patterns`, `indicators` and `indicator_alerts` are partitioned by range of their event time, one
partition per UTC day (`patterns_20250124` holds 2025-01-24 00:00 to 24:00 UTC; a New York trading
session, 13:30-21:00 UTC, always falls in one). A query for a time range reads only the partitions
of that range, and retention drops whole days instead of deleting rows.

Partitions are made ahead of need: for the coming days by `maintain` (the recorder runs it at start
and every hour), and for any other day the moment a batch brings one (`ensure`: a replay of last
year, a late event), with the AHEAD_DAYS after it. Making one takes an exclusive lock on its table,
in a short transaction of its own committed before the batch begins: it waits for the batches being
written into that table, so a backfill of old days makes them a week at a time, not one a day.

Once its day is over a partition is compacted (`compact_next`, one at a time, on a thread of the
recorder's own): rewritten in symbol order with CLUSTER. Rows arrive in time order, 500 symbols
interleaved, so one symbol's day is spread over as many pages as it has rows (667 rows, 667 pages
in the month benchmark); clustered, they share a few pages, and one symbol's month reads about
150 pages instead of 20,000. The rewrite locks that one partition (readers of that day wait,
about 1 s per 300,000 rows); a late row for a compacted day is simply appended.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

# table -> the event-time column it is partitioned by
PARTITIONED: dict[str, str] = {"patterns": "detected_at", "indicators": "calculated_at",
                               "indicator_alerts": "alerted_at"}
AHEAD_DAYS = 7  # days of partitions kept ready beyond today
PARTITION_LOCK = 7_351_204  # advisory lock key serializing partition DDL
COMPACT_LOCK = 7_351_205  # advisory lock key: one compaction at a time, across processes
_NAME = re.compile(r"_(\d{8})$")
_known: dict[tuple[str, str], set[date]] = {}  # (database, table) -> days with a partition, this process
_lock = threading.Lock()
_PLAIN: set[date] = set()  # stands for a table that is not partitioned


def partition_name(table: str, day: date) -> str:
    return f"{table}_{day:%Y%m%d}"


def is_partition(name: str) -> bool:
    """Whether a table name is one of the day partitions (schema comparisons leave them out)."""
    m = _NAME.search(name)
    return m is not None and name[: m.start()] in PARTITIONED


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic's `include_name` hook: the partitions are made at run time, not by migrations."""
    return not (type_ == "table" and name is not None and is_partition(name))


def _database(conn: psycopg.Connection) -> str:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def existing(conn: psycopg.Connection, table: str) -> set[date]:
    """The days that have a partition of `table`."""
    rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = %s::regclass", (table,)).fetchall()
    return {datetime.strptime(m[1], "%Y%m%d").date() for (name,) in rows if (m := _NAME.search(name))}


def is_partitioned(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (table,)).fetchone()
    return row is not None and row[0] == "p"


def create(conn: psycopg.Connection, table: str, days: Iterable[date]) -> list[date]:
    """Make the partitions of `days` that `table` lacks (in the caller's transaction); the days made."""
    made = []
    for day in sorted(set(days)):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(partition_name(table, day)), sql.Identifier(table),
            sql.Literal(start), sql.Literal(start + timedelta(days=1))))
        made.append(day)
    return made


def days_between(first: datetime, last: datetime) -> list[date]:
    """The UTC days from `first` to `last`, both included."""
    a, b = first.astimezone(UTC).date(), last.astimezone(UTC).date()
    return [a + timedelta(days=n) for n in range((b - a).days + 1)]


def ensure(conn: psycopg.Connection, table: str, days: Iterable[date]) -> None:
    """Make sure each of `days` has its partition of `table` before rows for it are written: a
    cached look-up (the catalog is read once per table and process); a new day's partition is made
    and committed in a short transaction of its own, before the batch that needs it begins."""
    if table not in PARTITIONED:
        return
    key, days = (_database(conn), table), set(days)
    with _lock:
        known = _known.get(key)
    if known is _PLAIN or (known is not None and not days - known):
        return  # the common case: every day is there already (or nothing is partitioned)
    with conn.transaction():  # catalog reads and DDL in one short transaction of their own
        # writers (threads, processes) making the same day take turns: the second finds it made
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
        known = existing(conn, table) if is_partitioned(conn, table) else _PLAIN  # read under the lock
        missing = set() if known is _PLAIN else days - known
        if missing:
            # the week after too: a replay or backfill then stops for DDL once a week of its data,
            # not at every new day (each creation waits for the other writers' batches to commit)
            last = max(missing)
            missing |= {last + timedelta(days=n) for n in range(1, AHEAD_DAYS + 1)} - known
            create(conn, table, missing)
    with _lock:
        _known[key] = known if known is _PLAIN else known | missing


def ensure_for(conn: psycopg.Connection, table: str, stamps: Iterable) -> None:
    """`ensure` the partitions of the UTC days from the earliest to the latest of `stamps` (rows'
    event times; anything not a datetime is left to the writer's checks)."""
    times = [t for t in stamps if isinstance(t, datetime)]
    if times:
        ensure(conn, table, days_between(min(times), max(times)))


def forget(conn: psycopg.Connection) -> None:
    """Drop this process's cache of partitions for the database of `conn` (after DDL elsewhere)."""
    with _lock:
        for key in [k for k in _known if k[0] == _database(conn)]:
            del _known[key]


def maintain(conn: psycopg.Connection, retention_days: int = 0, today: date | None = None) -> dict[str, list]:
    """Partitions for yesterday to AHEAD_DAYS ahead, and none older than `retention_days` (0: keep
    all). Returns the partitions made and dropped."""
    today = today or datetime.now(UTC).date()
    made, dropped = [], []
    for table in PARTITIONED:
        if not is_partitioned(conn, table):
            continue
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
        days = [today + timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)]
        made += [partition_name(table, d) for d in create(conn, table, set(days) - existing(conn, table))]
        if retention_days > 0:
            cutoff = today - timedelta(days=retention_days)
            for day in sorted(d for d in existing(conn, table) if d < cutoff):
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(table, day))))
                dropped.append(partition_name(table, day))
    forget(conn)
    return {"made": made, "dropped": dropped}


def _symbol_index(conn: psycopg.Connection, partition: str) -> str | None:
    """The partition's index led by `symbol` (patterns: their unique key; the others: (symbol, time))."""
    row = conn.execute(
        "SELECT ic.relname FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
        "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] "
        "WHERE x.indrelid = %s::regclass AND a.attname = 'symbol' ORDER BY x.indisunique DESC LIMIT 1",
        (partition,)).fetchone()
    return row[0] if row else None


def uncompacted(conn: psycopg.Connection, today: date | None = None) -> list[str]:
    """The partitions of days before `today` (UTC) not yet compacted, the most recent day first."""
    today = today or datetime.now(UTC).date()
    found: list[tuple[date, str]] = []
    for table in PARTITIONED:
        if not is_partitioned(conn, table):
            continue
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "
            "%s::regclass AND NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisclustered)",
            (table,)).fetchall()
        found += [(day, name) for (name,) in rows if (m := _NAME.search(name))
                  and (day := datetime.strptime(m[1], "%Y%m%d").date()) < today]
    return [name for _, name in sorted(found, reverse=True)]


def compact_next(conn: psycopg.Connection, today: date | None = None) -> str | None:
    """Compact one closed day's partition (CLUSTER on its symbol-led index, which marks it done);
    the partition compacted, or None when none is left (or another process is compacting).
    `conn` must be in autocommit mode: the rewrite is a transaction of its own."""
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (COMPACT_LOCK,)).fetchone()[0]:
            return None
        for partition in uncompacted(conn, today):
            index = _symbol_index(conn, partition)
            if index is not None:
                conn.execute(sql.SQL("CLUSTER {} USING {}").format(sql.Identifier(partition), sql.Identifier(index)))
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(partition)))
                return partition
    return None
