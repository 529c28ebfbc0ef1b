"""Desktop notifications for critical alerts, once the user has allowed them with a click.

The component also keeps the page's toasts still: Panel's toasts (notyf) slide and ripple in and
out, and a burst of critical alerts kept Chromium drawing frames at 60 per second, which delayed
the next alert. A document-wide style cuts their animations to 1 ms (the toasts still appear,
and notyf still hears the `animationend` it waits for to remove them)."""

from __future__ import annotations

from pathlib import Path

import param
from panel.custom import JSComponent

_CSS = Path(__file__).with_name("notify.css").read_text(encoding="utf-8")  # read once, sent inline
_TOASTS_CSS = Path(__file__).with_name("toasts.css").read_text(encoding="utf-8")  # for the document


class DesktopNotifier(JSComponent):
    """A button that asks for permission, then shows critical alerts as desktop notifications."""

    permission = param.String(default="default", doc="the browser's answer: default, granted, denied")
    enabled = param.Boolean(default=True, doc="offer desktop notifications (STREAMING_ALERT_NOTIFICATIONS)")
    document_css = param.String(default=_TOASTS_CSS, constant=True, doc="added once to the page (toasts.css)")

    _esm = "notify.js"  # beside this module; Panel sends it inline
    _stylesheets = [_CSS]

    def notify(self, title: str, body: str, tag: str = "") -> None:
        if self.enabled:
            self._send_msg({"title": title, "body": body, "tag": tag})
