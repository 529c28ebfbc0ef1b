"""Fast, idempotent batch writes of history rows with psycopg 3 binary COPY.

A batch is first deduplicated in memory and copied straight into its table inside a savepoint,
the fastest path PostgreSQL offers (measured here about twice the rate of going through a
staging table). If any row is already stored (a retried batch after an outage, a detection that
also arrived on the other pattern channel in an earlier batch) the table's unique key refuses
the COPY; the savepoint is rolled back and the batch goes the safe way: COPY into a temporary
staging table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING. Either way each row is stored
once, and the count of rows actually added is returned (for sessions, whose start and stop
arrive separately and are merged into one row: rows added or completed).

Every event of a batch is accounted for (`Outcome`): written, duplicate (its key was stored
already, or came earlier in the batch) or skipped with a reason. A row is skipped when it cannot
be stored as it is: a required value missing, a key text too long, an integer beyond its column's
range (checked here: psycopg would wrap it silently), or data PostgreSQL refuses (invalid text, a
jsonb it rejects, an index entry too large, a constraint). A refused COPY is split in halves, each
in its own savepoint, until the refused rows are isolated; the rest is written. Only refusals of
the data are handled so: any other error (a lost connection, a full disk, a deadlock) is raised,
and the caller retries the whole batch, which loses nothing.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import Copy, errors, sql
from psycopg.copy import FileWriter
from psycopg.types.json import set_json_dumps
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

from . import partitions
from .db import connection_for
from .events import KIND_TABLE, kind_of
from .records import (
    PATTERN_COLUMNS,
    encode_json,
    is_pattern_record,
    pattern_copy_values,
    rows_by_table,
)
from .tables import CONFLICT_KEYS, DEFAULTS, KEY_SOURCES, MAX_KEY_TEXT, TABLES, WRITABLE

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

_PG_TYPES = {"Text": "text", "Double": "float8", "Integer": "int4", "BigInteger": "int8",
             "Boolean": "bool", "JSONB": "jsonb", "DateTime": "timestamptz"}
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1

# Refusals of the rows themselves: by PostgreSQL (class 22 data exceptions, class 23 constraints,
# 54000 an index entry too large) or by psycopg formatting a value its column type cannot hold.
# Anything else (a lost connection, a full disk, a deadlock) is no reason to give up a row.
_REFUSED = (psycopg.DataError, psycopg.IntegrityError, errors.ProgramLimitExceeded, ValueError, TypeError,
            OverflowError)
_COLUMN = re.compile(r"column (\w+)")


class MissingPartition(RuntimeError):
    """A row's day had no partition (made elsewhere meanwhile, or dropped): the batch is kept and
    retried, not skipped."""
MAX_REASON = 300  # characters of a skip reason


@dataclass
class Outcome:
    """What became of each event of a batch: `written + duplicate + len(skipped)` is the batch's
    recorded events."""

    added: dict[str, int] = field(default_factory=dict)  # rows added (sessions: or completed) per table
    written: int = 0  # events whose row was stored (a session's start and stop complete one row)
    duplicate: int = 0  # events whose key was stored already, or came earlier in the batch
    skipped: list[str] = field(default_factory=list)  # one reason per event that cannot be stored


class UnknownTable(ValueError):
    """A table name that is not one of the history tables."""


def _table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise UnknownTable(f"unknown table {name!r}; expected one of {sorted(TABLES)}") from None


def _getter(positions: Sequence[int]):
    """A function picking the given positions of a tuple, always as a tuple."""
    if len(positions) == 1:
        i = positions[0]
        return lambda values: (values[i],)
    return itemgetter(*positions)


class _Plan:
    """Everything about one table a batch write needs, worked out once."""

    def __init__(self, table: Table):
        self.name = table.name
        self.columns = WRITABLE[table.name]
        self.types = [_PG_TYPES[type(table.c[c].type).__name__] for c in self.columns]
        # pattern_copy_values's tuples: JSON already in jsonb's binary form goes out as bytes, the
        # time received as timestamptz's binary form (int8)
        self.raw_types = ["bytea" if t == "jsonb" else "int8" if c == "received_at" else t
                          for c, t in zip(self.columns, self.types, strict=True)]
        self.required = [c for c in self.columns if not table.c[c].nullable and c not in DEFAULTS[table.name]]
        self.defaults = DEFAULTS[table.name]
        position = {c: i for i, c in enumerate(self.columns)}
        key_positions = [position[KEY_SOURCES.get(c, c)] for c in CONFLICT_KEYS[table.name]]
        self.key = _getter(key_positions)
        if table.name == "sessions":  # start and stop rows of a session are merged in SQL: only identical ones repeat
            jsonb = {i for i, t in enumerate(self.types) if t == "jsonb"}
            self.key = lambda values: tuple(encode_json(v) if i in jsonb else v for i, v in enumerate(values))
            self.session_position = position["session_id"]
        self.int4_positions = [i for i, t in enumerate(self.types) if t == "int4"]
        self.key_text_positions = [
            i for i in key_positions if self.types[i] == "text" and self.columns[i] != "message"
        ]
        self.values = itemgetter(*self.columns)
        # patterns: an empty timeframe is no timeframe ('' and NULL are one key)
        self.blank_positions = [position["timeframe"]] if table.name == "patterns" else []
        self.checked = _getter([position[c] for c in [*self.required, *self.defaults]])
        self.required_positions = [position[c] for c in self.required]
        self.default_positions = [(position[c], v) for c, v in self.defaults.items()]

        cols = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        self.stage = sql.Identifier(f"_stage_{table.name}")
        self.copy_direct = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(self.name), cols)
        self.copy_stage = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(self.stage, cols)
        self.create_stage = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA"
        ).format(self.stage, cols, sql.Identifier(self.name))
        self.insert = _insert_sql(table.name, cols, self.stage, table)

    def repair(self, values: tuple) -> tuple[tuple, str | None]:
        """Defaults filled in for missing values, or the reason the row cannot be stored."""
        missing = [self.columns[i] for i in self.required_positions if values[i] is None]
        if missing:
            return values, f"{self.name}: missing {', '.join(missing)}"
        fixed = list(values)
        for i, default in self.default_positions:
            if fixed[i] is None:
                fixed[i] = default
        return tuple(fixed), None


# sessions: columns whose latest report wins when a session's rows are merged (the others keep the
# first value known; `started_at` the earliest; jsonb columns are merged key by key, later keys win)
_LATEST = ("stopped_at", "stop_reason")


def _insert_sql(name: str, cols: sql.Composable, stage: sql.Composable, table: Table) -> sql.Composable:
    if name != "sessions":
        return sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING").format(
            t=sql.Identifier(name), cols=cols, stage=stage)
    # A session's start and stop arrive as separate events: merge them into one row.
    picked, merged = [], []
    for column in WRITABLE[name][1:]:
        c = sql.Identifier(column)
        if isinstance(table.c[column].type, JSONB):
            picked.append(sql.SQL("coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM {stage} s, "
                                  "jsonb_each(s.{c}) e WHERE s.session_id = g.session_id), '{{}}')").format(
                stage=stage, c=c))
            merged.append(sql.SQL("sessions.{c} || excluded.{c}").format(c=c))
        else:
            picked.append(sql.SQL("min({c})" if column == "started_at" else "max({c})").format(c=c))
            first, then = ("excluded", "sessions") if column in _LATEST else ("sessions", "excluded")
            merged.append(sql.SQL("coalesce({}.{c}, {}.{c})").format(
                sql.Identifier(first), sql.Identifier(then), c=c))
    targets = sql.SQL(", ").join(sql.SQL("sessions.{}").format(sql.Identifier(c)) for c in WRITABLE[name][1:])
    return sql.SQL(
        "INSERT INTO sessions ({cols}) SELECT g.session_id, {picked} FROM {stage} g "
        "WHERE g.session_id IS NOT NULL GROUP BY g.session_id "
        "ON CONFLICT (session_id) DO UPDATE SET {sets} WHERE ({targets}) IS DISTINCT FROM ({merged}) "
        "RETURNING session_id"  # the sessions added or completed
    ).format(cols=cols, picked=sql.SQL(", ").join(picked), stage=stage, targets=targets,
             merged=sql.SQL(", ").join(merged),
             sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), m)
                                     for c, m in zip(WRITABLE[name][1:], merged, strict=True)))


_PLANS = {name: _Plan(table) for name, table in TABLES.items()}


def _prepare(plan: _Plan, rows: Iterable[Row], problems: list[str]) -> list[tuple]:
    """Each storable row's values once (defaults filled, repeats dropped); reasons for the others
    are appended to `problems`."""
    kept: list[tuple] = []
    seen: set = set()
    long_texts, int4 = plan.key_text_positions, plan.int4_positions
    for row in rows:
        try:
            values = plan.values(row)
        except KeyError:
            values = tuple(row.get(c) for c in plan.columns)
        if None in plan.checked(values):
            values, problem = plan.repair(values)
            if problem:
                problems.append(problem)
                continue
        for i in plan.blank_positions:
            if values[i] == "":
                values = (*values[:i], None, *values[i + 1:])
        too_long = False
        for i in long_texts:
            if values[i] is not None and len(values[i]) > MAX_KEY_TEXT:
                too_long = True
        if too_long:
            problems.append(f"{plan.name}: a key column is longer than {MAX_KEY_TEXT} characters")
            continue
        if int4 and (problem := _out_of_range(plan, values)):
            problems.append(problem)
            continue
        key = plan.key(values)
        if key in seen:
            continue  # the first copy wins, as with ON CONFLICT DO NOTHING
        seen.add(key)
        kept.append(values)
    return kept


def _out_of_range(plan: _Plan, values: tuple) -> str | None:
    """Why a row's integer does not fit its int4 column (psycopg would send it wrapped), if one does not."""
    for i in plan.int4_positions:
        v = values[i]
        if isinstance(v, int) and not INT4_MIN <= v <= INT4_MAX:
            return f"{plan.name}: integer out of range (column {plan.columns[i]}: {v})"
    return None


def validate_rows(table_name: str, rows: Iterable[Row]) -> tuple[list[tuple], list[str]]:
    """(value tuples ready to COPY: defaults filled, repeats dropped; reasons for rows refused)."""
    problems: list[str] = []
    return _prepare(_PLANS[_table(table_name).name], rows, problems), problems


def _binary_copy_data(cur: psycopg.Cursor, types: list[str], values: list[tuple]) -> memoryview:
    """The rows in COPY's binary format, made in full before anything is sent: the data then goes
    out in one write while PostgreSQL works and the writer waits without the GIL (row by row, each
    32 kB chunk waited for the GIL behind the threads converting and taking the next events)."""
    data = io.BytesIO()
    fresh = cur.connection.cursor()  # a Copy that only formats needs a cursor that ran nothing
    set_json_dumps(encode_json, fresh)
    with fresh, Copy(fresh, binary=True, writer=FileWriter(data)) as formatter:
        formatter.set_types(types)
        for row in values:
            formatter.write_row(row)
    return data.getbuffer()


def _copy(cur: psycopg.Cursor, plan: _Plan, values: list[tuple], types: list[str]) -> tuple[int, int]:
    """COPY value tuples (unique within the batch) straight into the table, or, when some are
    stored already, through the staging table; returns (rows added, values stored)."""
    data = _binary_copy_data(cur, types, values)  # formatted once, for either path
    if plan.name != "sessions":
        try:
            with cur.connection.transaction(), cur.copy(plan.copy_direct) as copy:
                copy.write(data)
            return len(values), len(values)
        except errors.UniqueViolation:
            pass  # some rows are stored already: take the staged path
    cur.execute(plan.create_stage)
    cur.execute(sql.SQL("TRUNCATE {}").format(plan.stage))
    with cur.copy(plan.copy_stage) as copy:
        copy.write(data)
    cur.execute(plan.insert)
    if plan.name != "sessions":
        added = max(cur.rowcount, 0)
        return added, added
    changed = {row[0] for row in cur.fetchall()}  # sessions added or completed
    i = plan.session_position
    return len(changed), sum(1 for v in values if v[i] in changed)


def _store(conn: psycopg.Connection, plan: _Plan, values: list[tuple], types: list[str],
           skipped: list[str]) -> tuple[int, int]:
    """COPY values into their table in a transaction (a savepoint in the caller's); returns (rows
    added, values stored). Values refused for what they hold are split off, half by half, until each
    refused one is alone: it is skipped, with PostgreSQL's reason appended to `skipped`."""
    if not values:
        return 0, 0
    try:
        with conn.transaction(), conn.cursor() as cur:
            return _copy(cur, plan, values, types)
    except _REFUSED as exc:
        if conn.broken:
            raise
        if isinstance(exc, errors.CheckViolation) and "no partition" in str(exc):
            partitions.forget(conn)  # dropped or never made: the retry reads the catalog again
            raise MissingPartition(_reason(plan.name, exc)) from exc
        if len(values) == 1:
            skipped.append(_reason(plan.name, exc))
            return 0, 0
    half = len(values) // 2
    first = _store(conn, plan, values[:half], types, skipped)
    second = _store(conn, plan, values[half:], types, skipped)
    return first[0] + second[0], first[1] + second[1]


def _reason(table: str, exc: BaseException) -> str:
    """One line: the table, the error's message and, when PostgreSQL names it, the column."""
    diag = getattr(exc, "diag", None)
    message = diag.message_primary if diag is not None else None
    if not message:
        message = f"{type(exc).__name__}: {exc}"
    column = _COLUMN.search(diag.context or "") if diag is not None else None
    where = f" (column {column[1]})" if column else ""
    return f"{table}: {' '.join(message.split())}{where}"[:MAX_REASON]


def _warn(problems: list[str]) -> None:
    if problems:
        log.warning("%d row(s) not stored, e.g. %s", len(problems), problems[0])


def _write(conn: psycopg.Connection, plan: _Plan, rows: Iterable[Row], outcome: Outcome) -> int:
    """Write one table's rows in a transaction (nested in the caller's, if any); returns rows added,
    counts the values stored and the rows skipped in `outcome`."""
    values = _prepare(plan, rows, outcome.skipped)
    added, stored = _store(conn, plan, values, plan.types, outcome.skipped)
    outcome.written += stored
    return added


def write_rows(conn_or_url: Any, table_name: str, rows: Iterable[Row]) -> int:
    """Store rows (dicts keyed by column) in a history table once each; returns the rows added."""
    plan = _PLANS[_table(table_name).name]
    if isinstance(rows, Sequence) and not rows:
        return 0
    outcome = Outcome()
    rows = list(rows)
    with connection_for(conn_or_url) as conn:
        time = partitions.PARTITIONED.get(plan.name)
        if time:
            partitions.ensure_for(conn, plan.name, (r.get(time) for r in rows))
        added = _write(conn, plan, rows, outcome)
    _warn(outcome.skipped)
    return added


class Prepared:
    """A batch of live events made ready to write: typed pattern records already converted to COPY
    values (the CPU-heavy part), other events grouped into rows per table. Reusable for a retry.

    `count` events have a table (the others, e.g. persistence confirmations, are `not_recorded`);
    `skipped` holds a reason for each of them that could not be converted."""

    def __init__(self, events: Iterable[Any]):
        self.pattern_values: list[tuple] = []
        self.grouped: dict[str, list[dict[str, Any]]] = {}
        self.skipped: list[str] = []
        self.count = self.not_recorded = 0
        self._convert(events if isinstance(events, list) else list(events))

    def _convert(self, events: list) -> None:
        """Convert `events`; if one cannot be (a time beyond datetime's range once in UTC, say),
        split them until it is alone and skip it with the reason."""
        records, others, problems = [], [], []
        try:
            for event in events:
                (records if is_pattern_record(event) else others).append(event)
            values = pattern_copy_values(records, problems)
            grouped = rows_by_table(others)
        except Exception as exc:
            if len(events) > 1:
                half = len(events) // 2
                self._convert(events[:half])
                self._convert(events[half:])
                return
            self.count += 1
            table = KIND_TABLE.get(kind_of(events[0]), "unknown")
            self.skipped.append(f"{table}: could not convert ({type(exc).__name__}: {exc})"[:MAX_REASON])
            return
        self.pattern_values.extend(values)
        self.skipped.extend(problems)
        for name, rows in grouped.items():
            self.grouped.setdefault(name, []).extend(rows)
        recorded = len(records) + sum(map(len, grouped.values()))
        self.count += recorded
        self.not_recorded += len(events) - recorded


def write_batch(conn_or_url: Any, prepared: Prepared) -> Outcome:
    """Store a prepared batch in its tables in one transaction; says what became of each event."""
    outcome = Outcome(skipped=list(prepared.skipped))
    with connection_for(conn_or_url) as conn:
        _ensure_partitions(conn, prepared)
        return _write_batch(conn, prepared, outcome)


def _ensure_partitions(conn: psycopg.Connection, prepared: Prepared) -> None:
    """The day partitions the batch's rows go to, made (and committed) before the batch begins."""
    for name, time in partitions.PARTITIONED.items():
        plan = _PLANS[name]
        i = plan.columns.index(time)
        stamps = [v[i] for v in prepared.pattern_values] if name == "patterns" else []
        stamps += [row.get(time) if isinstance(row, dict) else row[i] for row in prepared.grouped.get(name, ())]
        partitions.ensure_for(conn, name, stamps)


def _write_batch(conn: psycopg.Connection, prepared: Prepared, outcome: Outcome) -> Outcome:
    with conn.transaction():
        for name in TABLES:  # a fixed order, so concurrent writers take locks alike
            plan = _PLANS[name]
            if name == "patterns" and prepared.pattern_values:
                added, stored = _store(conn, plan, prepared.pattern_values, plan.raw_types, outcome.skipped)
                outcome.added[name] = added
                outcome.written += stored
            if prepared.grouped.get(name):
                outcome.added[name] = outcome.added.get(name, 0) + _write(conn, plan, prepared.grouped[name], outcome)
    # neither stored nor refused: the key was there already, or came earlier in this batch
    outcome.duplicate = prepared.count - outcome.written - len(outcome.skipped)
    _warn(outcome.skipped)
    return outcome


def write_prepared(conn_or_url: Any, prepared: Prepared) -> dict[str, int]:
    """Store a prepared batch in its tables in one transaction; returns rows added per table."""
    return write_batch(conn_or_url, prepared).added


def write_events(conn_or_url: Any, events: Iterable[Any]) -> dict[str, int]:
    """Store live events (records or dicts) in their tables in one transaction; returns rows added per table.

    Typed pattern records (the decoder's) go straight to COPY values with no row dicts; see
    `Prepared` to convert one batch while another is being written.
    """
    return write_prepared(conn_or_url, Prepared(events))


assert tuple(_PLANS["patterns"].columns) == PATTERN_COLUMNS
