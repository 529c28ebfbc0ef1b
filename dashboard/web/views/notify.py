"""Desktop notifications for critical alerts, once the user has allowed them with a click.

The component also keeps the page's toasts still: Panel's toasts (notyf) slide and ripple in and
out, and a burst of critical alerts kept Chromium drawing frames at 60 per second, which delayed
the next alert. A document-wide style cuts their animations to 1 ms (the toasts still appear,
and notyf still hears the `animationend` it waits for to remove them)."""

from __future__ import annotations

import param
from panel.custom import JSComponent

_ESM = """
const CALM_TOASTS = ".notyf__toast, .notyf__toast *, .notyf__ripple, .notyf__wrapper, .notyf__icon, .notyf__message, " +
  ".notyf__dismiss { animation-duration: 1ms !important; animation-delay: 0s !important; transition: none !important; }";

export function render({ model, el }) {
  if (!document.getElementById("ts-calm-toasts")) {   // notyf lives in the document, outside any shadow root
    const style = document.createElement("style");
    style.id = "ts-calm-toasts";
    style.textContent = CALM_TOASTS;
    document.head.appendChild(style);
  }
  if (!model.enabled) return;                        // STREAMING_ALERT_NOTIFICATIONS=false: no button
  const button = document.createElement("button");
  button.className = "ts-notify";
  function label() {
    const p = ("Notification" in window) ? Notification.permission : "unsupported";
    model.permission = p;
    button.textContent = p === "granted" ? "Desktop alerts on" :
                         p === "denied" ? "Desktop alerts blocked" :
                         p === "unsupported" ? "No desktop alerts here" : "Enable desktop alerts";
    button.disabled = p !== "default";
  }
  button.addEventListener("click", async () => {   // browsers ask only after a user gesture
    if ("Notification" in window) { await Notification.requestPermission(); }
    label();
  });
  label();
  el.appendChild(button);
  model.on("msg:custom", (msg) => {
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(msg.title, { body: msg.body, tag: msg.tag });  // title and body are plain text
    }
  });
}
"""

_CSS = """
.ts-notify { font: 13px system-ui, sans-serif; padding: 5px 10px; border-radius: 6px; border: 1px solid #cbd5e0;
             background: #fff; cursor: pointer; }
.ts-notify:disabled { cursor: default; color: #4a5568; background: #f7fafc; }
"""


class DesktopNotifier(JSComponent):
    """A button that asks for permission, then shows critical alerts as desktop notifications."""

    permission = param.String(default="default", doc="the browser's answer: default, granted, denied")
    enabled = param.Boolean(default=True, doc="offer desktop notifications (STREAMING_ALERT_NOTIFICATIONS)")

    _esm = _ESM
    _stylesheets = [_CSS]

    def notify(self, title: str, body: str, tag: str = "") -> None:
        if self.enabled:
            self._send_msg({"title": title, "body": body, "tag": tag})
