"""`tickstock replay`: a recorded session back onto Redis, in its original order and rhythm.

Events of every recorded kind (`dashboard.wire.kinds`, `analytics.events.HISTORY`) are read from
the history tables, ordered by the time this system first received them, and republished on their
kind's channel in TickStockPL's documented shapes (a kind it does not document: flat, field by
field) with their original detection and calculation times; the envelope timestamp is the moment of republishing, so the dashboard shows the session
as if live. Gaps between events are divided by `speed` (0: as fast as possible). A recorded
high-confidence detection goes out on both pattern channels, as TickStockPL sends it.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import redis
from tqdm import tqdm

import analytics
from analytics.events import ENVELOPE, HISTORY, Health, to_json
from analytics.frames import SCHEMAS, VALUE_PREFIX
from dashboard import constants as C
from dashboard.wire.channels import Channels
from dashboard.wire.kinds import BY_NAME, KINDS, Kind

REDIS_TIMEOUT_S = 10  # s to connect to Redis, or for a PUBLISH to be answered


class ReplayError(RuntimeError):
    """The session cannot be replayed (unknown, empty, or a service is unreachable)."""


class UnknownSession(ReplayError):
    """No session of that id was recorded."""


class NoHistory(ReplayError):
    """The database holds no history tables: nothing was ever recorded there."""


def _iso(ts: Any) -> str | None:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)) or ts is pd.NaT:
        return None
    return pd.Timestamp(ts).tz_convert(UTC).isoformat().replace("+00:00", "Z")


def _when(row: dict, *names: str) -> float:
    for name in names:
        value = row.get(name)
        if value is not None and value is not pd.NaT and not (isinstance(value, float) and math.isnan(value)):
            return pd.Timestamp(value).timestamp()
    return 0.0


def _clean(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return _iso(value)
    return None if value is pd.NaT or (isinstance(value, float) and math.isnan(value)) else value


# ---------------------------------------------------------------- each kind as TickStockPL sends it


def _pattern(r: dict, session_id: str) -> dict:
    detection = {"pattern_type": str(r["pattern_type"]), "symbol": str(r["symbol"]), "confidence": r["confidence"],
                 "timestamp": _iso(r["detected_at"]), "parameters": r.get("parameters") or {},
                 "timeframe": _clean(r.get("timeframe"))}
    return {"event": "pattern_detected", "session_id": session_id, "detection": detection}


def _indicator(r: dict, session_id: str) -> dict:
    values = {k.removeprefix(VALUE_PREFIX): v for k, v in r.items()
              if k not in SCHEMAS["indicators"] and _clean(v) is not None}  # its value columns
    calculation = {"indicator_type": str(r["indicator"]), "symbol": str(r["symbol"]),
                   "timestamp": _iso(r["calculated_at"]), "values": values, "timeframe": _clean(r.get("timeframe"))}
    return {"event": "indicator_calculated", "session_id": session_id, "calculation": calculation}


def _indicator_alert(r: dict, session_id: str) -> dict:
    return {"alert_type": str(r["alert_type"]), "symbol": str(r["symbol"]), "session_id": session_id,
            "data": r.get("data") or {}}


def _critical_alert(r: dict, session_id: str) -> dict:
    return {"type": str(r["alert_type"]), "message": r.get("message") or "", "severity": r.get("severity"),
            "data": r.get("data") or {}, "session_id": session_id}


_HEALTH_GROUPS = {"data_flow": ("ticks_per_second", "bars_per_minute", "processing_lag_ms"),
                  "resources": ("cpu_percent", "memory_mb", "memory_percent")}  # as TickStockPL groups them
_HEALTH_OWN = ("status", "issues", "stale_count", "stale_symbols", "details")


def _nested(details: dict) -> dict:
    """Figures kept by dotted path (`metrics.queue_depth`) back in their groups, as they were sent."""
    out: dict = {}
    for path, value in details.items():
        *groups, name = path.split(".")
        where = out
        for group in groups:
            where = where.setdefault(group, {})
        where[name] = value
    return out


def _health(r: dict, session_id: str) -> dict:
    """Health as TickStockPL groups it, with every other figure recorded (those kept in `details`
    back in the groups they came in)."""
    message = _nested(r.get("details") or {})

    def group(name: str) -> dict:
        return message[name] if isinstance(message.get(name), dict) else {}

    grouped = {name for names in _HEALTH_GROUPS.values() for name in names}
    for name, figures in _HEALTH_GROUPS.items():
        message[name] = {**group(name), **{k: _clean(r.get(k)) for k in figures}}
    message.update({k: _clean(r.get(k)) for k in Health.__struct_fields__
                    if k not in ENVELOPE and k not in grouped and k not in _HEALTH_OWN})
    message["stale_symbols"] = {**group("stale_symbols"), "count": int(_clean(r.get("stale_count")) or 0),
                                "symbols": list(r.get("stale_symbols") or [])}
    message.update({"event": "streaming_health", "session_id": session_id, "status": r.get("status"),
                    "issues": list(r.get("issues") or [])})
    return message


LAYOUTS = {"pattern": _pattern, "indicator": _indicator, "indicator_alert": _indicator_alert,
           "critical_alert": _critical_alert, "health": _health}  # TickStockPL's documented layouts


def wire_message(kind: Kind, row: dict, session_id: str) -> dict:
    """A recorded row of `kind` as a wire message: in TickStockPL's layout for the kinds it documents,
    else flat, each of the record's own fields under its own name (as `wire.generic` reads it)."""
    layout = LAYOUTS.get(kind.name)
    if layout is not None:
        return layout(row, session_id)
    columns = HISTORY[kind.record].columns(kind.record)
    return {"session_id": session_id, **{field: _clean(row.get(column)) for field, column in columns.items()
                                         if field not in ENVELOPE}}


def _channels(kind: Kind, row: dict) -> tuple[str, ...]:
    """The suffixes a recorded row goes out on: its own, and its copies' when it was marked confident."""
    if kind.confident is not None and row.get(kind.key.mark):
        return kind.channels[0], kind.confident
    return kind.channels[:1]


def load_session(database_url: str, session_id: str) -> list[tuple[float, str, dict]]:
    """The session's events as (original receive time, channel suffix, wire payload), in order."""
    out: list[tuple[float, str, dict]] = []
    if analytics.current_revision(database_url) is None:
        raise NoHistory("no history tables there: nothing was recorded (`tickstock db upgrade` creates them)")
    sessions = analytics.load_sessions(database_url)
    match = sessions[sessions["session_id"].astype(str) == session_id]
    meta = match.iloc[0].to_dict() if len(match) else None
    for kind in KINDS:
        stored = HISTORY.get(kind.record)
        if stored is None or stored.table == "sessions":  # the session's own start and stop frame the rest
            continue
        frame = analytics.load(database_url, kind.name, session_id=session_id, parse_json=True)
        for r in frame.to_dict("records"):
            t = _when(r, "received_at", stored.time)
            message = wire_message(kind, r, session_id)
            out.extend((t, suffix, message) for suffix in _channels(kind, r))
    if not out and meta is None:
        raise UnknownSession(f"no recorded session {session_id!r}")
    out.sort(key=lambda item: item[0])
    if meta is not None:
        first = out[0][0] if out else _when(meta, "started_at")
        last = out[-1][0] if out else first
        out.insert(0, (first, BY_NAME["session_started"].channels[0], {"event": "session_started", "data": {
            "session_id": session_id, "symbol_universe_key": _clean(meta.get("universe")),
            "start_time": _iso(meta.get("started_at")), "trigger_type": _clean(meta.get("trigger_type"))}}))
        out.append((last, BY_NAME["session_stopped"].channels[0], {"event": "session_stopped", "data": {
            "session_id": session_id, "stop_time": _iso(meta.get("stopped_at")) or _iso(pd.Timestamp(last, unit="s", tz=UTC)),
            "reason": _clean(meta.get("stop_reason")) or "replay_complete"}}))
    return out


def _where(client: redis.Redis) -> str:
    """Where `client` connects (host:port, or its socket's path), for messages: never its password."""
    kwargs = client.connection_pool.connection_kwargs
    return kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def replay(database_url: str, redis_url: str, session_id: str, *, speed: float = 1.0,
           prefix: str = C.DEFAULT_CHANNEL_PREFIX, progress: bool = True,
           stop_event: threading.Event | None = None) -> dict:
    """Republish a recorded session; returns {"session_id", "sent", "per_channel", "duration_s"}."""
    events = load_session(database_url, session_id)
    channels = Channels(prefix)
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ReplayError(f"cannot reach Redis at {_where(client)}: {exc}") from exc
    stop_event = stop_event or threading.Event()
    per_channel: dict[str, int] = {}
    started = time.monotonic()
    t0 = events[0][0] if events else 0.0
    bar = tqdm(total=len(events), unit="event", desc=f"replay {session_id}", disable=not progress)
    try:
        for t, suffix, payload in events:
            if speed > 0:
                due = started + (t - t0) / speed
                if stop_event.wait(max(0.0, due - time.monotonic())):
                    break
            elif stop_event.is_set():
                break
            payload = {**payload, "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
            channel = channels.name(suffix)
            try:
                client.publish(channel, to_json(payload))
            except redis.RedisError as exc:
                raise ReplayError(f"publishing to Redis failed after {sum(per_channel.values())} events: {exc}") from exc
            per_channel[channel] = per_channel.get(channel, 0) + 1
            bar.update()
    finally:
        bar.close()
        client.close()
    return {"session_id": session_id, "sent": sum(per_channel.values()), "per_channel": per_channel,
            "duration_s": round(time.monotonic() - started, 3), "speed": speed}
