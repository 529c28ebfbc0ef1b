"""One settings object, read once from the environment; a bad value fails at start and names its variable."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

import param

from . import constants as C


class SettingsError(ValueError):
    """A setting's value is unusable; the message names the environment variable."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class Settings(param.Parameterized):
    """TickStock Live settings; each parameter documents its environment variable."""

    redis_url = param.String(default=None, allow_None=True, doc="REDIS_URL: where TickStockPL publishes; unset starts an embedded Redis")
    database_url = param.String(default=None, allow_None=True, doc="DATABASE_URL: history store; unset starts an embedded PostgreSQL")
    streaming_enabled = param.Boolean(default=True, doc="STREAMING_ENABLED: subscribe to Redis at all")
    buffer_enabled = param.Boolean(default=True, doc="STREAMING_BUFFER_ENABLED: false sends every event straight to the sessions")
    buffer_interval_ms = param.Integer(default=C.DEFAULT_BUFFER_INTERVAL_MS, bounds=(10, 60_000), doc="STREAMING_BUFFER_INTERVAL: flush interval in ms")
    max_buffer_size = param.Integer(default=C.DEFAULT_MAX_BUFFER_SIZE, bounds=(1, 1_000_000), doc="STREAMING_MAX_BUFFER_SIZE: events per type per flush; reaching it flushes early")
    pattern_min_confidence = param.Number(default=C.DEFAULT_PATTERN_MIN_CONFIDENCE, bounds=(0.0, 1.0), doc="STREAMING_PATTERN_MIN_CONFIDENCE: patterns below are filtered from the live view (still recorded)")
    alert_notifications = param.Boolean(default=True, doc="STREAMING_ALERT_NOTIFICATIONS: browser notifications for critical alerts")
    health_check_interval_s = param.Integer(default=C.DEFAULT_HEALTH_CHECK_INTERVAL_S, bounds=(1, 86_400), doc="STREAMING_HEALTH_CHECK_INTERVAL: expected seconds between health events")
    max_history_size = param.Integer(default=C.DEFAULT_MAX_HISTORY_SIZE, bounds=(10, 100_000), doc="STREAMING_MAX_HISTORY_SIZE: rows kept in each live table")
    dedup_window_ms = param.Integer(default=C.DEFAULT_DEDUP_WINDOW_MS, bounds=(0, 60_000), doc="STREAMING_DEDUP_WINDOW: same symbol and pattern within it keep only the latest (0: off)")
    channel_prefix = param.String(default=C.DEFAULT_CHANNEL_PREFIX, doc="STREAMING_CHANNEL_PREFIX: first part of every channel name")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Read every variable of ENV_VARS; raise SettingsError naming the first bad one."""
        env = os.environ if environ is None else environ
        values = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse(cls.param[name], var, raw.strip())
        values.update(overrides)
        try:
            return cls(**values)
        except ValueError as exc:  # a programmatic override out of bounds
            raise SettingsError(str(exc)) from exc

    @property
    def buffer_interval(self) -> float:
        """Flush interval in seconds."""
        return self.buffer_interval_ms / 1000.0

    @property
    def dedup_window(self) -> float:
        return self.dedup_window_ms / 1000.0


ENV_VARS: dict[str, str] = {
    name: Settings.param[name].doc.split(":", 1)[0]
    for name in Settings.param
    if name != "name"
}


def _parse(p: param.Parameter, var: str, raw: str):
    if isinstance(p, param.Boolean):
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"{var}: expected true or false, got {raw!r}")
    if isinstance(p, param.Integer):
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{var}: expected a whole number, got {raw!r}") from None
        return _in_bounds(p, var, value, raw)
    if isinstance(p, param.Number):
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{var}: expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise SettingsError(f"{var}: expected a finite number, got {raw!r}")
        return _in_bounds(p, var, value, raw)
    if var == "STREAMING_CHANNEL_PREFIX" and not _PREFIX_RE.match(raw):
        raise SettingsError(f"{var}: use letters, digits, '_', '-' or '.', got {raw!r}")
    if var == "REDIS_URL" and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{var}: expected a redis://, rediss:// or unix:// URL, got {raw!r}")
    if var == "DATABASE_URL" and not raw.startswith("postgresql"):
        raise SettingsError(f"{var}: expected a postgresql:// URL, got {raw!r}")
    return raw


def _in_bounds(p: param.Parameter, var: str, value, raw: str):
    lo, hi = p.bounds
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise SettingsError(f"{var}: must be between {lo} and {hi}, got {raw!r}")
    return value
