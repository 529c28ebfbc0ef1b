"""How a producer's message is read: its values, and where the event object sits in it.

Producers differ in the envelope key (`event`, `type`, `event_type`), in where the event object
sits (flat, or inside a wrapper named for the kind or a generic `data` / `payload`), in batches (a
top-level array, or a list under a plural key) and in field names. `locate` finds the event object
by the fields it carries; `Fields` reads each field by its names, looking outward through the
wrappers for what the object itself lacks (a batch's session id, the envelope's publish time).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from analytics.events import AnyEvent
from dashboard import constants as C

NUL = b"\\u0000"  # JSON's escape for U+0000
DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError)


class Rejected(Exception):
    """A message that cannot become an event; `code` groups reasons for counting."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Batch(list):
    """The events of one message that carried several: each a record, or the `Rejected` of a member."""


# ---------------------------------------------------------------- values

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)  # pandas' nanosecond timestamps end in April 2262


def in_range(value: datetime, field: str) -> datetime:
    """`value` if history can hold it (1970 to 2261), else Rejected."""
    if not EARLIEST <= value < LATEST:
        raise Rejected("bad_timestamp", f"{field}: {value.isoformat()} is outside 1970-2261")
    return value


def epoch_or_time(value: Any, field: str) -> datetime | None:
    """An aware datetime from RFC 3339 / ISO 8601 text (naive means UTC) or epoch seconds (ms, µs,
    ns), between 1970 and 2261."""
    if value is None:
        return None
    kind = type(value)
    if kind is datetime:
        return in_range(value if value.tzinfo is not None else value.replace(tzinfo=UTC), field)
    if kind is str:
        try:
            return epoch_or_time(msgspec.convert(value, datetime), field)
        except msgspec.ValidationError:
            pass
        try:
            return epoch_or_time(datetime.fromisoformat(value.strip()), field)
        except ValueError:
            pass
        seconds = number(value)
        if seconds is None:
            raise Rejected("bad_timestamp", f"{field}: unparsable timestamp {value[:40]!r}")
        value, kind = seconds, float
    if kind is not float and kind is not int:
        raise Rejected("bad_timestamp", f"{field}: not a time: {type(value).__name__}")
    value = _float(value)
    if not math.isfinite(value) or value < 0:
        raise Rejected("bad_timestamp", f"{field}: not a usable epoch time: {value!r}")
    if value > 1e17:  # nanoseconds
        value /= 1e9
    elif value > 1e14:  # microseconds
        value /= 1e6
    elif value > 1e11:  # milliseconds
        value /= 1e3
    try:
        return in_range(datetime.fromtimestamp(value, UTC), field)
    except (OverflowError, OSError, ValueError) as exc:
        raise Rejected("bad_timestamp", f"{field}: out of range: {value!r}") from exc


def _float(value: float | int) -> float:
    """A JSON number as a float; an integer beyond float's range becomes NaN (then dropped)."""
    try:
        return float(value)
    except OverflowError:
        return math.nan


def number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric text; None for anything else (bool included)."""
    kind = type(value)
    if kind is float or kind is int:
        value = _float(value)
    elif kind is str:
        try:
            value = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def text_id(value: Any) -> str | None:
    """An id as text, whether the producer sent a string or a number."""
    kind = type(value)
    return value if kind is str else str(value) if kind is int or kind is float else None


def shallow(obj: dict | list | None, what: str) -> None:
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


def rejection(exc: Exception) -> Rejected:
    """The rejection for a message that is not JSON at all."""
    if isinstance(exc, RecursionError):
        return Rejected("too_deep", "nesting too deep")
    if isinstance(exc, UnicodeDecodeError):
        return Rejected("not_json", f"not JSON: invalid UTF-8: {exc}")
    return Rejected("not_json", f"not JSON: {exc}")


# ---------------------------------------------------------------- where the event sits

ENVELOPE_KEYS = ("event", "type", "event_type", "kind", "message_type")
_ENVELOPE_WORDS = re.compile(
    r"pattern|indicator|alert|session|health|heartbeat|event|batch|persist|stream|detect|calculat"
    r"|critical|system|update|status|metric"
)
GENERIC_PLURALS = ("events", "items", "data", "payload", "records", "results", "messages", "entries",
                   "batch", "list")


TIME_ALIASES = ("time", "ts", "datetime", "event_time", "published_at", "sent_at", "created_at")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def snake_key(key: str) -> str:
    """A field name as snake_case: `sessionId`, `Session-ID` and `session id` read as `session_id`."""
    return _CAMEL.sub("_", key).lower().replace("-", "_").replace(" ", "_")


def snake(obj: dict) -> dict:
    """`obj` with snake_case field names (itself when they already are)."""
    for key in obj:
        if not key.islower() or "-" in key or " " in key:
            return {snake_key(k): v for k, v in obj.items()}
    return obj


def stamp_of(obj: dict) -> Any:
    """The time `obj` was sent with: its `timestamp`, else the first alias (`time`, `ts` …) that
    reads as a time (an alias that does not is left alone, not a reason to reject)."""
    value = obj.get("timestamp")
    if value is not None:
        return value
    for name in TIME_ALIASES:
        value = obj.get(name)
        if value is not None:
            try:
                epoch_or_time(value, name)
            except Rejected:
                continue
            return value
    return None


def envelope_name(value: Any) -> bool:
    """Whether a `type`-like value names the kind of message (`critical_alert`) rather than
    what happened (`MEMORY_HIGH`, `rsi_overbought`): lower-case and made of the words of kinds."""
    return type(value) is str and value.islower() and bool(_ENVELOPE_WORDS.search(value))


class Fields:
    """An event object and the wrappers around it, innermost first: a field the object lacks is
    looked up outward (a batch's session id, the envelope's publish time)."""

    __slots__ = ("body", "chain", "outer")

    def __init__(self, chain: list[dict]):
        self.chain = chain
        self.body = chain[0]
        self.outer = chain[1:]

    def get(self, *names: str) -> Any:
        """The first of `names` that is sent (an empty string counts), innermost object first."""
        for obj in self.chain:
            for name in names:
                value = obj.get(name)
                if value is not None:
                    return value
        return None

    def own(self, *names: str) -> Any:
        body = self.body
        for name in names:
            value = body.get(name)
            if value is not None:
                return value
        return None

    def truthy(self, *names: str) -> Any:
        """The first non-empty value of `names`, name by name, innermost object first for each."""
        for name in names:
            for obj in self.chain:
                value = obj.get(name)
                if value:
                    return value
        return None

    def stamp(self) -> Any:
        """The nearest time sent with the object or its wrappers (`timestamp` or an alias)."""
        return _nearest_stamp(self.chain)

    def times(self, received: float, *event_fields: str) -> tuple[datetime, datetime | None]:
        """(publish time, event time). The publish time is the nearest wrapper's timestamp (a flat
        object's own); the event time the object's own timestamp inside a wrapper, else the first
        of `event_fields` sent. Each stands in for the other; `received` for both."""
        body = self.body
        ts = epoch_or_time(self.published(), "timestamp")
        event = epoch_or_time(stamp_of(body), "event timestamp") if self.outer else None
        if event is None and event_fields:
            event = epoch_or_time(first(*(body.get(name) for name in event_fields)), event_fields[0])
        if ts is None and not self.outer:
            ts = epoch_or_time(stamp_of(body), "timestamp")
        return ts or event or datetime.fromtimestamp(received, UTC), event

    def published(self) -> Any:
        """The publish time: the nearest wrapper's timestamp (the object's own is its event time)."""
        return _nearest_stamp(self.outer)


def _nearest_stamp(objects: list[dict]) -> Any:
    for obj in objects:
        value = stamp_of(obj)
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class Shape:
    """How one kind of event is found and read."""

    wrappers: tuple[str, ...]  # where producers put this kind's object, most specific first
    plurals: tuple[str, ...]  # keys under which a list of them may come
    core: frozenset[str]  # fields whose presence marks the event object itself
    build: Callable[[Fields, str, float], AnyEvent]
    grouped: bool = False  # figures may sit in groups one level down (health, sessions)
    objects: frozenset[str] = frozenset()  # fields of `core` whose value is an object


def _marks(shape: Shape, obj: dict, nested: bool = True) -> int:
    """How many of the kind's own fields `obj` carries as values (an envelope name does not count);
    for kinds whose figures come in groups, those of its groups one level down count too."""
    n = 0
    for key, value in obj.items():
        if type(value) is dict and key not in shape.objects:
            if nested and shape.grouped:
                n += _marks(shape, value, False)
        elif key in shape.core and value is not None and not (key in ENVELOPE_KEYS and envelope_name(value)):
            n += 1
    return n


def locate(shape: Shape, obj: dict) -> list[dict] | None:
    """The chain [event object, …, obj]: of obj, a wrapper named for the kind and any object nested
    up to two levels, the one that carries most of the kind's own fields (a named wrapper first on
    a tie, then obj itself); a named wrapper that carries none still wins over nothing. None if no
    object qualifies."""
    best, most, fallback = None, 0, None
    for key in shape.wrappers:
        inner = obj.get(key)
        if type(inner) is dict and inner:
            inner = snake(inner)
            fallback = fallback or [inner, obj]
            marks = _marks(shape, inner)
            if marks > most:
                best, most = [inner, obj], marks
    marks = _marks(shape, obj)
    if marks > most:
        best, most = [obj], marks
    for key, inner in obj.items():
        if type(inner) is not dict or key in shape.wrappers:
            continue
        inner = snake(inner)
        marks = _marks(shape, inner)
        if marks > most:
            best, most = [inner, obj], marks
        for deeper in inner.values():
            if type(deeper) is dict:
                deeper = snake(deeper)
                marks = _marks(shape, deeper)
                if marks > most:
                    best, most = [deeper, inner, obj], marks
    return best or fallback


def _listed(shape: Shape, obj: dict) -> list | None:
    for key in (*shape.plurals, *GENERIC_PLURALS):
        items = obj.get(key)
        if type(items) is list and (not items or type(items[0]) is dict):
            return items
    return None


def members(shape: Shape, obj: dict) -> tuple[list, list[dict]] | None:
    """The events of a batch sent as a list under a plural key of `obj` or of an object in it
    (`{"payload": {"events": [...]}}`), with that object (if any) as their first wrapper."""
    items = _listed(shape, obj)
    if items is not None:
        return items, []
    for inner in obj.values():
        if type(inner) is dict:
            inner = snake(inner)
            items = _listed(shape, inner)
            if items is not None:
                return items, [inner]
    return None


# ---------------------------------------------------------------- reading one field


def text(value: Any, what: str) -> str:
    if value is None:
        raise Rejected(f"missing_{what}", f"missing {what.replace('_', ' ')}")
    if type(value) is not str:
        raise Rejected("bad_field", f"{what.replace('_', ' ')} is not text: {type(value).__name__}")
    value = value.strip()
    if not value:
        raise Rejected(f"empty_{what}", f"empty {what.replace('_', ' ')}")
    return value


def first(*values: Any) -> Any:
    """The first value a producer actually sent (an empty string counts as sent)."""
    for value in values:
        if value is not None:
            return value
    return None


def label(value: Any) -> str | None:
    """A short text field (timeframe, universe …): text as sent, a number as text, else None."""
    return value if type(value) is str else text_id(value)


def extras(body: dict, known: set[str]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in known and not (k in ENVELOPE_KEYS and envelope_name(v))}


def as_object(value: Any) -> dict:
    """Free-form data as an object: a non-object value is kept under 'value'."""
    if value is None:
        return {}
    return value if type(value) is dict else {"value": value}
