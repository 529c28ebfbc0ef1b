"""Fixtures for the history side: a private database already migrated to the latest schema."""

from __future__ import annotations

import pytest

from analytics import db


@pytest.fixture
def history_url(private_database_url: str) -> str:
    """This test's own database, upgraded to the head revision."""
    db.upgrade(private_database_url)
    yield private_database_url
    db.dispose(private_database_url)


@pytest.fixture(scope="session")
def wire_events() -> list:
    """Every TickStockPL wire example, decoded by the live side into its typed record."""
    from tests.fixtures import record, wire_examples

    return [record(example["channel"], example["payload"], 1_737_713_000.0) for example in wire_examples()]
