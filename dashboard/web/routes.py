"""REST endpoints served by the same process as the page (`panel serve --plugins dashboard.web.routes`),
and every session's Panel files addressed on this server (`assets.py`)."""

from __future__ import annotations

from datetime import datetime

import panel as pn

from dashboard.runtime import get_ingest
from dashboard.web.assets import address_locally
from dashboard.web.history_api import ROUTES as HISTORY_ROUTES
from dashboard.web.rest import APIHandler, BadParameter, zone_of
from dashboard.web.views.clock import iso


class StatusHandler(APIHandler):
    """GET /streaming/api/status?tz=: session, latest health, subscriber state, buffer accounting."""

    def get(self) -> None:
        try:
            zone = zone_of(self.get_query_argument("tz", None))
        except BadParameter as exc:
            return self.send_error_json(400, str(exc))
        self.write_json(in_zone(get_ingest().status(), zone))


def in_zone(payload, zone: str):
    """`payload` with every time in `zone`, ISO 8601 with its offset: the values of a key `at` or
    ending in `_at` (ISO text, epoch seconds, or a dict of them, one per channel). A producer's
    `details` are passed on as it sent them."""
    if isinstance(payload, dict):
        return {k: v if k == "details" else _time(v, zone) if k == "at" or k.endswith("_at") else in_zone(v, zone)
                for k, v in payload.items()}
    if isinstance(payload, list):
        return [in_zone(v, zone) for v in payload]
    return payload


def _time(value, zone: str):
    if isinstance(value, dict):
        return {k: _time(v, zone) for k, v in value.items()}
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
        return iso(at, zone) if at.tzinfo else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso(value, zone)
    return value  # None: not yet


pn.state.on_session_created(address_locally)  # imported once, before the server serves a session
ROUTES = [(r"/streaming/api/status", StatusHandler, {}), *HISTORY_ROUTES]
