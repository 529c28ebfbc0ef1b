"""A Redis URL's password never shows in what tail and replay say when Redis does not answer."""

from __future__ import annotations

import uuid

import pytest

import analytics
from dashboard.settings import Settings
from dashboard.tools.replay import ReplayError, replay
from dashboard.tools.tail import TailError, tail
from tests.fixtures import free_port, pattern_row

SECRET = "s3cret-Pa55word"


def closed_redis() -> str:
    """A Redis URL with a password, at a port nothing listens on."""
    return f"redis://trader:{SECRET}@127.0.0.1:{free_port()}/0"


def test_tail_says_where_it_could_not_subscribe_without_the_password(channel_prefix):
    url = closed_redis()
    with pytest.raises(TailError) as caught:
        tail(Settings.from_env({}, channel_prefix=channel_prefix), url, connect_timeout=1)
    said = str(caught.value)
    assert SECRET not in said and url.split("@")[1] in said, said


def test_replay_says_which_redis_did_not_answer_without_the_password(private_database_url):
    analytics.upgrade(private_database_url)
    session = f"mask-{uuid.uuid4().hex[:6]}"
    analytics.write_rows(private_database_url, "patterns", [pattern_row(0, session_id=session)])
    url = closed_redis()
    with pytest.raises(ReplayError) as caught:
        replay(private_database_url, url, session, progress=False)
    said = str(caught.value)
    assert SECRET not in said and url.split("@")[1].split("/")[0] in said, said
