"""The history view against a real PostgreSQL: loads a range, appends live points, ranks unusual activity,
and reads off the server's loop, so one session's slow load never freezes another's page."""

from __future__ import annotations

import asyncio
import io
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
import sqlalchemy as sa
from bokeh.document import Document
from playwright.sync_api import expect

import analytics
from analytics.records import rows_from_frame
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest
from dashboard.web.views.history import HistoryView
from tests.fixtures import (
    CH,
    as_json,
    calculation,
    detection,
    indicator_alert,
    open_page,
    pattern_row,
    serve,
    stop,
)
from tests.helpers import wait_for


def run(coroutine) -> None:
    """Run a view's coroutine to its end on a thread of its own (Playwright's sync API, once a
    browser test has started it, keeps an event loop running on the main thread)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def load(v: HistoryView) -> None:
    """One load, as a click runs it, to its end."""
    run(v.load())


@contextmanager
def locked(url: str, table: str) -> Iterator[None]:
    """`table` locked by another connection, so a load reading it waits until the block ends."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
            conn.rollback()
    finally:
        engine.dispose()


def waiting_on_a_lock(url: str) -> bool:
    """A read (a load's SELECT, its plan's EXPLAIN or its COPY out; never the recorder's COPY in) of
    the database of `url` is waiting for a lock: a load is stuck on `locked`."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock' AND (ltrim(query) ILIKE 'select%' "
                                        "OR ltrim(query) ILIKE 'explain%' OR ltrim(query) ILIKE 'copy (%')")).scalar_one() > 0
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def history(module_database_url):
    analytics.upgrade(module_database_url)
    frames = analytics.sample_history(days=25, symbols=["AAPL", "MSFT", "NVDA"], patterns_per_symbol_day=12,
                                      end=datetime.now(UTC).date(), seed=3)
    for table in ("sessions", "patterns", "indicators", "indicator_alerts"):
        analytics.write_rows(module_database_url, table, rows_from_frame(frames[table], table))
    return module_database_url, frames


@pytest.fixture
def view(history, redis_url):
    ingest = Ingest(Settings.from_env({}), redis_url)
    v = HistoryView(ingest, history[0])
    yield v, ingest
    v.close()


def test_loading_a_range_charts_every_recorded_pattern_of_the_chosen_symbols(view, history):
    v, _ = view
    _, frames = history
    v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days")
    load(v)
    start, end = v.window()
    p = frames["patterns"]
    expected = p[p["symbol"].isin(["AAPL", "NVDA"]) & (p["detected_at"] >= start) & (p["detected_at"] <= end)]
    assert len(v.pattern_stream.data) == len(expected) > 0
    assert set(v.pattern_stream.data["symbol"]) == {"AAPL", "NVDA"}
    assert "patterns" in v.status and f"{len(expected):,}" in v.status


def test_indicator_series_carries_alert_markers_at_the_indicator_value(view):
    v, _ = view
    v.param.update(symbols=["MSFT"], range="last 30 days", indicator="RSI")
    load(v)
    series, marks = v.series_stream.data, v.marks_stream.data
    assert len(series) > 0 and set(series["symbol"]) == {"MSFT"}
    assert len(marks) > 0 and marks["alert_type"].str.startswith("RSI").all()
    first = marks.iloc[0]  # a marker sits on the latest RSI value at or before the alert
    before = series[series["t"] <= first["t"]].iloc[-1]
    assert first["value"] == before["value"]


def test_unusual_activity_table_ranks_symbols_by_z(view):
    v, _ = view
    v.param.update(symbols=[], range="last 30 days")
    load(v)
    rows = v.unusual_table.rows
    assert {r["symbol"] for r in rows} == {"AAPL", "MSFT", "NVDA"}
    zs = [r["z"] for r in rows if r["z"] is not None]
    assert zs == sorted(zs, reverse=True)


def test_live_points_are_appended_as_they_arrive(view):
    v, ingest = view
    v.param.update(symbols=["AAPL"], range="last hour")
    load(v)
    before = len(v.pattern_stream.data)
    deliver(ingest, *[(CH.patterns_streaming, detection(sym, "Doji", 0.9, time.time())) for sym in ("AAPL", "TSLA")])
    assert v.append_live() >= 1
    assert len(v.pattern_stream.data) == before + 1  # TSLA is not among the chosen symbols


def deliver(ingest: Ingest, *messages: tuple[str, dict]) -> None:
    """(channel, message) pairs as the subscriber hands them over, then buffered and flushed."""
    ingest.handle([[b"message", channel.encode(), as_json(message).encode()] for channel, message in messages])
    ingest.buffer.flush()


def rsi(symbol: str, value: float) -> tuple[str, dict]:
    return CH.indicators, calculation(symbol, "RSI", {"value": value}, time.time())


def test_live_batches_come_no_faster_than_their_redraws_allow_and_lose_nothing(view):
    v, ingest = view
    v.param.update(symbols=["AAPL", "MSFT"], range="last hour", indicator="RSI")
    assert v.append_live() == 0  # nothing loaded: the charts wait for a range
    load(v)
    before = len(v.series_stream.data)
    deliver(ingest, rsi("AAPL", 41.0))
    assert v.append_live() == 1  # the first batch after a load is drawn at once
    deliver(ingest, rsi("MSFT", 42.0), rsi("AAPL", 43.0))
    assert v.append_live() == 0  # within a second of the last redraw: held
    assert wait_for(v.append_live, timeout=5, message="the held batch was never drawn") == 2
    assert v.series_stream.data["value"].iloc[before:].tolist() == [41.0, 42.0, 43.0]


def test_with_more_symbols_than_lines_the_most_active_are_drawn_and_live_points_follow_them(redis_url,
                                                                                            private_database_url):
    from dashboard.web.views.history_frames import MAX_LINES

    url = private_database_url
    analytics.upgrade(url)
    symbols = [f"S{i:02d}" for i in range(MAX_LINES + 3)]
    frames = analytics.sample_history(days=2, symbols=symbols, patterns_per_symbol_day=10,
                                      end=datetime.now(UTC).date(), seed=5)
    for table in ("patterns", "indicators"):
        analytics.write_rows(url, table, rows_from_frame(frames[table], table))
    ingest = Ingest(Settings.from_env({}), redis_url)
    v = HistoryView(ingest, url)
    try:
        v.param.update(range="last 7 days", indicator="RSI")  # every symbol
        load(v)
        counts = v.patterns["symbol"].astype(str).value_counts()
        ranked = sorted(symbols, key=lambda s: (-counts.get(s, 0), s))
        drawn = set(v.series_stream.data["symbol"])
        assert drawn == set(ranked[:MAX_LINES])
        assert f"RSI drawn for the {MAX_LINES} symbols with the most patterns of {len(symbols)}" in v.status
        assert set(v.pattern_stream.data["symbol"]) == set(symbols)  # every symbol's patterns still shown
        left_out = ranked[-1]
        deliver(ingest, rsi(left_out, 44.0), rsi(ranked[0], 45.0))
        assert v.append_live() == 1
        assert v.series_stream.data.iloc[-1][["symbol", "value"]].tolist() == [ranked[0], 45.0]
    finally:
        v.close()
        analytics.db.dispose(url)


def drawn(doc: Document, column: str) -> int:
    """Points the page's plots hold in the Bokeh sources that have `column` (what the browser draws)."""
    from bokeh.models import ColumnDataSource

    return sum(len(m.data[column]) for m in doc.models if isinstance(m, ColumnDataSource) and column in m.data)


def test_a_reload_draws_the_loaded_markers_once_and_live_ones_after_them(view):
    v, ingest = view
    doc = Document()
    doc.add_root(v.__panel__().get_root(doc))  # the page's plots, as a session renders them
    v.param.update(symbols=["AAPL", "MSFT"], range="last 30 days", indicator="RSI")
    load(v)
    load(v)  # the same range again: replaced, not added to what was drawn
    loaded = len(v.marks_stream.data)
    assert loaded > 0 and drawn(doc, "alert_type") == loaded
    deliver(ingest, rsi("AAPL", 75.0), (CH.alerts_indicators, indicator_alert("AAPL", "RSI_OVERBOUGHT", {}, time.time())))
    assert wait_for(v.append_live, timeout=5) == 2
    assert drawn(doc, "alert_type") == loaded + 1


def test_a_database_that_is_away_is_reported_not_raised(redis_url):
    v = HistoryView(Ingest(Settings.from_env({}), redis_url), "postgresql+psycopg2://postgres@127.0.0.1:1/none")
    load(v)
    assert v.status.startswith("history unavailable") and "Traceback" not in v.status and not v.loading
    v.close()


def test_a_load_asked_for_while_one_runs_replaces_it_and_the_tab_says_it_is_loading(view, history):
    v, _ = view
    url = history[0]

    async def two_loads() -> None:
        with locked(url, "patterns"):
            v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days")
            first = asyncio.ensure_future(v.load())
            await asyncio.to_thread(wait_for, lambda: waiting_on_a_lock(url), message="the load never started")
            assert v.loading and v.status == "Loading last 30 days …"
            v.param.update(symbols=["MSFT"], range="last 7 days")
            await v.load()  # returns at once: the running load takes this request over
            assert v.loading and v.status == "Loading last 7 days …"
        await first

    run(two_loads())
    assert not v.loading and "patterns" in v.status
    assert set(v.pattern_stream.data["symbol"]) == {"MSFT"}  # the first load's result was never shown
    assert v.pattern_stream.data["at"].min() >= datetime.now(UTC) - timedelta(days=7, minutes=5)


def status_answer_time(base: str, timeout: float = 3.0) -> float:
    """Seconds the server takes to answer /api/status (`timeout` when it does not answer by then)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{base}/api/status", timeout=timeout) as resp:
            resp.read()
    except TimeoutError:
        return timeout
    return time.monotonic() - started


def test_a_slow_history_load_in_one_session_never_freezes_another_sessions_page(
        browser, redis_url, private_database_url):
    """One session loads history from a table another connection holds locked, so its load waits;
    meanwhile the server answers REST at once and another session's page keeps streaming. Once the
    lock goes, the load finishes and shows its figures."""
    url = private_database_url
    analytics.upgrade(url)
    now = datetime.now(UTC)
    analytics.write_rows(url, "patterns", [pattern_row(i, symbol="SLOW", detected_at=now - timedelta(minutes=i))
                                           for i in range(30)])
    served = serve(redis_url, {"DATABASE_URL": url}, "--record")
    loader = watcher = None
    try:
        loader = open_page(browser, served.url)
        watcher = open_page(browser, served.url)
        loader.locator(".bk-tab", has_text="History").click()
        with locked(url, "patterns"):
            loader.get_by_role("button", name="Load history").click()
            wait_for(lambda: waiting_on_a_lock(url), message="the load never reached the database")
            times = [status_answer_time(served.url) for _ in range(5)]
            assert max(times) < 1.0, f"/api/status took {max(times):.2f} s while another session loaded history"
            served.publish("patterns:streaming", detection("LIVE1", "Hammer", 0.9, time.time()))
            expect(watcher.locator("tr", has_text="LIVE1")).to_have_count(1, timeout=5_000)
            expect(loader.locator("[data-history-status]")).to_have_text("Loading last 24 hours …")
            assert waiting_on_a_lock(url)  # all of that happened while the load was still waiting
        expect(loader.locator("[data-history-status]")).to_contain_text("30 patterns", timeout=20_000)
        assert "Traceback" not in loader.content()
    finally:
        for page in (loader, watcher):
            if page is not None:
                page.close()
        stop(served)


def test_each_symbol_is_its_own_coloured_line_with_a_legend(view):
    v, _ = view
    v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days", indicator="RSI")
    load(v)
    chart = v._series_curve(v.series_stream.data)
    assert set(chart.keys()) == {"AAPL", "NVDA"}
    for symbol, curve in chart.items():  # no line jumps from one symbol's values to another's
        values, own = curve.dimension_values("value"), v.series_stream.data["symbol"] == symbol
        assert set(v.series_stream.data.loc[own, "value"]) == set(values[~np.isnan(values)])
        sessions = v.series_stream.data.loc[own, "at"].dt.tz_convert("America/New_York").dt.date.nunique()
        assert np.isnan(values).sum() == sessions - 1 > 10  # its line stops between sessions (see below)
    v.param.update(symbols=["MSFT"])
    load(v)
    chart = v._series_curve(v.series_stream.data)
    assert len(chart["MSFT"]) > 0 and len(chart["AAPL"]) == 0  # a line shown before is emptied, not left


def test_a_symbols_line_band_and_alerts_share_its_colour(view):
    v, _ = view
    v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days", indicator="BollingerBands")
    load(v)
    data = v.series_stream.data
    curves, bands = v._series_curve(data), v._series_bands(data)

    def colour(element):
        return hv.Store.lookup_options("bokeh", element, "style").kwargs["color"]

    lines = {symbol: colour(curves[symbol]) for symbol in ("AAPL", "NVDA")}
    assert lines["AAPL"] != lines["NVDA"]
    for symbol, line in lines.items():
        band, own = bands[symbol], data[data["symbol"] == symbol]
        assert colour(band) == line
        lower, upper = band.dimension_values("lower"), band.dimension_values("upper")
        shown = ~np.isnan(lower)
        assert shown.sum() == len(own) and (lower[shown] < upper[shown]).all()  # a band around each value
    v.indicator = "RSI"  # (the sample has no Bollinger alerts)
    load(v)
    assert all(len(band) == 0 for band in v._series_bands(v.series_stream.data))  # RSI has no band
    marks = v.marks_stream.data
    alerts = v._alert_marks(marks)
    assert set(marks["symbol"]) == {"AAPL", "NVDA"}
    assert list(colour(alerts).apply(alerts)) == [lines[s] for s in marks["symbol"]]
    v.symbols = ["MSFT"]  # the symbols shown before do not push it down the palette
    load(v)
    assert colour(v._series_curve(v.series_stream.data)["MSFT"]) == lines["AAPL"]


def test_macd_draws_its_signal_as_a_dashed_line_of_the_symbols_colour(view, history):
    v, _ = view
    v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days", indicator="MACD")
    load(v)
    start, end = v.window()  # (the sample goes on past now: today's whole session)
    frames = history[1]["indicators"]
    data = v.series_stream.data
    curves, second = v._series_curve(data), v._series_second(data)
    for symbol in ("AAPL", "NVDA"):
        recorded = frames[(frames["symbol"] == symbol) & (frames["indicator"] == "MACD")
                          & (frames["calculated_at"] >= start) & (frames["calculated_at"] <= end)]
        values = second[symbol].dimension_values("second")
        assert sorted(values[~np.isnan(values)]) == sorted(recorded["signal"])  # the signal, not the MACD line
        style = hv.Store.lookup_options("bokeh", second[symbol], "style").kwargs
        assert style["line_dash"] == "dashed"
        assert style["color"] == hv.Store.lookup_options("bokeh", curves[symbol], "style").kwargs["color"]
    assert "dashed: signal" in v._series_curve(data).opts.get().kwargs["title"]


def test_the_symbol_picker_offers_the_recorded_symbols_before_any_load(view):
    v, _ = view
    run(v.offer_symbols())
    assert set(v._symbol_widget.options.values()) == {"AAPL", "MSFT", "NVDA"}


def test_charts_and_csv_show_times_in_the_pages_zone(view, history):
    v, _ = view
    v.param.update(symbols=["AAPL"], range="last 30 days", zone="America/New_York")
    load(v)
    points = v.pattern_stream.data
    first = v.patterns["detected_at"].iloc[0]
    assert points["t"].iloc[0] == first.tz_convert("America/New_York").tz_localize(None)
    v.zone = "UTC"
    assert v.pattern_stream.data["t"].iloc[0] == first.tz_convert("UTC").tz_localize(None)
    assert v.series_stream.data["t"].iloc[0] == v.series_stream.data["at"].iloc[0].tz_localize(None)
    v.zone = "Asia/Tokyo"
    csv = pd.read_csv(io.StringIO(v.csv()))
    assert csv["detected_at"].iloc[0] == first.tz_convert("Asia/Tokyo").isoformat(timespec="milliseconds")
    assert csv["detected_at"].str.endswith("+09:00").all()


def test_a_reload_with_other_symbols_drops_their_legend_entries(view):
    v, _ = view
    plot = hv.renderer("bokeh").get_plot(hv.DynamicMap(v._series_curve, streams=[v.series_stream]))
    Document().add_root(plot.state)

    def legend() -> set[str]:
        return {item.label.value for item in plot.state.legend[0].items if item.visible}

    v.param.update(symbols=["AAPL", "NVDA"], range="last 30 days")
    load(v)
    assert legend() == {"AAPL", "NVDA"}
    v.param.update(symbols=["MSFT"])
    load(v)
    assert legend() == {"MSFT"}


def test_the_charts_take_the_pages_theme(view):
    v, _ = view
    panes = [p for p in v.__panel__().select(pn.pane.HoloViews)]
    assert len(panes) == 1 and {p.theme for p in panes} == {"caliber"}
    v.theme = "dark"
    assert {p.theme for p in panes} == {"dark_minimal"}


def test_the_charts_write_in_the_pages_kind_of_font_not_bokehs_serif_fallback(view):
    from bokeh.models import Axis, Legend, Title

    v, _ = view
    doc = Document()
    doc.add_root(v.__panel__().get_root(doc))
    v.param.update(symbols=["AAPL"], range="last 30 days")
    load(v)
    titles = [m for m in doc.models if isinstance(m, Title) and m.text]
    axes = [m for m in doc.models if isinstance(m, Axis)]
    legends = [m for m in doc.models if isinstance(m, Legend)]
    assert len(titles) == 2 and len(axes) == 4 and len(legends) == 2
    assert {t.text_font for t in titles} | {a.axis_label_text_font for a in axes} | {
        a.major_label_text_font for a in axes} | {g.label_text_font for g in legends} == {"sans-serif"}
    assert {a.axis_label_text_font_style for a in axes} == {"normal"}


def test_before_any_load_the_tab_says_what_to_do_instead_of_showing_empty_charts(view):
    v, _ = view
    holder = next(c for c in v.__panel__().select(pn.Column) if any(isinstance(o, pn.pane.HoloViews) for o in c))
    assert not holder.visible and v.status.startswith("Nothing loaded yet")  # empty axes would read 1970
    v.param.update(symbols=["AAPL"], range="last 30 days")
    load(v)
    assert holder.visible and "patterns" in v.status
