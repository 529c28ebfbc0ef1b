"""REST from the page's own process: /streaming/api/status, nothing answers without a login, a bad
setting is a reason on the page and a 503 from REST, and a closed tab is no error in the log."""

from __future__ import annotations

import http.cookiejar
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from dashboard.tools.simulator import simulate
from tests.fixtures import MARK, free_port, serve, session_started, started_by, stop
from tests.helpers import wait_for

APP = Path(__file__).resolve().parents[3] / "dashboard" / "web" / "app.py"


def get(url: str, opener=None) -> tuple[int, bytes]:
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=60) as resp:  # a deadline: the page renders slowly on a busy machine
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def login(opener, base: str, password: str) -> int:
    form = urllib.parse.urlencode({"username": "trader", "password": password}).encode()
    try:
        return opener.open(urllib.request.Request(base + "/login", data=form), timeout=10).status
    except urllib.error.HTTPError as err:  # Panel answers the form with a redirect
        return err.code


@pytest.fixture(scope="module")
def open_server(redis_url):
    s = serve(redis_url)
    yield s
    stop(s)


def test_status_reports_session_health_subscriber_and_accounting(open_server):
    s = open_server
    s.publish("streaming:session_started", json.dumps({"event": "session_started", "data": {
        "session_id": "rest-1", "symbol_universe_key": "u1"}}))
    s.publish("streaming:health", json.dumps({"status": "healthy", "data_flow": {"processing_lag_ms": 12}}))
    s.publish("patterns:streaming", "garbage")
    api = s.url + "/api/status"
    body = wait_for(lambda: (lambda st: st if st["buffer"]["received"] >= 3 else None)(json.loads(get(api)[1])))
    assert body["session"]["session_id"] == "rest-1" and body["session"]["status"] == "active"
    assert body["session"]["health"]["processing_lag_ms"] == 12
    assert body["subscriber"]["state"] == "connected"
    acc = body["buffer"]
    assert acc["rejected"] == 1 and acc["identity_holds"]
    assert acc["received"] == acc["delivered"] + acc["deduplicated"] + acc["filtered"] + acc["rejected"] \
        + acc["dropped"] + acc["pending"]
    assert body["rejections"][-1]["code"] == "not_json"


def test_status_times_are_in_the_zone_of_tz_exchange_time_by_default(open_server):
    s = open_server
    started = datetime(2026, 7, 1, 13, 30, 0, 250000, tzinfo=UTC)  # 09:30:00.250 in New York (EDT)
    s.publish("streaming:session_started", session_started("rest-tz", "u1", started))
    s.publish("patterns:streaming", "not json either")
    api = s.url + "/api/status"
    wait_for(lambda: get_json(api)[1]["session"]["session_id"] == "rest-tz")
    answers = {tz: get_json(api + (f"?tz={tz}" if tz else ""))[1] for tz in ("", "utc", "Asia/Kolkata")}
    assert answers[""]["session"]["started_at"] == "2026-07-01T09:30:00.250-04:00"
    assert answers["utc"]["session"]["started_at"] == "2026-07-01T13:30:00.250+00:00"
    assert answers["Asia/Kolkata"]["session"]["started_at"] == "2026-07-01T19:00:00.250+05:30"
    for tz, zone in (("", "America/New_York"), ("utc", "UTC"), ("Asia/Kolkata", "Asia/Kolkata")):
        body = answers[tz]
        times = [body["rejections"][-1]["at"], body["session"]["market_at"],
                 *body["subscriber"]["last_message_at"].values()]
        for text in times:  # epoch seconds and UTC text alike, each with the zone's offset
            at = datetime.fromisoformat(text)
            assert at.utcoffset() == at.astimezone(ZoneInfo(zone)).utcoffset(), (tz, text)
    status, body = get_json(api + "?tz=Mars/Olympus_Mons")
    assert status == 400 and body["error"].startswith("tz: ") and "Mars/Olympus_Mons" in body["error"]


def test_with_basic_auth_nothing_answers_without_credentials(redis_url):
    s = serve(redis_url, None, "--basic-auth", "correct-horse-battery")
    base = s.url.rsplit("/streaming", 1)[0]
    try:
        status, _ = get(s.url)
        assert status == 302  # to the login form
        status, body = get(s.url + "/api/status")
        assert status == 401 and "authentication" in json.loads(body)["error"]
        req = urllib.request.Request(s.url + "/ws", headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        try:
            urllib.request.urlopen(req, timeout=10)
            ws_status = 101
        except urllib.error.HTTPError as err:
            ws_status = err.code
        assert ws_status in (401, 403)

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
        login(opener, base, "wrong")
        assert get(s.url + "/api/status", opener)[0] == 401
        login(opener, base, "correct-horse-battery")
        assert get(s.url + "/api/status", opener)[0] == 200
        assert get(s.url, opener)[0] == 200
    finally:
        stop(s)


# ------------------------------------------------------------------ under `panel serve`


@contextmanager
def panel_serve(env: dict, *flags: str) -> Iterator[tuple[str, list[str]]]:
    """`panel serve dashboard/web/app.py --plugins dashboard.web.routes`: (base URL, the log's lines so far)."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMING_")} | env
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(APP), "--plugins", "dashboard.web.routes",
                             "--port", str(port), "--log-format", "%(levelname)s %(name)s: %(message)s", *flags],
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or answers(base + "/streaming/api/status"), timeout=60,
                 interval=0.1, message="panel serve never answered")
        assert proc.poll() is None, "".join(lines)
        yield base, lines
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.join(5)


def answers(url: str) -> int:
    try:
        return get(url)[0]
    except OSError:  # not listening yet
        return 0


def get_json(url: str) -> tuple[int, dict]:
    status, body = get(url)
    return status, json.loads(body)


def test_under_panel_serve_a_bad_setting_is_a_reason_on_the_page_and_a_503_from_rest(redis_url, browser):
    reason = "STREAMING_BUFFER_INTERVAL: expected a whole number, got 'fast'"
    with panel_serve({"REDIS_URL": redis_url, "STREAMING_BUFFER_INTERVAL": "fast"}) as (base, log):
        for path in ("/streaming/api/status", "/streaming/api/patterns/AAPL", "/streaming/api/summary"):
            status, body = get_json(base + path)
            assert status == 503 and reason in body["error"], (path, body)
        page = browser.new_page()
        page.goto(base + "/app")
        expect(page.locator("[data-problem=error]")).to_contain_text(reason, timeout=30_000)
        page.close()
        wait_for(lambda: any(reason in line for line in log), message="the reason never reached the log")
    assert not any("Traceback" in line for line in log), "".join(log)


def test_under_panel_serve_without_redis_url_the_page_says_nothing_publishes_to_its_redis(browser):
    marker = uuid.uuid4().hex
    env = {"REDIS_URL": "", "DATABASE_URL": "", MARK: marker}  # empty counts as unset
    with panel_serve(env) as (base, log):
        page = browser.new_page()
        page.goto(base + "/app")
        notice = page.locator("[data-problem=warning]")
        expect(notice).to_contain_text("REDIS_URL is not set", timeout=30_000)
        expect(notice).to_contain_text("nothing publishes to")
        page.locator("text=Pattern stream").wait_for()  # the dashboard itself is there too
        page.close()
        assert get_json(base + "/streaming/api/status")[0] == 200
    assert any("WARNING dashboard.web.app: REDIS_URL is not set" in line for line in log), "".join(log)
    wait_for(lambda: not started_by(marker), timeout=15, message="the embedded Redis outlived the server")


def test_a_closed_tab_logs_nothing_at_error_level(redis_url, private_database_url, browser):
    """Closing tabs while the page streams (History tab on): Panel's writes to them fail, quietly."""
    prefix = f"c{uuid.uuid4().hex[:10]}"
    env = {"REDIS_URL": redis_url, "DATABASE_URL": private_database_url, "STREAMING_CHANNEL_PREFIX": prefix}
    fast_cleanup = ("--unused-session-lifetime", "500", "--check-unused-sessions", "250")  # ms
    with panel_serve(env, *fast_cleanup) as (base, log):
        stop_sim = threading.Event()
        sim = threading.Thread(target=simulate, args=(redis_url,), kwargs=dict(
            rate=400, duration=None, mode=None, prefix=prefix, stop_event=stop_sim, health_interval=0.2))
        sim.start()
        try:
            for _ in range(4):
                page = browser.new_page()
                page.goto(base + "/app")
                expect(page.locator("tr", has_text="0.").nth(3)).to_be_visible(timeout=30_000)  # streaming
                page.close()
            wait_for(lambda: not get_json(base + "/streaming/api/status")[1]["buffer"]["consumers"], timeout=30,
                     message="the closed tabs' sessions were never released")
        finally:
            stop_sim.set()
            sim.join(10)
    errors = [line for line in log if line.startswith(("ERROR", "CRITICAL")) or "Traceback" in line]
    assert not errors, "".join(log)  # the server's stop ran, so anything collected late is in the log too
