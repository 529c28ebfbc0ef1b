"""The general path of the decoder: any producer's layout into typed records, by the fields it carries.

`decode_general(suffix, channel, raw, received)` parses the JSON once, finds the event object(s)
with `fields.locate`, and builds each kind's record from the fields it carries under any of their
names, keeping every figure that was sent. It returns a record, or a `Batch` whose members are
records or `Rejected`, and raises `Rejected` with a short code and a reason for a message it
cannot recognise at all. `decoding` puts a fast path for TickStockPL's canonical layout in front.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from analytics.events import (
    AnyEvent,
    CriticalAlert,
    Indicator,
    IndicatorAlert,
    Pattern,
    Persistence,
    to_json,
)
from dashboard import constants as C
from dashboard.wire.fields import (
    DECODE_ERRORS,
    ENVELOPE_KEYS,
    NUL,
    TIME_ALIASES,
    Batch,
    Fields,
    Rejected,
    Shape,
    as_object,
    envelope_name,
    epoch_or_time,
    extras,
    first,
    label,
    locate,
    members,
    number,
    rejection,
    shallow,
    snake,
    text,
    text_id,
)
from dashboard.wire.figures import HEALTH_FIGURES, STATUS, health, session
from dashboard.wire.generic import record_shape
from dashboard.wire.kinds import BY_CHANNEL, KINDS, Dedup, Kind

_JSON = msgspec.json.Decoder(float_hook=float)  # 1e999 becomes inf (then judged), not a parse error

# ---------------------------------------------------------------- per kind

_PATTERN_NAMES = ("pattern_type", "pattern", "pattern_name", "name")
_SYMBOL = ("symbol", "ticker", "instrument")
_CONFIDENCE = ("confidence", "score", "probability")
_BAR = ("bar_data", "bar", "ohlcv", "candle")
_OMIT = {*ENVELOPE_KEYS, *TIME_ALIASES, "session_id", "timestamp", "source", "version", "schema_version", "id"}
_PATTERN_KNOWN = {*_OMIT, *_PATTERN_NAMES, *_SYMBOL, *_CONFIDENCE, *_BAR, "timeframe", "time_frame", "interval", "tier",
                  "parameters", "levels", "metadata", "expiration_date", "detection_timestamp",
                  "detected_at"}


def _pattern(f: Fields, channel: str, received: float) -> Pattern:
    body = f.body
    symbol = text(f.get(*_SYMBOL), "symbol")
    name = text(first(f.get(*_PATTERN_NAMES[:3]), f.own("name")), "pattern_type")
    raw_confidence = f.get(*_CONFIDENCE)
    if raw_confidence is None:
        raise Rejected("bad_confidence", "missing confidence")
    confidence = number(raw_confidence) if type(raw_confidence) is not bool else None
    if confidence is None or not 0.0 <= confidence <= 1.0:
        raise Rejected("bad_confidence", f"confidence {raw_confidence!r} is not a number in [0, 1]")
    stamp, detected = f.times(received, "detection_timestamp", "detected_at")
    params = as_object(f.get("parameters"))
    shallow(params, "parameters")
    bar = f.own(*_BAR)
    extra = extras(body, _PATTERN_KNOWN)
    levels, metadata, expiry = body.get("levels"), body.get("metadata"), body.get("expiration_date")
    if bar is not None or extra or levels is not None or metadata or expiry is not None:
        shallow(bar if type(bar) in (dict, list) else None, "bar")
        shallow(levels if type(levels) in (dict, list) else None, "levels")
        shallow(metadata if type(metadata) in (dict, list) else None, "metadata")
        shallow(extra, "fields")
        params = {**as_object(bar), **extra, **params}
        if levels is not None:
            params["levels"] = levels
        if metadata:
            params["metadata"] = metadata
        expires = epoch_or_time(expiry, "expiration_date")
        if expires is not None:
            params["expiration_date"] = expires.isoformat()
    return Pattern(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(f.get("session_id")),
        symbol=symbol,
        pattern=name,
        confidence=confidence,
        detected_at=detected or stamp,
        timeframe=label(f.truthy("timeframe", "time_frame", "interval", "tier")),
        parameters=params,
        high_confidence=confidence >= C.HIGH_CONFIDENCE,  # and every copy read on :patterns:detected
    )


_INDICATOR_NAMES = ("indicator_type", "indicator", "indicator_name", "name")
_INDICATOR_META = {*_OMIT, *_INDICATOR_NAMES, *_SYMBOL, "timeframe", "time_frame", "interval", "period", "window", "length",
                   "calculated_at", "values", "value"}


def _numbers(values: dict) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        figure = number(v)
        if figure is not None:
            out[k] = figure
    return out


def _indicator(f: Fields, channel: str, received: float) -> Indicator:
    body = f.body
    symbol = text(f.get(*_SYMBOL), "symbol")
    name = text(first(f.get(*_INDICATOR_NAMES[:3]), f.own("name")), "indicator_type")
    raw = f.get("values")
    if raw is None:
        raw = f.get("value")
    if type(raw) is dict:
        values = _numbers(raw)
    elif raw is not None:
        figure = number(raw) if type(raw) is not bool else None
        values = {} if figure is None else {"value": figure}
    else:  # the values sit in the object itself: {"indicator": "MACD", "macd": 1.2, "signal": 1.1}
        values = _numbers({k: v for k, v in body.items() if k not in _INDICATOR_META})
    if not values:
        raise Rejected("missing_values", f"{name} for {symbol} has no numeric values")
    stamp, calculated = f.times(received, "calculated_at")
    return Indicator(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(f.get("session_id")),
        symbol=symbol,
        indicator=name,
        values=values,
        calculated_at=calculated or stamp,
        timeframe=label(f.truthy("timeframe", "time_frame", "interval")),
    )


_ALERT_NAMES = ("alert_type", "alert_name", "alert", "condition", "signal_type", "code", "name")
_ALERT_KNOWN = {*_OMIT, *_ALERT_NAMES, *_SYMBOL, "data", "details", "message", "msg", "description",
                "text", "severity", "level", "priority", "alerted_at", "triggered_at"}


def _alert_name(f: Fields) -> str | None:
    """The alert's type: a named field, else a `type` that is not an envelope name."""
    for obj in f.chain:
        for name in _ALERT_NAMES:
            value = obj.get(name)
            if value is not None and type(value) is not dict:
                return value
        value = obj.get("type")
        if value is not None and not envelope_name(value):
            return value
    return None


def _alert_data(f: Fields) -> dict:
    """The alert's `data` (its own, else a wrapper's) with the alert's other fields merged in."""
    body = f.body
    data = first(body.get("data"), body.get("details"))
    for obj in f.outer:
        if data is not None:
            break
        if obj.get("data") is not body:
            data = obj.get("data")
    data = as_object(data)
    extra = extras(body, _ALERT_KNOWN)
    if extra:
        data = {**extra, **data}
    shallow(data, "data")
    return data


def _alert_time(f: Fields, received: float) -> datetime:
    return epoch_or_time(first(f.stamp(), f.get("alerted_at", "triggered_at")), "timestamp") \
        or datetime.fromtimestamp(received, UTC)


def _indicator_alert(f: Fields, channel: str, received: float) -> IndicatorAlert:
    symbol = text(f.get(*_SYMBOL), "symbol")
    kind = _alert_name(f)
    indicator = f.get("indicator", "indicator_type")
    if kind is f.own("condition") and type(kind) is str and type(indicator) is str \
            and not kind.upper().startswith(indicator.upper()):
        kind = f"{indicator}_{kind}".upper()  # {"indicator": "RSI", "condition": "overbought"}
    return IndicatorAlert(
        channel=channel,
        ts=_alert_time(f, received),
        received=received,
        session_id=text_id(f.get("session_id")),
        symbol=symbol,
        alert_type=text(kind, "alert_type"),
        data=_alert_data(f),
    )


def _critical(f: Fields, channel: str, received: float) -> CriticalAlert:
    message = f.get("message", "msg", "description", "text")
    kind = _alert_name(f)
    if kind is None and message is not None:
        kind = "UNSPECIFIED"  # a message with no type is still an alert to show
    severity = f.get("severity", "level", "priority")
    return CriticalAlert(
        channel=channel,
        ts=_alert_time(f, received),
        received=received,
        session_id=text_id(f.get("session_id")),
        alert_type=text(kind, "alert_type"),
        message=message.strip() if type(message) is str else "" if message is None else to_json(message).decode(),
        severity=(label(severity) or "").strip() or "critical",
        data=_alert_data(f),
    )


_PERSISTENCE_KNOWN = {*ENVELOPE_KEYS, *TIME_ALIASES, "timestamp", "session_id", "table", "rows", "duration_ms"}


def _persistence(f: Fields, channel: str, received: float) -> Persistence:
    details = {k: v for k, v in f.body.items() if k not in _PERSISTENCE_KNOWN}
    shallow(details, "persistence details")
    rows, duration = number(f.get("rows")), number(f.get("duration_ms"))
    return Persistence(
        channel=channel,
        ts=epoch_or_time(f.stamp(), "timestamp") or datetime.fromtimestamp(received, UTC),
        received=received,
        session_id=text_id(f.get("session_id")),
        table=label(f.get("table")),
        rows=None if rows is None else int(rows),
        duration_ms=duration,
        details=details,
    )


def _shape(wrappers: Iterable[str], plurals: Iterable[str], core: Iterable[str], build,
           grouped: bool = False, objects: frozenset[str] = frozenset()) -> Shape:
    return Shape(tuple(wrappers), tuple(plurals), frozenset(core), build, grouped, objects)


_PATTERN_CORE = (*_PATTERN_NAMES[:3], *_CONFIDENCE)
SHAPES: dict[str, Shape] = {  # kind -> how producers send it; a kind without one is read by its record's fields
    "pattern": _shape(("detection", "pattern_data", "pattern_detection", "pattern_detected"),
                      ("detections", "patterns", "pattern_detections"), _PATTERN_CORE, _pattern),
    "indicator": _shape(("calculation", "indicator_data", "indicator_calculation", "indicator_update"),
                        ("calculations", "indicators", "indicator_calculations", "updates"),
                        (*_INDICATOR_NAMES[:3], "values", "value"), _indicator, objects=frozenset({"values"})),
    "indicator_alert": _shape(("alert", "indicator_alert", "alert_data"), ("alerts", "indicator_alerts"),
                              ("alert_type", "alert_name", "condition", "type", *_SYMBOL), _indicator_alert),
    "critical_alert": _shape(("alert", "critical_alert", "system_alert", "alert_data"), ("alerts", "critical_alerts"),
                             ("alert_type", "alert_name", "type", "message", "severity", "code"), _critical),
    "health": _shape(("health", "streaming_health", "health_data", "health_update"), ("healths",),
                     (*STATUS, "issues", "stale_symbols", *HEALTH_FIGURES), health, grouped=True),
    "session_started": _shape(("session", "streaming_session", "session_data", "session_started",
                               "streaming_session_started"), ("sessions",),
                              ("session_id", "start_time", "started_at", "symbol_universe_key", "universe"),
                              lambda f, ch, t: session(f, ch, t, True), grouped=True),
    "session_stopped": _shape(("session", "streaming_session", "session_data", "session_stopped",
                               "streaming_session_stopped"), ("sessions",),
                              ("session_id", "stop_time", "stopped_at", "reason"),
                              lambda f, ch, t: session(f, ch, t, False), grouped=True),
    "persistence": _shape(("persistence", "batch_storage"), (), ("table", "rows", "duration_ms"), _persistence),
}
READERS: dict[str, Shape] = {k.name: SHAPES.get(k.name) or record_shape(k.record) for k in KINDS}


def mark_confident(out: AnyEvent | Batch, kind: Kind) -> AnyEvent | Batch:
    """Records read on the kind's channel of high-confidence copies, marked so (`Dedup.mark`)."""
    flag = kind.key.mark if isinstance(kind.key, Dedup) else None
    for event in out if type(out) is Batch else (out,):
        if flag is not None and not isinstance(event, Rejected):
            setattr(event, flag, True)
    return out


# ---------------------------------------------------------------- entry point


def _event(shape: Shape, obj: dict, outer: list[dict], channel: str, received: float) -> AnyEvent | Batch:
    """The event `obj` carries, or the Batch of those listed under one of its plural keys."""
    obj = snake(obj)
    chain = locate(shape, obj)
    if chain is None:
        listed = members(shape, obj)
        if listed is not None:
            items, wrapper = listed
            return _batch(shape, items, [*wrapper, obj, *outer], channel, received)
        chain = [obj]
    return shape.build(Fields(chain + outer), channel, received)


def _batch(shape: Shape, items: list, outer: list[dict], channel: str, received: float) -> Batch:
    if not items:
        raise Rejected("empty_batch", "a batch with no events")
    out = Batch()
    for i, item in enumerate(items):
        try:
            if type(item) is not dict:
                raise Rejected("not_object", f"a batch member is not a JSON object: {type(item).__name__}")
            event = _event(shape, item, outer, channel, received)
        except Rejected as exc:
            out.append(Rejected(exc.code, f"batch member {i}: {exc.reason}"))
            continue
        if type(event) is Batch:  # a batch of envelopes, each with its own list
            out.extend(event)
        else:
            out.append(event)
    return out


def decode_general(suffix: str, channel: str, raw: bytes, received: float) -> AnyEvent | Batch:
    """One message from `channel` (a known suffix): a record, a Batch of them, or Rejected."""
    kind = BY_CHANNEL[suffix]
    out = decode_shape(READERS[kind.name], channel, raw, received)
    return mark_confident(out, kind) if suffix == kind.confident else out


def decode_shape(shape: Shape, channel: str, raw: bytes, received: float) -> AnyEvent | Batch:
    """One message read by `shape`: a record, a Batch of them, or Rejected."""
    if NUL in raw:
        raise Rejected("nul_character", "a NUL character (\\u0000): PostgreSQL cannot store it in text or JSON")
    try:
        doc = _JSON.decode(raw)
    except DECODE_ERRORS as exc:
        raise rejection(exc) from None
    kind = type(doc)
    if kind is list:
        return _batch(shape, doc, [], channel, received)
    if kind is not dict:
        raise Rejected("not_object", f"not a JSON object or array: {kind.__name__}")
    return _event(shape, doc, [], channel, received)
