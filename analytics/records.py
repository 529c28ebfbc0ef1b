"""Live events (typed records or plain dicts) as rows of the history tables.

The live side's records carry `kind`, `ts` (publish time) and `received` (epoch seconds); the
history tables name things as TickStockPL does (pattern_type, alerted_at, reported_at). This is
the one place that maps one onto the other, so the recorder and `live_frame` agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from .tables import MAX_KEY_TEXT, WRITABLE

# Event kind -> history table.
KIND_TABLE: dict[str, str] = {
    "pattern": "patterns",
    "indicator": "indicators",
    "indicator_alert": "indicator_alerts",
    "critical_alert": "critical_alerts",
    "health": "health",
    "session_started": "sessions",
    "session_stopped": "sessions",
}


def field(event: Any, name: str, default: Any = None) -> Any:
    """An attribute of a record, or a key of a dict, or `default`."""
    if isinstance(event, dict):
        return event.get(name, default)
    return getattr(event, name, default)


def kind_of(event: Any) -> str | None:
    """The event's kind tag (`pattern`, `indicator`, ...), or None."""
    kind = field(event, "kind")
    if kind is None and not isinstance(event, dict):
        kind = getattr(type(event), "__struct_config__", None)
        kind = getattr(kind, "tag", None)
    return kind


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


def _pattern(e: Any) -> dict[str, Any]:
    return {
        "session_id": field(e, "session_id"),
        "symbol": field(e, "symbol"),
        "pattern_type": field(e, "pattern") or field(e, "pattern_type"),
        "confidence": float(field(e, "confidence")),
        "detected_at": stamp(field(e, "detected_at") or field(e, "ts")),
        "timeframe": field(e, "timeframe") or None,  # '' and missing are one key
        "parameters": dict(field(e, "parameters") or {}),
        "high_confidence": bool(field(e, "high_confidence", False)),
        "published_at": stamp(field(e, "ts") or field(e, "published_at")),
        "received_at": stamp(field(e, "received") or field(e, "received_at")),
    }


def _indicator(e: Any) -> dict[str, Any]:
    return {
        "session_id": field(e, "session_id"),
        "symbol": field(e, "symbol"),
        "indicator": field(e, "indicator"),
        "values": dict(field(e, "values") or {}),
        "calculated_at": stamp(field(e, "calculated_at") or field(e, "ts")),
        "timeframe": field(e, "timeframe"),
        "published_at": stamp(field(e, "ts") or field(e, "published_at")),
        "received_at": stamp(field(e, "received") or field(e, "received_at")),
    }


def _indicator_alert(e: Any) -> dict[str, Any]:
    return {
        "session_id": field(e, "session_id"),
        "symbol": field(e, "symbol"),
        "alert_type": field(e, "alert_type"),
        "data": dict(field(e, "data") or {}),
        "alerted_at": stamp(field(e, "ts") or field(e, "alerted_at")),
        "received_at": stamp(field(e, "received") or field(e, "received_at")),
    }


def _critical_alert(e: Any) -> dict[str, Any]:
    return {
        "session_id": field(e, "session_id"),
        "alert_type": field(e, "alert_type"),
        "message": field(e, "message") or "",
        "severity": field(e, "severity") or "critical",
        "data": dict(field(e, "data") or {}),
        "alerted_at": stamp(field(e, "ts") or field(e, "alerted_at")),
        "received_at": stamp(field(e, "received") or field(e, "received_at")),
    }


_HEALTH_NUMBERS = (
    "ticks_per_second", "bars_per_minute", "processing_lag_ms", "cpu_percent", "memory_mb",
    "memory_percent", "active_symbols", "connections_active", "connections_failed", "reconnections",
)


def _health(e: Any) -> dict[str, Any]:
    row = {
        "session_id": field(e, "session_id"),
        "status": field(e, "status") or "unknown",
        "issues": list(field(e, "issues") or []),
        "stale_count": int(field(e, "stale_count") or 0),
        "stale_symbols": list(field(e, "stale_symbols") or []),
        "details": dict(field(e, "details") or {}),
        "reported_at": stamp(field(e, "ts") or field(e, "reported_at")),
        "received_at": stamp(field(e, "received") or field(e, "received_at")),
    }
    row.update({name: field(e, name) for name in _HEALTH_NUMBERS})
    return row


def _session_started(e: Any) -> dict[str, Any]:
    return {
        "session_id": field(e, "session_id"),
        "universe": field(e, "universe"),
        "trigger_type": field(e, "trigger_type"),
        "started_at": stamp(field(e, "started_at") or field(e, "ts")),
        "stopped_at": None,
        "stop_reason": None,
        "details": dict(field(e, "details") or {}),
    }


def _session_stopped(e: Any) -> dict[str, Any]:
    return {
        "session_id": field(e, "session_id"),
        "universe": None,
        "trigger_type": None,
        "started_at": None,
        "stopped_at": stamp(field(e, "stopped_at") or field(e, "ts")),
        "stop_reason": field(e, "reason") or field(e, "stop_reason"),
        "details": dict(field(e, "details") or {}),
    }


_ROW = {
    "pattern": _pattern,
    "indicator": _indicator,
    "indicator_alert": _indicator_alert,
    "critical_alert": _critical_alert,
    "health": _health,
    "session_started": _session_started,
    "session_stopped": _session_stopped,
}


def event_row(event: Any) -> tuple[str, dict[str, Any]] | None:
    """(table, row) for one live event; None for kinds that are not recorded (persistence)."""
    kind = kind_of(event)
    make = _ROW.get(kind)
    if make is None:
        return None
    return KIND_TABLE[kind], make(event)


def rows_by_table(events: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Live events grouped into history rows per table, in arrival order."""
    out: dict[str, list[dict[str, Any]]] = {}
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

# The patterns table's writable columns, the order of `pattern_copy_values` tuples.
PATTERN_COLUMNS = tuple(WRITABLE["patterns"])
assert PATTERN_COLUMNS == ("session_id", "symbol", "pattern_type", "confidence", "detected_at", "timeframe",
                           "parameters", "high_confidence", "published_at", "received_at")


def is_pattern_record(event: Any) -> bool:
    """A typed pattern record (the decoder's), as opposed to a dict or another kind."""
    config = getattr(type(event), "__struct_config__", None)
    return config is not None and config.tag == "pattern"


def pattern_copy_values(records: Iterable[Any], problems: list[str]) -> list[tuple]:
    """Typed pattern records straight to COPY values (PATTERN_COLUMNS order), the recorder's fast path.

    No row dicts: parameters are encoded once to jsonb's binary form (copied as bytea), repeats of
    a key within the batch are dropped (the first wins, as ON CONFLICT DO NOTHING), and a key text
    longer than MAX_KEY_TEXT is refused with a reason appended to `problems`.
    """
    out: list[tuple] = []
    append = out.append
    seen: set = set()
    add = seen.add
    encode = encode_json
    from_epoch = datetime.fromtimestamp
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
                JSONB_VERSION + encode(e.parameters), e.high_confidence, published, from_epoch(e.received, UTC)))
    return out


def rows_from_frame(df: Any, table: str) -> list[dict[str, Any]]:
    """Rows of a frame in the loaders' shape, ready for `write_rows` (indicator columns folded into `values`)."""
    import pandas as pd

    from .frames import JSON_TEXT, SCHEMAS

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
    if table == "indicators":
        keys = [c for c in df.columns if c not in SCHEMAS[table]]
        matrix = df[keys].to_numpy(dtype="float64")
        names = [k.removeprefix("values.") for k in keys]
        columns["values"] = [
            {n: v for n, v in zip(names, row.tolist(), strict=True) if v == v} for row in matrix
        ]
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
