"""Nothing leaves the server: the login form, the live page streaming, a symbol's view, a History
load and the logout page, watched in Chromium's network log, ask only the server that served them."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

from playwright.sync_api import expect

from dashboard.tools.simulator import simulate
from tests.fixtures import serve, stop

PASSWORD = "local-only-7731"


def origin(url: str) -> str:
    """Where a request goes: host and port (a blob: URL is its creator's; data: URLs go nowhere)."""
    if url.startswith("data:"):
        return "inline"
    return urlsplit(url.removeprefix("blob:")).netloc


def nothing_left(requests: list[str], here: str, stage: str) -> None:
    outside = sorted({url for url in requests if origin(url) not in (here, "inline")})
    assert not outside, f"{stage}: {len(outside)} request(s) left {here}: {outside}"


def test_login_live_page_symbol_view_and_history_load_fetch_nothing_from_outside(browser, redis_url, private_database_url):
    served = serve(redis_url, {"DATABASE_URL": private_database_url}, "--record", "--basic-auth", PASSWORD)
    here = urlsplit(served.url).netloc
    done = threading.Event()
    feed = threading.Thread(target=simulate, args=(redis_url,), kwargs=dict(
        rate=10, duration=None, mode=None, prefix=served.prefix, stop_event=done, health_interval=2))
    feed.start()
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))  # every page and worker of it
    context.set_default_timeout(90_000)  # deadlines: the page after the login renders slowly on a busy machine
    try:
        page = context.new_page()
        page.goto(served.url)
        page.locator("input[name=username]").wait_for()
        nothing_left(requests, here, "the login page")
        page.locator("input[name=username]").fill("trader")  # Panel's form fields, whatever the template
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("[type=submit]").click()
        expect(page.locator("tr", has_text="0.").nth(3)).to_be_visible(timeout=90_000)  # the Live tab, streaming
        nothing_left(requests, here, "the live page")

        picker = page.get_by_placeholder("Open a symbol…")
        picker.fill("AAPL")  # one of the simulated symbols
        picker.press("Enter")
        expect(page.locator("[data-symbol-status]")).to_contain_text("history and live", timeout=90_000)
        nothing_left(requests, here, "the symbol view")

        page.locator(".bk-tab", has_text="History").click()
        page.get_by_role("button", name="Load history").click()
        expect(page.locator("[data-history-status]")).to_contain_text("patterns", timeout=90_000)  # its charts drawn
        nothing_left(requests, here, "a History load")

        page.goto(served.url.rsplit("/streaming", 1)[0] + "/logout")
        expect(page.get_by_text(re.compile("logged out", re.I))).to_be_visible()
    finally:
        context.close()
        done.set()
        feed.join(10)
        stop(served)
    assert any("/static/" in url for url in requests), "the page's own files were not seen in the log"
    nothing_left(requests, here, "the logout page")
