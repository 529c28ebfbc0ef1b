"""The general path of the decoder: every producer variant's wire shape into its typed record.

`decode_general(suffix, channel, raw, received)` accepts every variant in `../shared/wire/` and
raises `Rejected` with a short code and a reason for anything else; nothing else escapes it.
`decoding` puts a fast path for TickStockPL's canonical layout in front of it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec

from . import constants as C
from .events import (
    AnyEvent,
    CriticalAlert,
    Health,
    Indicator,
    IndicatorAlert,
    Pattern,
    Persistence,
    SessionStarted,
    SessionStopped,
)
from .wire import (
    ANY_JSON,
    DECODERS,
    AlertBody,
    AlertMsg,
    HealthMsg,
    Id,
    IndicatorMsg,
    PatternMsg,
    PersistenceMsg,
    SessionMsg,
    Stamp,
)

NUL = b"\\u0000"  # JSON's escape for U+0000
DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError)


class Rejected(Exception):
    """A message that cannot become an event; `code` groups reasons for counting."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------- helpers


def epoch_or_time(value: Stamp, field: str) -> datetime | None:
    """An aware datetime from RFC 3339 text (naive means UTC) or epoch seconds/milliseconds."""
    if value is None:
        return None
    if type(value) is datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not math.isfinite(value) or value < 0:
        raise Rejected("bad_timestamp", f"{field}: not a usable epoch time: {value!r}")
    if value > 1e11:  # milliseconds
        value /= 1000.0
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise Rejected("bad_timestamp", f"{field}: out of range: {value!r}") from exc


def _text(value: str | None, what: str) -> str:
    if value is None:
        raise Rejected(f"missing_{what}", f"missing {what.replace('_', ' ')}")
    value = value.strip()
    if not value:
        raise Rejected(f"empty_{what}", f"empty {what.replace('_', ' ')}")
    return value


def _first(*values: str | None) -> str | None:
    """The first field a producer actually sent (an empty string counts as sent)."""
    for v in values:
        if v is not None:
            return v
    return None


def text_id(value: Id) -> str | None:
    """A session id as text, whether the producer sent a string or a number."""
    return None if value is None else str(value)


def _float(value: float | int) -> float:
    """A JSON number as a float; an integer beyond float's range becomes NaN (then dropped)."""
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _finite(value: Any) -> bool:
    return (type(value) is float and math.isfinite(value)) or type(value) is int


def _shallow(obj: dict | list | None, what: str) -> None:
    """Reject free-form JSON (parameters, data) nested deeper than MAX_NESTING_DEPTH."""
    if not obj:
        return
    values = obj.values() if type(obj) is dict else obj
    if not any(type(v) is dict or type(v) is list for v in values):
        return
    stack, limit = [(obj, 1)], C.MAX_NESTING_DEPTH
    while stack:
        item, level = stack.pop()
        if level > limit:
            raise Rejected("too_deep", f"{what} nested deeper than {limit} levels")
        children = item.values() if type(item) is dict else item
        stack.extend((v, level + 1) for v in children if type(v) is dict or type(v) is list)


def _rejection(exc: Exception) -> Rejected:
    """The rejection for a message msgspec could not decode into its wire shape."""
    if isinstance(exc, RecursionError):
        return Rejected("too_deep", "nesting too deep")
    if isinstance(exc, UnicodeDecodeError):
        return Rejected("not_json", f"not JSON: invalid UTF-8: {exc}")
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return Rejected("not_json", f"not JSON: {exc}")
    text = str(exc)
    if text.startswith("Expected `object`"):
        return Rejected("not_object", f"not a JSON object: {text}")
    where = text.rsplit("`$", 1)[-1] if "`$" in text else ""
    if "confidence" in where:
        return Rejected("bad_confidence", f"confidence is not a number: {text}")
    if "time" in where or "date" in where or "RFC3339" in text:
        return Rejected("bad_timestamp", f"unparsable timestamp: {text}")
    return Rejected("bad_field", text)


# ---------------------------------------------------------------- per channel


def _pattern(msg: PatternMsg, channel: str, received: float, detected_channel: bool) -> Pattern:
    body = msg.detection or msg.pattern_data or msg
    name = _first(body.pattern_type, body.pattern, body.pattern_name)
    if name is None and body is not msg:
        name = _first(msg.pattern_type, msg.pattern, msg.pattern_name)
    symbol = _text(body.symbol if body.symbol is not None else msg.symbol, "symbol")
    name = _text(name, "pattern_type")
    confidence = body.confidence if body.confidence is not None else msg.confidence
    if confidence is None:
        raise Rejected("bad_confidence", "missing confidence")
    if not (0.0 <= confidence <= 1.0) or not math.isfinite(confidence):
        raise Rejected("bad_confidence", f"confidence {confidence!r} is outside [0, 1]")
    ts = epoch_or_time(msg.timestamp, "timestamp")
    detected = epoch_or_time(body.timestamp if body is not msg else None, "detection.timestamp") or epoch_or_time(
        body.detection_timestamp, "detection_timestamp"
    )
    stamp = ts or detected or datetime.fromtimestamp(received, UTC)
    params = body.parameters if body.parameters is not None else (msg.parameters or {})
    _shallow(params, "parameters")
    _shallow(body.levels, "levels")
    _shallow(body.metadata, "metadata")
    if body.levels is not None or body.metadata or body.expiration_date is not None:
        params = dict(params)
        if body.levels is not None:
            params["levels"] = body.levels
        if body.metadata:
            params["metadata"] = body.metadata
        expires = epoch_or_time(body.expiration_date, "expiration_date")
        if expires is not None:
            params["expiration_date"] = expires.isoformat()
    return Pattern(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        symbol=symbol,
        pattern=name,
        confidence=float(confidence),
        detected_at=detected or stamp,
        timeframe=body.timeframe or msg.timeframe or body.tier or msg.tier,
        parameters=params,
        high_confidence=detected_channel or confidence >= C.HIGH_CONFIDENCE,
    )


def _indicator(msg: IndicatorMsg, channel: str, received: float) -> Indicator:
    body = msg.calculation or msg.indicator_data or msg
    symbol = _text(body.symbol if body.symbol is not None else msg.symbol, "symbol")
    name = _first(body.indicator_type, body.indicator, body.indicator_name)
    if name is None and body is not msg:
        name = _first(msg.indicator_type, msg.indicator, msg.indicator_name)
    name = _text(name, "indicator_type")
    raw_values = body.values if body.values is not None else msg.values
    if isinstance(raw_values, dict):
        values = {k: _float(v) for k, v in raw_values.items() if type(v) is float or type(v) is int}
        values = {k: v for k, v in values.items() if math.isfinite(v)}
    elif raw_values is not None:
        values = {"value": float(raw_values)} if math.isfinite(raw_values) else {}
    else:
        single = body.value if body.value is not None else msg.value
        values = {"value": float(single)} if single is not None and math.isfinite(single) else {}
    if not values:
        raise Rejected("missing_values", f"{name} for {symbol} has no numeric values")
    ts = epoch_or_time(msg.timestamp, "timestamp")
    calculated = epoch_or_time(body.timestamp, "calculation.timestamp") if body is not msg else None
    stamp = ts or calculated or datetime.fromtimestamp(received, UTC)
    return Indicator(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        symbol=symbol,
        indicator=name,
        values=values,
        calculated_at=calculated or stamp,
        timeframe=body.timeframe or msg.timeframe,
    )


def _alert_fields(msg: AlertMsg) -> tuple[AlertBody, str | None]:
    body = msg.alert or msg
    kind = _first(body.alert_type, body.type, msg.alert_type, msg.type)
    _shallow(body.data or msg.data, "data")
    return body, kind


def _indicator_alert(msg: AlertMsg, channel: str, received: float) -> IndicatorAlert:
    body, kind = _alert_fields(msg)
    symbol = _text(body.symbol if body.symbol is not None else msg.symbol, "symbol")
    stamp = epoch_or_time(body.timestamp or msg.timestamp, "timestamp") or datetime.fromtimestamp(received, UTC)
    return IndicatorAlert(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        symbol=symbol,
        alert_type=_text(kind, "alert_type"),
        data=body.data or msg.data or {},
    )


def _critical(msg: AlertMsg, channel: str, received: float) -> CriticalAlert:
    body, kind = _alert_fields(msg)
    stamp = epoch_or_time(body.timestamp or msg.timestamp, "timestamp") or datetime.fromtimestamp(received, UTC)
    return CriticalAlert(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        alert_type=_text(kind, "alert_type"),
        message=(body.message or msg.message or "").strip(),
        severity=(body.severity or msg.severity or "critical").strip() or "critical",
        data=body.data or msg.data or {},
    )


def _session(msg: SessionMsg, channel: str, received: float, started: bool):
    body = msg.data or msg
    session_id = _text(text_id(body.session_id if body.session_id is not None else msg.session_id), "session_id")
    ts = epoch_or_time(msg.timestamp, "timestamp")
    if started:
        at = epoch_or_time(body.start_time, "start_time") or ts or datetime.fromtimestamp(received, UTC)
        return SessionStarted(
            channel=channel,
            ts=ts or at,
            received=received,
            session_id=session_id,
            universe=body.symbol_universe_key or body.universe,
            started_at=at,
            trigger_type=body.trigger_type,
        )
    at = epoch_or_time(body.stop_time, "stop_time") or ts or datetime.fromtimestamp(received, UTC)
    return SessionStopped(
        channel=channel, ts=ts or at, received=received, session_id=session_id, stopped_at=at, reason=body.reason
    )


def _num(d: dict | None, key: str) -> float | None:
    if not d:
        return None
    v = d.get(key)
    if v is None or not _finite(v):
        return None
    v = _float(v)
    return v if math.isfinite(v) else None


def _int(d: dict | None, key: str) -> int | None:
    v = _num(d, key)
    return None if v is None else int(v)


def _health(msg: HealthMsg, channel: str, received: float) -> Health:
    body = msg.data if msg.data is not None and msg.data.status is not None else msg
    stale = body.stale_symbols
    if isinstance(stale, list):
        stale_symbols, stale_count = stale, len(stale)
    elif stale is not None:
        stale_symbols = stale.symbols or []
        stale_count = stale.count if stale.count is not None else len(stale_symbols)
    else:
        stale_symbols, stale_count = [], 0
    stamp = epoch_or_time(msg.timestamp or body.timestamp, "timestamp") or datetime.fromtimestamp(received, UTC)
    return Health(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(body.session_id if body.session_id is not None else msg.session_id),
        status=_text(body.status or "unknown", "status"),
        issues=body.issues or [],
        ticks_per_second=_num(body.data_flow, "ticks_per_second"),
        bars_per_minute=_num(body.data_flow, "bars_per_minute"),
        processing_lag_ms=_num(body.data_flow, "processing_lag_ms"),
        cpu_percent=_num(body.resources, "cpu_percent"),
        memory_mb=_num(body.resources, "memory_mb"),
        memory_percent=_num(body.resources, "memory_percent"),
        active_symbols=body.active_symbols,
        stale_count=stale_count,
        stale_symbols=stale_symbols,
        connections_active=_int(body.connection, "active"),
        connections_failed=_int(body.connection, "failed"),
        reconnections=_int(body.connection, "reconnections"),
    )


_PERSISTENCE_KNOWN = {"event", "timestamp", "session_id", "table", "rows", "duration_ms"}


def _persistence(msg: PersistenceMsg, raw: bytes, channel: str, received: float) -> Persistence:
    details = ANY_JSON.decode(raw)
    details = {k: v for k, v in details.items() if k not in _PERSISTENCE_KNOWN}
    _shallow(details, "persistence details")
    stamp = epoch_or_time(msg.timestamp, "timestamp") or datetime.fromtimestamp(received, UTC)
    return Persistence(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        table=msg.table,
        rows=msg.rows,
        duration_ms=msg.duration_ms,
        details=details,
    )


# ---------------------------------------------------------------- entry point


def decode_general(suffix: str, channel: str, raw: bytes, received: float) -> AnyEvent:
    """One message from `channel` (a known suffix) through the general shapes, or Rejected."""
    decoder, build = GENERAL[suffix]
    if NUL in raw:
        raise Rejected("nul_character", "a NUL character (\\u0000): PostgreSQL cannot store it in text or JSON")
    try:
        msg = decoder(raw)
    except DECODE_ERRORS as exc:
        raise _rejection(exc) from None
    return build(msg, raw, channel, received)


GENERAL = {  # suffix -> (typed JSON decoder of every variant, builder of the record)
    C.PATTERNS_STREAMING: (DECODERS[PatternMsg].decode, lambda m, raw, ch, t: _pattern(m, ch, t, False)),
    C.PATTERNS_DETECTED: (DECODERS[PatternMsg].decode, lambda m, raw, ch, t: _pattern(m, ch, t, True)),
    C.INDICATORS_STREAMING: (DECODERS[IndicatorMsg].decode, lambda m, raw, ch, t: _indicator(m, ch, t)),
    C.ALERTS_INDICATORS: (DECODERS[AlertMsg].decode, lambda m, raw, ch, t: _indicator_alert(m, ch, t)),
    C.ALERTS_CRITICAL: (DECODERS[AlertMsg].decode, lambda m, raw, ch, t: _critical(m, ch, t)),
    C.HEALTH: (DECODERS[HealthMsg].decode, lambda m, raw, ch, t: _health(m, ch, t)),
    C.SESSION_STARTED: (DECODERS[SessionMsg].decode, lambda m, raw, ch, t: _session(m, ch, t, True)),
    C.SESSION_STOPPED: (DECODERS[SessionMsg].decode, lambda m, raw, ch, t: _session(m, ch, t, False)),
    C.PERSISTENCE: (DECODERS[PersistenceMsg].decode, lambda m, raw, ch, t: _persistence(m, raw, ch, t)),
}
