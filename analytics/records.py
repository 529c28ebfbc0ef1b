"""Live events (typed records, or dicts naming their kind) as rows of the history tables.

A record's fields fill the columns `events.HISTORY` maps them to (its kind's, as TickStockPL
names them: pattern_type, alerted_at, reported_at), times as UTC datetimes, the receive time
(epoch seconds) as a time. This is the one place that maps one onto the other, so the recorder
and `live_frame` agree. A dict with a "kind" (a notebook's hand-made event) is read by the same
map, each value under its field's or its column's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import msgspec.inspect

from .events import HISTORY, RECORDS, Event, Pattern, table_columns
from .tables import MAX_KEY_TEXT, WRITABLE

Row = dict[str, Any]


def stamp(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from a datetime (naive taken as UTC), epoch seconds or ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000.0 if value > 1e11 else value, UTC)
    if isinstance(value, str):
        return stamp(datetime.fromisoformat(value.replace("Z", "+00:00")))
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        return stamp(value.to_pydatetime())
    raise TypeError(f"not a timestamp: {value!r}")


def _received(value: float | None) -> datetime | None:
    return stamp(value) if value else None  # 0: not known


def _blank_is_none(value: str | None) -> str | None:
    return value or None  # in a key, '' and missing are one value


def _copy(value: Any) -> Any:
    return value.copy() if value is not None else None


_SCALARS = {msgspec.inspect.FloatType: float, msgspec.inspect.IntType: int, msgspec.inspect.BoolType: bool}


class _Plan:
    """How one record type becomes a row: per stored field, its column, how its value converts,
    and (for dicts) its default and the type a hand-written value is coerced to."""

    __slots__ = ("table", "fields", "missing", "times")

    def __init__(self, record: type[Event]):
        stored = HISTORY[record]
        self.table = stored.table
        columns = stored.columns(record)
        info = {f.name: f for f in msgspec.inspect.type_info(record).fields}
        self.fields: list[tuple[str, str, Callable | None, Any, Callable | None]] = []
        self.times: set[str] = set()  # the record's own required times: a dict without one takes `ts`
        for name, column in columns.items():
            f = info[name]
            types = [t for t in getattr(f.type, "types", (f.type,)) if not isinstance(t, msgspec.inspect.NoneType)]
            kind = type(types[0])
            optional = len(types) < len(getattr(f.type, "types", (f.type,)))
            if name == "received":
                convert, kind = _received, None
            elif kind is msgspec.inspect.DateTimeType:
                convert = stamp
                if f.required and name != "ts":
                    self.times.add(name)
            elif kind in (msgspec.inspect.DictType, msgspec.inspect.ListType):
                convert = _copy
            elif optional and kind is msgspec.inspect.StrType and column in stored.key:
                convert = _blank_is_none
            else:
                convert = None
            default = f.default_factory if f.default_factory is not msgspec.NODEFAULT else (
                None if f.default is msgspec.NODEFAULT else f.default)
            self.fields.append((name, column, convert, default, _SCALARS.get(kind)))
        self.missing = [c for c in table_columns(stored.table) if c not in columns.values()]  # other kinds' columns

    def row(self, event: Event) -> Row:
        row = {column: getattr(event, name) if convert is None else convert(getattr(event, name))
               for name, column, convert, _, _ in self.fields}
        for column in self.missing:
            row[column] = None
        return row

    def row_of_mapping(self, event: Mapping[str, Any]) -> Row:
        row = {}
        for name, column, convert, default, coerce in self.fields:
            value = event.get(name)
            if value is None:
                value = event.get(column)
            if value is None and name in self.times:
                value = event.get("ts")
            if value is None:
                value = default() if callable(default) else default
            elif coerce is not None:
                value = coerce(value)
            row[column] = value if convert is None else convert(value)
        for column in self.missing:
            row[column] = None
        return row


_PLANS: dict[type[Event], _Plan] = {record: _Plan(record) for record in HISTORY}


def event_row(event: Event | Mapping[str, Any]) -> tuple[str, Row] | None:
    """(table, row) for one live event; None for kinds that are not recorded (persistence)."""
    if isinstance(event, dict):
        plan = _PLANS.get(RECORDS.get(event.get("kind")))
        return None if plan is None else (plan.table, plan.row_of_mapping(event))
    plan = _PLANS.get(type(event))
    return None if plan is None else (plan.table, plan.row(event))


def rows_by_table(events: Iterable[Event | Mapping[str, Any]]) -> dict[str, list[Row]]:
    """Live events grouped into history rows per table, in arrival order."""
    out: dict[str, list[Row]] = {}
    for event in events:
        mapped = event_row(event)
        if mapped is not None:
            out.setdefault(mapped[0], []).append(mapped[1])
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


encode_json = msgspec.json.Encoder(enc_hook=_json_default).encode
JSONB_VERSION = b"\x01"  # jsonb's binary COPY format: a version byte, then the JSON text
PG_EPOCH_S = 946_684_800  # 2000-01-01 UTC: timestamptz's binary form is int8 microseconds since then

# The patterns table's writable columns, the order of `pattern_copy_values` tuples.
PATTERN_COLUMNS = tuple(WRITABLE["patterns"])
assert PATTERN_COLUMNS == ("session_id", "symbol", "pattern_type", "confidence", "detected_at", "timeframe",
                           "parameters", "high_confidence", "published_at", "received_at")


def is_pattern_record(event: Any) -> bool:
    """A typed pattern record (the decoder's), as opposed to a dict or another kind."""
    return type(event) is Pattern


def pattern_copy_values(records: Iterable[Pattern], problems: list[str]) -> list[tuple]:
    """Typed pattern records straight to COPY values (PATTERN_COLUMNS order), the recorder's fast path.

    No row dicts: parameters are encoded once to jsonb's binary form (copied as bytea), the time
    received to timestamptz's (int8 microseconds since 2000, copied as int8: no datetime made),
    repeats of a key within the batch are dropped (the first wins, as ON CONFLICT DO NOTHING), and
    a key text longer than MAX_KEY_TEXT is refused with a reason appended to `problems`.
    """
    out: list[tuple] = []
    append = out.append
    seen: set = set()
    add = seen.add
    encode = encode_json
    for e in records:
        detected, published = e.detected_at, e.ts
        if detected.tzinfo is None:
            detected = detected.replace(tzinfo=UTC)
        if published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        symbol, pattern, timeframe = e.symbol, e.pattern, e.timeframe or None
        key = (symbol, detected, pattern, timeframe)
        if key in seen:
            continue
        if len(symbol) > MAX_KEY_TEXT or len(pattern) > MAX_KEY_TEXT or (timeframe and len(timeframe) > MAX_KEY_TEXT):
            problems.append(f"patterns: a key column is longer than {MAX_KEY_TEXT} characters")
            continue
        add(key)
        append((e.session_id, symbol, pattern, e.confidence, detected, timeframe,
                JSONB_VERSION + encode(e.parameters), e.high_confidence, published,
                round((e.received - PG_EPOCH_S) * 1_000_000)))
    return out


def rows_from_frame(df: Any, table: str) -> list[dict[str, Any]]:
    """Rows of a frame in the loaders' shape, ready for `write_rows` (indicator columns folded into `values`)."""
    import pandas as pd

    from .frames import EXPANDED, JSON_TEXT, SCHEMAS, VALUE_PREFIX

    columns: dict[str, list[Any]] = {}
    for name in SCHEMAS[table]:
        if name not in df.columns:
            continue
        series = df[name]
        if name in JSON_TEXT.get(table, ()):
            values = [None if v is None or v != v else msgspec.json.decode(v) if isinstance(v, str) else v
                      for v in series.astype(object).tolist()]
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            values = [None if t is pd.NaT else t for t in series.dt.to_pydatetime()]
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
        columns[name] = values
    if table in EXPANDED:
        keys = [c for c in df.columns if c not in SCHEMAS[table]]
        matrix = df[keys].to_numpy(dtype="float64")
        names = [k.removeprefix(VALUE_PREFIX) for k in keys]
        columns[EXPANDED[table]] = [
            {n: v for n, v in zip(names, row.tolist(), strict=True) if v == v} for row in matrix
        ]
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
