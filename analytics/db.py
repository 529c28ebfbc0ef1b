"""Database URLs, engines, raw psycopg connections and Alembic migrations for the history store.

Users give URLs with any PostgreSQL driver name; SQLAlchemy engines always use psycopg2 (the
default driver changed to psycopg 3 in SQLAlchemy 2.1), while bulk COPY goes through psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DRIVERS = {"postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg", "postgresql+psycopg2cffi"}
LOCK_ID = 0x7469636B  # pg_advisory_xact_lock key serialising concurrent upgrades ("tick")


class DatabaseURLError(ValueError):
    """A database URL that is not a PostgreSQL URL."""


def _url(url: str | URL) -> URL:
    try:
        parsed = make_url(str(url) if not isinstance(url, URL) else url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise DatabaseURLError(f"not a database URL: {url!r}") from exc
    if parsed.drivername not in DRIVERS:
        raise DatabaseURLError(f"not a PostgreSQL URL (driver {parsed.drivername!r})")
    return parsed


def normalise_url(url: str | URL) -> str:
    """The URL with its driver set to postgresql+psycopg2, whatever driver name it came with."""
    return _url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


_engines: dict[str, Engine] = {}


def engine_for(url: str | URL) -> Engine:
    """A shared SQLAlchemy engine (psycopg2, session time zone UTC) for the URL."""
    key = normalise_url(url)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = create_engine(key, pool_pre_ping=True,
                                               connect_args={"options": "-c TimeZone=UTC"})
    return engine


def conninfo(url: str | URL) -> str:
    """A libpq connection string for the URL, for psycopg 3 and other libpq clients."""
    parsed = _url(url)
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def connect(url: str | URL, **kwargs: Any) -> psycopg.Connection:
    """A psycopg 3 connection to the URL with its session time zone set to UTC."""
    conn = psycopg.connect(conninfo(url), **kwargs)
    conn.execute("SET TimeZone TO 'UTC'")
    if not conn.autocommit:
        conn.commit()
    return conn


def alembic_config(url: str | URL):
    """An Alembic Config for the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | URL, revision: str = "head") -> str | None:
    """Bring the database's schema to `revision` (default: latest); returns the revision reached."""
    from alembic import command

    config = alembic_config(url)
    with engine_for(url).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return current_revision(url)


def downgrade(url: str | URL, revision: str) -> str | None:
    """Take the schema back to `revision` ("base" removes everything); returns the revision reached."""
    from alembic import command

    config = alembic_config(url)
    with engine_for(url).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
    return current_revision(url)


def current_revision(url: str | URL) -> str | None:
    """The schema revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The latest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    return heads[0]


def dispose(url: str | URL) -> None:
    """Close the pooled connections of the URL's shared engine (before dropping its database)."""
    key = normalise_url(url)
    if key in _engines:
        _engines.pop(key).dispose()


@contextmanager
def connection_for(target: Any) -> Iterator[psycopg.Connection]:
    """A psycopg 3 connection for a URL (opened and closed here) or one given by the caller."""
    if isinstance(target, psycopg.Connection):
        yield target
        return
    driver = getattr(target, "driver_connection", None)  # SQLAlchemy pool connection
    if driver is None and hasattr(target, "connection"):  # SQLAlchemy Connection
        driver = getattr(target.connection, "driver_connection", None)
    if isinstance(driver, psycopg.Connection):
        yield driver
        return
    if isinstance(target, str | URL):
        conn = connect(target)
        try:
            yield conn
        finally:
            conn.close()
        return
    raise TypeError(f"expected a database URL or a psycopg 3 connection, not {type(target).__name__}")
