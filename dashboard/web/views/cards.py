"""HTML for the status bar, metric cards and health panel; every value is escaped first."""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

STATUS_COLOURS = {
    "active": "#1f9d55", "idle": "#7a8699", "stopped": "#4a5568",
    "producer stale": "#d69e2e", "redis disconnected": "#d64545", "disabled": "#7a8699",
}
HEALTH_COLOURS = {"healthy": "#1f9d55", "degraded": "#d69e2e", "unhealthy": "#d64545", "critical": "#d64545"}

CSS = Path(__file__).with_name("cards.css").read_text(encoding="utf-8")  # read once, sent inline


def _e(value) -> str:
    return escape("—" if value is None or value == "" else str(value))


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %Z")
    except ValueError:
        return iso


def status_bar(session: dict) -> str:
    status = session["status"]
    colour = STATUS_COLOURS.get(status, "#7a8699")
    market = "market open" if session.get("market_open") else "market closed"
    detail = session.get("market")  # from the exchange calendar: holidays, early closes, next open
    parts = [
        f'<span class="ts-badge" style="background:{colour}" data-status="{_e(status)}">{_e(status)}</span>',
        f'<span class="ts-kv">session <b>{_e(session.get("session_id"))}</b></span>',
        f'<span class="ts-kv">universe <b>{_e(session.get("universe"))}</b></span>',
        f'<span class="ts-kv">started <b>{_e(_when(session.get("started_at")))}</b></span>',
        f'<span class="ts-kv" data-market="{_e(session.get("market_phase"))}"><b>{market}</b>'
        f'{f" · {_e(detail)}" if detail else ""}</span>',
    ]
    if session.get("stop_reason"):
        parts.append(f'<span class="ts-kv">stopped: <b>{_e(session["stop_reason"])}</b></span>')
    return f'<div class="ts-bar">{"".join(parts)}</div>'


def card(label: str, value, bad: bool = False, key: str = "", title: str = "") -> str:
    cls = "ts-card bad" if bad else "ts-card"
    tip = f' title="{escape(title)}"' if title else ""
    return (f'<div class="{cls}" data-metric="{_e(key or label)}"{tip}><div class="v">{_e(value)}</div>'
            f'<div class="k">{_e(label)}</div></div>')


def metric_cards(stats: dict, lag: dict, subscriber: dict, session_dropped: int, recorder: dict | None = None,
                 unplaced: dict[str, int] | None = None) -> str:
    """The buffer's account and rates, the page's lag, and the events the page could not place
    (`unplaced`, by kind: a red card, only when there are some)."""
    by_type = stats.get("events_per_s_by_type", {})
    dropped = stats["dropped"] + session_dropped
    cards = [
        card("events/s", f'{stats.get("events_per_s", 0):g}', key="events_per_s"),
        card("patterns/s", f'{by_type.get("pattern", 0):g}', key="patterns_per_s"),
        card("indicators/s", f'{by_type.get("indicator", 0):g}', key="indicators_per_s"),
        card("alerts/s", f'{by_type.get("indicator_alert", 0):g}', key="alerts_per_s"),
        card("active symbols", stats.get("active_symbols", 0), key="active_symbols"),
        card("dedup rate", f'{100 * stats.get("dedup_rate", 0):.1f}%', key="dedup_rate"),
        card("lag p50", f'{lag["p50"]:.0f} ms' if lag.get("p50") is not None else "—", key="lag_p50"),
        card("lag p95", f'{lag["p95"]:.0f} ms' if lag.get("p95") is not None else "—", key="lag_p95"),
        card("received", stats["received"], key="received"),
        card("rejected", stats["rejected"], bad=stats["rejected"] > 0, key="rejected"),
        card("dropped", dropped, bad=dropped > 0, key="dropped"),
        card("reconnects", subscriber.get("reconnects", 0), bad=subscriber.get("state") != "connected",
             key="reconnects"),
    ]
    if unplaced:  # events of a kind this page has no place for: counted, never silently dropped
        cards.append(card("unplaced", sum(unplaced.values()), bad=True, key="unplaced",
                          title=", ".join(f"{kind}: {n}" for kind, n in sorted(unplaced.items()))))
    if recorder is not None:  # the history store: red while it is away or behind, or loses events
        behind = recorder["state"] == "retrying" or recorder["dropped"] > 0
        cards += [card("recorder backlog", recorder["backlog"], bad=behind, key="recorder_backlog"),
                  card("recorder lag", f'{recorder["lag_s"]:.1f} s', bad=behind, key="recorder_lag"),
                  card("recorder written", recorder["written"], key="recorder_written"),
                  card("recorder duplicate", recorder["duplicate"], key="recorder_duplicate"),
                  card("recorder skipped", recorder["skipped"], bad=recorder["skipped"] > 0, key="recorder_skipped"),
                  card("recorder dropped", recorder["dropped"], bad=recorder["dropped"] > 0,
                       key="recorder_dropped")]
    return f'<div class="ts-cards">{"".join(cards)}</div>'


def _figure(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def health_panel(health: dict | None) -> str:
    if not health:
        return '<div class="ts-health"><span class="k">No health report yet</span></div>'
    colour = HEALTH_COLOURS.get(str(health.get("status")).lower(), "#7a8699")
    rows = [
        ("status", f'<span class="ts-badge" style="background:{colour}">{_e(health.get("status"))}</span>'),
        ("ticks/s", _e(health.get("ticks_per_second"))),
        ("bars/min", _e(health.get("bars_per_minute"))),
        ("processing lag", f'{_e(health.get("processing_lag_ms"))} ms'),
        ("CPU", f'{_e(health.get("cpu_percent"))} %'),
        ("memory", f'{_e(health.get("memory_mb"))} MB ({_e(health.get("memory_percent"))} %)'),
        ("active symbols", _e(health.get("active_symbols"))),
        ("stale symbols", f'{_e(health.get("stale_count"))} {_e(" ".join(health.get("stale_symbols") or []))}'),
        ("connections", f'{_e(health.get("connections_active"))} active, '
                        f'{_e(health.get("connections_failed"))} failed'),
        ("reconnections", _e(health.get("reconnections"))),
        ("reported", f'{_e(health.get("reported_at"))} ({_e(health.get("age_s"))} s ago)'),
    ]
    # every other figure the producer sent, under its own name
    rows += [(_e(path.replace("_", " ")), _e(_figure(value)))
             for path, value in (health.get("details") or {}).items()]
    issues = health.get("issues") or []
    html = "".join(f'<span class="k">{k}</span><span>{v}</span>' for k, v in rows)
    if issues:
        html += '<span class="k">issues</span><span>' + "<br>".join(
            f'<span class="ts-issue">{_e(i)}</span>' for i in issues) + "</span>"
    return f'<div class="ts-health">{html}</div>'
