"""The `tickstock` command: a mistake is one line on stderr naming the flag or variable, exit status 2,
no traceback, nothing left running, within seconds; and each simulate run is a session of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import MARK, started_by
from tests.helpers import wait_for

TICKSTOCK = shutil.which("tickstock", path=str(Path(sys.executable).parent)) or shutil.which("tickstock")
REFUSED = "postgresql+psycopg2://postgres@127.0.0.1:1/x"
ONE_LINE = 200  # characters: a short message


def run(*args: str, env: dict | None = None, timeout: float = 30, module: bool = False) -> subprocess.CompletedProcess:
    """Run `tickstock ARGS` with neither REDIS_URL nor DATABASE_URL unless given; check it left nothing running."""
    marker = uuid.uuid4().hex
    full_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    full_env.update({MARK: marker, **(env or {})})
    command = [sys.executable, "-m", "dashboard.tools.cli"] if module else [TICKSTOCK]
    proc = subprocess.run([*command, *args], env=full_env, capture_output=True, text=True, timeout=timeout)
    assert not started_by(marker), f"left running: {started_by(marker)}"
    return proc


def assert_refused(proc: subprocess.CompletedProcess, *says: str) -> str:
    """Exit status 2 and one short line on stderr saying each of `says`; no traceback, no output."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("tickstock: error: "), proc.stderr
    assert len(lines[0]) <= ONE_LINE, lines[0]
    for text in says:
        assert text in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout and proc.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    """host:port of a server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize("args", [
    ("simulate", "--rate", "0"), ("simulate", "--rate", "-1"), ("simulate", "--rate", "nan"),
    ("simulate", "--duration", "0"), ("simulate", "--health-interval", "0"),
    ("tail", "--duration", "0"), ("tail", "--count", "0"), ("tail", "--count", "-3"),
    ("record", "--report-every", "0"), ("replay", "--session", "s", "--speed", "-1"),
    ("demo", "--rate", "0"), ("demo", "--session-length", "0"), ("demo", "--health-interval", "0"),
    ("serve", "--oauth-expiry", "0"), ("demo", "--port", "70000"), ("serve", "--port", "0"),
])
def test_a_zero_or_negative_rate_duration_count_or_port_is_refused_naming_the_flag(args):
    line = assert_refused(run(*args), f"{args[-2]}: ")
    assert args[-1] in line


def test_speed_0_stays_valid_as_fast_as_possible(redis_url, private_database_url):
    import analytics

    analytics.upgrade(private_database_url)
    proc = run("replay", "--session", "nope", "--speed", "0", "--redis-url", redis_url,
               "--database-url", private_database_url)
    assert_refused(proc, "--session: no recorded session 'nope'")


def test_a_mistake_through_python_dash_m_is_the_same_one_line():
    assert_refused(run("simulate", "--rate", "0", module=True), "--rate: must be greater than 0")


@pytest.mark.parametrize("args", [("simulate", "--symbols", " , "), ("simulate", "--session-id", "a b"),
                                  ("serve", "--oauth-extra-params", "{"), ("simulate", "--mode", "fast")])
def test_other_bad_flags_are_one_line_too(args, redis_url):
    assert_refused(run(*args, env={"REDIS_URL": redis_url}), args[1])


# ------------------------------------------------------------------ ports


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_port_in_use_is_refused_before_anything_starts(command, busy_port, redis_url):
    started = time.monotonic()
    proc = run(command, "--port", str(busy_port), env={"REDIS_URL": redis_url})
    assert_refused(proc, f"--port: {busy_port} is already in use on 127.0.0.1")
    assert time.monotonic() - started < 10


def test_an_address_not_of_this_machine_is_refused(redis_url):
    assert_refused(run("serve", "--address", "192.0.2.1", env={"REDIS_URL": redis_url}), "--address: 192.0.2.1")


# ------------------------------------------------------------------ Redis

NEEDS = {"simulate": (), "tail": (), "serve": (), "record": ("--database-url", REFUSED),
         "replay": ("--session", "s", "--database-url", REFUSED)}


@pytest.mark.parametrize("command", list(NEEDS))
def test_a_redis_url_of_another_scheme_is_refused(command):
    assert_refused(run(command, "--redis-url", "http://x", *NEEDS[command]),
                   "--redis-url: expected a redis://, rediss:// or unix:// URL, got 'http://x'")


@pytest.mark.parametrize("command", list(NEEDS))
def test_a_redis_url_nothing_listens_at_is_refused_at_once(command):
    started = time.monotonic()
    proc = run(command, "--redis-url", "redis://127.0.0.1:1", *NEEDS[command])
    assert_refused(proc, "--redis-url: nothing listening at 127.0.0.1:1 (connection refused)")
    assert time.monotonic() - started < 10


def test_a_redis_that_never_answers_is_given_up_on_within_seconds(silent):
    started = time.monotonic()
    proc = run("simulate", "--redis-url", f"redis://{silent}/0")
    assert_refused(proc, f"--redis-url: no answer from {silent} within 3 s")
    assert time.monotonic() - started < 10


def test_a_bad_redis_url_from_the_environment_names_the_variable():
    assert_refused(run("tail", env={"REDIS_URL": "redis://127.0.0.1:1"}), "REDIS_URL: nothing listening")
    assert_refused(run("tail", env={"REDIS_URL": "localhost:6379"}), "REDIS_URL: expected a redis://")


@pytest.mark.parametrize("command", ["serve", "tail", "simulate", "record"])
def test_without_any_redis_the_command_says_how_to_give_one(command):
    assert_refused(run(command), "--redis-url", "REDIS_URL")


def test_a_bad_setting_stops_serve_naming_the_variable(redis_url):
    proc = run("serve", env={"REDIS_URL": redis_url, "STREAMING_BUFFER_INTERVAL": "fast"})
    assert_refused(proc, "STREAMING_BUFFER_INTERVAL: expected a whole number, got 'fast'")


# ------------------------------------------------------------------ PostgreSQL

STORE_USERS = [("record",), ("db", "upgrade"), ("db", "current"), ("replay", "--session", "s"), ("serve", "--record")]


@pytest.mark.parametrize("args", STORE_USERS)
def test_a_database_nothing_listens_at_is_refused(args, redis_url):
    proc = run(*args, "--database-url", REFUSED, env={"REDIS_URL": redis_url})
    assert_refused(proc, "--database-url: nothing listening at 127.0.0.1:1 (connection refused)")


@pytest.mark.parametrize("args", STORE_USERS)
def test_a_database_url_of_another_scheme_is_refused(args, redis_url):
    proc = run(*args, "--database-url", "mysql://x/y", env={"REDIS_URL": redis_url})
    assert_refused(proc, "--database-url: expected a postgresql:// URL, got 'mysql://x/y'")


def test_a_database_that_never_answers_is_given_up_on_within_seconds(redis_url, silent):
    started = time.monotonic()
    proc = run("record", "--database-url", f"postgresql://postgres@{silent}/x", env={"REDIS_URL": redis_url})
    assert_refused(proc, f"--database-url: no answer from {silent} within 3 s")
    assert time.monotonic() - started < 10


def test_a_missing_database_and_a_bad_one_from_the_environment_are_named(redis_url, database_url):
    missing = database_url.rsplit("/", 1)[0] + "/tickstock_no_such_db"
    assert_refused(run("db", "current", "--database-url", missing), '"tickstock_no_such_db" does not exist')
    assert_refused(run("record", env={"REDIS_URL": redis_url, "DATABASE_URL": REFUSED}),
                   "DATABASE_URL: nothing listening")
    assert_refused(run("db", "current", env={"DATABASE_URL": "mysql://x"}), "DATABASE_URL: expected a postgresql://")


def test_replay_names_an_unknown_session_and_a_store_that_never_recorded(redis_url, private_database_url):
    proc = run("replay", "--session", "nope", "--redis-url", redis_url, "--database-url", private_database_url)
    assert_refused(proc, "--database-url: no history tables there")
    import analytics

    analytics.upgrade(private_database_url)
    proc = run("replay", "--session", "nope", "--redis-url", redis_url, "--database-url", private_database_url)
    assert_refused(proc, "--session: no recorded session 'nope'")


# ------------------------------------------------------------------ record's store


def test_record_without_a_store_refuses_unless_asked_for_an_embedded_one(redis_url):
    for args in (("record",), ("serve", "--record")):
        assert_refused(run(*args, env={"REDIS_URL": redis_url}), "--database-url", "DATABASE_URL",
                       "--embedded-database")
    assert_refused(run("serve", "--embedded-database", env={"REDIS_URL": redis_url}),
                   "--embedded-database: only with --record")


def test_an_embedded_store_is_not_started_when_redis_is_wrong():
    assert_refused(run("record", "--embedded-database", "--redis-url", "redis://127.0.0.1:1"), "--redis-url")


def test_an_embedded_store_must_be_a_folder_of_its_own(redis_url, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert_refused(run("record", "--embedded-database", str(tmp_path), env={"REDIS_URL": redis_url}),
                   f"--embedded-database: {tmp_path} holds other files")
    assert_refused(run("record", "--embedded-database", str(tmp_path / "notes.txt"), env={"REDIS_URL": redis_url}),
                   "is a file, not a folder")


def record_until_stopped(redis_url: str, prefix: str, *args: str) -> tuple[subprocess.Popen, str, str, str]:
    """Start `tickstock record ARGS`, publish one simulated session, SIGTERM it; (proc, stdout, stderr, marker)."""
    from dashboard.tools.simulator import simulate

    marker = uuid.uuid4().hex
    env = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
           "REDIS_URL": redis_url, "STREAMING_CHANNEL_PREFIX": prefix, MARK: marker}
    proc = subprocess.Popen([TICKSTOCK, "record", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err = []
    try:
        while not any(line.startswith("recording ") for line in err):
            line = proc.stderr.readline()
            assert line, f"record ended early: {''.join(err)}"
            err.append(line)
        sent = simulate(redis_url, mode="single", rate=0, prefix=prefix)
        proc.send_signal(signal.SIGTERM)
        out, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
    summary = json.loads(out.strip().splitlines()[-1])
    assert proc.returncode == 0 and summary["received"] == sent["total"]
    wait_for(lambda: not started_by(marker), timeout=15, message="record left processes running")
    return proc, out, "".join(err) + rest, marker


def test_record_into_a_temporary_embedded_store_says_so_and_leaves_nothing(redis_url, channel_prefix):
    _, _, err, _ = record_until_stopped(redis_url, channel_prefix, "--embedded-database")
    assert "temporary embedded PostgreSQL" in err and "deleted when this command stops" in err


def test_record_into_a_named_folder_keeps_the_data_there(redis_url, channel_prefix, tmp_path):
    folder = tmp_path / "history"
    _, _, err, _ = record_until_stopped(redis_url, channel_prefix, "--embedded-database", str(folder))
    assert f"kept in {folder}" in err
    assert (folder / "PG_VERSION").is_file() and not (folder / "postmaster.pid").exists()


# ------------------------------------------------------------------ simulate's sessions


def test_each_simulate_run_gets_its_own_session_unless_one_is_given(redis_url, channel_prefix):
    def session(*args: str) -> str:
        proc = run("simulate", "--mode", "single", "--json", "--prefix", channel_prefix, *args,
                   env={"REDIS_URL": redis_url})
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])["session_id"]

    assert session() != session()
    assert session("--session-id", "desk-7") == "desk-7"
