"""REST from the page's own process: /streaming/api/status, and nothing answers without a login."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.browser.conftest import serve, stop
from tests.helpers import wait_for


def get(url: str, opener=None) -> tuple[int, bytes]:
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
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
