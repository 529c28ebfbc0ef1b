"""One settings object, read once from the environment; a bad value fails at start and names its variable.

Also the checks a command makes at start that its Redis and PostgreSQL answer, so that a wrong URL
is one line naming the flag or variable it came from, within seconds, instead of a hang or a traceback.
"""

from __future__ import annotations

import functools
import math
import os
import re
import socket
import time
from collections.abc import Mapping
from datetime import datetime

import param

from dashboard import constants as C


class SettingsError(ValueError):
    """A setting's value is unusable; the message names the environment variable."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REACH_TIMEOUT_S = 3  # s to connect to Redis or PostgreSQL at start (and for it to answer) before giving up


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
    history_retention_days = param.Integer(default=0, bounds=(0, 36_500), doc="HISTORY_RETENTION_DAYS: days of patterns, indicators and alerts kept; older day partitions are dropped (0: keep all)")
    clock = param.String(default=None, allow_None=True, doc="TICKSTOCK_CLOCK: an instant with its offset (2026-11-26T15:00:00Z) the page's clock starts from and advances from in real time: the market state and the header clock show it (tests, demos); unset: this machine's time")

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
    if var == "TICKSTOCK_CLOCK":
        parse_instant(raw, var)
    if var == "REDIS_URL":
        check_redis_url(raw, var)
    if var == "DATABASE_URL":
        check_database_url(raw, var)
    return raw


def _in_bounds(p: param.Parameter, var: str, value, raw: str):
    lo, hi = p.bounds
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise SettingsError(f"{var}: must be between {lo} and {hi}, got {raw!r}")
    return value


# ------------------------------------------------------------------ the page's clock


def parse_instant(raw: str, name: str) -> datetime:
    """An ISO 8601 instant that names its offset (a time without one would mean a different moment
    on every machine)."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise SettingsError(f"{name}: expected an ISO 8601 instant with its offset, e.g. 2026-11-26T15:00:00Z, "
                            f"got {raw!r}")
    return at


@functools.cache
def clock_offset_s() -> float:
    """Seconds the page's clock runs ahead of this machine's: 0 unless TICKSTOCK_CLOCK is set.

    Read once, the first time it is asked: the setting's instant is "now" then, and the clock
    advances in real time from it (the market state and the header clock of every page)."""
    raw = os.environ.get("TICKSTOCK_CLOCK", "").strip()
    return parse_instant(raw, "TICKSTOCK_CLOCK").timestamp() - time.time() if raw else 0.0


# ------------------------------------------------------------------ URLs, and whether they answer


def check_redis_url(url: str, name: str) -> None:
    """A Redis URL's form; `name` is the variable or flag it came from."""
    if not url.startswith(REDIS_SCHEMES):
        raise SettingsError(f"{name}: expected a redis://, rediss:// or unix:// URL, got {url!r}")


def check_database_url(url: str, name: str) -> None:
    """A PostgreSQL URL's form (any driver name analytics accepts)."""
    from analytics.db import DatabaseURLError, normalise_url

    try:
        normalise_url(url)
    except DatabaseURLError:
        raise SettingsError(f"{name}: expected a postgresql:// URL, got {url!r}") from None


def reach_redis(url: str, name: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Connect and PING within `timeout` s, or raise a SettingsError naming `name` and saying why not."""
    import redis

    check_redis_url(url, name)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    try:
        client.ping()
    except redis.TimeoutError as exc:
        raise SettingsError(f"{name}: no answer from {where} within {timeout:g} s") from exc
    except redis.AuthenticationError as exc:
        raise SettingsError(f"{name}: Redis at {where} refused the login ({exc})") from exc
    except redis.ConnectionError as exc:
        raise SettingsError(f"{name}: {_unreachable(where, exc.__context__, exc)}") from exc
    except redis.RedisError as exc:  # a database number out of range, a command refused
        raise SettingsError(f"{name}: Redis at {where} answered: {exc}") from exc
    finally:
        client.close()


def reach_database(url: str, name: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Connect to PostgreSQL within `timeout` s, or raise a SettingsError naming `name` and saying why not."""
    import psycopg
    from sqlalchemy.engine import make_url

    from analytics.db import connect

    check_database_url(url, name)
    parsed = make_url(url)
    where = f"{parsed.host}:{parsed.port or 5432}" if parsed.host else "the local PostgreSQL socket"
    try:
        connect(url, connect_timeout=max(2, math.ceil(timeout))).close()
    except psycopg.errors.ConnectionTimeout as exc:
        raise SettingsError(f"{name}: no answer from {where} within {timeout:g} s") from exc
    except psycopg.Error as exc:
        text = str(exc)
        if "Connection refused" in text:
            raise SettingsError(f"{name}: nothing listening at {where} (connection refused)") from exc
        if "No such file or directory" in text:
            raise SettingsError(f"{name}: nothing listening at {where} (no such socket)") from exc
        if "failed to resolve host" in text:
            raise SettingsError(f"{name}: cannot resolve the host of {where}") from exc
        reason = text.rsplit(" failed: ", 1)[-1].strip().splitlines()[0].removeprefix("FATAL:").strip()
        raise SettingsError(f"{name}: PostgreSQL at {where} refused: {reason}") from exc


def _unreachable(where: str, cause: BaseException | None, error: Exception) -> str:
    """Why a connection attempt failed, in a few words."""
    if isinstance(cause, ConnectionRefusedError):
        return f"nothing listening at {where} (connection refused)"
    if isinstance(cause, FileNotFoundError):
        return f"nothing listening at {where} (no such socket)"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host of {where}"
    if isinstance(cause, OSError) and cause.strerror:
        return f"cannot connect to {where} ({cause.strerror.lower()})"
    return f"cannot connect to {where} ({error})"
