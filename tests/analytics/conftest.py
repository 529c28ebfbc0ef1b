"""Fixtures for the history side: a private database already migrated to the latest schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics import db


@pytest.fixture
def history_url(private_database_url: str) -> str:
    """This test's own database, upgraded to the head revision."""
    db.upgrade(private_database_url)
    yield private_database_url
    db.dispose(private_database_url)


WIRE = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "tickstockpl-phase5.jsonl"


@pytest.fixture(scope="session")
def wire_events() -> list:
    """Every TickStockPL wire example, decoded by the live side into its typed record."""
    from dashboard import decoding
    from dashboard.channels import Channels

    if not WIRE.exists():
        pytest.fail(f"wire examples not found at {WIRE}")
    channels = Channels()
    out = []
    for line in WIRE.read_text().splitlines():
        if line.strip():
            example = json.loads(line)
            raw = json.dumps(example["payload"]).encode()
            out.append(decoding.decode(channels.suffix(example["channel"]), example["channel"], raw, 1_737_713_000.0))
    return out
