"""TickStockPL's canonical layout as strict msgspec shapes: the ingest's fast path.

A pattern or indicator message in TickStockPL's own current layout decodes straight into one of
these (in C, type-checked) and needs almost no Python to become a record. Each accepts only what
the general path (`variants`) reads the same way: a message that does not fit (another layout,
a field they do not know, a bad value) takes the general path, which says what is wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Stamp = datetime | float | None  # RFC 3339 text, or epoch seconds (ms when > 1e11)
Id = str | int | None
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
Flat = dict[str, float | int | str | bool | None]  # no nesting: nothing left to check for depth


class CanonicalDetection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    # any other field (a bar, an older variant's, a producer's own) is kept by the general path
    pattern_type: str
    symbol: str
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    timestamp: AwareTime | None = None
    timeframe: str | None = None
    parameters: Flat | None = None


class _Envelope(msgspec.Struct, gc=False):
    session_id: Id = None
    timestamp: Stamp = None
    # the general path reads a publish time from these when `timestamp` is absent: any value here
    # sends the message down that path, so both paths make the same record
    time: None = None
    ts: None = None
    datetime: None = None
    event_time: None = None
    published_at: None = None
    sent_at: None = None
    created_at: None = None
    time_frame: None = None  # read as the timeframe where `timeframe` is absent
    interval: None = None


class CanonicalPatternMsg(_Envelope, kw_only=True):
    detection: CanonicalDetection
    timeframe: str | None = None
    tier: str | None = None
    parameters: Flat | None = None  # used when the detection has none: flat, like the detection's


class CanonicalCalculation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    indicator_type: str
    symbol: str
    values: Annotated[dict[str, float], msgspec.Meta(min_length=1)]
    timestamp: AwareTime | None = None
    timeframe: str | None = None


class CanonicalIndicatorMsg(_Envelope, kw_only=True):
    calculation: CanonicalCalculation
    timeframe: str | None = None


DECODERS = {cls: msgspec.json.Decoder(cls) for cls in (CanonicalPatternMsg, CanonicalIndicatorMsg)}
