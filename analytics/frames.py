"""The typed DataFrame shape of each history table, shared by the loaders, `live_frame` and samples.

One declaration per table means history loaded from PostgreSQL and frames built from live events
have identical columns and dtypes, so they concatenate without surprises. A pattern's `parameters`
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

TS = "datetime64[ns, UTC]"
CAT = "category"
TEXT = "str" if int(pd.__version__.split(".")[0]) >= 3 else object
OBJ = object

SCHEMAS: dict[str, dict[str, object]] = {
    "patterns": {
        "session_id": TEXT, "symbol": CAT, "pattern_type": CAT, "confidence": "float64", "detected_at": TS,
        "timeframe": TEXT, "parameters": TEXT, "high_confidence": "bool", "published_at": TS, "received_at": TS,
    },
    "indicators": {
        "session_id": TEXT, "symbol": CAT, "indicator": CAT, "calculated_at": TS, "timeframe": TEXT,
        "published_at": TS, "received_at": TS,
    },
    "indicator_alerts": {
        "session_id": TEXT, "symbol": CAT, "alert_type": CAT, "data": OBJ, "alerted_at": TS, "received_at": TS,
    },
    "critical_alerts": {
        "session_id": TEXT, "alert_type": CAT, "message": TEXT, "severity": CAT, "data": OBJ,
        "alerted_at": TS, "received_at": TS,
    },
    "health": {
        "session_id": TEXT, "status": CAT, "issues": OBJ, "ticks_per_second": "float64",
        "bars_per_minute": "float64", "processing_lag_ms": "float64", "cpu_percent": "float64",
        "memory_mb": "float64", "memory_percent": "float64", "active_symbols": "Int64", "stale_count": "int64",
        "stale_symbols": OBJ, "connections_active": "Int64", "connections_failed": "Int64",
        "reconnections": "Int64", "details": OBJ, "reported_at": TS, "received_at": TS,
    },
    "sessions": {
        "session_id": TEXT, "universe": TEXT, "trigger_type": TEXT, "started_at": TS, "stopped_at": TS,
        "stop_reason": TEXT, "details": OBJ,
    },
}

# Columns holding JSON text (jsonb in the table); the OBJ columns hold it decoded.
JSON_TEXT = {"patterns": ("parameters",)}

# The column each table is ordered and filtered by in time.
TIME_COLUMN = {
    "patterns": "detected_at", "indicators": "calculated_at", "indicator_alerts": "alerted_at",
    "critical_alerts": "alerted_at", "health": "reported_at", "sessions": "started_at",
}

# The columns that identify one event (the tables' unique keys, in frame terms).
NATURAL_KEYS = {
    "patterns": ("detected_at", "symbol", "pattern_type", "timeframe"),
    "indicators": ("calculated_at", "symbol", "indicator", "timeframe"),
    "indicator_alerts": ("alerted_at", "symbol", "alert_type"),
    "critical_alerts": ("alerted_at", "alert_type", "message"),
    "health": ("reported_at", "session_id"),
    "sessions": ("session_id",),
}

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
