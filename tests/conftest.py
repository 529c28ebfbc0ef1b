"""Shared fixtures: real Redis, PostgreSQL and Chromium, each test in its own private space.

The system's services when TEST_REDIS_URL / TEST_DATABASE_URL are set (CI), otherwise
embedded ones started for the session. Never mocks.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from dashboard.services.embedded import EmbeddedPostgres, EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """TEST_REDIS_URL, or an embedded Redis shared by the session."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def channel_prefix() -> str:
    """A channel prefix no other test uses (pub/sub ignores database numbers)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session's Redis, closed after the test."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, free to be restarted, killed or reconfigured."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """TEST_DATABASE_URL, or an embedded PostgreSQL shared by the session."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    with EmbeddedPostgres() as server:
        yield server.url


@contextmanager
def private_database(database_url: str) -> Iterator[str]:
    """A fresh database on the server of `database_url`, dropped afterwards (nothing else is)."""
    name = f"tickstock_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(database_url).set(database=name).render_as_string(hide_password=False)
        finally:  # a failed test's database too
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def private_database_url(database_url: str) -> Iterator[str]:
    """A fresh database of this test's own on the session's server, dropped afterwards."""
    with private_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(database_url: str) -> Iterator[str]:
    """A fresh database shared by one test module (for a module-scoped server)."""
    with private_database(database_url) as url:
        yield url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's headless-capable Chromium (CHROMIUM_PATH overrides); its absence fails the run."""
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).is_file():
        pytest.fail(f"Chromium not found at {path}: run `apt-get install chromium` "
                    "or set CHROMIUM_PATH", pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless Chromium for the whole run (Playwright's sync API allows one at a time)."""
    from playwright.sync_api import expect, sync_playwright

    from tests.fixtures import CHROMIUM_ARGS

    # Playwright waits 5 s for an expectation; the page shares two cores with the other xdist worker,
    # and a table's redraw once took longer than that (tests of promptness give their own timeout)
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def pytest_collection_modifyitems(config, items) -> None:
    """Under xdist (`--dist loadgroup`), every test that drives Chromium or runs a notebook goes to
    one worker, one after another: two pages rendering at once on a 2-core machine slow each other
    past their deadlines, while the rest (subprocesses, SQL, in-process views) runs beside them."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()) or item.path.parent.name == "notebooks":
            item.add_marker(pytest.mark.xdist_group("chromium"))
