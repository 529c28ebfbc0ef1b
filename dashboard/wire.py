"""The wire shapes of TickStockPL messages: every producer variant's fields, all optional.

msgspec decodes a payload straight into one of these (in C, type-checked); the decoder then
picks the variant's fields and builds the typed record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

Stamp = datetime | float | None  # RFC 3339 text, or epoch seconds (ms when > 1e11)

Id = str | int | None


class PatternBody(msgspec.Struct, gc=False):
    pattern_type: str | None = None
    pattern: str | None = None
    pattern_name: str | None = None
    symbol: str | None = None
    confidence: float | None = None
    timestamp: Stamp = None
    detection_timestamp: Stamp = None
    timeframe: str | None = None
    tier: str | None = None
    parameters: dict[str, Any] | None = None
    levels: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    expiration_date: Stamp = None


class PatternMsg(PatternBody):
    session_id: Id = None
    detection: PatternBody | None = None
    pattern_data: PatternBody | None = None


class IndicatorBody(msgspec.Struct, gc=False):
    indicator_type: str | None = None
    indicator: str | None = None
    indicator_name: str | None = None
    symbol: str | None = None
    timestamp: Stamp = None
    values: dict[str, Any] | float | None = None
    value: float | None = None
    timeframe: str | None = None


class IndicatorMsg(IndicatorBody):
    session_id: Id = None
    calculation: IndicatorBody | None = None
    indicator_data: IndicatorBody | None = None


class AlertBody(msgspec.Struct, gc=False):
    alert_type: str | None = None
    type: str | None = None
    symbol: str | None = None
    timestamp: Stamp = None
    message: str | None = None
    severity: str | None = None
    data: dict[str, Any] | None = None


class AlertMsg(AlertBody):
    session_id: Id = None
    alert: AlertBody | None = None


class SessionBody(msgspec.Struct, gc=False):
    session_id: Id = None
    symbol_universe_key: str | None = None
    universe: str | None = None
    start_time: Stamp = None
    stop_time: Stamp = None
    trigger_type: str | None = None
    reason: str | None = None


class SessionMsg(SessionBody):
    timestamp: Stamp = None
    data: SessionBody | None = None


class Stale(msgspec.Struct, gc=False):
    count: int | None = None
    symbols: list[str] | None = None


class HealthBody(msgspec.Struct, gc=False):
    session_id: Id = None
    timestamp: Stamp = None
    status: str | None = None
    issues: list[str] | None = None
    connection: dict[str, int | float | None] | None = None
    data_flow: dict[str, int | float | None] | None = None
    resources: dict[str, int | float | None] | None = None
    active_symbols: int | None = None
    stale_symbols: Stale | list[str] | None = None


class HealthMsg(HealthBody):
    data: HealthBody | None = None


class PersistenceMsg(msgspec.Struct, gc=False):
    session_id: Id = None
    timestamp: Stamp = None
    table: str | None = None
    rows: int | None = None
    duration_ms: float | None = None


# ---------------------------------------------------------------- canonical shapes (fast path)
# TickStockPL's own current layout, strictly typed: a message that fits needs almost no Python to
# become a record. Each declares every field of its general shape, with the same type or a
# stricter one, so whatever the general shapes refuse these refuse too; a message that does not
# fit (another variant, a bad value) takes the general shapes, which say what is wrong.

AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
Flat = dict[str, float | int | str | bool | None]  # no nesting: nothing left to check for depth


class CanonicalCalculation(IndicatorBody, kw_only=True):
    indicator_type: str
    symbol: str
    values: Annotated[dict[str, float], msgspec.Meta(min_length=1)]
    timestamp: AwareTime | None = None


class CanonicalIndicatorMsg(IndicatorBody):
    session_id: Id = None
    calculation: CanonicalCalculation | None = None
    indicator_data: IndicatorBody | None = None


class CanonicalDetection(PatternBody, kw_only=True):
    pattern_type: str
    symbol: str
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    timestamp: AwareTime | None = None
    parameters: Flat | None = None
    # fields of older variants: any value sends the message down the general path
    detection_timestamp: None = None
    tier: None = None
    levels: None = None
    metadata: None = None
    expiration_date: None = None


class CanonicalPatternMsg(PatternBody):
    parameters: Flat | None = None  # used when the detection has none: flat, like the detection's
    session_id: Id = None
    detection: CanonicalDetection | None = None
    pattern_data: PatternBody | None = None


DECODERS = {
    cls: msgspec.json.Decoder(cls)
    for cls in (PatternMsg, IndicatorMsg, AlertMsg, SessionMsg, HealthMsg, PersistenceMsg,
                CanonicalPatternMsg, CanonicalIndicatorMsg)
}
ANY_JSON = msgspec.json.Decoder()
