"""Desktop notifications for critical alerts, once the user has allowed them with a click."""

from __future__ import annotations

import param
from panel.custom import JSComponent

_ESM = """
export function render({ model, el }) {
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

    _esm = _ESM
    _stylesheets = [_CSS]

    def notify(self, title: str, body: str, tag: str = "") -> None:
        self._send_msg({"title": title, "body": body, "tag": tag})
