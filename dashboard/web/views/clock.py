"""One clock for the page: the zone every time on it is shown in, its label, and a face that ticks.

The user picks exchange time (America/New_York, labelled "ET"), UTC or the browser's own zone.
The choice belongs to the browser: the face keeps it in localStorage and, when it renders, tells
Python what was kept and which zone the browser is in, so a reload comes back to the same zone.
The face ticks in the browser; the server sends nothing per tick, only the zone, its label and how
far TICKSTOCK_CLOCK sets the page's clock from this machine's.

`to_zone` and `iso` are how every other view writes a time in the chosen zone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import panel as pn
import param
from panel.custom import JSComponent

from dashboard.settings import clock_offset_s

EXCHANGE_ZONE = "America/New_York"
LABELS = {EXCHANGE_ZONE: "ET", "UTC": "UTC", "Etc/UTC": "UTC"}  # any other zone: its short name
FIXED = {"exchange": EXCHANGE_ZONE, "utc": "UTC"}  # the choices whose zone does not depend on the browser
_CSS = Path(__file__).with_name("clock.css").read_text(encoding="utf-8")  # read once, sent inline


def now() -> datetime:
    """The page's clock: this machine's time, or TICKSTOCK_CLOCK's advancing from its instant."""
    return datetime.fromtimestamp(time.time() + clock_offset_s(), UTC)


def to_zone(ts_utc: datetime | float, zone: str) -> datetime:
    """An instant (an aware datetime, a naive one meaning UTC, or epoch seconds) in `zone`."""
    if not isinstance(ts_utc, datetime):
        ts_utc = datetime.fromtimestamp(ts_utc, UTC)
    elif ts_utc.tzinfo is None:
        ts_utc = ts_utc.replace(tzinfo=UTC)
    return ts_utc.astimezone(ZoneInfo(zone))


def iso(ts: datetime | float, zone: str) -> str:
    """ISO 8601 in `zone` with its offset, to the millisecond: '2026-11-27T09:31:02.123-05:00'."""
    return to_zone(ts, zone).isoformat(timespec="milliseconds")


def label_of(zone: str, at: datetime | None = None) -> str:
    """How times in `zone` are labelled: 'ET', 'UTC', else the short name a browser gives the zone
    at `at` (en-US, as the tables' headers write it): an American zone's abbreviation ('PST'),
    elsewhere its offset ('GMT+1', 'GMT+5:30')."""
    if zone in LABELS:
        return LABELS[zone]
    local = to_zone(at or now(), zone)
    name = local.tzname() or ""
    if zone.startswith(("America/", "US/", "Pacific/Honolulu")) and name.isalpha():
        return name
    minutes = int(local.utcoffset().total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    return "GMT" if not minutes else f"GMT{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def known(zone: str) -> bool:
    """Whether `zone` is an IANA name this server can convert to."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class ClockFace(JSComponent):
    """The header's clock ticking in the browser, and the keeper of the choice in localStorage."""

    zone = param.String(default=EXCHANGE_ZONE, doc="IANA zone the face shows")
    label = param.String(default="ET", doc="shown after the time")
    offset_ms = param.Number(default=0.0, doc="how far the page's clock runs ahead of this machine's (TICKSTOCK_CLOCK)")
    choice = param.String(default="exchange", doc="the user's choice, kept in localStorage")
    choices = param.List(default=["exchange", "utc", "browser"], constant=True, doc="what localStorage may hold")
    browser_zone = param.String(default="", doc="the browser's own zone, as it reports it")

    _esm = "clock.js"  # beside this module; Panel sends it inline
    _stylesheets = [_CSS]


class Clock(pn.viewable.Viewer):
    """The page's zone: exchange, UTC or the browser's; `picker` for the sidebar, `face` for the header."""

    choice = param.Selector(default="exchange", objects=["exchange", "utc", "browser"], doc="the user's choice")
    zone = param.String(default=EXCHANGE_ZONE, doc="IANA zone every time is shown in (follows `choice`)")
    label = param.String(default="ET", doc="how times in `zone` are labelled")

    def __init__(self, **params):
        super().__init__(**params)
        self.picker = pn.widgets.Select(name="Time zone", options=self._options(""), value=self.choice,
                                        sizing_mode="stretch_width")
        self.face = ClockFace(choice=self.choice, offset_ms=1000 * clock_offset_s())
        self.picker.param.watch(self._picked, "value")
        self.face.param.watch(self._picked, "choice")  # a choice kept in the browser comes back on load
        self.face.param.watch(self._browser_zone, "browser_zone")
        self.param.watch(self._chosen, "choice")
        self._chosen()

    def _picked(self, event: param.parameterized.Event) -> None:
        if event.new in self.param.choice.objects:
            self.choice = event.new

    def _browser_zone(self, event: param.parameterized.Event) -> None:
        self.picker.options = self._options(event.new)
        if self.choice == "browser":
            self._chosen()

    def _chosen(self, *_) -> None:
        """The choice to the picker and the face first, then to `zone` and `label` (and whoever watches them)."""
        zone = self._zone()
        label = label_of(zone)
        self.picker.value = self.choice
        self.face.param.update(choice=self.choice, zone=zone, label=label)
        self.param.update(zone=zone, label=label)

    def _zone(self) -> str:
        """The choice's zone; the browser's until it is known (or if this server cannot convert to it): ET."""
        browser = self.face.browser_zone
        if self.choice == "browser":
            return browser if browser and known(browser) else EXCHANGE_ZONE
        return FIXED[self.choice]

    def _options(self, browser: str) -> dict[str, str]:
        return {"Exchange (ET)": "exchange", "UTC": "utc",
                f"Browser ({browser})" if browser else "Browser": "browser"}

    def __panel__(self) -> pn.viewable.Viewable:
        return self.face
