"""Health and session events: their figures, wherever the producer put them.

A producer may send a figure in the event object or in a group one level down
(`data_flow.ticks_per_second`, `config.universe`) and under names of its own. Figures the record
has a field for are matched by their own name (or group.name); every other figure is kept in the
record's `details` by dotted path, so nothing that was sent is lost, and a status that was sent is
never shown as `unknown`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics.events import Health, SessionStarted, SessionStopped
from dashboard.wire.fields import (
    ENVELOPE_KEYS,
    TIME_ALIASES,
    Fields,
    envelope_name,
    epoch_or_time,
    first,
    label,
    number,
    snake,
    snake_key,
    stamp_of,
    text,
    text_id,
)


def _figures(body: dict, skip: set[str]) -> list[tuple[str, Any]]:
    """The scalar and list figures of `body` and of its groups (two levels down), by dotted path,
    the object's own first."""
    own, nested = [], []
    for key, value in body.items():
        if key in skip or (key in ENVELOPE_KEYS and envelope_name(value)):
            continue
        if type(value) is not dict:
            own.append((key, value))
            continue
        for k2, v2 in value.items():
            k2 = snake_key(k2)
            if type(v2) is not dict:
                nested.append((f"{key}.{k2}", v2))
                continue
            nested.extend((f"{key}.{k2}.{snake_key(k3)}", v3) for k3, v3 in v2.items() if type(v3) is not dict)
    return own + nested


def _matched(figures: list[tuple[str, Any]], names: dict[str, str]) -> tuple[dict, dict]:
    """Figures whose path or own name is in `names` (the first of each), and every other one."""
    found: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for path, value in figures:
        if value is None:
            continue
        target = names.get(path) or names.get(path.rsplit(".", 1)[-1])
        if target is not None and target not in found and type(value) is not list and type(value) is not dict:
            found[target] = value
        else:
            details[path] = value
    return found, details


HEALTH_FIGURES = {  # a figure's own name (or group.name) -> the record's field
    "ticks_per_second": "ticks_per_second", "tps": "ticks_per_second", "ticks_per_sec": "ticks_per_second",
    "bars_per_minute": "bars_per_minute", "bars_per_min": "bars_per_minute",
    "processing_lag_ms": "processing_lag_ms", "lag_ms": "processing_lag_ms", "latency_ms": "processing_lag_ms",
    "cpu_percent": "cpu_percent", "cpu_pct": "cpu_percent", "cpu_usage": "cpu_percent", "cpu": "cpu_percent",
    "memory_mb": "memory_mb", "memory_used_mb": "memory_mb", "rss_mb": "memory_mb",
    "memory_percent": "memory_percent", "memory_pct": "memory_percent", "memory_usage_percent": "memory_percent",
    "active_symbols": "active_symbols", "symbols_active": "active_symbols",
    "connections_active": "connections_active", "connection.active": "connections_active",
    "connections.active": "connections_active",
    "connections_failed": "connections_failed", "connection.failed": "connections_failed",
    "connections.failed": "connections_failed",
    "reconnections": "reconnections", "reconnects": "reconnections",
    "stale_count": "stale_count",
}
_HEALTH_INTS = {"active_symbols", "connections_active", "connections_failed", "reconnections", "stale_count"}
STATUS = ("status", "state", "health_status", "overall_status", "health", "overall")


def _status(f: Fields) -> tuple[str, str | None]:
    """The health status wherever it was sent (the object, a group one level down, the wrappers),
    with the path of a group's status so it is not listed again among the other figures."""
    groups = [(key, snake(v)) for key, v in f.body.items() if type(v) is dict]
    for where, obj in ((None, f.body), *groups, *((None, o) for o in f.outer)):
        for name in STATUS:
            value = obj.get(name)
            if type(value) is str and value.strip():
                return value.strip(), where and f"{where}.{name}"
    return "unknown", None


INT32 = 2**31 - 1


def health(f: Fields, channel: str, received: float) -> Health:
    body = f.body
    stale = body.get("stale_symbols")
    stale_list = stale.get("symbols") if type(stale) is dict else stale
    if type(stale_list) is str:  # "AAPL,MSFT"
        stale_list = [s.strip() for s in stale_list.split(",") if s.strip()]
    skip = {"session_id", "timestamp", *TIME_ALIASES, "issues", "stale_symbols",
            *(k for k in STATUS if type(body.get(k)) is str)}
    found, details = _matched(_figures(body, skip), HEALTH_FIGURES)
    if type(stale) is dict:
        found.setdefault("stale_count", stale.get("count"))
        details.update({f"stale_symbols.{k}": v for k, v in stale.items() if k not in ("count", "symbols")})
    fields: dict[str, Any] = {}
    for name, value in found.items():
        figure = number(value) if type(value) is not bool else None
        if figure is None or (name in _HEALTH_INTS and abs(figure) > INT32):
            details[name] = value  # not a usable figure for its column: kept as sent
        else:
            fields[name] = int(figure) if name in _HEALTH_INTS else figure
    status, status_path = _status(f)
    details.pop(status_path, None)
    issues = body.get("issues")
    if issues is None:
        issues = next((v for k, v in details.items() if k.endswith(".issues")), None)
    issues = [str(i) for i in issues] if type(issues) is list else [str(issues)] if issues else []
    stale_symbols = [str(s) for s in stale_list] if type(stale_list) is list else []
    if stale_list is not None and type(stale_list) is not list:
        details["stale_symbols"] = stale_list
    stamp = epoch_or_time(first(f.published(), stamp_of(body)), "timestamp") \
        or datetime.fromtimestamp(received, UTC)
    return Health(
        channel=channel,
        ts=stamp,
        received=received,
        session_id=text_id(f.get("session_id")),
        status=status,
        issues=issues,
        stale_count=fields.pop("stale_count", len(stale_symbols)),
        stale_symbols=stale_symbols,
        details=details,
        **fields,
    )


_SESSION_FIGURES = {
    "session_id": "session_id", "session": "session_id", "id": "session_id",
    "symbol_universe_key": "universe", "universe": "universe", "universe_key": "universe",
    "symbol_universe": "universe",
    "start_time": "started_at", "started_at": "started_at", "start": "started_at",
    "stop_time": "stopped_at", "stopped_at": "stopped_at", "end_time": "stopped_at", "stop": "stopped_at",
    "trigger_type": "trigger_type", "trigger": "trigger_type",
    "reason": "reason", "stop_reason": "reason",
}


def session(f: Fields, channel: str, received: float, started: bool):
    found, details = _matched(_figures(f.body, {"timestamp", *TIME_ALIASES}), _SESSION_FIGURES)
    session_id = text_id(first(found.pop("session_id", None), f.get("session_id")))
    if started or session_id is not None:
        session_id = text(session_id, "session_id")  # a stop without one stops the current session
    ts = epoch_or_time(f.stamp(), "timestamp")
    mine = ("started_at", "universe", "trigger_type") if started else ("stopped_at", "reason")
    details.update({k: v for k, v in found.items() if k not in mine})  # kept, though not this kind's
    if started:
        at = epoch_or_time(found.get("started_at"), "start_time") or ts or datetime.fromtimestamp(received, UTC)
        return SessionStarted(
            channel=channel, ts=ts or at, received=received, session_id=session_id,
            universe=label(found.get("universe")), started_at=at,
            trigger_type=label(found.get("trigger_type")), details=details,
        )
    at = epoch_or_time(found.get("stopped_at"), "stop_time") or ts or datetime.fromtimestamp(received, UTC)
    return SessionStopped(
        channel=channel, ts=ts or at, received=received, session_id=session_id, stopped_at=at,
        reason=label(found.get("reason")), details=details,
    )
