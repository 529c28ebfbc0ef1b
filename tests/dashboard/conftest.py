"""Fixtures of the dashboard tests."""

from __future__ import annotations

import pytest

from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest


@pytest.fixture
def ingest(redis_url, channel_prefix):
    """A started ingest on the test's own channel prefix, subscribed before the test publishes."""
    ing = Ingest(Settings.from_env({}, channel_prefix=channel_prefix), redis_url).start()
    assert ing.subscriber.wait_subscribed(10)
    yield ing
    ing.stop()
