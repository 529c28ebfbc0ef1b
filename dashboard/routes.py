"""REST endpoints served by the same process as the page (`panel serve --plugins dashboard.routes`)."""

from __future__ import annotations

from .history_api import ROUTES as HISTORY_ROUTES
from .rest import APIHandler
from .runtime import get_ingest


class StatusHandler(APIHandler):
    """GET /streaming/api/status: session, latest health, subscriber state, buffer accounting."""

    def get(self) -> None:
        self.write_json(get_ingest().status())


ROUTES = [(r"/streaming/api/status", StatusHandler, {}), *HISTORY_ROUTES]
