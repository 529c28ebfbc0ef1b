"""The page in headless Chromium: what a trader sees, fed by real Redis messages."""

from __future__ import annotations

import json
import time
import uuid

from playwright.sync_api import expect

from tests.fixtures import as_json, detection, open_page, serve, stop
from tests.helpers import wait_for


def sym(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:5].upper()}"


def pattern(symbol: str, name: str = "Doji", conf: float = 0.85) -> str:
    """A detection of `symbol` made now, as published."""
    return as_json(detection(symbol, name, conf, time.time()))


def row(page, text: str):
    return page.locator("tr", has_text=text)


def test_published_events_appear_in_their_tables(served, page):
    s = sym("PAT")
    served.publish("patterns:streaming", pattern(s, "Hammer", 0.91))
    served.publish("alerts:indicators", json.dumps({"alert_type": "RSI_OVERSOLD", "symbol": s, "data": {"rsi": 24.25}}))
    served.publish("indicators:streaming", json.dumps({"event": "indicator_calculated", "calculation": {
        "indicator_type": "RSI", "symbol": s, "values": {"value": 24.25}}}))
    expect(row(page, s).filter(has_text="Hammer")).to_have_count(1, timeout=10_000)
    expect(row(page, s).filter(has_text="Hammer")).to_contain_text("0.91")
    expect(page.get_by_text(f"{s}: RSI oversold (24.2)")).to_be_visible()
    expect(row(page, s).filter(has_text="24.25").first).to_be_visible()


def test_status_bar_follows_the_session(served, page):
    served.publish("streaming:session_started", json.dumps(
        {"event": "session_started", "data": {"session_id": "sess-browser-1", "symbol_universe_key": "u:test"}}))
    expect(page.locator("[data-status]")).to_have_text("active", timeout=10_000)
    expect(page.get_by_text("sess-browser-1")).to_be_visible()
    served.publish("streaming:session_stopped", json.dumps(
        {"event": "session_stopped", "data": {"session_id": "sess-browser-1", "reason": "market_close"}}))
    expect(page.locator("[data-status]")).to_have_text("stopped", timeout=10_000)


def test_rejected_messages_are_counted_in_red(served, page):
    before = int(page.locator('[data-metric="rejected"] .v').inner_text())
    served.publish("patterns:streaming", "this is not json")
    expect(page.locator('[data-metric="rejected"] .v')).to_have_text(str(before + 1), timeout=10_000)
    expect(page.locator('[data-metric="rejected"]')).to_have_class("ts-card bad")


def test_two_sessions_both_see_an_event(browser, served, page):
    other = open_page(browser, served.url)
    try:
        s = sym("TWO")
        served.publish("patterns:streaming", pattern(s))
        expect(row(page, s)).to_have_count(1, timeout=10_000)
        expect(row(other, s)).to_have_count(1, timeout=10_000)
    finally:
        other.close()


def test_pause_freezes_and_resume_catches_up(served, page):
    first, during = sym("PRE"), sym("DUR")
    served.publish("patterns:streaming", pattern(first))
    expect(row(page, first)).to_have_count(1, timeout=10_000)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    served.publish("patterns:streaming", pattern(during))
    expect(page.get_by_text("new events waiting")).to_be_visible(timeout=10_000)
    expect(row(page, during)).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(row(page, during)).to_have_count(1, timeout=10_000)


def test_symbol_filter_shows_only_chosen_symbols_without_losing_others(served, page):
    keep, hide = sym("KEEP"), sym("HIDE")
    served.publish("patterns:streaming", pattern(keep))
    served.publish("patterns:streaming", pattern(hide))
    expect(row(page, hide)).to_have_count(1, timeout=10_000)
    expect(page.locator(".choices__item--choice", has_text=keep).first).to_be_attached()  # offered (within 1 s)
    choice = page.locator(".choices__input--cloned").first
    choice.click()
    choice.press_sequentially(keep, delay=20)  # Choices.js filters on key events
    expect(page.get_by_role("option", name=keep)).to_be_visible()
    choice.press("Enter")
    expect(row(page, hide)).to_have_count(0, timeout=10_000)
    expect(row(page, keep)).to_have_count(1)
    page.locator(".choices__button").first.click()  # remove the chosen symbol: everything is back
    expect(row(page, hide)).to_have_count(1, timeout=10_000)


HOSTILE = [
    '<img src=x onerror="window.__xss=1;alert(1)">',
    "<script>window.__xss=2;alert(2)</script>",
    '"><svg onload="window.__xss=3">',
    "[x](javascript:window.__xss=4) **bold**",
]


def test_html_in_every_string_field_shows_as_text_and_runs_nothing(served, page):
    for i, evil in enumerate(HOSTILE):
        served.publish("streaming:session_started", json.dumps(
            {"event": "session_started", "data": {"session_id": evil, "symbol_universe_key": evil, "trigger_type": evil}}))
        served.publish("patterns:streaming", json.dumps({"symbol": evil, "pattern_type": evil, "confidence": 0.9,
                                                         "timeframe": evil, "parameters": {evil: evil}}))
        served.publish("alerts:indicators", json.dumps({"alert_type": evil, "symbol": evil, "data": {evil: evil}}))
        served.publish("indicators:streaming", json.dumps({"indicator": evil, "symbol": evil, "values": {evil: i}}))
        served.publish("alerts:critical", json.dumps({"type": evil, "message": evil, "severity": evil}))
        served.publish("streaming:health", json.dumps({"status": evil, "issues": [evil],
                                                       "stale_symbols": {"count": 1, "symbols": [evil]}}))
    expect(row(page, HOSTILE[-1]).first).to_be_visible(timeout=10_000)
    expect(page.get_by_role("alert").first).to_contain_text(HOSTILE[-1])
    for evil in HOSTILE:
        expect(page.get_by_text(evil).first).to_be_attached()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []


def test_critical_alert_shows_at_once_while_patterns_wait_for_the_flush(browser, redis_url):
    slow = serve(redis_url, {"STREAMING_BUFFER_INTERVAL": "8000"})
    page = open_page(browser, slow.url)
    try:
        s = sym("WAIT")
        slow.publish("patterns:streaming", pattern(s))
        slow.publish("alerts:critical", json.dumps({"type": "CONNECTION_LOST", "message": f"feed lost {s}",
                                                    "severity": "critical"}))
        expect(page.get_by_role("alert")).to_contain_text(f"feed lost {s}", timeout=3_000)
        # the pattern is still buffered as the banner shows (checked now, not after the toast: on a
        # busy machine the toast can take long enough for the 8 s batch to arrive first)
        expect(row(page, s).filter(has_text="Doji")).to_have_count(0, timeout=1_000)
        expect(page.locator(".notyf__message", has_text=s)).to_be_visible()  # the toast
        expect(row(page, s).filter(has_text="Doji")).to_have_count(1, timeout=15_000)
    finally:
        page.close()
        stop(slow)


def pattern_rows(page):
    """The pattern table's rows on screen (the table draws only those), top to bottom."""
    scroller = page.locator('.scroller[data-table="patterns"]')
    return scroller, scroller.locator("tbody tr:not(.pad)")


def test_a_full_table_draws_only_the_visible_rows_newest_first_and_scrolling_reveals_older(served, page):
    tag = sym("V")
    pipe = served.redis.pipeline(transaction=False)
    for i in range(400):  # more than a screenful, fewer than the 1,000 rows kept
        pipe.publish(f"{served.prefix}:patterns:streaming", pattern(f"{tag}{i:03d}"))
    pipe.execute()
    scroller, rows = pattern_rows(page)
    expect(rows.first).to_contain_text(f"{tag}399", timeout=15_000)  # the newest on top
    assert rows.count() < 60  # a screenful (plus a few), not 400 rows of DOM
    expect(rows.filter(has_text=f"{tag}000")).to_have_count(0)
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")  # the oldest are at the bottom
    expect(rows.filter(has_text=f"{tag}000")).to_be_visible(timeout=5_000)
    expect(rows.filter(has_text=f"{tag}399")).to_have_count(0)
    assert rows.count() < 60
    scroller.evaluate("el => { el.scrollTop = 0; }")
    expect(rows.first).to_contain_text(f"{tag}399", timeout=5_000)


def test_scrolled_down_the_view_stays_on_the_rows_being_read(served, page):
    tag = sym("A")
    pipe = served.redis.pipeline(transaction=False)
    for i in range(200):
        pipe.publish(f"{served.prefix}:patterns:streaming", pattern(f"{tag}{i:03d}"))
    pipe.execute()
    scroller, rows = pattern_rows(page)
    expect(rows.first).to_contain_text(f"{tag}199", timeout=15_000)
    scroller.evaluate("el => { el.scrollTop = 100 * 22; }")  # row 100 from the top: the 99th newest
    reading = rows.filter(has_text=f"{tag}099")
    expect(reading).to_have_count(1, timeout=5_000)
    top_before = reading.evaluate("tr => tr.getBoundingClientRect().top")
    served.publish("patterns:streaming", pattern(f"{tag}NEW"))
    wait_for(lambda: scroller.evaluate("el => el.scrollTop") >= 101 * 22, timeout=10)
    expect(reading).to_have_count(1)
    assert abs(reading.evaluate("tr => tr.getBoundingClientRect().top") - top_before) < 2


def test_a_burst_of_critical_alerts_is_one_toast_and_one_summary_with_the_banner_on_the_last(served, page):
    tag = sym("BURST")
    for i in range(6):
        served.publish("alerts:critical", json.dumps({"type": "FEED_DOWN", "message": f"{tag} #{i}",
                                                      "severity": "critical"}))
    expect(page.get_by_role("alert")).to_contain_text(f"{tag} #5", timeout=5_000)
    expect(page.locator(".notyf__message", has_text=f"{tag} #0")).to_be_visible()  # the first at once
    summary = page.locator(".notyf__message", has_text="5 more critical alerts · latest: FEED_DOWN")
    expect(summary).to_contain_text(f"{tag} #5", timeout=8_000)  # the rest in one, once the gap is over
    expect(page.locator(".notyf__message", has_text=tag)).to_have_count(2)
    crit = page.locator(".scroller", has=page.locator("th", has_text="Severity"))
    for i in range(6):  # every alert is kept in the critical alerts table
        expect(crit.locator("tr", has_text=f"{tag} #{i}")).to_have_count(1)


def test_a_page_opened_after_events_shows_them_without_waiting_for_new_ones(browser, served):
    s = sym("OLD")
    before = served.status()["buffer"]["delivered"]
    served.publish("patterns:streaming", pattern(s, "Hammer", 0.9))
    served.publish("alerts:indicators", json.dumps({"alert_type": "RSI_OVERSOLD", "symbol": s, "data": {"rsi": 21}}))
    wait_for(lambda: served.status()["buffer"]["delivered"] >= before + 2, message="the server never delivered them")
    late = open_page(browser, served.url)
    try:  # nothing more is published: the page starts with what was delivered before it opened
        expect(row(late, s).filter(has_text="Hammer")).to_have_count(1, timeout=10_000)
        expect(late.get_by_text(f"{s}: RSI oversold (21)")).to_be_visible()
    finally:
        late.close()


def test_the_views_css_and_javascript_files_reach_the_page(served, page):
    s = sym("CSS")
    served.publish("patterns:streaming", pattern(s, "Hammer", 0.95))
    high = row(page, s).locator("td").first
    expect(high).to_be_visible(timeout=10_000)
    # each file may arrive after the first row is drawn: every check waits for its style to apply
    # table.css, with table.js setting the row height it uses: a high-confidence row, 22 px tall
    expect(high).to_have_css("background-color", "rgba(31, 157, 85, 0.14)")
    wait_for(lambda: high.evaluate("td => td.getBoundingClientRect().height") == 22, timeout=10,
             message="a table row is not 22 px tall")
    expect(page.locator('[data-metric="received"]')).to_have_css("border-radius", "8px")  # cards.css
    # toasts.css, added to the document by notify.js; the button styled by notify.css
    wait_for(lambda: "animation-duration: 1ms" in page.evaluate(
        "document.getElementById('ts-calm-toasts')?.textContent ?? ''"), message="toasts.css never arrived")
    expect(page.locator(".ts-notify")).to_have_css("border-radius", "6px")
