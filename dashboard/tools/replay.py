"""`tickstock replay`: a recorded session back onto Redis, in its original order and rhythm.

Events are read from the history tables, ordered by the time this system first received them,
and republished in TickStockPL's documented shapes with their original detection and calculation
times; the envelope timestamp is the moment of republishing, so the dashboard shows the session
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
from analytics.events import to_json
from dashboard import constants as C
from dashboard.wire.channels import Channels

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
    return None if value is pd.NaT or (isinstance(value, float) and math.isnan(value)) else value


def load_session(database_url: str, session_id: str) -> list[tuple[float, str, dict]]:
    """The session's events as (original receive time, channel suffix, wire payload), in order."""
    out: list[tuple[float, str, dict]] = []
    if analytics.current_revision(database_url) is None:
        raise NoHistory("no history tables there: nothing was recorded (`tickstock db upgrade` creates them)")
    sessions = analytics.load_sessions(database_url)
    match = sessions[sessions["session_id"].astype(str) == session_id]
    meta = match.iloc[0].to_dict() if len(match) else None
    patterns = analytics.load_patterns(database_url, session_id=session_id, parse_parameters=True)
    indicators = analytics.load_indicators(database_url, session_id=session_id)
    alerts = analytics.load_alerts(database_url, session_id=session_id)
    criticals = analytics.load_critical_alerts(database_url, session_id=session_id)
    health = analytics.load_health(database_url, session_id=session_id)
    for r in patterns.to_dict("records"):
        detection = {"pattern_type": str(r["pattern_type"]), "symbol": str(r["symbol"]), "confidence": r["confidence"],
                     "timestamp": _iso(r["detected_at"]), "parameters": r.get("parameters") or {},
                     "timeframe": _clean(r.get("timeframe"))}
        payload = {"event": "pattern_detected", "session_id": session_id, "detection": detection}
        t = _when(r, "received_at", "detected_at")
        out.append((t, C.PATTERNS_STREAMING, payload))
        if r.get("high_confidence"):
            out.append((t, C.PATTERNS_DETECTED, payload))
    meta_columns = {"session_id", "symbol", "indicator", "calculated_at", "timeframe", "published_at", "received_at"}
    for r in indicators.to_dict("records"):
        values = {k: v for k, v in r.items() if k not in meta_columns and _clean(v) is not None}
        calculation = {"indicator_type": str(r["indicator"]), "symbol": str(r["symbol"]),
                       "timestamp": _iso(r["calculated_at"]), "values": values, "timeframe": _clean(r.get("timeframe"))}
        out.append((_when(r, "received_at", "calculated_at"), C.INDICATORS_STREAMING,
                    {"event": "indicator_calculated", "session_id": session_id, "calculation": calculation}))
    for r in alerts.to_dict("records"):
        out.append((_when(r, "received_at", "alerted_at"), C.ALERTS_INDICATORS,
                    {"alert_type": str(r["alert_type"]), "symbol": str(r["symbol"]), "session_id": session_id,
                     "data": r.get("data") or {}}))
    for r in criticals.to_dict("records"):
        out.append((_when(r, "received_at", "alerted_at"), C.ALERTS_CRITICAL,
                    {"type": str(r["alert_type"]), "message": r.get("message") or "", "severity": r.get("severity"),
                     "data": r.get("data") or {}, "session_id": session_id}))
    for r in health.to_dict("records"):
        out.append((_when(r, "received_at", "reported_at"), C.HEALTH, _health_payload(r, session_id)))
    if not out and meta is None:
        raise UnknownSession(f"no recorded session {session_id!r}")
    out.sort(key=lambda item: item[0])
    if meta is not None:
        first = out[0][0] if out else _when(meta, "started_at")
        last = out[-1][0] if out else first
        out.insert(0, (first, C.SESSION_STARTED, {"event": "session_started", "data": {
            "session_id": session_id, "symbol_universe_key": _clean(meta.get("universe")),
            "start_time": _iso(meta.get("started_at")), "trigger_type": _clean(meta.get("trigger_type"))}}))
        out.append((last, C.SESSION_STOPPED, {"event": "session_stopped", "data": {
            "session_id": session_id, "stop_time": _iso(meta.get("stopped_at")) or _iso(pd.Timestamp(last, unit="s", tz=UTC)),
            "reason": _clean(meta.get("stop_reason")) or "replay_complete"}}))
    return out


def _health_payload(r: dict, session_id: str) -> dict:
    return {
        "event": "streaming_health", "session_id": session_id, "status": r.get("status"),
        "issues": list(r.get("issues") or []),
        "data_flow": {k: _clean(r.get(k)) for k in ("ticks_per_second", "bars_per_minute", "processing_lag_ms")},
        "resources": {k: _clean(r.get(k)) for k in ("cpu_percent", "memory_mb", "memory_percent")},
        "active_symbols": _clean(r.get("active_symbols")),
        "stale_symbols": {"count": int(_clean(r.get("stale_count")) or 0), "symbols": []},
    }


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
        raise ReplayError(f"cannot reach Redis at {redis_url}: {exc}") from exc
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
