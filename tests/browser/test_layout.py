"""The page's frame in Chromium: themes kept per browser, keyboard shortcuts, nothing overlapping or
cut off at 1000 and 1920 px, toasts beside the tables and not over them."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.fixtures import as_json, detection, open_page
from tests.helpers import wait_for

# every live table's host element, every metric card, chart, header item and sidebar control, as
# {name, left, top, right, bottom} (looked for through the shadow roots they live in)
BLOCKS = """() => {
  const out = [];
  const box = (name, el) => { const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) out.push({name, left: r.left, top: r.top, right: r.right, bottom: r.bottom}); };
  function walk(root) {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) {
        if (el.shadowRoot.querySelector(".scroller")) box("table", el);
        el.shadowRoot.querySelectorAll(".ts-card").forEach((c) => box("card " + c.dataset.metric, c));
        walk(el.shadowRoot);
      }
      if (el.classList.contains("bk-Canvas")) box("chart", el);
    }
  }
  walk(document);
  document.querySelectorAll("#header-items > *, #sidebar:not(.hidden) .bk-panel-models-layout-Column > *").forEach((el) => box("bar", el));
  return out;
}"""


def _overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1 and a["top"] < b["bottom"] - 1 \
        and b["top"] < a["bottom"] - 1


def _inside(a: dict, b: dict) -> bool:
    return a["left"] >= b["left"] - 1 and a["right"] <= b["right"] + 1 and a["top"] >= b["top"] - 1 \
        and a["bottom"] <= b["bottom"] + 1


def sym(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:5].upper()}"


def chart_backgrounds(page) -> set[str]:
    """The Bokeh figures' background colours, as the browser's document holds them."""
    return set(page.evaluate("""() => Bokeh.documents.flatMap((d) => [...d._all_models.values()])
        .filter((m) => m.background_fill_color !== undefined && m.type === "Figure").map((m) => m.background_fill_color)"""))


def body_background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_theme_switch_darkens_page_and_charts_and_the_choice_survives_a_reload(browser, served):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(served.url)
        page.locator("text=Pattern stream").wait_for(timeout=30_000)
        assert body_background(page) == "rgb(255, 255, 255)"
        wait_for(lambda: chart_backgrounds(page) == {"#ffffff"}, message="light charts")
        page.get_by_role("button", name="Dark").click()  # the page reloads in the dark theme
        expect(page.get_by_role("button", name="Light")).to_be_visible(timeout=30_000)
        assert body_background(page) == "rgb(24, 24, 24)"
        wait_for(lambda: chart_backgrounds(page) == {"#181818"}, message="dark charts")
        page.reload()
        expect(page.get_by_role("button", name="Light")).to_be_visible(timeout=30_000)
        assert body_background(page) == "rgb(24, 24, 24)"
        other = context.new_page()  # another tab of the same browser opens dark too
        other.goto(served.url)
        expect(other.get_by_role("button", name="Light")).to_be_visible(timeout=30_000)
        other.close()
        page.locator("body").press("t")  # and the key switches back
        expect(page.get_by_role("button", name="Dark")).to_be_visible(timeout=30_000)
        assert body_background(page) == "rgb(255, 255, 255)"
    finally:
        context.close()


def test_space_pauses_and_resumes_and_slash_focuses_the_symbol_filter_where_typing_is_no_shortcut(served, page):
    expect(page.get_by_text("focus the symbol filter")).to_be_visible()  # the list in the sidebar
    page.locator("body").press(" ")
    expect(page.get_by_role("button", name="Resume")).to_be_visible(timeout=5_000)
    page.locator("body").press(" ")
    expect(page.get_by_role("button", name="Pause")).to_be_visible(timeout=5_000)

    page.locator("body").press("/")
    focused = "() => { let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) " \
              "a = a.shadowRoot.activeElement; return a && a.className; }"
    wait_for(lambda: "choices__input" in (page.evaluate(focused) or ""), timeout=5, message="the symbol filter focused")
    page.keyboard.type("t ")  # typed into the filter: neither a theme switch nor a pause
    page.wait_for_timeout(300)
    expect(page.get_by_role("button", name="Dark")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.keyboard.press("Escape")  # leaves the filter's list


def test_escape_closes_the_symbol_view_a_clicked_symbol_opened(served, page):
    s = sym("ESC")
    served.publish("patterns:streaming", as_json(detection(s, "Hammer", 0.9, time.time())))
    page.locator("td.link", has_text=s).first.click(timeout=10_000)
    view = page.locator(f"[data-symbol-view='{s}']")
    expect(view).to_be_visible(timeout=15_000)
    page.locator("body").press("Escape")
    expect(view).to_be_hidden(timeout=15_000)  # the view takes its time to draw (a few seconds on CI)


@pytest.mark.parametrize("width", [1000, 1920])
def test_nothing_overlaps_or_leaves_the_window(browser, served, width):
    for i, s in enumerate(["AAPL", "MSFT", "NVDA"]):
        served.publish("patterns:streaming", as_json(detection(s, "Doji", 0.8 + i / 20, time.time())))
        served.publish("alerts:indicators", json.dumps({"alert_type": "RSI_OVERSOLD", "symbol": s, "data": {"rsi": 21}}))
    page = open_page(browser, served.url, width=width, height=2400)  # tall: every block on screen at once
    try:
        expect(page.locator("td.link", has_text="NVDA").first).to_be_visible(timeout=10_000)
        page.wait_for_timeout(500)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        # narrow, the page opens with the sidebar closed, so the tables have the width their text needs
        assert page.evaluate("document.getElementById('sidebar').classList.contains('hidden')") == (width < 1200)
        for name in ("patterns", "alerts", "indicators"):
            table = page.locator(f'.scroller[data-table="{name}"]')
            assert table.evaluate("el => el.scrollWidth <= el.clientWidth"), f"{name} scrolls sideways at {width} px"
        blocks = page.evaluate(BLOCKS)
        names = [b["name"] for b in blocks]
        assert names.count("table") >= 4 and names.count("chart") >= 2 and "card received" in names, names
        for b in blocks:
            assert b["left"] >= 0 and b["right"] <= width + 1, f"{b['name']} leaves the window at {width} px: {b}"
        for i, a in enumerate(blocks):
            for b in blocks[i + 1:]:
                if _overlap(a, b) and not (_inside(a, b) or _inside(b, a)):
                    raise AssertionError(f"{a['name']} overlaps {b['name']} at {width} px: {a} {b}")
    finally:
        page.close()


def test_a_toast_sits_beside_the_tables_not_over_them(served, page):
    s = sym("TOAST")
    served.publish("alerts:critical", json.dumps({"type": "FEED_DOWN", "message": f"feed down {s}",
                                                  "severity": "critical"}))
    toast = page.locator(".notyf__toast", has_text=s)
    expect(toast).to_be_visible(timeout=5_000)
    assert "system-ui" in toast.evaluate("t => getComputedStyle(t).fontFamily")  # the page's font, not serif
    t = toast.bounding_box()
    tables = [b for b in page.evaluate(BLOCKS) if b["name"] in ("table", "chart") or b["name"].startswith("card")]
    box = {"left": t["x"], "top": t["y"], "right": t["x"] + t["width"], "bottom": t["y"] + t["height"]}
    assert tables and not [b for b in tables if _overlap(box, b)]
