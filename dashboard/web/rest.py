"""The JSON base of every REST handler: auth from the server's provider, JSON errors, and the zone
(`?tz=`) every time in an answer is written in."""

from __future__ import annotations

import inspect
import json
import re

from tornado.web import RequestHandler

from dashboard.runtime import get_ingest
from dashboard.services.embedded import ServiceError
from dashboard.settings import SettingsError
from dashboard.web.views.clock import EXCHANGE_ZONE, FIXED, known

ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")  # an IANA name's letters, never a path


class BadParameter(ValueError):
    """A client's parameter is unusable; the message names it."""


def zone_of(raw: str | None) -> str:
    """The IANA zone `?tz=` names: "exchange" (America/New_York, the default), "utc", or an IANA name."""
    if raw is None or raw == "":
        return EXCHANGE_ZONE
    zone = FIXED.get(raw.lower(), raw)
    if not ZONE_NAME.fullmatch(zone) or not known(zone):
        raise BadParameter(f"tz: exchange, utc or an IANA zone name such as Europe/London, got {raw[:40]!r}")
    return zone


class APIHandler(RequestHandler):
    """JSON answers, errors included; refuses anyone the server's auth provider (basic or OAuth) does not know."""

    async def prepare(self) -> None:
        provider = getattr(self.application, "auth_provider", None)
        getter = getattr(provider, "get_user_async", None) or getattr(provider, "get_user", None)
        if getter is not None:
            user = getter(self)
            if inspect.isawaitable(user):
                user = await user
            if not user:
                return self.send_error_json(401, "authentication required: log in at /login first")
        try:
            get_ingest()  # every endpoint reads the ingest: a bad setting is the answer
        except (SettingsError, ServiceError) as exc:
            self.send_error_json(503, f"TickStock Live cannot start: {exc}")

    def send_error_json(self, status: int, reason: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": reason, "status": status}))

    def write_error(self, status_code: int, **kwargs) -> None:
        """Tornado's answer to an unexpected exception, as JSON instead of an HTML page."""
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": self._reason, "status": status_code}))

    def write_json(self, payload) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(payload, default=str))
