"""REST endpoints served by the same process as the page (`panel serve --plugins dashboard.web.routes`)."""

from __future__ import annotations

from dashboard.runtime import get_ingest
from dashboard.web.history_api import ROUTES as HISTORY_ROUTES
from dashboard.web.rest import APIHandler


class StatusHandler(APIHandler):
    """GET /streaming/api/status: session, latest health, subscriber state, buffer accounting."""

    def get(self) -> None:
        self.write_json(get_ingest().status())


ROUTES = [(r"/streaming/api/status", StatusHandler, {}), *HISTORY_ROUTES]
