"""The symbol view against a real PostgreSQL: history joined with the live stream (each event once,
in time order), markers on their series, base rates from recorded days, and the live part alone
when there is no database."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta

import holoviews as hv
import pandas as pd
import pytest
from bokeh.document import Document

import analytics
from analytics.calendar import previous_trading_days
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest
from dashboard.web.views.symbol import SymbolView
from dashboard.web.views.symbol_frames import base_rates
from tests.fixtures import CH, calculation, detection, indicator_alert, pattern_frame, record

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(minutes=40)  # well inside "last hour"


def at(minute: int, seconds: int = 0) -> datetime:
    return START + timedelta(minutes=minute, seconds=seconds)


def bar(symbol: str, minute: int) -> list:
    """One bar's four indicator records, values derived from the minute (so each is recognisable)."""
    ts, m = at(minute), float(minute)
    values = {"RSI": {"value": 40.0 + m}, "SMA": {"value": 100.0 + m},
              "MACD": {"macd": m / 10, "signal": m / 20, "histogram": m / 20},
              "BollingerBands": {"upper": 105.0 + m, "middle": 100.0 + m, "lower": 95.0 + m}}
    return [record(CH.indicators, calculation(symbol, name, v, ts)) for name, v in values.items()]


def pattern(symbol: str, minute: int, name: str = "Doji", close: float | None = None) -> object:
    params = {"open": 1.0} if close is None else {"open": 1.0, "close": close}
    return record(CH.patterns_streaming, detection(symbol, name, 0.9, at(minute, 5), parameters=params))


def alert(symbol: str, minute: int, kind: str) -> object:
    return record(CH.alerts_indicators, indicator_alert(symbol, kind, {}, at(minute, 10)))


def in_thread(fn) -> None:
    """Run `fn` on a thread without an event loop: an opening's load then runs to its end at once
    (as the server would run it on its loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(fn).result()


def live(ingest: Ingest, *batches: list) -> None:
    """Batches of events through the process's buffer, as the subscriber hands them over (they
    become the recent events a view opened now starts from). The buffer keeps the latest value of
    an indicator in a batch: one bar per batch."""
    for events in batches:
        ingest.buffer.take(events)
        ingest.buffer.flush()


@pytest.fixture
def ingest(redis_url):
    return Ingest(Settings.from_env({}), redis_url)


@pytest.fixture
def store(private_database_url):
    analytics.upgrade(private_database_url)
    return private_database_url


def recorded_minutes(frame: pd.DataFrame, indicator: str) -> list[int]:
    rows = frame[frame["indicator"].astype(str) == indicator]
    return [int((t - START).total_seconds() // 60) for t in rows["calculated_at"]]


def test_history_and_live_join_at_the_seam_each_point_once_in_time_order(ingest, store):
    history = [ev for m in range(10) for ev in bar("AAPL", m)] + [pattern("AAPL", 3), alert("AAPL", 5, "RSI_OVERBOUGHT")]
    analytics.write_events(store, history + [ev for m in range(10) for ev in bar("MSFT", m)])
    live(ingest, *[bar("AAPL", m) for m in range(8, 12)], [pattern("AAPL", 3)])  # 8, 9 and 3: recorded too
    view = SymbolView(ingest, store, span="last hour")
    in_thread(lambda: view.open("aapl"))
    assert view.symbol == "AAPL" and not view.loading
    assert view.status == "48 indicator values, 1 pattern, 1 alert (last hour, history and live)"
    assert recorded_minutes(view.frames.indicators, "RSI") == list(range(12))
    assert len(view.sources["RSI"].data) == 12 and view.sources["RSI"].data["t"].is_monotonic_increasing
    assert len(view.sources["patterns"].data) == 1  # recorded and replayed: one detection
    for ev in [*bar("AAPL", 11), *bar("AAPL", 12), *bar("MSFT", 12), pattern("AAPL", 12), alert("AAPL", 12,
                                                                                              "MACD_BULLISH_CROSS")]:
        view.take(ev)
    assert view.flush() > 0
    assert recorded_minutes(view.frames.indicators, "RSI") == list(range(13))  # minute 11 again: not twice
    assert view.sources["RSI"].data["value"].tolist() == [40.0 + m for m in range(13)]
    assert view.sources["BollingerBands"].data["upper"].tolist() == [105.0 + m for m in range(13)]
    assert len(view.sources["patterns"].data) == 2
    assert not view.frames.indicators.duplicated(["calculated_at", "indicator"]).any()


def test_alerts_sit_on_their_indicators_line_and_patterns_on_the_price(ingest, store):
    analytics.write_events(store, [ev for m in range(6) for ev in bar("NVDA", m)]
                           + [alert("NVDA", 2, "RSI_OVERBOUGHT"), alert("NVDA", 4, "BB_UPPER_BREAK"),
                              pattern("NVDA", 1), pattern("NVDA", 3, "Hammer", close=104.5)])
    view = SymbolView(ingest, store, span="last hour")
    in_thread(lambda: view.open("NVDA"))
    view.take(alert("NVDA", 5, "MACD_BEARISH_CROSS"))
    view.flush()
    s = view.sources
    assert s["RSI alerts"].data[["y", "alert"]].values.tolist() == [[42.0, "RSI_OVERBOUGHT"]]  # RSI at minute 2
    assert s["price alerts"].data[["y", "alert"]].values.tolist() == [[104.0, "BB_UPPER_BREAK"]]  # middle band
    assert s["MACD alerts"].data[["y", "alert"]].values.tolist() == [[0.5, "MACD_BEARISH_CROSS"]]  # MACD at 5
    # a detection without a close sits on the middle band; one with a close at its close
    assert s["patterns"].data[["y", "pattern"]].values.tolist() == [[101.0, "Doji"], [104.5, "Hammer"]]
    assert [r["pattern"] for r in view.recent.rows] == ["Hammer", "Doji"]  # newest first


def test_times_are_plotted_on_the_wall_clock_of_the_zone(ingest, store):
    analytics.write_events(store, bar("AMD", 0))
    view = SymbolView(ingest, store, span="last hour")
    in_thread(lambda: view.open("AMD"))
    utc = pd.Timestamp(at(0))
    assert view.sources["RSI"].data["t"].tolist() == [utc.tz_convert("America/New_York").tz_localize(None)]
    view.zone = "UTC"
    assert view.sources["RSI"].data["t"].tolist() == [utc.tz_localize(None)]
    view.zone = "Asia/Kolkata"
    assert view.sources["RSI"].data["t"].tolist() == [utc.tz_convert("Asia/Kolkata").tz_localize(None)]


def noon(day) -> datetime:
    return pd.Timestamp(datetime.combine(day, time(12)), tz="America/New_York").tz_convert(UTC).to_pydatetime()


def test_base_rates_count_detections_per_recorded_trading_day(ingest, store):
    today = pd.Timestamp.now(tz="America/New_York").date()
    d3, d2, d1 = previous_trading_days(today, 3)
    older = previous_trading_days(d3, 1)[0]
    rows = ([record(CH.patterns_streaming, detection("TSLA", "Doji", 0.9, noon(d3) + timedelta(minutes=i)))
             for i in range(2)]
            + [record(CH.patterns_streaming, detection("TSLA", "Hammer", 0.9, noon(d2)))]
            + [record(CH.patterns_streaming, detection("TSLA", "Doji", 0.9, noon(d1) + timedelta(minutes=i)))
               for i in range(4)]
            + [record(CH.patterns_streaming, detection("MSFT", "Doji", 0.9, noon(older)))])
    analytics.write_events(store, rows)
    view = SymbolView(ingest, store, span="last hour")
    in_thread(lambda: view.open("TSLA"))
    view.take(pattern("TSLA", 20))
    view.flush()
    live_today = int(pd.Timestamp(at(20, 5)).tz_convert("America/New_York").date() == today)
    # d3, d2 and d1 are recorded (TSLA's first detection is on d3): Doji 6 in 3 days, Hammer 1 in 3
    assert view.rates.rows[::-1] == [
        {"pattern": "Doji", "today": live_today, "per_day": 2.0, "days": "3 trading days"},
        {"pattern": "Hammer", "today": 0, "per_day": 1 / 3, "days": "3 trading days"}]


def test_without_recorded_days_the_base_rate_says_so():
    frame = pattern_frame(("AAPL", "Doji", "2025-01-24 15:00"))
    rows = base_rates(frame.iloc[:0], frame, pd.Timestamp("2025-01-24").date())
    assert rows == [{"pattern": "Doji", "today": 1, "per_day": None, "days": "no history"}]


def test_without_a_database_it_shows_the_live_part_and_says_history_is_off(ingest):
    live(ingest, bar("META", 0), [*bar("META", 1), *bar("AAPL", 1)])
    view = SymbolView(ingest, None)
    view.open("META")
    assert view.status == "History is off (no database): showing live events only"
    assert len(view.sources["SMA"].data) == 2
    for ev in [*bar("META", 2), pattern("META", 2), *bar("AAPL", 2)]:
        view.take(ev)
    view.flush()
    assert view.sources["SMA"].data["value"].tolist() == [100.0, 101.0, 102.0]
    assert len(view.sources["patterns"].data) == 1
    assert set(view.picker.options) == {"META", "AAPL"}


def test_a_database_that_is_away_is_one_line_and_the_live_part_stays(ingest):
    live(ingest, bar("META", 0))
    view = SymbolView(ingest, "postgresql+psycopg2://postgres@127.0.0.1:1/none")
    in_thread(lambda: view.open("META"))
    assert view.status.startswith("history unavailable: OperationalError") and "\n" not in view.status
    assert view.status.endswith("showing live events only") and len(view.sources["RSI"].data) == 1


def test_closed_the_view_is_hidden_and_ignores_every_symbol(ingest):
    view = SymbolView(ingest, None)
    layout = view.__panel__()
    assert not layout.visible
    view.open("AAPL")
    assert layout.visible
    view.hide()
    assert not layout.visible and view.symbol == "" and len(view.sources["RSI"].data) == 0
    view.take(bar("AAPL", 0)[0])
    assert view.flush() == 0 and len(view.sources["RSI"].data) == 0


def test_picking_a_symbol_opens_it_and_the_picker_offers_recorded_symbols(ingest, store):
    analytics.write_events(store, bar("WMT", 0))
    view = SymbolView(ingest, store, span="last hour")
    in_thread(lambda: asyncio.run(view.offer_recorded()))
    view.flush()
    assert "WMT" in view.picker.options
    in_thread(lambda: setattr(view.picker, "value", "WMT"))
    assert view.symbol == "WMT" and len(view.sources["RSI"].data) == 1


def test_two_detections_of_one_bar_in_two_batches_are_both_drawn_and_a_repeat_is_not(ingest):
    view = SymbolView(ingest, None)
    view.open("AMZN")
    for batch in ([*bar("AMZN", 0), pattern("AMZN", 0, "Doji")], [pattern("AMZN", 0, "Hammer")],
                  [pattern("AMZN", 0, "Doji")], [alert("AMZN", 0, "RSI_OVERBOUGHT")], [alert("AMZN", 0, "BB_UPPER_BREAK")]):
        for ev in batch:
            view.take(ev)
        view.flush()
    assert view.sources["patterns"].data["pattern"].tolist() == ["Doji", "Hammer"]
    assert view.sources["RSI alerts"].data["alert"].tolist() == ["RSI_OVERBOUGHT"]
    assert view.sources["price alerts"].data["alert"].tolist() == ["BB_UPPER_BREAK"]


def panels(view: SymbolView) -> list:
    """The Bokeh figures of what the view's charts pane shows now: price, RSI, MACD."""
    plot = hv.renderer("bokeh").get_plot(view.charts.object)
    Document().add_root(plot.state)
    return [p.state for p in plot.traverse(lambda p: p, [lambda p: type(p).__name__ == "OverlayPlot"])]


def test_each_panel_keeps_its_own_value_range_only_time_is_shared(ingest, store):
    analytics.write_events(store, [ev for m in range(6) for ev in bar("NVDA", m)]
                           + [alert("NVDA", 2, "RSI_OVERBOUGHT"), alert("NVDA", 4, "BB_UPPER_BREAK"),
                              alert("NVDA", 5, "MACD_BEARISH_CROSS")])
    view = SymbolView(ingest, store, span="last hour")
    in_thread(lambda: view.open("NVDA"))
    price, rsi, macd = panels(view)
    assert 90 < price.y_range.start < 95 and 110 < price.y_range.end < 115  # the bands, not 0 (RSI's, MACD's alerts)
    assert (rsi.y_range.start, rsi.y_range.end) == (0, 100)
    assert -1 < macd.y_range.start < 0.1 and 0.4 < macd.y_range.end < 1
    assert price.x_range is rsi.x_range is macd.x_range


def test_the_panels_take_the_pages_colours_and_name_the_zone_under_the_shared_axis(ingest):
    view = SymbolView(ingest, None)
    view.open("AAPL")  # no database: the live part, drawn at once
    shown = view.charts.object
    assert [f.xaxis[0].axis_label for f in panels(view)] == ["", "", "time (ET)"]
    assert {f.background_fill_color for f in panels(view)} == {"#ffffff"}
    view.theme = "dark"
    assert view.charts.object is not shown  # drawn anew, in the theme's colours
    assert {f.background_fill_color for f in panels(view)} == {"#181818"}
    assert {f.legend[0].label_text_color for f in panels(view)} == {"#e6e9ee"}
    view.zone = "UTC"
    assert panels(view)[-1].xaxis[0].axis_label == "time (UTC)"
