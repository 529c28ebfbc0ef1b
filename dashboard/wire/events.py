"""Typed records of TickStockPL events: what the decoder makes of every accepted message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

# ---------------------------------------------------------------- typed records (output)


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


to_json = msgspec.json.Encoder().encode
