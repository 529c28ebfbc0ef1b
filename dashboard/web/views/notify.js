// DesktopNotifier (notify.py): a button that asks for permission (browsers ask only after a user
// gesture), then shows critical alerts as desktop notifications; and a document-wide style that
// keeps Panel's toasts (notyf) still.

export function render({ model, el }) {
  if (!document.getElementById("ts-calm-toasts")) {   // notyf lives in the document, outside any shadow root
    const style = document.createElement("style");
    style.id = "ts-calm-toasts";
    style.textContent = model.document_css;       // toasts.css
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
