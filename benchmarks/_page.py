"""The dashboard page under measurement: Chromium settings, an init script that timestamps latency
probes in the DOM and on the websocket, and a meter that decodes the page's Bokeh websocket frames
into table updates (bytes per update against new rows).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import redis
from _publisher import probe_critical

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1500, "height": 1200}

# ------------------------------------------------------------------ in the page

# Runs before any page script. Every shadow root Bokeh/Panel attaches (and the document) gets a
# MutationObserver (childList, subtree); the first time a probe id (PB000123 / CP000123) appears in
# added DOM nodes,
# Date.now() is recorded, per place (table row, banner, toast, other) and overall, plus the time
# of the next animation frame after it. A WebSocket wrapper records when the message carrying
# each probe id arrived in the page, so publish→websocket and websocket→DOM can be told apart. The
# time spent in these hooks is accumulated (`cost`) so the instrumentation's own share is known.
INIT_JS = r"""
(() => {
  if (window.__tsProbes) return;
  const dom = {}, frame = {}, ws = {}, places = {};
  const cost = {observer_ms: 0, ws_ms: 0, records: 0, since: performance.now()};
  window.__tsProbes = {dom, frame, ws, places, cost};
  const RX = /(?:PB|CP)\d{6}(?!\d)/g;
  function place(node) {
    let n = node, depth = 0;
    while (n && depth < 60) {
      if (n.nodeType === 1) {
        if (n.getAttribute && n.getAttribute("role") === "alert") return "banner";
        const tag = n.tagName;
        if (tag === "TR" || tag === "TBODY") return "table";
        const cls = typeof n.className === "string" ? n.className : "";
        if (cls.indexOf("notyf") >= 0) return "toast";
      }
      n = n.parentNode || n.host;
      depth++;
    }
    return "other";
  }
  function scan(node, t, fresh) {
    const text = node.nodeType === 3 ? node.data : node.textContent;
    if (!text || (text.indexOf("PB") < 0 && text.indexOf("CP") < 0)) return;
    RX.lastIndex = 0;
    let m;
    while ((m = RX.exec(text)) !== null) {
      const id = m[0];
      const where = place(node);
      const key = id + "@" + where;
      if (!(key in places)) places[key] = t;
      if (!(id in dom)) { dom[id] = t; fresh.push(id); }
    }
  }
  function observed(records) {
    const t0 = performance.now();
    const t = Date.now();
    const fresh = [];
    cost.records += records.length;
    for (const r of records) for (const n of r.addedNodes) scan(n, t, fresh);
    if (fresh.length) requestAnimationFrame(() => { const f = Date.now(); for (const id of fresh) frame[id] = f; });
    cost.observer_ms += performance.now() - t0;
  }
  const opts = {childList: true, subtree: true};
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    new MutationObserver(observed).observe(root, opts);
    return root;
  };
  new MutationObserver(observed).observe(document, opts);
  const Native = window.WebSocket;
  class Probed extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const t0 = performance.now();
        if (typeof e.data !== "string") return;
        const d = e.data;
        if (d.indexOf("PB") >= 0 || d.indexOf("CP") >= 0) {
          const t = Date.now();
          RX.lastIndex = 0;
          let m;
          while ((m = RX.exec(d)) !== null) if (!(m[0] in ws)) ws[m[0]] = t;
        }
        cost.ws_ms += performance.now() - t0;
      });
    }
  }
  window.WebSocket = Probed;
})();
"""

def wait_caught_up(pages: list, redis_url: str, prefix: str, seq: int, timeout_s: float = 120.0) -> float | None:
    """Publish a marker critical alert (id CP9xxxxx) and wait until every page shows it: the page
    has worked through whatever the websocket delivered before it. Seconds taken, None on timeout."""
    marker = f"CP{900000 + seq:06d}"
    client = redis.Redis.from_url(redis_url)
    t0 = time.monotonic()
    try:
        client.publish(f"{prefix}:alerts:critical", probe_critical(marker, time.time()))
    finally:
        client.close()
    waiting = list(pages)
    while waiting and time.monotonic() - t0 < timeout_s:
        page = waiting[0]
        if page.evaluate(f"() => !!(window.__tsProbes && window.__tsProbes.dom[{marker!r}])"):
            waiting.pop(0)
        else:
            page.wait_for_timeout(200)
    return None if waiting else time.monotonic() - t0


COLLECT_JS = """() => { const p = window.__tsProbes || {dom: {}, frame: {}, ws: {}, places: {}, cost: {}};
  const c = p.cost || {}; const s = (performance.now() - (c.since || 0)) / 1000;
  return {...p, cost: {...c, seconds: s, pct_of_wall: s > 0 ? 100 * ((c.observer_ms || 0) + (c.ws_ms || 0)) / (s * 1000) : null}}; }"""


def open_dashboard(context, url: str, timeout_ms: int = 60_000, before_goto=None):
    """A new page with the dashboard loaded (tables and status bar drawn); `before_goto(page)` can
    attach listeners (a WsMeter) before the websocket opens."""
    page = context.new_page()
    page.on("dialog", lambda d: d.dismiss())
    result = before_goto(page) if before_goto is not None else None
    page.result = result
    page.goto(url, timeout=timeout_ms)
    page.locator("text=Pattern stream").wait_for(timeout=timeout_ms)
    page.locator("[data-status]").wait_for(timeout=timeout_ms)
    return page


# ------------------------------------------------------------------ websocket meter


def _plain(v):
    """Bokeh 3 wire values back to plain JSON ({"type": "map", "entries": ...} -> dict)."""
    if isinstance(v, dict):
        if v.get("type") == "map" and "entries" in v:
            out = {}
            for k, val in v["entries"]:
                out[k if isinstance(k, str) else json.dumps(k)] = _plain(val)
            return out
        return {k: _plain(val) for k, val in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _table_of(rows: list) -> str:
    if not rows:
        return "empty"
    r = rows[0]
    if "pattern" in r and "confidence" in r:
        return "patterns"
    if "sentence" in r:
        return "alerts"
    if "severity" in r and "message" in r:
        return "critical"
    if "symbol" in r and "other" in r:
        return "indicators"
    return "other"


def _find_ops(v, found: list) -> None:
    if isinstance(v, dict):
        if "op" in v and "rows" in v and isinstance(v["rows"], list):
            found.append(v)
            return
        for x in v.values():
            _find_ops(x, found)
    elif isinstance(v, list):
        for x in v:
            _find_ops(x, found)


@dataclass
class Update:
    t: float  # when the frames reached Playwright (our clock), s
    table: str
    op: str
    rows: int
    bytes: int  # header + metadata + content + buffers of the message carrying it


class WsMeter:
    """Counts every websocket frame the page receives and decodes Bokeh messages into table updates.

    Bokeh sends a message as frames: header (JSON with msgtype and num_buffers), metadata, content,
    then num_buffers binary buffers. Each LiveTable update is one PATCH-DOC message whose content
    holds the ESM custom event {op, rows}."""

    def __init__(self, page):
        self.frames = 0
        self.bytes = 0
        self.updates: list[Update] = []
        self.messages = 0
        self.by_msgtype: dict[str, list[int]] = {}
        self._parts: list = []
        self._expect = 0
        page.on("websocket", self._on_ws)

    def _on_ws(self, ws) -> None:
        ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        size = len(payload.encode()) if isinstance(payload, str) else len(payload)
        self.frames += 1
        self.bytes += size
        if not self._parts:
            try:
                header = json.loads(payload) if isinstance(payload, str) else None
            except ValueError:
                header = None
            if not isinstance(header, dict) or "msgtype" not in header:
                return  # out of step: skip until the next header
            self._expect = 3 + int(header.get("num_buffers") or 0)
        self._parts.append((payload, size))
        if len(self._parts) < self._expect:
            return
        parts, self._parts = self._parts, []
        self.messages += 1
        total = sum(s for _, s in parts)
        msgtype = json.loads(parts[0][0]).get("msgtype", "?")
        self.by_msgtype.setdefault(msgtype, []).append(total)
        content = parts[2][0]
        if not isinstance(content, str) or '"op"' not in content:
            return
        try:
            ops: list = []
            _find_ops(_plain(json.loads(content)), ops)
        except ValueError:
            return
        now = time.time()
        for op in ops:
            rows = op["rows"]
            self.updates.append(Update(now, _table_of(rows), str(op.get("op")), len(rows),
                                       total if len(ops) == 1 else len(json.dumps(op))))
