"""The servable page: `panel serve dashboard/app.py --plugins dashboard.routes` (or `tickstock serve`)."""

from __future__ import annotations

import panel as pn

from dashboard.runtime import get_ingest
from dashboard.views.live import LiveDashboard

TITLE = "TickStock Live"


def create_page() -> pn.viewable.Viewable:
    """One browser session's page, fed by the process's shared ingest; released on close."""
    pn.extension(notifications=True)
    ingest = get_ingest()
    views = [LiveDashboard(ingest).start()]
    body: pn.viewable.Viewable = views[0]
    if ingest.settings.database_url:  # history needs the store the recorder writes
        from dashboard.views.history import HistoryView

        views.append(HistoryView(ingest, ingest.settings.database_url).start())
        body = pn.Tabs(("Live", views[0]), ("History", views[1]), dynamic=True, sizing_mode="stretch_width")
    pn.state.on_session_destroyed(lambda context: [v.close() for v in views])
    return pn.Column(
        pn.pane.HTML(f"<h2 style='margin:4px 0'>{TITLE} <small style='color:#718096'>streaming</small></h2>"),
        body, sizing_mode="stretch_width",
    )


if pn.state.served:
    create_page().servable(title=TITLE)
