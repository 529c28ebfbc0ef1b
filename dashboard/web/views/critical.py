"""Critical alerts: a banner and a toast at once, a table of every one, desktop notifications.

A burst does not become a stack of toasts: after a toast, the alerts of the next TOAST_GAP_S
seconds wait and then come as one ("4 more critical alerts · latest: …"); the banner shows each
one the moment it arrives, and the table keeps them all."""

from __future__ import annotations

import time
from collections import deque
from html import escape
from pathlib import Path

import panel as pn
import param

from analytics.events import CriticalAlert
from dashboard.web.views.notify import DesktopNotifier
from dashboard.web.views.rows import CRITICAL_COLUMNS, critical_row, critical_text
from dashboard.web.views.table import LiveTable

MAX_TOASTS = 3  # toasts on screen at most (the oldest goes)
TOAST_GAP_S = 5.0  # s after a toast during which further alerts wait to be summed up in one
TOAST_MS = 10_000  # how long a toast stays
TABLE_ROWS = 200  # critical alerts kept in the table
TABLE_PX = 160  # the table's height at most; fewer alerts, less (two lines each: long messages wrap)
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
        self.table = LiveTable(columns=CRITICAL_COLUMNS, max_rows=TABLE_ROWS, name="critical", height=TABLE_PX,
                               sizing_mode="stretch_width", placeholder="No critical alerts", wrap=True)
        self.table.fit(TABLE_PX, lines=2)  # empty: room for the note that says so
        self.notifier = DesktopNotifier(enabled=self.notifications)
        self.banner = pn.pane.HTML(pn.bind(banner_html, self.param.latest), visible=self.param.banner_visible,
                                   sizing_mode="stretch_width", stylesheets=[CSS], margin=0)
        self.dismiss = pn.widgets.Button(name="Dismiss", button_type="default", width=90, align="center")
        self.dismiss.on_click(lambda _: setattr(self, "banner_visible", False))
        self._toasts: deque = deque()  # the toasts on screen
        self._waiting: list[CriticalAlert] = []  # alerts for the next toast
        self._toasted_at = -TOAST_GAP_S  # monotonic time of the last toast
        self.toasted: deque[str] = deque(maxlen=MAX_TOASTS)  # the texts of the last toasts (tests, notebooks)
        self._layout = pn.Row(self.banner, self.dismiss, visible=self.param.banner_visible, sizing_mode="stretch_width",
                              css_classes=["ts-banner"], stylesheets=[CSS])  # the button inside the box

    def take(self, ev: CriticalAlert, now: float | None = None, news: bool = True) -> None:
        """Banner, table row, toast (or a place in the next summary toast) and desktop notification;
        an alert that is not news (received before the page opened) gets no toast or notification."""
        self.count += 1
        self.table.push([critical_row(ev)])
        self.table.fit(TABLE_PX, lines=2)
        self.param.update(latest=ev, banner_visible=True)
        if not news:
            return
        self._waiting.append(ev)
        self.tick(now)
        if self.notifications:
            self.notifier.notify(f"TickStock: {ev.alert_type}", ev.message or ev.alert_type, tag=ev.alert_type)

    def tick(self, now: float | None = None) -> None:
        """Toast what waits, once TOAST_GAP_S has passed since the last toast (the page calls this
        every second, so a summary never waits much longer)."""
        now = time.monotonic() if now is None else now
        if not self._waiting or now - self._toasted_at < TOAST_GAP_S:
            return
        latest, more = critical_text(self._waiting[-1]), len(self._waiting)
        text = latest if more == 1 else f"{more} more critical alerts · latest: {latest}"
        self._waiting.clear()
        self._toasted_at = now
        notifications = pn.state.notifications
        if notifications is not None:
            self._toasts.append(notifications.error(escape(text), duration=TOAST_MS))
            while len(self._toasts) > MAX_TOASTS:
                self._toasts.popleft().destroy()
        self.toasted.append(text)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
