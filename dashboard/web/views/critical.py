"""Critical alerts: a banner and a toast at once, a table of every one, desktop notifications."""

from __future__ import annotations

from collections import deque
from html import escape
from pathlib import Path

import panel as pn
import param

from analytics.events import CriticalAlert
from dashboard.web.views.notify import DesktopNotifier
from dashboard.web.views.rows import CRITICAL_COLUMNS, critical_row, critical_text
from dashboard.web.views.table import LiveTable

MAX_TOASTS = 3  # a burst of critical alerts shows the latest few; the banner and table keep up
TOAST_MS = 10_000  # how long a toast stays
TABLE_ROWS = 200  # critical alerts kept in the table
CSS = Path(__file__).with_name("critical.css").read_text(encoding="utf-8")  # read once, sent inline


def banner_html(alert: CriticalAlert | None) -> str:
    if alert is None:
        return ""
    return (f'<div class="ts-alert-text" role="alert"><b>Critical alert</b> · '
            f'{escape(alert.severity)} · {escape(critical_text(alert))}</div>')


class CriticalAlerts(pn.viewable.Viewer):
    """Shows each critical alert at once, paused or not. Its layout is the banner (its Dismiss button
    inside); the composition places `table` and `notifier` (the "Enable desktop alerts" button)
    where they belong."""

    latest = param.ClassSelector(class_=CriticalAlert, allow_None=True, doc="the alert on the banner")
    banner_visible = param.Boolean(default=False, doc="the banner shows (until dismissed)")
    count = param.Integer(default=0, doc="critical alerts this page received")
    notifications = param.Boolean(default=True, doc="desktop notifications (STREAMING_ALERT_NOTIFICATIONS)")

    def __init__(self, **params):
        super().__init__(**params)
        self.table = LiveTable(columns=CRITICAL_COLUMNS, max_rows=TABLE_ROWS, name="critical", height=160,
                               sizing_mode="stretch_width", placeholder="No critical alerts", wrap=True)
        self.notifier = DesktopNotifier(enabled=self.notifications)
        self.banner = pn.pane.HTML(pn.bind(banner_html, self.param.latest), visible=self.param.banner_visible,
                                   sizing_mode="stretch_width", stylesheets=[CSS], margin=0)
        self.dismiss = pn.widgets.Button(name="Dismiss", button_type="default", width=90, align="center")
        self.dismiss.on_click(lambda _: setattr(self, "banner_visible", False))
        self._toasts: deque = deque()
        self._layout = pn.Row(self.banner, self.dismiss, visible=self.param.banner_visible, sizing_mode="stretch_width",
                              css_classes=["ts-banner"], stylesheets=[CSS])  # the button inside the box

    def take(self, ev: CriticalAlert) -> None:
        """Banner, table row, toast (the latest MAX_TOASTS) and desktop notification."""
        self.count += 1
        self.table.push([critical_row(ev)])
        self.param.update(latest=ev, banner_visible=True)
        notifications = pn.state.notifications
        if notifications is not None:
            self._toasts.append(notifications.error(escape(critical_text(ev)), duration=TOAST_MS))
            while len(self._toasts) > MAX_TOASTS:
                self._toasts.popleft().destroy()
        if self.notifications:
            self.notifier.notify(f"TickStock: {ev.alert_type}", ev.message or ev.alert_type, tag=ev.alert_type)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
