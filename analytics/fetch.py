"""Run a parameterised SELECT and get an Arrow table back, as fast as the installed drivers allow.

ADBC (`adbc-driver-postgresql`) streams PostgreSQL's binary COPY into Arrow with no Python per
row; measured here on 1 M pattern rows it was about twice as fast as COPY to CSV parsed by
pyarrow. But an ADBC connection costs 40-100 ms to open (the driver reads PostgreSQL's type
catalogue), more than a symbol's month of rows takes to arrive: a select the planner expects to
return fewer than ADBC_MIN_ROWS rows goes through COPY to CSV on a psycopg connection instead
(measured on one symbol's month of indicators, 20,010 rows: 74 ms against 186 ms), as does every
select when ADBC is not installed. Values are always bound as parameters, never written into the
SQL text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from .db import connect, connection_for, normalise_url

try:
    import adbc_driver_postgresql.dbapi as adbc
except ImportError:  # optional: fall back to COPY ... TO STDOUT (FORMAT CSV)
    adbc = None

# Column kinds and their Arrow types.
ARROW = {"text": pa.string(), "cat": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(),
         "ts": pa.int64(), "json": pa.string()}


@dataclass
class Select:
    """A SELECT over one table: (alias, SQL expression, kind) columns, WHERE parts and their values."""

    table: str
    columns: list[tuple[str, str, str]]
    where: list[str] = field(default_factory=list)  # each with `{}` where one value goes, or `{*}` for a list
    values: list[Any] = field(default_factory=list)
    order: str | None = "id"
    limit: int | None = None
    bound: dict[str, Any] = field(default_factory=dict)  # alias -> the value for `{}` in its expression
    split: bool = False  # a scan of most of the table: fetch it in page ranges on parallel connections

    def add(self, condition: str, value: Any) -> None:
        """AND a condition holding one placeholder `{}` (or `{*}`, a list of values) to the WHERE."""
        # PostgreSQL text cannot hold NUL, so a value containing one matches nothing.
        if "{*}" in condition:
            value = [v for v in value if not _has_nul(v)]
            if not value:
                condition, value = "false", None  # an empty list matches nothing
        elif _has_nul(value):
            condition, value = "false", None
        self.where.append(condition)
        self.values.append(value)

    def render(self, style: str, epoch_ts: bool = False) -> tuple[str, list[Any]]:
        """SQL text with `$n` (style "numeric") or `%s` (style "format") placeholders, and the values."""
        params: list[Any] = []

        def mark(value: Any) -> str:
            params.append(value)
            return f"${len(params)}" if style == "numeric" else "%s"

        cols = []
        for alias, expr, kind in self.columns:
            if alias in self.bound:
                expr = expr.replace("{}", mark(self.bound[alias]))
            if kind == "ts" and epoch_ts:
                expr = f"(extract(epoch from {expr}) * 1000000)::int8"
            elif kind == "json":
                expr = f"{expr}::text"
            cols.append(f'{expr} AS "{alias}"')
        text = f"SELECT {', '.join(cols)} FROM {self.table}"
        parts = []
        for condition, value in zip(self.where, self.values, strict=True):
            if condition == "false" or ("{}" not in condition and "{*}" not in condition):
                parts.append(condition)  # nothing to bind
            elif "{*}" in condition:
                parts.append(condition.replace("{*}", ", ".join(mark(v) for v in value)))
            else:
                parts.append(condition.replace("{}", mark(value)))
        if parts:
            text += " WHERE " + " AND ".join(parts)
        if self.order:
            text += f" ORDER BY {self.order}"
        if self.limit is not None:
            text += f" LIMIT {int(self.limit)}"
        return text, params


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def _adbc_uri(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg2://", "postgresql://", 1)


def _progress(total: int | None, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc="loading")


def count(url: str, select: Select) -> int:
    """Rows the select would return (for a progress bar's total)."""
    counting = Select(select.table, [("n", "count(*)", "int")], list(select.where), list(select.values), order=None)
    text, params = counting.render("format")
    with connect(url) as conn:
        return int(conn.execute(text, params).fetchone()[0])


ADBC_MIN_ROWS = 100_000  # rows the planner expects, below which COPY on psycopg is quicker (see above)


def fetch(url: str, select: Select, progress: bool = False, conn: psycopg.Connection | None = None) -> pa.Table:
    """The select's rows as an Arrow table (timestamps as int64 µs since the epoch, JSON as text);
    a small select on `conn` when given (a caller's open connection: one connect fewer)."""
    bar = _progress(count(url, select) if progress else None, progress)
    try:
        table = None
        if adbc is None or not select.split:
            with connection_for(conn if conn is not None else url) as psql:
                if adbc is None or estimated_rows(psql, select) < ADBC_MIN_ROWS:
                    table = _fetch_copy(psql, select, bar)
        if table is None:
            table = _fetch_adbc(url, select, bar)
    finally:
        if bar is not None:
            bar.close()
    return table


def estimated_rows(conn: psycopg.Connection, select: Select) -> float:
    """The rows the planner expects the select to return."""
    text, params = select.render("format")
    plan = conn.execute(f"EXPLAIN (FORMAT JSON) {text}", params).fetchone()[0]
    return float(plan[0]["Plan"]["Plan Rows"])


SPLIT_MIN_PAGES = 8192  # 64 MB of table: below that one connection is as quick
SPLIT_PARTS = 2


def _adbc_table(uri: str, text: str, params: list, bar, snapshot: str | None = None) -> pa.Table:
    with adbc.connect(uri) as conn, conn.cursor() as cur:  # not autocommit: one transaction
        cur.execute("SET TimeZone TO 'UTC'")
        if snapshot is not None:  # see exactly what the other part's connection sees
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # from pg_export_snapshot(), not user text
        cur.execute(text, params or None)
        reader = cur.fetch_record_batch()
        batches = []
        for batch in reader:
            batches.append(batch)
            if bar is not None:
                bar.update(batch.num_rows)
        return pa.Table.from_batches(batches, schema=reader.schema)


def _page_ranges(url: str, select: Select) -> list[str]:
    """ctid conditions cutting the table into SPLIT_PARTS page ranges (one, unconditioned, when small)."""
    if not select.split or select.limit is not None:
        return []
    with connect(url) as conn:
        # a partitioned table's rows are in its partitions: worth splitting by their total size, and
        # cut by the largest one's pages (ctid counts within each partition)
        size = ("SELECT pg_relation_size(%s::regclass) + coalesce(sum(pg_relation_size(inhrelid)), 0), "
                "greatest(pg_relation_size(%s::regclass), coalesce(max(pg_relation_size(inhrelid)), 0)), "
                "current_setting('block_size')::int FROM pg_inherits WHERE inhparent = %s::regclass")
        total, largest, block = conn.execute(size, (select.table,) * 3).fetchone()
    if total // block < SPLIT_MIN_PAGES:
        return []
    pages = largest // block
    cuts = [pages * i // SPLIT_PARTS for i in range(1, SPLIT_PARTS)]
    bounds = [None, *cuts, None]
    return [" AND ".join(([f"ctid >= '({lo},0)'::tid"] if lo is not None else [])
                         + ([f"ctid < '({hi},0)'::tid"] if hi is not None else []))
            for lo, hi in zip(bounds, bounds[1:], strict=False)]


def _fetch_adbc(url: str, select: Select, bar) -> pa.Table:
    uri = _adbc_uri(url)
    ranges = _page_ranges(url, select)
    if ranges:  # PostgreSQL scans (and the driver decodes) each range on its own connection, in parallel
        parts = []
        for condition in ranges:
            part = Select(select.table, select.columns, [*select.where, condition], [*select.values, None],
                          select.order, select.limit, select.bound)
            parts.append(part.render("numeric"))
        # one snapshot for all parts, so a row changed meanwhile is neither missed nor read twice
        with connect(url) as holder, ThreadPoolExecutor(len(parts)) as pool:
            holder.isolation_level, holder.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
            snapshot = holder.execute("SELECT pg_export_snapshot()").fetchone()[0]  # kept while open
            tables = list(pool.map(lambda tp: _adbc_table(uri, tp[0], tp[1], bar, snapshot), parts))
        table = pa.concat_tables(tables)  # page order, as one scan would give
    else:
        text, params = select.render("numeric")
        table = _adbc_table(uri, text, params, bar)
    arrays = []
    for (_alias, _, kind), column in zip(select.columns, table.columns, strict=True):
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array([c.storage for c in column.chunks], type=column.type.storage_type)
        if kind == "ts":
            column = column.cast(pa.timestamp("us", "UTC")).cast(pa.int64())
        arrays.append(column.cast(ARROW[kind]))
    return pa.table(arrays, names=[alias for alias, _, _ in select.columns])


def _fetch_copy(conn: psycopg.Connection, select: Select, bar) -> pa.Table:
    text, params = select.render("format", epoch_ts=True)
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({text}) TO STDOUT (FORMAT CSV)", params) as copy:
        for chunk in copy:
            buffer.write(chunk)
            if bar is not None:
                bar.update(bytes(chunk).count(b"\n"))
    names = [alias for alias, _, _ in select.columns]
    if buffer.tell() == 0:
        return pa.table([pa.array([], ARROW[k]) for _, _, k in select.columns], names=names)
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types={alias: ARROW[kind] for alias, _, kind in select.columns},
            true_values=["t"], false_values=["f"], strings_can_be_null=True, quoted_strings_can_be_null=False,
        ),
    )


def decode_json(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """Each JSON text of a column decoded (null stays None), in one pass over a joined buffer."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
    if len(column) == 0:
        return []
    text = pc.fill_null(column, "null").cast(pa.large_string())
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(text)], pa.int64()), text)
    joined = pc.binary_join(whole, pa.scalar(",", pa.large_string()))
    return msgspec.json.decode(b"[" + joined[0].as_buffer().to_pybytes() + b"]")


def expand_json(column: pa.ChunkedArray) -> dict[str, pa.ChunkedArray] | None:
    """Each top-level key of a column of JSON objects as a float64 column of its own (null where a
    row lacks it), keys sorted; parsed by Arrow in one pass, with no Python object per row. None
    when Arrow cannot (a key holding numbers in some rows and text in others): then ask the server
    (`distinct_keys`), which casts each value as it is."""
    if len(column) == 0:
        return {}
    text = pc.fill_null(column.combine_chunks() if column.num_chunks else column, "{}").cast(pa.large_string())
    lines = pa.LargeListArray.from_arrays(pa.array([0, len(text)], pa.int64()), text)
    joined = pc.binary_join(lines, pa.scalar("\n", pa.large_string()))[0].as_buffer()  # jsonb text has no raw newline
    try:
        parsed = pajson.read_json(pa.BufferReader(joined))
        return {name: parsed.column(name).cast(pa.float64()) for name in sorted(parsed.column_names)}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def distinct_keys(target: str | psycopg.Connection, select: Select, json_expr: str) -> list[str]:
    """The distinct top-level keys of a JSON column over the rows the select matches (on a URL's
    connection of its own, or on a connection given)."""
    keys = Select(select.table, [("k", f"jsonb_object_keys({json_expr})", "text")], list(select.where),
                  list(select.values), order=None)
    text, params = keys.render("format")
    with connection_for(target) as conn:
        rows = conn.execute(f"SELECT DISTINCT k FROM ({text}) AS q ORDER BY 1", params).fetchall()
    return [r[0] for r in rows]


def as_list(value: str | Sequence[str] | None) -> list[str] | None:
    """A filter value as a list (one string becomes a list of one); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
