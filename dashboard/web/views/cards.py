"""The figures of the status bar, metric cards and health panel, and the component that shows them.

Each view describes what it shows as figures: key -> {"k": label, "v": value, "bad": shown in red,
"title": hover text, "colour": a badge's colour, "data": a value for the element's data-<key>
attribute}, all text. `Figures` sends the browser only the figures that
changed since the last time (unchanged ones send nothing), and the browser writes each with
textContent (cards.js): values are never markup. Its `object` is the same figures as HTML (every
value escaped), for notebooks and tests.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import param
from panel.custom import JSComponent

from analytics.calendar import market_state
from dashboard.web.views.clock import EXCHANGE_ZONE, label_of, to_zone

STATUS_COLOURS = {
    "active": "#1f9d55", "idle": "#7a8699", "stopped": "#4a5568",
    "producer stale": "#d69e2e", "redis disconnected": "#d64545", "disabled": "#7a8699",
}
HEALTH_COLOURS = {"healthy": "#1f9d55", "degraded": "#d69e2e", "unhealthy": "#d64545", "critical": "#d64545"}

CSS = Path(__file__).with_name("cards.css").read_text(encoding="utf-8")  # read once, sent inline
Figure = dict  # {"k", "v", "bad", "title", "colour", "data"}: every one optional but "v"


class Figures(JSComponent):
    """A status bar, a grid of cards or a health panel, updated figure by figure."""

    kind = param.Selector(default="cards", objects=["bar", "cards", "health"], constant=True,
                          doc="how the figures are laid out (cards.css)")

    _esm = "cards.js"  # beside this module; Panel sends it inline
    _stylesheets = [CSS]

    def __init__(self, **params):
        super().__init__(**params)
        self.figures: dict[str, Figure] = {}  # what the browser shows, in order

    def show(self, figures: dict[str, Figure]) -> None:
        """Send the browser what changed since the last figures; nothing when nothing did."""
        message = delta(self.figures, figures)
        self.figures = figures
        if message is not None:
            self._send_msg(message)

    def _handle_msg(self, msg) -> None:
        """A view rendered (a page opened or redrew): it asks for every figure once."""
        self._send_msg({"set": self.figures, "drop": [], "order": list(self.figures), "all": True})

    @property
    def object(self) -> str:
        """The figures as the browser lays them out, as HTML ("" before there are any)."""
        return html(self.kind, self.figures) if self.figures else ""


def delta(shown: dict[str, Figure], figures: dict[str, Figure]) -> dict | None:
    """The figures that changed, the keys of those gone and the order of all; None if nothing changed."""
    changed = {key: f for key, f in figures.items() if shown.get(key) != f}
    gone = [key for key in shown if key not in figures]
    return {"set": changed, "drop": gone, "order": list(figures)} if changed or gone else None


# ------------------------------------------------------------------ the figures of each view


def _text(value) -> str:
    return "—" if value is None or value == "" else str(value)


def _when(iso: str | None, zone: str) -> Figure:
    """A time of day in the page's zone, labelled; the full instant on hover."""
    if not iso:
        return {"v": "—"}
    try:
        at = to_zone(datetime.fromisoformat(iso), zone)
    except ValueError:
        return {"v": iso}
    return {"v": f"{at:%H:%M:%S} {label_of(zone, at)}", "title": at.isoformat(), "data": at.isoformat()}


def bar_figures(session: dict, zone: str = EXCHANGE_ZONE) -> dict[str, Figure]:
    """Status, session, universe, start and the market's state (its times in `zone`)."""
    status = session["status"]
    figures = {
        "status": {"v": status, "colour": STATUS_COLOURS.get(status, "#7a8699"), "data": status},
        "session": {"k": "session", "v": _text(session.get("session_id"))},
        "universe": {"k": "universe", "v": _text(session.get("universe"))},
        "started": {"k": "started", **_when(session.get("started_at"), zone)},
        "market": _market(session, zone),
    }
    if session.get("stop_reason"):
        figures["stopped"] = {"k": "stopped:", "v": str(session["stop_reason"])}
    return figures


def _market(session: dict, zone: str) -> Figure:
    """The state at the tracker's instant (`market_at`), said in `zone`; else what the session says.
    One phrase: 'market closed for Thanksgiving · opens Fri 09:30 ET', 'market closed · opens in 2 h 10 min'."""
    at = session.get("market_at")
    if at:
        state = market_state(datetime.fromisoformat(at))
        is_open, detail, phase = state.is_open, state.label(ZoneInfo(zone), label_of(zone, state.at)), state.phase
    else:
        is_open, detail, phase = session.get("market_open"), session.get("market"), session.get("market_phase")
    said = "market open" if is_open else "market closed"
    if detail:
        said = f"market {detail}" if detail.startswith(("open ", "closed")) else f"{said} · {detail}"
    return {"v": said, "data": _text(phase)}


def metric_figures(stats: dict, lag: dict, subscriber: dict, session_dropped: int, recorder: dict | None = None,
                   unplaced: dict[str, int] | None = None) -> dict[str, Figure]:
    """The buffer's account and rates, the page's lag, and the events the page could not place
    (`unplaced`, by kind: a red card, only when there are some)."""
    by_type = stats.get("events_per_s_by_type", {})
    dropped = stats["dropped"] + session_dropped
    figures = {
        "events_per_s": _card("events/s", f'{stats.get("events_per_s", 0):g}'),
        "patterns_per_s": _card("patterns/s", f'{by_type.get("pattern", 0):g}'),
        "indicators_per_s": _card("indicators/s", f'{by_type.get("indicator", 0):g}'),
        "alerts_per_s": _card("alerts/s", f'{by_type.get("indicator_alert", 0):g}'),
        "active_symbols": _card("active symbols", stats.get("active_symbols", 0)),
        "dedup_rate": _card("dedup rate", f'{100 * stats.get("dedup_rate", 0):.1f}%'),
        "lag_p50": _card("lag p50", f'{lag["p50"]:.0f} ms' if lag.get("p50") is not None else "—"),
        "lag_p95": _card("lag p95", f'{lag["p95"]:.0f} ms' if lag.get("p95") is not None else "—"),
        "received": _card("received", stats["received"]),
        "rejected": _card("rejected", stats["rejected"], bad=stats["rejected"] > 0),
        "dropped": _card("dropped", dropped, bad=dropped > 0),
        "reconnects": _card("reconnects", subscriber.get("reconnects", 0), bad=subscriber.get("state") != "connected"),
    }
    if unplaced:  # events of a kind this page has no place for: counted, never silently dropped
        figures["unplaced"] = _card("unplaced", sum(unplaced.values()), bad=True,
                                    title=", ".join(f"{kind}: {n}" for kind, n in sorted(unplaced.items())))
    if recorder is not None:  # the history store: red while it is away or behind, or loses events
        behind = recorder["state"] == "retrying" or recorder["dropped"] > 0
        figures.update(
            recorder_backlog=_card("recorder backlog", recorder["backlog"], bad=behind),
            recorder_lag=_card("recorder lag", f'{recorder["lag_s"]:.1f} s', bad=behind),
            recorder_written=_card("recorder written", recorder["written"]),
            recorder_duplicate=_card("recorder duplicate", recorder["duplicate"]),
            recorder_skipped=_card("recorder skipped", recorder["skipped"], bad=recorder["skipped"] > 0),
            recorder_dropped=_card("recorder dropped", recorder["dropped"], bad=recorder["dropped"] > 0),
        )
    return figures


def _card(label: str, value, bad: bool = False, title: str = "") -> Figure:
    card = {"k": label, "v": _text(value)}
    return {**card, **({"bad": True} if bad else {}), **({"title": title} if title else {})}


def _figure(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return _text(value)


def health_figures(health: dict | None, zone: str = EXCHANGE_ZONE) -> dict[str, Figure]:
    """The producer's latest report, every figure it sent; its time in `zone`."""
    if not health:
        return {"none": {"k": "No health report yet", "v": ""}}
    g = health.get
    status = _text(g("status"))
    reported = _when(g("reported_at"), zone)
    figures = {
        "status": {"k": "status", "v": status, "colour": HEALTH_COLOURS.get(status.lower(), "#7a8699")},
        "ticks": {"k": "ticks/s", "v": _text(g("ticks_per_second"))},
        "bars": {"k": "bars/min", "v": _text(g("bars_per_minute"))},
        "lag": {"k": "processing lag", "v": f'{_text(g("processing_lag_ms"))} ms'},
        "cpu": {"k": "CPU", "v": f'{_text(g("cpu_percent"))} %'},
        "memory": {"k": "memory", "v": f'{_text(g("memory_mb"))} MB ({_text(g("memory_percent"))} %)'},
        "active": {"k": "active symbols", "v": _text(g("active_symbols"))},
        "stale": {"k": "stale symbols", "v": f'{_text(g("stale_count"))} {_text(" ".join(g("stale_symbols") or []))}'},
        "connections": {"k": "connections",
                        "v": f'{_text(g("connections_active"))} active, {_text(g("connections_failed"))} failed'},
        "reconnections": {"k": "reconnections", "v": _text(g("reconnections"))},
        "reported": {"k": "reported", **reported, "v": f'{reported["v"]} ({_text(g("age_s"))} s ago)'},
    }
    # every other figure the producer sent, under its own name
    figures.update({f"details.{path}": {"k": path.replace("_", " "), "v": _figure(value)}
                    for path, value in (g("details") or {}).items()})
    if g("issues"):
        figures["issues"] = {"k": "issues", "v": "\n".join(str(i) for i in g("issues")), "bad": True}
    return figures


# ------------------------------------------------------------------ the same figures as HTML


def _attrs(key: str, f: Figure, kind: str) -> str:
    data = f' data-metric="{escape(key)}"' if kind == "cards" else ""
    data += f' data-{escape(key)}="{escape(f["data"])}"' if "data" in f else ""
    return data + (f' title="{escape(f["title"])}"' if f.get("title") else "")


def _html(key: str, f: Figure, kind: str) -> str:
    v = escape(f["v"])
    if kind == "cards":
        return (f'<div class="ts-card{" bad" if f.get("bad") else ""}"{_attrs(key, f, kind)}><div class="v">{v}</div>'
                f'<div class="k">{escape(f["k"])}</div></div>')
    if "colour" in f:
        badge = f'<span class="ts-badge" style="background:{f["colour"]}"{_attrs(key, f, kind)}>{v}</span>'
        return f'<span class="k">{escape(f["k"])}</span><span>{badge}</span>' if kind == "health" else badge
    if kind == "health":
        return (f'<span class="k">{escape(f["k"])}</span>'
                f'<span class="{"ts-issue" if f.get("bad") else "v"}"{_attrs(key, f, kind)}>{v}</span>')
    k = f'{escape(f["k"])} ' if f.get("k") else ""
    return f'<span class="ts-kv"{_attrs(key, f, kind)}>{k}<b>{v}</b></span>'


def html(kind: str, figures: dict[str, Figure]) -> str:
    """What cards.js builds from `figures`, as HTML: every value escaped."""
    cls = {"bar": "ts-bar", "cards": "ts-cards", "health": "ts-health"}[kind]
    return f'<div class="{cls}">{"".join(_html(key, f, kind) for key, f in figures.items())}</div>'


def status_bar(session: dict, zone: str = EXCHANGE_ZONE) -> str:
    """The status bar of `session` as HTML."""
    return html("bar", bar_figures(session, zone))
