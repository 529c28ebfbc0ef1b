"""The servable page: `panel serve dashboard/web/app.py --plugins dashboard.web.routes` (or `tickstock serve`)."""

from __future__ import annotations

import asyncio
import logging
from html import escape
from pathlib import Path

import panel as pn
from panel.theme import fast
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from dashboard.runtime import get_ingest
from dashboard.services.embedded import ServiceError
from dashboard.settings import SettingsError
from dashboard.web.views import theme
from dashboard.web.views.live import SIDEBAR_WIDTH, LiveDashboard

TITLE = "TickStock Live"
CSS = Path(__file__).with_name("app.css").read_text(encoding="utf-8")  # read once, sent inline
log = logging.getLogger("dashboard.web.app")  # one name whether imported or run by `panel serve`


class Fast(fast.Fast):
    """Panel's Fast design without its web font: Fast loads Open Sans from Google's servers, and the
    page loads nothing from outside (it uses the system's font). Named `Fast` because Panel finds
    the design's own files under its class name."""

    _resources = {**fast.Fast._resources, "font": {}}


def create_page() -> pn.viewable.Viewable:
    """One browser session's page, fed by the process's shared ingest; released on close.

    A bad setting shows its reason instead of the dashboard (REST answers 503 with it)."""
    pn.extension(notifications=True)
    _quiet_closed_tabs()
    look = theme.chosen(pn.state.cookies or {}, pn.state.session_args or {})
    try:
        ingest = get_ingest()
    except (SettingsError, ServiceError) as exc:
        return _page(look, _notice(f"TickStock Live cannot start: {exc}", "error"))
    live = LiveDashboard(ingest, theme=look).start()
    views = [live]
    body: pn.viewable.Viewable = live.main
    if ingest.settings.database_url:  # history needs the store the recorder writes
        from dashboard.web.views.history import HistoryView

        history = HistoryView(ingest, ingest.settings.database_url, theme=look, zone=live.clock.zone).start()
        live.clock.param.watch(lambda event: setattr(history, "zone", event.new), "zone")
        views.append(history)
        body = pn.Tabs(("Live", live.main), ("History", history), dynamic=True, sizing_mode="stretch_width")
    pn.state.on_session_destroyed(lambda context: [v.close() for v in views])
    if not ingest.settings.redis_url:  # `panel serve` without REDIS_URL: runtime started an embedded one
        body = pn.Column(_notice(f"REDIS_URL is not set: this page listens to an embedded Redis at "
                                 f"{ingest.redis_url} that nothing publishes to. Set REDIS_URL to the Redis "
                                 "TickStockPL publishes on (`tickstock demo` runs a simulator).", "warning"),
                         body, sizing_mode="stretch_width")
    return _page(look, body, live)


def _page(look: str, body: pn.viewable.Viewable, live: LiveDashboard | None = None) -> pn.template.BaseTemplate:
    """The template: the header (name, session status, clock, theme switch), the collapsible
    sidebar (the live page's controls) and the body; toasts at the sidebar's foot (toasts.css)."""
    header = [*live.header] if live is not None else []
    args = pn.state.session_args
    if args and "theme" in args:  # the template reads ?theme= itself and knows "default", not "light"
        args["theme"] = [b"dark" if look == "dark" else b"default"]
    page = pn.template.FastListTemplate(
        title=TITLE, design=Fast, theme="dark" if look == "dark" else "default", theme_toggle=False,
        busy_indicator=None,  # its spinner animated at 60 frames/s for ever: 1.3-2.5 % of a core, idle
        font=theme.FONT, sidebar_width=SIDEBAR_WIDTH, main_layout=None, header_background="#1f3b57",
        accent_base_color="#2b6cb0", header=[*header, theme.ThemeSwitch(theme=look, margin=(0, 10))],
        sidebar=[live.sidebar] if live is not None else [], main=[body],
    )
    page.config.raw_css = [theme.CSS[look], CSS]
    if pn.state.notifications is not None:
        pn.state.notifications.position = "bottom-left"
    return page


def _notice(text: str, level: str) -> pn.pane.HTML:
    """A problem the operator must fix, on the page (as text) and once in the log."""
    said = pn.state.cache.setdefault("tickstock_problems_logged", set())  # once per process, not per tab
    if text not in said:
        said.add(text)
        log.log(logging.ERROR if level == "error" else logging.WARNING, "%s", text)
    return pn.pane.HTML(f"<div role='alert' class='ts-notice' data-problem='{level}'>{escape(text)}</div>",
                        stylesheets=[CSS], sizing_mode="stretch_width")


def _quiet_closed_tabs() -> None:
    """A message Panel was still writing when its tab closed is no error: log it at DEBUG.

    Panel cancels a closed document's pending writes without reading their failure, and asyncio
    would log each as "Task exception was never retrieved" at ERROR."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not in a server (a notebook, a test)
        return
    previous = loop.get_exception_handler()
    if getattr(previous, "closed_tabs", False):
        return
    # the handler outlives this module's namespace: `panel serve` runs this file once per session
    # and empties its namespace when that session ends, so it keeps what it needs in its closure
    closed, logger = (WebSocketClosedError, StreamClosedError), log

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if isinstance(context.get("exception"), closed):
            logger.debug("dropped a message to a closed tab: %s", context.get("message"))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.closed_tabs = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


if pn.state.served:
    create_page().servable(title=TITLE)
