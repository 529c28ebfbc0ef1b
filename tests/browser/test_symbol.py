"""The symbol view in Chromium: picked from the picker, it draws the symbol's recorded and live
series with their markers (counted in the browser's Bokeh document)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from playwright.sync_api import expect

import analytics
from tests.fixtures import CH, as_json, calculation, detection, free_port, indicator_alert, record
from tests.helpers import wait_for

APP = Path(__file__).with_name("symbol_app.py")
# rows of the chart sources that have a column named so: markers of patterns, of alerts; RSI points
ROWS_WITH = """(column) => {
  let n = 0;
  for (const m of Bokeh.documents[0].all_models) {
    const d = m.data;
    if (m.constructor.__name__ !== "ColumnDataSource" || !d) continue;
    const col = d instanceof Map ? d.get(column) : d[column];
    if (col) n += col.length;
  }
  return n;
}"""


def bar(symbol: str, at: datetime, i: int) -> list[tuple[str, dict]]:
    """One bar's indicator messages (channel, message)."""
    values = {"RSI": {"value": 40.0 + i}, "SMA": {"value": 100.0 + i},
              "MACD": {"macd": i / 10, "signal": i / 20, "histogram": i / 20},
              "BollingerBands": {"upper": 105.0 + i, "middle": 100.0 + i, "lower": 95.0 + i}}
    return [(CH.indicators, calculation(symbol, name, v, at)) for name, v in values.items()]


@pytest.fixture
def symbol_page(redis_url, private_database_url):
    """`panel serve` of the symbol view's page, on a store and channel prefix of its own."""
    analytics.upgrade(private_database_url)
    port, prefix = free_port(), f"s{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "REDIS_URL": redis_url, "STREAMING_CHANNEL_PREFIX": prefix,
           "DATABASE_URL": private_database_url}
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(APP), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/{APP.stem}"
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(lambda: _answers(url), timeout=120, interval=0.2, message="the symbol page never answered")
        yield url, prefix, client, private_database_url
    finally:
        client.close()
        proc.terminate()
        proc.wait(20)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=120).read()
        return True
    except OSError:
        return False


def test_a_picked_symbol_shows_its_recorded_and_live_markers(browser, symbol_page):
    url, prefix, client, store = symbol_page
    s = f"SYM{uuid.uuid4().hex[:4].upper()}"
    start = datetime.now(UTC) - timedelta(minutes=20)
    recorded = [msg for i in range(5) for msg in bar(s, start + timedelta(minutes=i), i)]
    recorded += [(CH.patterns_streaming, detection(s, "Doji", 0.9, start + timedelta(minutes=1, seconds=5))),
                 (CH.patterns_streaming, detection(s, "Hammer", 0.9, start + timedelta(minutes=3, seconds=5))),
                 (CH.alerts_indicators, indicator_alert(s, "RSI_OVERBOUGHT", {}, start + timedelta(minutes=2, seconds=9)))]
    analytics.write_events(store, [record(channel, message) for channel, message in recorded])
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.goto(url, timeout=120_000)
        picker = page.get_by_placeholder("Open a symbol…")
        picker.fill(s)
        picker.press("Enter")
        status = page.locator("[data-symbol-status]")
        expect(status).to_contain_text("history and live", timeout=60_000)
        expect(status).to_contain_text("20 indicator values, 2 patterns, 1 alert")
        wait_for(lambda: page.evaluate(ROWS_WITH, "pattern") == 2, timeout=20, message="recorded patterns not drawn")
        assert page.evaluate(ROWS_WITH, "alert") == 1
        now = datetime.now(UTC)
        for channel, message in [*bar(s, now, 5), (CH.patterns_streaming, detection(s, "Doji", 0.9, now)),
                                 (CH.alerts_indicators, indicator_alert(s, "MACD_BULLISH_CROSS", {}, now)),
                                 *bar("OTHER", now, 5)]:
            client.publish(f"{prefix}:{CH.suffix(channel)}", as_json(message))
        wait_for(lambda: page.evaluate(ROWS_WITH, "pattern") == 3, timeout=20, message="live pattern not drawn")
        wait_for(lambda: page.evaluate(ROWS_WITH, "alert") == 2, timeout=20, message="live alert not drawn")
        expect(page.locator(f"[data-symbol-view='{s}']")).to_be_visible()
        assert "Traceback" not in page.content()
    finally:
        page.close()
