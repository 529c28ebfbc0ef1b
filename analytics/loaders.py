"""Load each history table into a typed DataFrame, and turn live events into the same shape.

Filters (symbols, time range, types, session) are bound as query parameters. Times are UTC;
`start` is inclusive and `end` exclusive; naive datetimes are taken as UTC. Rows come back in
time order. `live_frame` gives live events the loaders' columns and dtypes, so
`pandas.concat([history, live])` (or `joins.combine`) just works.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .db import connect
from .events import KIND_TABLE, kind_of
from .fetch import Select, as_list, decode_json, distinct_keys, expand_json, fetch
from .frames import (
    EXPANDED,
    JSON_TEXT,
    SCHEMAS,
    TEXT,
    TIME_COLUMN,
    coerce,
    empty,
    shape,
    value_column,
)
from .records import rows_by_table, stamp
from .tables import TABLES

Names = str | Sequence[str] | None
When = datetime | date | str | float | None


def _when(value: When) -> datetime | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    out = stamp(value)
    return out.to_pydatetime() if hasattr(out, "to_pydatetime") else out


def _columns(table: str, wanted: Sequence[str] | None) -> list[tuple[str, str, str]]:
    kinds = {"float64": "float", "bool": "bool", "int64": "int", "Int64": "int", "category": "cat",
             "datetime64[ns, UTC]": "ts"}
    unknown = set(wanted or ()) - set(SCHEMAS[table])
    if unknown:
        raise ValueError(f"unknown {table} column(s): {', '.join(sorted(unknown))}")
    cols = [("id", "id", "int")] if "id" in TABLES[table].c else []
    for name, dtype in SCHEMAS[table].items():
        if wanted is None or name in wanted or name == TIME_COLUMN[table]:
            json = dtype is object or name in JSON_TEXT.get(table, ())
            kind = "json" if json else kinds.get(str(dtype), "text")
            cols.append((name, f'"{name}"', kind))
    return cols


def _select(table: str, symbols: Names, start: When, end: When, types: tuple[str, Names] | None,
            session_id: str | None, limit: int | None, columns: Sequence[str] | None = None) -> Select:
    select = Select(table, _columns(table, columns), order=None)
    time = TIME_COLUMN[table]
    if symbols is not None:
        select.add("symbol IN ({*})", as_list(symbols))
    if types is not None and types[1] is not None:
        select.add(f"{types[0]} IN ({{*}})", as_list(types[1]))
    if start is not None:
        select.add(f"{time} >= {{}}", _when(start))
    if end is not None:
        select.add(f"{time} < {{}}", _when(end))
    if session_id is not None:
        select.add("session_id = {}", str(session_id))
    # without a symbol or session (the indexed filters) the scan covers most of the table: split it
    select.split = symbols is None and session_id is None
    if limit is not None:
        ties = ", id DESC" if "id" in TABLES[table].c else ""
        select.order, select.limit = f"{time} DESC{ties}", int(limit)
    return select


def _time_order(arrow: pa.Table, time: str) -> pa.Array | None:
    """The permutation putting rows in (time, id) order, or None when they already are.

    Recorded rows are nearly in time order (PostgreSQL fills a page's leftover space with later
    rows), so numpy's stable sort is quick, and each column is then taken alone (a whole-table
    take of a 1 M-row result cost twice as much).
    """
    t = arrow.column(time).to_numpy()
    if "id" not in arrow.column_names:
        return None if bool((t[1:] >= t[:-1]).all()) else pa.array(np.argsort(t, kind="stable"))
    i = arrow.column("id").to_numpy()
    if bool(((t[1:] > t[:-1]) | ((t[1:] == t[:-1]) & (i[1:] > i[:-1]))).all()):
        return None
    return pa.array(np.lexsort((i, t)))


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """Text as a pandas Categorical with sorted categories (as astype("category")), built in Arrow."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    dictionary = encoded.dictionary
    order = pc.array_sort_indices(dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1) if len(rank) else codes
    categories = pd.Index(dictionary.take(pa.array(order)).to_pandas(), dtype=TEXT)
    return pd.Categorical.from_codes(codes, categories=categories)


def _series(column: pa.ChunkedArray, dtype: object, parse: bool) -> pd.Series | pd.Categorical:
    if dtype == "datetime64[ns, UTC]":
        return column.cast(pa.timestamp("us", "UTC")).cast(pa.timestamp("ns", "UTC")).to_pandas()
    if dtype == "category":
        return _categorical(column)
    if dtype is object or parse:
        return pd.Series(decode_json(column), dtype=object)
    return column.to_pandas()


def _frame(table: str, arrow: pa.Table, value_columns: Sequence[tuple[str, str]] = (),
           columns: Sequence[str] | None = None, parse_json: bool = False) -> pd.DataFrame:
    """The Arrow result in time order, converted to the table's frame shape (or those `columns` of it).

    Each column goes from Arrow straight to its final dtype, with no Python object per row except
    in JSON columns that are decoded (the OBJ ones, and JSON text when `parse_json`).
    """
    order = _time_order(arrow, TIME_COLUMN[table])

    def column(name: str) -> pa.ChunkedArray:
        return arrow.column(name) if order is None else arrow.column(name).take(order)

    parsed = set(JSON_TEXT.get(table, ())) if parse_json else set()
    out: dict[str, Any] = {}
    for name, dtype in SCHEMAS[table].items():
        if name in arrow.column_names:
            series = pd.Series(_series(column(name), dtype, name in parsed), copy=False)
            out[name] = series if name in parsed else coerce(series, dtype)
    for alias, name in sorted(value_columns, key=lambda pair: pair[1]):  # as `shape` orders them
        out[name] = coerce(pd.Series(column(alias).to_pandas(), copy=False), "float64")
    frame = pd.DataFrame(out, copy=False)
    return frame if columns is None else frame[list(columns)]


def load_patterns(url: str, symbols: Names = None, start: When = None, end: When = None,
                  pattern_types: Names = None, *, session_id: str | None = None,
                  min_confidence: float | None = None, limit: int | None = None,
                  columns: Sequence[str] | None = None, parse_parameters: bool = False,
                  progress: bool = False) -> pd.DataFrame:
    """Pattern detections, one row each, filtered by symbols, time, types, session and confidence.

    `parameters` comes as JSON text (jsonb as PostgreSQL prints it), which keeps a large load free
    of per-row Python objects; `parse_parameters=True` gives dicts instead (about 1 s more per
    million rows), as does `analytics.parse_json(frame["parameters"])` later. `columns` loads only
    those columns.
    """
    select = _select("patterns", symbols, start, end, ("pattern_type", pattern_types), session_id, limit, columns)
    if min_confidence is not None:
        select.add("confidence >= {}", float(min_confidence))
    return _frame("patterns", fetch(url, select, progress), columns=columns, parse_json=parse_parameters)


def load_indicators(url: str, symbols: Names = None, start: When = None, end: When = None,
                    indicators: Names = None, *, session_id: str | None = None, limit: int | None = None,
                    progress: bool = False) -> pd.DataFrame:
    """Indicator calculations, one row each, with every key of `values` as a float column."""
    select = _select("indicators", symbols, start, end, ("indicator", indicators), session_id, limit)
    base = len(select.columns)
    with connect(url) as conn:  # a small load on one connection (a connect is ~2 ms)
        # one pass: `values` as JSON text, its keys made columns by Arrow (a server-side pass for the
        # keys, then one extracting each, read the rows twice: 27 + 32 ms for one symbol's month)
        select.columns.append(("values", '"values"', "json"))
        arrow = fetch(url, select, progress, conn)
        expanded = expand_json(arrow.column("values"))
        if expanded is None:  # values Arrow cannot read as one type per key: the server casts each
            select.columns.pop()
            keys = distinct_keys(conn, select, '"values"')
            for i, key in enumerate(keys):
                select.columns.append((f"v{i}", """("values"->>{})::float8""", "float"))
                select.bound[f"v{i}"] = key
            arrow = fetch(url, select, progress, conn)
            expanded = {key: arrow.column(base + i) for i, key in enumerate(keys)}
    arrow = arrow.select(range(base))
    value_columns = []
    for i, (key, column) in enumerate(expanded.items()):
        arrow = arrow.append_column(f"v{i}", column)
        value_columns.append((f"v{i}", value_column(key)))
    return _frame("indicators", arrow, value_columns)


def load_alerts(url: str, symbols: Names = None, start: When = None, end: When = None,
                alert_types: Names = None, *, session_id: str | None = None, limit: int | None = None,
                progress: bool = False) -> pd.DataFrame:
    """Indicator alerts (RSI overbought, MACD crosses, ...), filtered by symbols, time and types."""
    select = _select("indicator_alerts", symbols, start, end, ("alert_type", alert_types), session_id, limit)
    return _frame("indicator_alerts", fetch(url, select, progress))


def load_critical_alerts(url: str, start: When = None, end: When = None, alert_types: Names = None, *,
                         severities: Names = None, session_id: str | None = None, limit: int | None = None,
                         progress: bool = False) -> pd.DataFrame:
    """System critical alerts, filtered by time, types and severities."""
    select = _select("critical_alerts", None, start, end, ("alert_type", alert_types), session_id, limit)
    if severities is not None:
        select.add("severity IN ({*})", as_list(severities))
    return _frame("critical_alerts", fetch(url, select, progress))


def load_health(url: str, start: When = None, end: When = None, *, session_id: str | None = None,
                limit: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Producer health snapshots, filtered by time and session."""
    return _frame("health", fetch(url, _select("health", None, start, end, None, session_id, limit), progress))


def load(url: str, kind: str, symbols: Names = None, start: When = None, end: When = None, *,
         session_id: str | None = None, limit: int | None = None, columns: Sequence[str] | None = None,
         parse_json: bool = False, progress: bool = False) -> pd.DataFrame:
    """Any recorded kind's history (`kind`: its name, e.g. "indicator_alert", or its table), filtered
    by symbols (where it has them), time and session; the loaders above add filters of their own."""
    table = KIND_TABLE.get(kind, kind)
    if table not in SCHEMAS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KIND_TABLE)}")
    if symbols is not None and "symbol" not in SCHEMAS[table]:
        raise ValueError(f"{table} have no symbol to filter by")
    if table in EXPANDED:
        return load_indicators(url, symbols, start, end, session_id=session_id, limit=limit, progress=progress)
    select = _select(table, symbols, start, end, None, session_id, limit, columns)
    return _frame(table, fetch(url, select, progress), columns=columns, parse_json=parse_json)


def _merged(dicts: pd.Series) -> dict:
    """A session's details from its start and stop events, the later one winning on a name."""
    return {k: v for d in dicts if isinstance(d, dict) for k, v in d.items()}


def load_sessions(url: str, start: When = None, end: When = None, *, limit: int | None = None) -> pd.DataFrame:
    """Producer sessions that started in the time range."""
    return _frame("sessions", fetch(url, _select("sessions", None, start, end, None, None, limit)))


def live_frame(events: Iterable[Any], kind: str | None = None) -> pd.DataFrame:
    """Live events (records or dicts) as a frame shaped like the matching loader's output.

    `kind` picks one kind from a mixed stream ("pattern", "indicator", "indicator_alert",
    "critical_alert", "health", "session"); by default the events' own single kind.
    """
    events = list(events)
    if kind is None:
        kinds = {k for k in map(kind_of, events) if k in KIND_TABLE}
        if len({KIND_TABLE[k] for k in kinds}) > 1:  # a session's start and stop share a table
            raise ValueError(f"events of several kinds ({', '.join(sorted(kinds))}): pass kind=")
        kind = kinds.pop() if kinds else "pattern"
    table = "sessions" if kind == "session" else KIND_TABLE.get(kind)
    if table is None:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KIND_TABLE)}")
    rows = rows_by_table(e for e in events if KIND_TABLE.get(kind_of(e)) == table).get(table, [])
    if not rows:
        return empty(table)
    frame = pd.DataFrame(rows)
    value_columns: list[str] = []
    if table in EXPANDED:
        values = pd.DataFrame([r[EXPANDED[table]] for r in rows], dtype="float64")
        values.columns = [value_column(k) for k in values.columns]
        value_columns = list(values.columns)
        frame = pd.concat([frame.drop(columns=EXPANDED[table]), values], axis=1)
    if table == "sessions":  # a session's start and stop are one row, merged as the writer merges them
        frame = frame.groupby("session_id", sort=False, as_index=False).agg(
            {"universe": "first", "trigger_type": "first", "started_at": "min", "stopped_at": "max",
             "stop_reason": "first", "details": _merged}
        )
    return shape(frame, table, value_columns).sort_values(TIME_COLUMN[table], kind="stable", ignore_index=True)
