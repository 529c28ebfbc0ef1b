"""The exchange calendar on days whose answer is known: holidays, early closes, daylight saving."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from analytics.calendar import (
    holiday_name,
    is_trading_day,
    market_state,
    previous_trading_days,
    trading_days,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_thanksgiving_is_a_holiday_and_the_day_after_closes_early():
    assert not is_trading_day(date(2026, 11, 26)) and holiday_name(date(2026, 11, 26)) == "Thanksgiving"
    state = market_state(utc("2026-11-27T17:00"))  # 12:00 in New York
    assert state.is_open and state.early_close
    assert state.label() == "open until 13:00 ET (early close)"
    assert not market_state(utc("2026-11-27T18:30")).is_open  # 13:30 New York: closed already


def test_a_holiday_says_why_and_when_it_opens_next():
    state = market_state(utc("2026-11-26T16:00"))  # Thanksgiving, 11:00 in New York
    assert (state.is_open, state.phase) == (False, "holiday")
    assert state.label() == "closed for Thanksgiving · opens Fri 09:30 ET"


def test_a_one_off_closure_is_not_a_trading_day():
    assert not is_trading_day(date(2025, 1, 9))  # national day of mourning for President Carter
    assert holiday_name(date(2025, 1, 9)) == "special closure"


def test_the_open_follows_daylight_saving():
    before = market_state(utc("2026-03-06T14:00"))  # Friday, EST: opens 14:30 UTC
    after = market_state(utc("2026-03-09T13:40"))  # Monday, EDT: opened 13:30 UTC
    assert not before.is_open and before.opens_at == utc("2026-03-06T14:30")
    assert before.label() == "opens in 30 min"
    assert after.is_open


def test_before_the_open_it_counts_down_and_on_a_weekend_it_names_the_day():
    assert market_state(utc("2026-11-30T12:20")).label() == "opens in 2 h 10 min"  # 07:20 New York
    assert market_state(utc("2026-11-28T15:00")).label() == "closed · opens Mon 09:30 ET"


def test_in_a_sessions_last_hour_it_counts_down_to_the_close():
    assert market_state(utc("2026-11-27T17:15")).label() == "open until 13:00 ET (early close) · closes in 45 min"
    assert market_state(utc("2026-11-30T20:59")).label() == "open until 16:00 ET · closes in 1 min"
    assert market_state(utc("2026-11-30T20:59:07")).label() == "open until 16:00 ET · closes in 1 min"  # 53 s: not "0 min"
    assert market_state(utc("2026-11-30T19:00")).label() == "open until 16:00 ET"  # an hour to go: no countdown


def test_the_label_gives_its_times_in_the_zone_asked_for():
    thanksgiving = market_state(utc("2026-11-26T16:00"))
    assert thanksgiving.label(UTC, "UTC") == "closed for Thanksgiving · opens Fri 14:30 UTC"
    assert thanksgiving.label(ZoneInfo("Asia/Tokyo"), "JST") == "closed for Thanksgiving · opens Fri 23:30 JST"
    early = market_state(utc("2026-11-27T17:00"))
    assert early.label(UTC, "UTC") == "open until 18:00 UTC (early close)"


def test_trading_days_skip_weekends_and_holidays():
    assert trading_days("2026-12-23", "2026-12-29") == [date(2026, 12, 23), date(2026, 12, 24), date(2026, 12, 28),
                                                         date(2026, 12, 29)]
    assert previous_trading_days(date(2026, 11, 30), 3) == [date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)]


def test_a_moment_beyond_the_calendars_years_is_said_plainly():
    state = market_state(utc("1970-01-01T00:00"))
    assert (state.is_open, state.phase, state.label()) == (False, "unknown", "no exchange calendar for 1970")
