"""Alembic environment: migrates the history schema on a connection given by `analytics.db`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from analytics.db import LOCK_ID, normalise_url
from analytics.partitions import include_name
from analytics.tables import metadata

config = context.config
target_metadata = metadata


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_server_default=True,
                      include_name=include_name)  # day partitions are made at run time
    with context.begin_transaction():
        # Two processes upgrading at once (serve and record) take turns instead of colliding.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_ID})
        context.run_migrations()


def run_offline() -> None:
    """Emit the SQL instead of running it (`alembic upgrade --sql`)."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run on the connection `analytics.db` handed over, or on one made from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(normalise_url(config.get_main_option("sqlalchemy.url")))
    try:
        with engine.connect() as conn:
            _migrate(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
