"""The live tables in headless Chromium: time zones, sorting, column widths, empty states, clicks.

Most tests serve the tables on their own (a small Panel app in this process, driven from Python as
the live page drives them), so what they check is the table's own doing; the widths are checked on
the served dashboard itself, at the widths a trader uses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import panel as pn
import pytest
from bokeh.document import Document
from playwright.sync_api import expect

from analytics.events import IndicatorAlert
from dashboard.web.views.critical import CriticalAlerts
from dashboard.web.views.filters import Filters
from dashboard.web.views.streams import AlertStream, IndicatorGrid, PatternStream
from dashboard.web.views.table import LiveTable
from tests.fixtures import (
    CH,
    as_json,
    calculation,
    critical_record,
    detection,
    free_port,
    indicator_record,
    open_page,
    pattern_record,
)
from tests.helpers import wait_for

AT = datetime(2026, 11, 27, 14, 31, 2, 123000, tzinfo=UTC)  # 09:31:02.123 in New York, 23:31:02.123 in Tokyo


@dataclass
class Tables:
    """One browser session's views, as the live page holds them, and its document."""

    filters: Filters
    patterns: PatternStream
    alerts: AlertStream
    indicators: IndicatorGrid
    critical: CriticalAlerts
    counts: LiveTable  # counts and scores, as the unusual-activity table has them
    doc: Document

    def run(self, work: Callable[[], None]) -> None:
        """Do `work` on the server's event loop, as the live page's callbacks do, and wait for it."""
        done, failed = threading.Event(), []

        def call():
            try:
                work()
            except Exception as exc:  # raised here, in the test
                failed.append(exc)
            finally:
                done.set()
        self.doc.add_next_tick_callback(call)
        assert done.wait(10), "the server did not run the callback"
        if failed:
            raise failed[0]

    def show(self, stream, *events) -> None:
        """Hand `stream` events and publish them, as a drain does."""
        def drain():
            for ev in events:
                stream.take(ev)
            stream.publish()
        self.run(drain)

    def set(self, obj, **params) -> None:
        self.run(lambda: obj.param.update(**params))


def _session(made: list[Tables]) -> pn.viewable.Viewable:
    filters = Filters(min_confidence=0.5)
    views = Tables(filters, PatternStream(filters, max_rows=300, floor=0.5), AlertStream(filters),
                   IndicatorGrid(filters), CriticalAlerts(notifications=False),
                   LiveTable(columns=[{"field": "symbol", "title": "Symbol"}, {"field": "n", "title": "Count", "kind": "int"},
                                      {"field": "z", "title": "z", "kind": "num"}], name="counts", height=200,
                             sizing_mode="stretch_width"), pn.state.curdoc)
    made.append(views)
    return pn.Column(
        views.critical,
        pn.Row(views.patterns, views.alerts, sizing_mode="stretch_width"),
        pn.Tabs(("Critical", views.critical.table), ("Indicators", views.indicators), ("Counts", views.counts),
                sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[str, list[Tables]]]:
    made: list[Tables] = []
    port = free_port()
    server = pn.serve({"tables": lambda: _session(made)}, port=port, threaded=True, show=False,
                      address="127.0.0.1", websocket_origin=[f"127.0.0.1:{port}"])
    wait_for(lambda: _answers(port), timeout=20)
    yield f"http://127.0.0.1:{port}/tables", made
    server.stop()


@pytest.fixture
def session(browser, app):
    """A page of the tables and its views (what the test drives from Python)."""
    url, made = app
    before = len(made)
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(url)
    page.locator("th", has_text="Key parameters").wait_for(timeout=30_000)
    views = wait_for(lambda: made[before] if len(made) > before else None, timeout=10)
    yield page, views
    page.close()


def pattern_at(symbol: str, name: str = "Doji", conf: float = 0.9, **fields):
    return msgspec.structs.replace(pattern_record(symbol, name, conf), ts=AT, detected_at=AT, **fields)


def patterns_of(page):
    return page.locator('[data-table="patterns"] table')


def grid_of(page):
    return page.locator('[data-table="indicators"] table')


def cells(table, header: str) -> list[str]:
    """The texts of one column of `table` (its header starts with `header`), top to bottom on screen."""
    index = table.locator("th").evaluate_all("(ths, h) => ths.findIndex(th => th.textContent.startsWith(h))", header)
    return table.locator("tbody tr:not(.pad)").evaluate_all("(trs, i) => trs.map(tr => tr.children[i].textContent)",
                                                            index)


def test_switching_the_zone_rewrites_every_shown_time_and_the_header_label(session):
    page, views = session
    table = patterns_of(page)
    views.show(views.patterns, pattern_at("ZONE1"), pattern_at("ZONE2"))
    expect(table.locator("th").first).to_have_text("Time (ET)")
    wait_for(lambda: cells(table, "Time (") == ["09:31:02.123"] * 2)
    views.set(views.patterns.table, zone="UTC")
    expect(table.locator("th").first).to_have_text("Time (UTC)")
    wait_for(lambda: cells(table, "Time (") == ["14:31:02.123"] * 2)
    views.set(views.patterns.table, zone="Asia/Tokyo")
    expect(table.locator("th").first).to_have_text("Time (GMT+9)")
    wait_for(lambda: cells(table, "Time (") == ["23:31:02.123"] * 2)


def test_a_header_click_sorts_up_then_down_then_back_to_newest_first_and_new_rows_land_in_place(session):
    page, views = session
    table = patterns_of(page)
    names = ["Hammer", "Doji", "MACD_BULLISH_CROSSOVER", "Engulfing"]
    views.show(views.patterns, *[pattern_at(f"S{i}", name) for i, name in enumerate(names)])
    wait_for(lambda: cells(table, "Pattern") == names[::-1])
    header = page.locator("th", has_text="Pattern")
    header.click()
    wait_for(lambda: cells(table, "Pattern") == sorted(names))
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(header).to_contain_text("▲")
    wait_for(lambda: header.evaluate("th => th.scrollWidth <= th.clientWidth"))  # the column made room for it
    assert wait_for(lambda: views.patterns.table.sort == "pattern")
    views.show(views.patterns, pattern_at("S9", "Gravestone"))  # streaming on while sorted
    wait_for(lambda: cells(table, "Pattern") == sorted([*names, "Gravestone"]))
    header.click()
    wait_for(lambda: cells(table, "Pattern") == sorted([*names, "Gravestone"], reverse=True))
    expect(header).to_have_attribute("aria-sort", "descending")
    header.click()
    wait_for(lambda: cells(table, "Pattern") == ["Gravestone", *names[::-1]])
    expect(header).not_to_have_attribute("aria-sort", "ascending")
    assert wait_for(lambda: views.patterns.table.sort == "")


def test_sorted_and_scrolled_down_new_rows_do_not_move_the_row_being_read(session):
    page, views = session
    views.show(views.patterns, *[pattern_at(f"R{i:03d}", conf=0.5 + i / 1000) for i in range(200)])
    table = patterns_of(page)
    page.locator('th[title="Confidence"]').first.click()  # ascending ("Conf."): R000 on top
    scroller = page.locator('[data-table="patterns"]')
    wait_for(lambda: cells(table, "Symbol")[:1] == ["R000"])
    scroller.evaluate("el => { el.scrollTop = 100 * 22; }")
    reading = page.locator("tr", has_text="R100")
    expect(reading).to_have_count(1)
    top = reading.evaluate("tr => tr.getBoundingClientRect().top")
    views.show(views.patterns, *[pattern_at(f"LOW{i}", conf=0.5) for i in range(5)])  # ties: newest first, above it
    wait_for(lambda: page.locator("tr", has_text="LOW4").count() == 0 and
             scroller.evaluate("el => el.scrollTop") >= 105 * 22)
    assert abs(reading.evaluate("tr => tr.getBoundingClientRect().top") - top) < 2
    scroller.evaluate("el => { el.scrollTop = 0; }")
    wait_for(lambda: cells(table, "Symbol")[:6] == ["LOW4", "LOW3", "LOW2", "LOW1", "LOW0", "R000"])


def test_the_keyed_grid_sorts_by_value_and_keeps_the_order_as_values_change(session):
    page, views = session
    views.show(views.indicators, *[indicator_record(s, "RSI", v) for s, v in (("AAA", 70.0), ("BBB", 30.0), ("CCC", 50.0))])
    page.locator(".bk-tab", has_text="Indicators").click()
    grid = grid_of(page)
    grid.locator("th", has_text="RSI").click()
    wait_for(lambda: cells(grid, "RSI") == ["30.00", "50.00", "70.00"])
    views.show(views.indicators, indicator_record("BBB", "RSI", 90.0))
    wait_for(lambda: cells(grid, "RSI") == ["50.00", "70.00", "90.00"])
    assert cells(grid, "Symbol") == ["CCC", "AAA", "BBB"]


def test_counts_and_scores_read_as_numbers_right_aligned_under_their_headers(session):
    page, views = session
    views.run(lambda: views.counts.reset([{"symbol": "AAA", "n": 9, "z": -1.5}, {"symbol": "BBB", "n": 1234, "z": 10.25},
                                          {"symbol": "CCC", "n": 10, "z": 2.0}]))
    page.locator(".bk-tab", has_text="Counts").click()
    table = page.locator('[data-table="counts"] table')
    table.locator("th", has_text="Count").click()
    wait_for(lambda: cells(table, "Count") == ["9", "10", "1,234"])  # by value (as text "10" < "9"), grouped
    table.locator("th", has_text="z").click()
    wait_for(lambda: cells(table, "z") == ["-1.50", "2.00", "10.25"])
    align = table.evaluate("t => [...t.querySelectorAll('th'), ...t.querySelector('tbody tr:not(.pad)').children]"
                           ".map(c => getComputedStyle(c).textAlign)")
    assert [a.replace("start", "left") for a in align] == ["left", "right", "right"] * 2  # headers, then cells


def test_a_hidden_table_is_drawn_now_and_then_and_at_once_when_shown(session):
    page, views = session
    hidden = page.locator("tr", has_text="HIDDEN")
    views.show(views.indicators, indicator_record("HIDDEN", "RSI", 42.0))
    views.show(views.patterns, pattern_at("SHOWN"))  # sent after it: once this one is drawn, that one has arrived
    expect(page.locator("tr", has_text="SHOWN")).to_have_count(1)
    assert hidden.count() == 0  # in a closed tab: not drawn with every message
    expect(hidden).to_have_count(1, timeout=5_000)  # but every two seconds
    expect(hidden).to_be_hidden()  # (the tab is still closed)
    views.show(views.indicators, indicator_record("HIDDEN2", "RSI", 43.0))
    views.show(views.patterns, pattern_at("SHOWN2"))
    expect(page.locator("tr", has_text="SHOWN2")).to_have_count(1)
    assert page.locator("tr", has_text="HIDDEN2").count() == 0
    page.locator(".bk-tab", has_text="Indicators").click()
    expect(page.locator("tr", has_text="HIDDEN2")).to_be_visible(timeout=1_500)  # at once, not two seconds on


def test_empty_tables_say_why_and_the_reason_follows_the_filters(session):
    page, views = session
    expect(page.get_by_text("Waiting for events…").first).to_be_visible()
    views.set(views.filters, min_confidence=1.0)
    views.show(views.patterns, pattern_at("LOWC", conf=0.9))
    expect(page.get_by_text("No patterns at ≥ 1.00: lower Min confidence")).to_be_visible()
    views.set(views.filters, min_confidence=0.5, symbols=["AAPL"])
    views.run(views.patterns.redraw)  # as the page does on a filter change
    expect(page.get_by_text("No events for AAPL yet").first).to_be_visible()
    views.set(views.filters, symbols=[])
    views.run(views.patterns.redraw)
    expect(page.locator("tr", has_text="LOWC")).to_have_count(1)


def test_paused_with_nothing_shown_the_table_counts_what_waits(session):
    page, views = session
    def paused_drain():
        for i in range(3):
            views.alerts.take(IndicatorAlert(channel=CH.alerts_indicators, ts=AT, received=0.0, symbol=f"P{i}",
                                             alert_type="RSI_OVERSOLD", data={"rsi": 20.0}))
        views.alerts.publish(paused=True)
    views.run(paused_drain)
    expect(page.get_by_text("Paused: 3 new events")).to_be_visible()
    views.run(views.alerts.redraw)  # resume
    expect(page.locator("tr", has_text="P2: RSI oversold")).to_have_count(1)


def test_a_click_on_a_symbol_sets_picked_every_time(session):
    page, views = session
    heard = []
    views.patterns.table.param.watch(lambda e: heard.append(e.new), "picked")
    views.show(views.patterns, pattern_at("CLICKME"))
    cell = page.locator("td.link", has_text="CLICKME")
    cell.click()
    wait_for(lambda: heard == ["CLICKME"])
    cell.click()
    wait_for(lambda: heard == ["CLICKME", "CLICKME"])
    assert cell.evaluate("td => getComputedStyle(td).cursor") == "pointer"


def test_a_cut_off_cell_shows_its_full_text_on_hover(session):
    page, views = session
    parameters = {f"resistance_level_{i}": 1000.25 + i for i in range(4)}
    views.show(views.patterns, pattern_at("LONG", parameters=parameters))
    cell = page.locator("tr", has_text="LONG").locator("td").last
    text = " ".join(f"{k}={v}" for k, v in parameters.items())  # wider than a column is ever sized
    expect(cell).to_have_text(text)
    assert cell.evaluate("td => td.scrollWidth > td.clientWidth")
    cell.hover()
    expect(cell).to_have_attribute("title", text)


def test_the_critical_banner_holds_its_dismiss_button_and_long_messages_wrap(session):
    page, views = session
    message = "Lost connection to the market data feed; reconnecting with backoff " * 5
    views.run(lambda: views.critical.take(msgspec.structs.replace(critical_record("CONNECTION_LOST"), message=message)))
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("reconnecting", timeout=10_000)
    box = page.locator(".ts-banner").bounding_box()
    button = page.get_by_role("button", name="Dismiss").bounding_box()
    assert box["x"] <= button["x"] and button["x"] + button["width"] <= box["x"] + box["width"]
    assert box["y"] <= button["y"] and button["y"] + button["height"] <= box["y"] + box["height"]
    row = page.locator("tr", has_text="CONNECTION_LOST")
    expect(row).to_have_count(1)
    assert row.evaluate("tr => tr.getBoundingClientRect().height") > 40  # wrapped onto lines, in full
    page.get_by_role("button", name="Dismiss").click()
    expect(banner).to_have_count(0)


# ---------------------------------------------------------------- the served dashboard


@pytest.mark.parametrize("width", [1000, 1920])
def test_every_header_and_key_value_shows_in_full_on_the_dashboard(browser, served, width):
    page = open_page(browser, served.url, width=width, height=1000)
    try:
        symbol = f"W{int(time.time() * 1000) % 100000}"
        served.publish("patterns:streaming", as_json(detection(symbol, "MACD_BULLISH_CROSSOVER", 0.93, time.time(),
                                                               parameters={"fast": 12, "slow": 26, "signal": 9})))
        served.publish("indicators:streaming", as_json(calculation(symbol, "BollingerBands", {
            "upper": 123456.789, "middle": -98765.4321, "lower": 2.5}, time.time())))
        expect(page.locator("td", has_text="MACD_BULLISH_CROSSOVER").first).to_be_visible(timeout=10_000)
        expect(page.locator("td", has_text="123456.79").first).to_be_attached(timeout=10_000)
        cut = page.locator("th, td").evaluate_all(
            "els => els.filter(e => e.offsetParent !== null && !e.closest('tr.pad') && e.textContent"
            " && !e.classList.contains('grow') && e.scrollWidth > e.clientWidth)"
            ".map(e => e.textContent)")
        assert cut == [], f"cut off at {width} px: {cut}"
        params = page.locator("tr", has_text=symbol).locator("td.grow").first  # the room left: enough for these
        expect(params).to_have_text("fast=12 slow=26 signal=9")
        assert params.evaluate("td => td.scrollWidth <= td.clientWidth")
    finally:
        page.close()
