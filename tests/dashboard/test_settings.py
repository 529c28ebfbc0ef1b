"""Settings: typed, validated at start, every one documented in the README."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.settings import (
    ENV_VARS,
    Settings,
    SettingsError,
    clock_offset_s,
    reach_database,
    reach_redis,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme_settings_table():
    table = README.read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.M))
    missing = set(ENV_VARS.values()) - documented
    assert not missing, f"settings missing from the README: {sorted(missing)}"


def test_defaults_match_the_design():
    s = Settings.from_env({})
    assert (s.streaming_enabled, s.buffer_enabled, s.buffer_interval_ms, s.max_buffer_size) == (True, True, 250, 100)
    assert (s.pattern_min_confidence, s.alert_notifications, s.health_check_interval_s) == (0.7, True, 60)
    assert (s.max_history_size, s.dedup_window_ms, s.channel_prefix) == (1000, 100, "tickstock")
    assert s.redis_url is None and s.database_url is None


def test_values_are_parsed_to_their_types():
    s = Settings.from_env({"STREAMING_ENABLED": "no", "STREAMING_BUFFER_INTERVAL": "500",
                           "STREAMING_PATTERN_MIN_CONFIDENCE": "0.55", "STREAMING_CHANNEL_PREFIX": "staging",
                           "REDIS_URL": "redis://h:1/2"})
    assert (s.streaming_enabled, s.buffer_interval, s.pattern_min_confidence) == (False, 0.5, 0.55)
    assert (s.channel_prefix, s.redis_url) == ("staging", "redis://h:1/2")


@pytest.mark.parametrize(("var", "value", "says"), [
    ("STREAMING_BUFFER_INTERVAL", "fast", "whole number"),
    ("STREAMING_BUFFER_INTERVAL", "0", "between"),
    ("STREAMING_MAX_BUFFER_SIZE", "-5", "between"),
    ("STREAMING_PATTERN_MIN_CONFIDENCE", "1.2", "between"),
    ("STREAMING_PATTERN_MIN_CONFIDENCE", "nan", "finite"),
    ("STREAMING_ENABLED", "maybe", "true or false"),
    ("STREAMING_HEALTH_CHECK_INTERVAL", "1.5", "whole number"),
    ("STREAMING_CHANNEL_PREFIX", "a b*", "letters"),
    ("REDIS_URL", "localhost:6379", "redis://"),
    ("DATABASE_URL", "mysql://x", "postgresql"),
    ("TICKSTOCK_CLOCK", "tomorrow", "ISO 8601 instant with its offset"),
    ("TICKSTOCK_CLOCK", "2026-11-26T15:00:00", "with its offset, e.g. 2026-11-26T15:00:00Z"),
])
def test_a_bad_value_fails_naming_the_variable_and_the_reason(var, value, says):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({var: value})
    assert str(info.value).startswith(f"{var}:") and says in str(info.value)


def test_a_bad_value_is_one_line():
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"TICKSTOCK_CLOCK": "26/11/2026 3pm"})
    assert str(info.value) == ("TICKSTOCK_CLOCK: expected an ISO 8601 instant with its offset, "
                               "e.g. 2026-11-26T15:00:00Z, got '26/11/2026 3pm'")


def test_the_clock_setting_starts_the_pages_clock_at_its_instant(monkeypatch):
    monkeypatch.setenv("TICKSTOCK_CLOCK", "2026-11-26T15:00:00Z")
    clock_offset_s.cache_clear()
    try:
        offset = clock_offset_s()
        assert abs(time.time() + offset - datetime(2026, 11, 26, 15, tzinfo=UTC).timestamp()) < 5
        assert clock_offset_s() == offset  # read once: from then it advances in real time
    finally:
        clock_offset_s.cache_clear()
    assert Settings.from_env({"TICKSTOCK_CLOCK": "2026-11-27T12:00:00-05:00"}).clock == "2026-11-27T12:00:00-05:00"


def test_a_database_url_may_name_any_postgresql_driver():
    for url in ("postgresql://h/db", "postgres://h/db", "postgresql+psycopg://h/db", "postgresql+psycopg2://h/db"):
        assert Settings.from_env({"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(("reach", "url", "says"), [
    (reach_redis, "redis://127.0.0.1:1/0", "nothing listening at 127.0.0.1:1 (connection refused)"),
    (reach_redis, "redis://no-such-host.invalid:6379", "cannot resolve the host of no-such-host.invalid:6379"),
    (reach_redis, "unix:///nonexistent/redis.sock", "nothing listening at /nonexistent/redis.sock (no such socket)"),
    (reach_redis, "http://x", "expected a redis://, rediss:// or unix:// URL, got 'http://x'"),
    (reach_database, "postgresql://postgres@127.0.0.1:1/x", "nothing listening at 127.0.0.1:1 (connection refused)"),
    (reach_database, "postgresql://postgres@no-such-host.invalid/x", "cannot resolve the host of no-such-host.invalid:5432"),
    (reach_database, "sqlite:///x.db", "expected a postgresql:// URL, got 'sqlite:///x.db'"),
])
def test_a_service_that_does_not_answer_is_named_with_the_reason(reach, url, says):
    with pytest.raises(SettingsError) as info:
        reach(url, "--some-url")
    assert str(info.value) == f"--some-url: {says}"


def test_services_that_answer_pass(redis_url, database_url):
    reach_redis(redis_url, "REDIS_URL")
    reach_database(database_url, "DATABASE_URL")
