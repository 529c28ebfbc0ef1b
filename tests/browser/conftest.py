"""A served dashboard and a real headless Chromium for the page tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A `tickstock serve` process on its own port and channel prefix."""

    url: str
    prefix: str
    redis: redis.Redis
    proc: subprocess.Popen

    def publish(self, suffix: str, payload: bytes | str) -> None:
        self.redis.publish(f"{self.prefix}:{suffix}", payload)


def serve(redis_url: str, extra_env: dict | None = None, *args: str) -> Served:
    port = free_port()
    prefix = f"b{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "REDIS_URL": redis_url, "STREAMING_CHANNEL_PREFIX": prefix, **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"tickstock serve exited: {proc.stdout.read()}")
        try:
            urllib.request.urlopen(f"{base}/streaming/api/status", timeout=2).read()
            break
        except urllib.error.HTTPError:  # answering, behind a login
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("tickstock serve did not answer within 60 s")
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 20
    while client.pubsub_numsub(f"{prefix}:alerts:critical")[0][1] < 1:
        assert time.monotonic() < deadline, "the server never subscribed"
        time.sleep(0.05)
    return Served(f"{base}/streaming", prefix, client, proc)


def stop(served: Served) -> None:
    served.proc.terminate()
    try:
        served.proc.wait(20)
    except subprocess.TimeoutExpired:
        served.proc.kill()


@pytest.fixture(scope="module")
def served(redis_url) -> Iterator[Served]:
    s = serve(redis_url)
    yield s
    stop(s)


@pytest.fixture(scope="session")
def browser(chromium_path) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser: Browser, url: str) -> Page:
    """A fresh page with the dashboard loaded; dialogs (alert(), confirm()) are recorded, not shown."""
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.locator("text=Pattern stream").wait_for(timeout=30_000)
    page.locator("[data-status]").wait_for(timeout=30_000)
    return page


@pytest.fixture
def page(browser, served) -> Iterator[Page]:
    p = open_page(browser, served.url)
    yield p
    p.close()
