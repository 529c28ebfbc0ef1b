"""A served dashboard and a real headless Chromium for the page tests (harness: tests.fixtures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.fixtures import Served, open_page, serve, stop


@pytest.fixture(scope="module")
def served(redis_url) -> Iterator[Served]:
    s = serve(redis_url)
    yield s
    stop(s)


@pytest.fixture
def page(browser, served) -> Iterator[Page]:
    p = open_page(browser, served.url)
    yield p
    p.close()
