"""The reader of a kind with no shape of its own in `variants`: its record's fields, by their names.

A new kind decodes as soon as it is registered: its object is found like any other (flat, in a
wrapper named for the kind, in a batch under its plural), each of the record's own fields is read
under its own name (or camelCase) and typed as the record declares it, a required field that is
missing is a rejection naming it, and the publish time and session come from the envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import msgspec.inspect as mi

from analytics.events import ENVELOPE, Event, kind_name
from dashboard.wire.fields import (
    Fields,
    Rejected,
    Shape,
    as_object,
    epoch_or_time,
    label,
    number,
    shallow,
    text,
    text_id,
)


def _reader(name: str, kind: mi.Type, optional: bool):
    """How one field's value is read: text, a number, a time, an object or list."""
    if isinstance(kind, mi.StrType):
        return label if optional else (lambda v: text(v, name))
    if isinstance(kind, mi.FloatType | mi.IntType):
        cast = float if isinstance(kind, mi.FloatType) else int

        def figure(v: Any) -> float | int:
            value = number(v) if type(v) is not bool else None
            if value is None:
                raise Rejected("bad_field", f"{name.replace('_', ' ')} is not a number: {str(v)[:40]!r}")
            return cast(value)
        return figure
    if isinstance(kind, mi.BoolType):
        def flag(v: Any) -> bool:
            if type(v) is not bool:
                raise Rejected("bad_field", f"{name.replace('_', ' ')} is not true or false")
            return v
        return flag
    if isinstance(kind, mi.DateTimeType):
        return lambda v: epoch_or_time(v, name)
    if isinstance(kind, mi.DictType):
        def obj(v: Any) -> dict:
            value = as_object(v)
            shallow(value, name)
            return value
        return obj
    if isinstance(kind, mi.ListType):
        def items(v: Any) -> list:
            value = v if type(v) is list else [v]
            shallow(value, name)
            return value
        return items
    raise TypeError(f"{name}: no reader for {kind}")


def record_shape(record: type[Event]) -> Shape:
    """The Shape of a kind read by its record's own field names (see the module's docstring)."""
    name = kind_name(record)
    fields = []
    for f in msgspec.inspect.type_info(record).fields:
        if f.name in ENVELOPE:
            continue
        types = getattr(f.type, "types", (f.type,))
        kinds = [t for t in types if not isinstance(t, mi.NoneType)]
        fields.append((f.name, _reader(f.name, kinds[0], len(kinds) < len(types)), f.required))

    def build(f: Fields, channel: str, received: float) -> Event:
        values = {}
        for field, read, required in fields:
            raw = f.get(field)
            if raw is None:
                if required:
                    raise Rejected(f"missing_{field}", f"missing {field.replace('_', ' ')}")
                continue
            value = read(raw)
            if value is not None:
                values[field] = value
        ts = epoch_or_time(f.stamp(), "timestamp") or datetime.fromtimestamp(received, UTC)
        return record(channel=channel, ts=ts, received=received, session_id=text_id(f.get("session_id")),
                      **values)

    own = frozenset(field for field, _, _ in fields)
    objects = frozenset(f.name for f in msgspec.inspect.type_info(record).fields
                        if f.name in own and isinstance(f.type, mi.DictType))
    return Shape(wrappers=(name,), plurals=(f"{name}s",), core=own, build=build, objects=objects)
