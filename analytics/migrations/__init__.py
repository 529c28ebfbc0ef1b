"""Alembic migrations of the history schema; run them with `analytics.db.upgrade(url)`."""
