"""The README's screenshots: the served page (`tickstock serve --record`, the simulator streaming six
symbols) in light and dark at 1000 and 1920 px, the symbol view, and the History tab (AAPL and MSFT,
RSI, over the last 7 days of the seeded sample history that ends yesterday, and the live stream),
taken in headless Chromium.

    python docs/shoot.py [--warm 30] [--widths 1000,1920] [--height 1250] [--out docs]

To look at a change: `--out` elsewhere, and `--height 2400` to see the whole page (the template's
main area scrolls on its own, so a taller window, not a full-page screenshot, shows all of it).

Needs TEST_REDIS_URL / TEST_DATABASE_URL (or the embedded services) and CHROMIUM_PATH, as the tests do.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import analytics  # noqa: E402
from analytics.calendar import previous_trading_days  # noqa: E402
from analytics.records import rows_from_frame  # noqa: E402
from analytics.stats import MARKET_TZ  # noqa: E402
from dashboard.tools.simulator import simulate  # noqa: E402
from tests.fixtures import CHROMIUM_ARGS, serve, stop  # noqa: E402

SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META"]
OUT = ROOT / "docs"


def seed_history(db: str) -> None:
    """Eight trading days of sample history up to the last session before today in New York (today's
    is the simulator's; the UTC date is already tomorrow on a New York evening)."""
    end = previous_trading_days(datetime.now(ZoneInfo(MARKET_TZ)).date(), 1)[0]
    frames = analytics.sample_history(days=8, symbols=SYMBOLS[:3], patterns_per_symbol_day=12, end=end, seed=3)
    for table in ("sessions", "patterns", "indicators", "indicator_alerts"):
        analytics.write_rows(db, table, rows_from_frame(frames[table], table))


def load_history(page, symbols: list[str], span: str, indicator: str) -> None:
    """On the History tab, pick `symbols`, the range and the indicator, load, and wait for the charts."""
    page.locator(".bk-tab", has_text="History").click()
    picker = page.get_by_placeholder("all symbols (type to search)")
    for symbol in symbols:
        picker.click()
        picker.fill(symbol)
        page.get_by_role("option", name=symbol, exact=True).click()
    page.keyboard.press("Escape")
    for label, value in (("Range", span), ("Indicator", indicator)):
        page.locator(".bk-input-group", has_text=label).locator("select").select_option(value)
    page.get_by_role("button", name="Load history").click()
    page.locator("[data-history-status]").filter(has_text="patterns").wait_for(timeout=120_000)
    time.sleep(3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", type=float, default=30, help="seconds of stream before the first picture")
    ap.add_argument("--widths", default="1000,1920", help="viewport widths, px, comma-separated")
    ap.add_argument("--out", type=Path, default=OUT, help="folder of the pictures (default: docs)")
    ap.add_argument("--height", type=int, default=1250, help="viewport height, px (default 1250)")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    base = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    name = "shots_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = base.rsplit("/", 1)[0] + "/" + name
    analytics.upgrade(db)
    seed_history(db)
    served = serve(redis_url, {"DATABASE_URL": db}, "--record")
    done = threading.Event()
    feed = threading.Thread(target=simulate, args=(redis_url,), daemon=True,
                            kwargs={"rate": 60, "duration": None, "mode": None, "symbols": SYMBOLS,
                                    "prefix": served.prefix, "stop_event": done})
    try:
        feed.start()
        time.sleep(args.warm)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                                        args=CHROMIUM_ARGS)
            for theme in ("light", "dark"):
                for width in widths:
                    page = browser.new_page(viewport={"width": width, "height": args.height})
                    page.goto(f"{served.url}?theme={theme}", timeout=120_000)
                    page.locator('.scroller[data-table="patterns"] td.link').first.wait_for(timeout=60_000)
                    time.sleep(3)
                    page.screenshot(path=str(args.out / f"page-{theme}-{width}.png"))
                    if width == max(widths) and theme == "dark":
                        page.locator('.scroller[data-table="patterns"] td.link', has_text="NVDA").first.click()
                        page.locator("[data-symbol-status]").filter(has_text="history and live").wait_for(
                            timeout=120_000)
                        time.sleep(3)
                        page.screenshot(path=str(args.out / f"symbol-dark-{width}.png"))
                    if width == max(widths) and theme == "light":
                        load_history(page, ["AAPL", "MSFT"], "last 7 days", "RSI")
                        page.screenshot(path=str(args.out / f"history-light-{width}.png"))
                    page.close()
            browser.close()
    finally:
        done.set()
        stop(served)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
