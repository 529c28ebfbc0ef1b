"""The page's clock and its figures in headless Chromium: the zone a user picks comes back on reload,
the face ticks in it, the market state follows the clock setting, and only changed figures travel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import panel as pn
import pytest
from playwright.sync_api import expect

from dashboard.settings import clock_offset_s
from dashboard.stream.session import SessionTracker
from dashboard.web.views.clock import Clock, label_of
from dashboard.web.views.status import Metrics, StatusBar
from tests.fixtures import Served, free_port, open_page, serve, stop

THANKSGIVING = "2026-11-26T15:00:00Z"  # 10:00 in New York, 00:00 the next day in Tokyo
STATUS = {"buffer": {"received": 5, "rejected": 0, "dropped": 0}, "subscriber": {"state": "connected"},
          "recorder": {"state": "writing", "backlog": 0, "lag_s": 0.1, "written": 5, "duplicate": 0, "skipped": 0,
                       "dropped": 0}}


def clock_page() -> pn.viewable.Viewable:
    """The clock's picker and face, and the figures that show times, as a page lays them out."""
    clock = Clock()
    metrics = Metrics()
    metrics.refresh(STATUS, session_dropped=0)  # 18 cards: the recorder's too
    bar = StatusBar(session=SessionTracker().snapshot(), zone=clock.param.zone)
    return pn.Column(pn.Row(bar, clock.face, sizing_mode="stretch_width"), clock.picker, metrics,
                     sizing_mode="stretch_width")


@pytest.fixture(scope="module")
def clock_url() -> Iterator[str]:
    """The page above, served in this process with its clock set to Thanksgiving."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TICKSTOCK_CLOCK", THANKSGIVING)
        clock_offset_s.cache_clear()
        port = free_port()
        server = pn.serve({"clock": clock_page}, port=port, address="127.0.0.1", show=False, threaded=True,
                          websocket_origin=f"127.0.0.1:{port}")
        try:
            yield f"http://127.0.0.1:{port}/clock"
        finally:
            server.stop()
            clock_offset_s.cache_clear()


def test_the_chosen_zone_comes_back_on_reload_and_the_face_ticks_in_it(browser, clock_url):
    context = browser.new_context(timezone_id="Asia/Tokyo", viewport={"width": 1000, "height": 700})
    try:
        page = context.new_page()
        page.goto(clock_url)
        face, bar, picker = page.locator(".ts-clock"), page.locator("[data-market]"), page.locator("select")
        expect(face).to_have_text(re.compile(r"^10:00:\d\d ET$"), timeout=20_000)  # the setting's instant
        expect(bar).to_contain_text("closed for Thanksgiving · opens Fri 09:30 ET")
        picker.select_option(label="UTC")
        expect(face).to_have_text(re.compile(r"^15:00:\d\d UTC$"))
        expect(bar).to_contain_text("opens Fri 14:30 UTC")  # the market's times in the chosen zone
        page.reload()
        expect(face).to_have_text(re.compile(r"^15:00:\d\d UTC$"), timeout=20_000)
        expect(picker).to_have_value(re.compile("UTC"))
        picker.select_option(label="Browser (Asia/Tokyo)")
        expect(face).to_have_text(re.compile(r"^00:0\d:\d\d GMT\+9$"))
        expect(bar).to_contain_text("opens Fri 23:30 GMT+9")
        page.reload()
        expect(face).to_have_text(re.compile(r"GMT\+9$"), timeout=20_000)
    finally:
        context.close()
    fresh = open_page_plain(browser, clock_url)  # another browser keeps its own choice: the default
    try:
        expect(fresh.locator(".ts-clock")).to_have_text(re.compile(r"ET$"), timeout=20_000)
    finally:
        fresh.context.close()


def test_zone_labels_are_the_ones_the_browser_writes(browser, clock_url):
    page = open_page_plain(browser, clock_url)
    try:
        zones = ["Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/Los_Angeles",
                 "America/Chicago", "America/Sao_Paulo", "Australia/Sydney"]
        written = page.evaluate("""zones => zones.map(z => new Intl.DateTimeFormat("en-US", {timeZone: z,
            timeZoneName: "short"}).formatToParts(new Date()).find(p => p.type === "timeZoneName").value)""", zones)
        assert written == [label_of(z, datetime.now(UTC)) for z in zones]  # as the tables' headers say them
    finally:
        page.context.close()


def open_page_plain(browser, url: str, width: int = 1000):
    context = browser.new_context(viewport={"width": width, "height": 700})
    page = context.new_page()
    page.goto(url)
    return page


def card_rows(page) -> list[int]:
    """How many metric cards each row holds, top to bottom."""
    tops = page.locator("[data-metric]").evaluate_all("cards => cards.map(c => Math.round(c.getBoundingClientRect().top))")
    return [tops.count(top) for top in sorted(set(tops))]


@pytest.mark.parametrize("width", [1000, 1600])
def test_the_cards_fill_their_rows_evenly_and_the_bar_keeps_to_one_line(browser, clock_url, width):
    page = open_page_plain(browser, clock_url, width)
    try:
        expect(page.locator("[data-metric]")).to_have_count(18, timeout=20_000)
        page.wait_for_function("() => true")
        rows = card_rows(page)
        assert sum(rows) == 18 and max(rows) - min(rows) <= 1, rows  # never two alone on a last row
        bar = page.locator(".ts-bar")
        assert bar.evaluate("b => b.getBoundingClientRect().height") < 30  # one line
        assert "closed for Thanksgiving" in bar.get_attribute("title")  # the whole text on hover
        page.screenshot(path=f"/tmp/shots/clock/clock-page-{width}.png")
    finally:
        page.context.close()


def test_on_the_day_after_thanksgiving_the_status_bar_counts_down_to_the_early_close(browser, clock_url, monkeypatch):
    monkeypatch.setenv("TICKSTOCK_CLOCK", "2026-11-27T17:15:00Z")  # 12:15 in New York; the close is at 13:00
    clock_offset_s.cache_clear()  # the next page reads the setting afresh
    page = open_page_plain(browser, clock_url, 1600)
    try:
        expect(page.locator("[data-market]")).to_have_text(
            re.compile(r"^market open until 13:00 ET \(early close\) · closes in 4[45] min$"), timeout=20_000)
        expect(page.locator(".ts-clock")).to_have_text(re.compile(r"^12:1\d:\d\d ET$"))
    finally:
        page.context.close()
        clock_offset_s.cache_clear()


@pytest.fixture(scope="module")
def thanksgiving(redis_url) -> Iterator[Served]:
    """The real page, served with its clock set to Thanksgiving."""
    served = serve(redis_url, {"TICKSTOCK_CLOCK": THANKSGIVING})
    yield served
    stop(served)


def test_the_served_page_says_the_market_is_closed_for_thanksgiving(browser, thanksgiving):
    page = open_page(browser, thanksgiving.url, width=1600)
    try:
        expect(page.locator("[data-market]")).to_have_text("market closed for Thanksgiving · opens Fri 09:30 ET",
                                                           timeout=10_000)
    finally:
        page.close()


def test_a_quiet_page_sends_no_figures_and_a_change_sends_only_its_own(browser, thanksgiving):
    frames: list[str] = []
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    try:
        page.goto(thanksgiving.url)
        rejected = page.locator('[data-metric="rejected"] .v')
        expect(rejected).to_have_text(re.compile(r"\d+"), timeout=30_000)
        page.wait_for_timeout(2000)  # the first full figures have come; the page is quiet
        frames.clear()
        page.wait_for_timeout(2000)
        assert not [f for f in frames if "esm_event" in f and "dedup rate" in f]  # nothing changed, nothing sent
        before = int(rejected.inner_text())
        thanksgiving.publish("patterns:streaming", "this is not json")
        expect(rejected).to_have_text(str(before + 1), timeout=10_000)
        sent = [f for f in frames if '"rejected"' in f]
        assert sent and not [f for f in sent if "dedup rate" in f]  # the changed cards only
    finally:
        page.close()
