"""The typed DataFrame shape of each history table, shared by the loaders, `live_frame` and samples.

Each shape is read off the table (`tables`) and how its kind is stored (`events.HISTORY`): one
shape per table means history loaded from PostgreSQL and frames built from live events have
identical columns and dtypes, so they concatenate without surprises. A pattern's `parameters`
is JSON text as PostgreSQL renders jsonb (`jsonb_text`), so a million rows load without a million
dicts; `parse_json` turns such a column into dicts when they are wanted.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from sqlalchemy import Boolean, DateTime, Double, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB

from .events import STORES
from .tables import TABLES, WRITABLE

TS = "datetime64[ns, UTC]"
CAT = "category"
TEXT = "str" if int(pd.__version__.split(".")[0]) >= 3 else object
OBJ = object

# Columns holding JSON text (jsonb in the table); the other jsonb columns hold it decoded.
JSON_TEXT = {"patterns": ("parameters",)}
# A jsonb object whose keys become float columns of their own (`value_column`), not a column itself.
EXPANDED = {"indicators": "values"}


def _dtype(table: str, column: str) -> object:
    """A column's frame dtype, from its SQL type (text labels as categories, see `events.Stored`)."""
    col = TABLES[table].c[column]
    if column in JSON_TEXT.get(table, ()):
        return TEXT
    kind = type(col.type)
    if kind is Integer:
        return "Int64" if col.nullable else "int64"
    if kind is Text:
        return CAT if column in STORES[table].labels else TEXT
    return {JSONB: OBJ, DateTime: TS, Double: "float64", Boolean: "bool"}[kind]


# Each history table's frame: its writable columns in order, with their dtypes.
SCHEMAS: dict[str, dict[str, object]] = {
    table: {c: _dtype(table, c) for c in WRITABLE[table] if c != EXPANDED.get(table)} for table in STORES
}

# The column each table is ordered and filtered by in time.
TIME_COLUMN: dict[str, str] = {table: stored.time for table, stored in STORES.items()}

# The columns that identify one event (the tables' unique keys, in frame terms).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {table: stored.key for table, stored in STORES.items()}

# Indicator value keys that would collide with a fixed column get this prefix.
VALUE_PREFIX = "values."


def value_column(key: str) -> str:
    """The frame column for one key of an indicator's `values`."""
    return VALUE_PREFIX + key if key in SCHEMAS["indicators"] else key


def jsonb_text(value: Any) -> str:
    """JSON text exactly as PostgreSQL prints a jsonb value: keys by length then bytes, ", " and ": "."""
    if isinstance(value, dict):
        keys = sorted((str(k) for k in value), key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{_string(k)}: {jsonb_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text  # numeric never prints exponents
    if isinstance(value, str):
        return _string(value)
    return msgspec.json.encode(value).decode()


def _string(text: str) -> str:
    return msgspec.json.encode(text).decode()


def parse_json(column: pd.Series) -> pd.Series:
    """A column of JSON text (a pattern's `parameters`) as Python objects (dicts), NA as None."""
    import pyarrow as pa

    from .fetch import decode_json

    values = decode_json(pa.array(column.astype(object).where(column.notna(), None), pa.string()))
    return pd.Series(values, index=column.index, name=column.name, dtype=object)


def coerce(series: pd.Series, dtype: object) -> pd.Series:
    """The series with the dtype of a frame schema (no copy when it already has it)."""
    if dtype == TS:
        if series.dtype == TS:
            return series
        return pd.to_datetime(series, utc=True, format="mixed").astype(TS)
    if dtype == CAT:
        if not isinstance(series.dtype, pd.CategoricalDtype):
            return series.astype(TEXT).astype(CAT)
        categories = series.cat.categories
        if categories.dtype != TEXT:  # e.g. no rows at all: categories of dtype object
            series = series.cat.set_categories(categories.astype(TEXT))
        return series
    if dtype == "bool":
        return series.fillna(False).astype(bool)
    if dtype == "int64":
        return series.fillna(0).astype("int64")
    if series.dtype == dtype:
        return series
    if dtype is OBJ:
        return series.astype(object)
    return series.astype(dtype)


def empty(table: str, value_columns: Iterable[str] = ()) -> pd.DataFrame:
    """A frame with no rows but the table's final columns and dtypes."""
    return shape(pd.DataFrame(), table, value_columns)


def shape(df: pd.DataFrame, table: str, value_columns: Iterable[str] = ()) -> pd.DataFrame:
    """The frame with exactly the table's columns, in order, with their dtypes (missing ones empty)."""
    schema = dict(SCHEMAS[table])
    if table == "indicators":
        schema.update({c: "float64" for c in sorted(value_columns)})
    out = {}
    json_text = JSON_TEXT.get(table, ())
    for name, dtype in schema.items():
        if name in df.columns:
            series = df[name]
            if name in json_text and series.dtype == object:
                series = series.map(lambda v: v if v is None or isinstance(v, str) else jsonb_text(v))
        else:
            fill = pd.NaT if dtype == TS else (np.nan if dtype not in (OBJ, "bool") else None)
            series = pd.Series([fill] * len(df), index=df.index, dtype=object)
        out[name] = coerce(series, dtype)
    frame = pd.DataFrame(out, index=df.index, copy=False)
    return frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)


def table_of(df: pd.DataFrame) -> str:
    """Which table's shape a frame has (by its columns)."""
    for table, schema in SCHEMAS.items():
        if set(schema) <= set(df.columns) and TIME_COLUMN[table] in df.columns:
            return table
    raise ValueError(f"not a history frame: columns {list(df.columns)}")


def indicator_value_columns(df: pd.DataFrame) -> list[str]:
    """The expanded indicator value columns of an indicators frame."""
    return [c for c in df.columns if c not in SCHEMAS["indicators"]]
