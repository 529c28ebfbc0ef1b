"""What the `tickstock` command checks before it starts anything: flags as numbers, ports, the
Redis and PostgreSQL it is pointed at (they must answer within 3 s), and where history goes.
Each problem is a CLIError naming the flag or variable; `cli` prints it as one line, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import re
import signal
import socket
import sys
import threading
from pathlib import Path

from dashboard.settings import (
    Settings,
    check_database_url,
    reach_database,
    reach_redis,
)

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")


class CLIError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: `tickstock: error: --rate: must be greater than 0, got '0'`."""

    def error(self, message: str):
        self.exit(2, f"tickstock: error: {message.removeprefix('argument ')}\n")


def number_flag(kind: type, zero: str | None = None):
    """An argparse type: a finite number above 0 (or 0 too, meaning `zero`)."""
    noun = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite {noun}, got {text!r}")
        if value < 0 or (value == 0 and zero is None):
            raise argparse.ArgumentTypeError(f"must be {'0 or more' if zero else 'greater than 0'}, got {text!r}")
        return value
    return parse


def port_flag(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def session_id_flag(text: str) -> str:
    if not SESSION_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"1-64 letters, digits, '_', '.', ':' or '-', got {text[:70]!r}")
    return text


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "prefix", None):
        overrides["channel_prefix"] = args.prefix
    return Settings.from_env(**overrides)


def url_source(args: argparse.Namespace, settings: Settings, attr: str) -> tuple[str | None, str]:
    """A URL from its flag, else from its variable, with the name to give in messages."""
    if flag := getattr(args, attr, None):
        return flag, "--" + attr.replace("_", "-")
    return getattr(settings, attr), attr.upper()


def chosen_redis_url(args: argparse.Namespace, settings: Settings) -> str:
    """--redis-url, else REDIS_URL, once it has answered a PING."""
    url, name = url_source(args, settings, "redis_url")
    if not url:
        raise CLIError("no Redis to talk to: pass --redis-url or set REDIS_URL "
                       "(`tickstock demo` starts an embedded one)")
    reach_redis(url, name)
    return url


def chosen_database_url(args: argparse.Namespace, settings: Settings, reach: bool = True) -> tuple[str | None, str]:
    """--database-url, else DATABASE_URL (None when neither is given), once it has answered."""
    url, name = url_source(args, settings, "database_url")
    if url:
        (reach_database if reach else check_database_url)(url, name)
    return url, name


def history_store(args: argparse.Namespace, settings: Settings, stack: contextlib.ExitStack) -> tuple[str, str]:
    """Where to record, and its name for messages: --embedded-database when asked for, else
    --database-url or DATABASE_URL."""
    if args.embedded_database is None:
        url, name = chosen_database_url(args, settings)
        if not url:
            raise CLIError("no history store: pass --database-url, set DATABASE_URL, or ask for "
                           "--embedded-database [DIR] (kept in DIR, or temporary without it)")
        return url, name
    from dashboard.services.embedded import EmbeddedPostgres

    folder = Path(args.embedded_database).expanduser() if args.embedded_database else None
    if folder is not None and folder.is_file():
        raise CLIError(f"--embedded-database: {folder} is a file, not a folder")
    if folder is not None and folder.is_dir() and any(folder.iterdir()) and not (folder / "PG_VERSION").exists():
        raise CLIError(f"--embedded-database: {folder} holds other files; name a new or empty folder, "
                       "or one it kept before")
    url = stack.enter_context(EmbeddedPostgres(folder)).url
    if folder is None:
        print(f"history in a temporary embedded PostgreSQL at {url}: deleted when this command stops "
              "(--embedded-database DIR keeps it)", file=sys.stderr, flush=True)
    else:
        print(f"history in an embedded PostgreSQL kept in {folder.resolve()}, at {url} while this runs",
              file=sys.stderr, flush=True)
    return url, "--embedded-database"


def start_recording(ingest, url: str, name: str) -> None:
    """Start recording (the recorder creates or migrates the tables first)."""
    import psycopg
    from sqlalchemy.exc import SQLAlchemyError

    try:
        ingest.record(url)
    except (SQLAlchemyError, psycopg.Error) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CLIError(f"{name}: cannot create the history tables: {reason}") from exc


def check_listen(address: str, port: int) -> None:
    """Fail now, naming the flag, if the page could not listen on address:port."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CLIError(f"--address: cannot resolve {address!r} ({exc.strerror})") from exc
    for family, kind, proto, _, where in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Tornado binds
            try:
                sock.bind(where)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise CLIError(f"--port: {port} is already in use on {address}") from exc
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise CLIError(f"--address: {address} is not an address of this machine") from exc
                raise CLIError(f"--port: cannot listen on {address}:{port} ({exc.strerror})") from exc


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so loops end cleanly and print their summaries."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


# ------------------------------------------------------------------ commands
