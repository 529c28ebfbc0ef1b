"""The typed records of TickStockPL events, and where history keeps each kind of them.

This is the contract between the live side and history: the dashboard decodes every message into
one of these records, and `analytics` stores and loads them. A record's tag (`kind` in JSON) is
its kind's name. `HISTORY` says, for each kind that is recorded, its table, the table's event time
and natural key, and which column each field fills; the row builders, the frames' shapes, the
loaders and any table not declared in `tables` derive from it. Kinds absent from it (persistence
confirmations) are not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, get_args

import msgspec

# ---------------------------------------------------------------- typed records


class Event(msgspec.Struct, kw_only=True, tag_field="kind", gc=False):
    channel: str
    ts: datetime  # the producer's timestamp of the message (publish time)
    received: float  # epoch seconds when this process read it
    session_id: str | None = None


class Pattern(Event, tag="pattern", kw_only=True):
    symbol: str
    pattern: str
    confidence: float
    detected_at: datetime
    timeframe: str | None = None
    parameters: dict[str, Any] = {}
    high_confidence: bool = False


class Indicator(Event, tag="indicator", kw_only=True):
    symbol: str
    indicator: str
    values: dict[str, float]
    calculated_at: datetime
    timeframe: str | None = None


class IndicatorAlert(Event, tag="indicator_alert", kw_only=True):
    symbol: str
    alert_type: str
    data: dict[str, Any] = {}


class CriticalAlert(Event, tag="critical_alert", kw_only=True):
    alert_type: str
    message: str = ""
    severity: str = "critical"
    data: dict[str, Any] = {}


class SessionStarted(Event, tag="session_started", kw_only=True):
    universe: str | None = None
    started_at: datetime
    trigger_type: str | None = None
    details: dict[str, Any] = {}  # every other figure the producer sent, by dotted path


class SessionStopped(Event, tag="session_stopped", kw_only=True):
    stopped_at: datetime
    reason: str | None = None
    details: dict[str, Any] = {}


class Health(Event, tag="health", kw_only=True):
    status: str
    issues: list[str] = []
    ticks_per_second: float | None = None
    bars_per_minute: float | None = None
    processing_lag_ms: float | None = None
    cpu_percent: float | None = None
    memory_mb: float | None = None
    memory_percent: float | None = None
    active_symbols: int | None = None
    stale_count: int = 0
    stale_symbols: list[str] = []
    connections_active: int | None = None
    connections_failed: int | None = None
    reconnections: int | None = None
    details: dict[str, Any] = {}  # every other figure the producer sent, by dotted path


class Persistence(Event, tag="persistence", kw_only=True):
    table: str | None = None
    rows: int | None = None
    duration_ms: float | None = None
    details: dict[str, Any] = {}


AnyEvent = Pattern | Indicator | IndicatorAlert | CriticalAlert | SessionStarted | SessionStopped | Health | Persistence

RECORDS: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in get_args(AnyEvent)}  # kind -> type
ENVELOPE = frozenset(Event.__struct_fields__)  # the fields every record has; the rest are its kind's own

to_json = msgspec.json.Encoder().encode


def kind_name(record: type[Event]) -> str:
    """The name of a record type's kind (its tag)."""
    return record.__struct_config__.tag


def kind_of(event: Any) -> str | None:
    """The kind of a record, or of a dict that names it under "kind"; None for anything else."""
    if isinstance(event, dict):
        return event.get("kind")
    config = getattr(type(event), "__struct_config__", None)
    return getattr(config, "tag", None)


# ---------------------------------------------------------------- where history keeps them


@dataclass(frozen=True)
class Stored:
    """Where history keeps one kind of record. Every field but `channel` fills the column of its
    own name, except `ts` (the publish time: `published_at`), `received` (`received_at`) and the
    fields `renamed` (to another column, or to None: not stored)."""

    table: str
    time: str  # the table's event-time column: loads filter and order by it
    key: tuple[str, ...]  # the columns that identify one event (the table's natural key)
    labels: tuple[str, ...] = ()  # text columns with few distinct values: categories in frames
    renamed: Mapping[str, str | None] = field(default_factory=dict)

    def columns(self, record: type[Event]) -> dict[str, str]:
        """Field -> column for the fields of `record` that are stored: the session first, then the
        kind's own fields, then the publish and receive times (the tables' column order)."""
        default = {"channel": None, "ts": "published_at", "received": "received_at"}
        own = [name for name in record.__struct_fields__ if name not in ENVELOPE]
        out = {}
        for name in ("session_id", *own, "ts", "received", "channel"):
            column = self.renamed.get(name, default.get(name, name))
            if column is not None:
                out[name] = column
        return out


_SESSIONS = Stored("sessions", time="started_at", key=("session_id",), renamed={"ts": None, "received": None})

HISTORY: dict[type[Event], Stored] = {
    Pattern: Stored("patterns", time="detected_at", key=("detected_at", "symbol", "pattern_type", "timeframe"),
                    labels=("symbol", "pattern_type"), renamed={"pattern": "pattern_type"}),
    Indicator: Stored("indicators", time="calculated_at", key=("calculated_at", "symbol", "indicator", "timeframe"),
                      labels=("symbol", "indicator")),
    IndicatorAlert: Stored("indicator_alerts", time="alerted_at", key=("alerted_at", "symbol", "alert_type"),
                           labels=("symbol", "alert_type"), renamed={"ts": "alerted_at"}),
    CriticalAlert: Stored("critical_alerts", time="alerted_at", key=("alerted_at", "alert_type", "message"),
                          labels=("alert_type", "severity"), renamed={"ts": "alerted_at"}),
    Health: Stored("health", time="reported_at", key=("reported_at", "session_id"), labels=("status",),
                   renamed={"ts": "reported_at"}),
    SessionStarted: _SESSIONS,  # a session's start and stop complete one row
    SessionStopped: replace(_SESSIONS, renamed={**_SESSIONS.renamed, "reason": "stop_reason"}),
}

STORES: dict[str, Stored] = {s.table: s for s in HISTORY.values()}  # table -> how it is kept, in HISTORY order
KIND_TABLE: dict[str, str] = {kind_name(cls): s.table for cls, s in HISTORY.items()}  # recorded kind -> table


def table_columns(table: str) -> dict[str, None]:
    """The columns the records kept in `table` fill, in their order (an ordered set)."""
    return dict.fromkeys(c for cls, s in HISTORY.items() if s.table == table for c in s.columns(cls).values())
