"""The decoder: one pub/sub message into a typed record, accepting every producer variant.

`reader(suffix, channel)` gives the decoder of one channel's messages (its kind from the registry,
`kinds`): `read(raw, received)` returns a record of `analytics.events`, or a `Batch` of them for a
message that carried several (each member a record or the `Rejected` of that member), or raises
`Rejected` with a short code and a reason; nothing else escapes it. A message in TickStockPL's canonical layout is decoded by a strict shape
that needs almost no Python (the ingest's hot path); any other layout, or a bad message, goes
through `variants`, which finds the event by the fields it carries and gives the reason for a
rejection. Both paths make the same record of the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from analytics.events import AnyEvent, Indicator, Pattern
from dashboard import constants as C
from dashboard.wire.canonical import DECODERS, CanonicalIndicatorMsg, CanonicalPatternMsg
from dashboard.wire.fields import EARLIEST, LATEST
from dashboard.wire.kinds import BY_CHANNEL
from dashboard.wire.variants import (
    DECODE_ERRORS,
    NUL,
    Batch,
    Rejected,
    decode_general,
    epoch_or_time,
    mark_confident,
    text_id,
)

__all__ = ["Batch", "Read", "Rejected", "decode", "decode_general", "reader"]


# ---------------------------------------------------------------- canonical layout (fast path)
# Each returns None for a message the general path must judge (no canonical body, a blank name).


def _canonical_pattern(msg: CanonicalPatternMsg, channel: str, received: float) -> Pattern | None:
    body = msg.detection
    symbol, name = body.symbol.strip(), body.pattern_type.strip()
    if not symbol or not name:
        return None
    detected = body.timestamp
    if detected is not None and not EARLIEST <= detected < LATEST:
        return None
    stamp = epoch_or_time(msg.timestamp, "timestamp") or detected or datetime.fromtimestamp(received, UTC)
    confidence = body.confidence
    return Pattern(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        symbol=symbol,
        pattern=name,
        confidence=confidence,
        detected_at=detected or stamp,
        timeframe=body.timeframe or msg.timeframe or msg.tier or None,
        parameters=body.parameters if body.parameters is not None else (msg.parameters or {}),
        high_confidence=confidence >= C.HIGH_CONFIDENCE,  # and every copy read on :patterns:detected
    )


def _canonical_indicator(msg: CanonicalIndicatorMsg, channel: str, received: float) -> Indicator | None:
    body = msg.calculation
    symbol, name = body.symbol.strip(), body.indicator_type.strip()
    if not symbol or not name:
        return None
    calculated = body.timestamp
    if calculated is not None and not EARLIEST <= calculated < LATEST:
        return None
    stamp = epoch_or_time(msg.timestamp, "timestamp") or calculated or datetime.fromtimestamp(received, UTC)
    return Indicator(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(msg.session_id),
        symbol=symbol,
        indicator=name,
        values=body.values,
        calculated_at=calculated or stamp,
        timeframe=body.timeframe or msg.timeframe or None,  # an empty one is none, as on the general path
    )


# ---------------------------------------------------------------- entry points

Read = Callable[[bytes, float], AnyEvent | Batch]


def reader(suffix: str | None, channel: str) -> Read:
    """The decoder of messages on `channel` (whose suffix the caller resolved)."""
    kind = BY_CHANNEL.get(suffix)
    if kind is None:
        def unknown(raw: bytes, received: float) -> AnyEvent:
            raise Rejected("unknown_channel", f"unknown channel {channel!r}")
        return unknown
    fast_decoder, fast_build = _CANONICAL.get(kind.name, (None, None))
    confident = suffix == kind.confident
    limit = C.MAX_PAYLOAD_BYTES

    def read(raw: bytes, received: float) -> AnyEvent | Batch:
        if len(raw) > limit:
            raise Rejected("too_large", f"payload of {len(raw)} bytes is over the {limit}-byte limit")
        if fast_decoder is not None and NUL not in raw:
            try:
                event = fast_build(fast_decoder(raw), channel, received)
            except DECODE_ERRORS:
                event = None  # not the canonical layout: the general shapes decide
            if event is not None:
                return mark_confident(event, kind) if confident else event
        return decode_general(suffix, channel, raw, received)

    return read


def decode(suffix: str | None, channel: str, raw: bytes, received: float) -> AnyEvent | Batch:
    """One message from `channel` as a typed event (a Batch of them for a batch), or Rejected."""
    return reader(suffix, channel)(raw, received)


_CANONICAL = {  # kind -> (strict decoder of its canonical layout, builder)
    "pattern": (DECODERS[CanonicalPatternMsg].decode, _canonical_pattern),
    "indicator": (DECODERS[CanonicalIndicatorMsg].decode, _canonical_indicator),
}
