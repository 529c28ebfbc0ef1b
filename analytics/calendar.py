"""The exchange calendar: NYSE trading days, opens and closes, from `exchange_calendars`.

Holidays (with their names), early closes (13:00 the day after Thanksgiving, Christmas Eve …),
daylight saving and one-off closures come from the maintained calendar, not a weekday rule.
`trading_days` serves the statistics' baselines; `market_state` the status bar.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

EXCHANGE = "XNYS"  # New York Stock Exchange
MARKET_TZ = ZoneInfo("America/New_York")
FIRST_YEAR, LAST_YEAR = 1990, 2100  # the span the calendar is built for (it is built once)
OPENS_IN = timedelta(hours=12)  # closer than this, the next open is a countdown ("opens in 2 h 10 min")
CLOSES_IN = timedelta(hours=1)  # the last hour of a session counts down to its close


@functools.lru_cache(maxsize=1)
def exchange() -> xc.ExchangeCalendar:
    """The NYSE calendar from 1990 to 2100 (built once, about 0.3 s)."""
    return xc.get_calendar(EXCHANGE, start=f"{FIRST_YEAR}-01-01", end=f"{LAST_YEAR}-12-31")


@functools.lru_cache(maxsize=1)
def _holiday_names() -> dict[date, str]:
    cal = exchange()
    names = cal.regular_holidays.holidays(cal.first_session, cal.last_session, return_name=True)
    return {ts.date(): str(name) for ts, name in names.items()}


def _day(value: date | datetime | str | pd.Timestamp) -> date:
    return pd.Timestamp(value).date()


def is_trading_day(day: date | datetime | str) -> bool:
    """Whether the exchange holds a session on `day` (its own date, New York)."""
    return bool(exchange().is_session(pd.Timestamp(_day(day))))


def trading_days(start: date | str, end: date | str) -> list[date]:
    """The sessions from `start` to `end`, both included, oldest first."""
    sessions = exchange().sessions_in_range(pd.Timestamp(_day(start)), pd.Timestamp(_day(end)))
    return [ts.date() for ts in sessions]


def previous_trading_days(before: date | str, count: int) -> list[date]:
    """The `count` sessions just before `before` (not included), oldest first."""
    if count <= 0:
        return []
    cal = exchange()
    day = pd.Timestamp(_day(before))
    last = cal.date_to_session(day - pd.Timedelta(days=1), direction="previous")
    return [ts.date() for ts in cal.sessions_window(last, -count)]


def holiday_name(day: date | str) -> str | None:
    """The name of the holiday that closes the exchange on `day`, if one does."""
    day = _day(day)
    if day in _holiday_names():
        return _holiday_names()[day]
    if day.weekday() < 5 and not is_trading_day(day):
        return "special closure"  # one-off closings (a national day of mourning, a storm)
    return None


@dataclass(frozen=True)
class MarketState:
    """The exchange at one moment, for people: open or not, why, and what comes next."""

    at: datetime
    is_open: bool
    phase: str  # open, pre-market, after-hours, holiday, weekend (unknown: beyond the calendar's years)
    opens_at: datetime | None  # the next open (this session's, before it starts)
    closes_at: datetime | None  # the close of today's session (open or still to come)
    early_close: bool  # today's session ends before 16:00 New York
    holiday: str | None  # why today has no session

    def label(self, tz: tzinfo = MARKET_TZ, zone: str = "ET") -> str:
        """One line for the status bar, its times in `tz` (named `zone`): 'open until 13:00 ET
        (early close)', 'closed for Thanksgiving · opens Fri 09:30 ET', 'opens in 2 h 10 min',
        and in a session's last hour '… · closes in 45 min'."""
        if self.phase == "unknown":
            return f"no exchange calendar for {self.at:%Y}"
        if self.is_open:
            text = f"open until {_clock(self.closes_at, tz, zone)}"
            text += " (early close)" if self.early_close else ""
            left = self.closes_at - self.at
            return f"{text} · closes in {_span(left)}" if left < CLOSES_IN else text
        if self.opens_at is not None and self.opens_at - self.at <= OPENS_IN:
            return f"opens in {_span(self.opens_at - self.at)}"
        nxt = f"opens {_weekday_clock(self.opens_at, tz, zone)}" if self.opens_at else "closed"
        if self.holiday:
            return f"closed for {self.holiday} · {nxt}"
        if self.phase == "after-hours":
            return f"closed since {_clock(self.closes_at, tz, zone)} · {nxt}"
        return f"closed · {nxt}"


def market_state(at: datetime | None = None) -> MarketState:
    """The state of the exchange at `at` (now by default; naive means UTC)."""
    at = datetime.now(UTC) if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)
    cal = exchange()
    today = at.astimezone(MARKET_TZ).date()
    stamp = pd.Timestamp(at)
    if not cal.first_session.date() < today < cal.last_session.date():
        return MarketState(at, False, "unknown", None, None, False, None)  # beyond the calendar's years
    if cal.is_session(pd.Timestamp(today)):
        opens = cal.session_open(pd.Timestamp(today)).to_pydatetime()
        closes = cal.session_close(pd.Timestamp(today)).to_pydatetime()
        early = closes.astimezone(MARKET_TZ).time() < datetime(2000, 1, 1, 16).time()
        if opens <= at < closes:
            return MarketState(at, True, "open", None, closes, early, None)
        if at < opens:
            return MarketState(at, False, "pre-market", opens, closes, early, None)
        nxt = cal.next_open(stamp).to_pydatetime()
        return MarketState(at, False, "after-hours", nxt, closes, early, None)
    nxt = cal.next_open(stamp).to_pydatetime()
    holiday = holiday_name(today)
    return MarketState(at, False, "holiday" if holiday else "weekend", nxt, None, False, holiday)


def _clock(at: datetime | None, tz: tzinfo, zone: str) -> str:
    return f"{at.astimezone(tz):%H:%M} {zone}" if at else "—"


def _weekday_clock(at: datetime, tz: tzinfo, zone: str) -> str:
    return f"{at.astimezone(tz):%a %H:%M} {zone}"


def _span(delta: timedelta) -> str:
    """A countdown in whole minutes, rounded up: 53 s left is "1 min", never "0 min"."""
    minutes = max(0, math.ceil(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
