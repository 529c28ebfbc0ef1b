"""Table definitions: natural keys exist as constraints and the writer's defaults match the server's."""

from __future__ import annotations

import pytest
from sqlalchemy import UniqueConstraint

from analytics.tables import CONFLICT_KEYS, DEFAULTS, KEY_SOURCES, TABLES, WRITABLE


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_conflict_key_is_a_unique_constraint_or_the_primary_key(name):
    table = TABLES[name]
    keys = {tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)}
    keys.add(tuple(c.name for c in table.primary_key.columns))
    assert CONFLICT_KEYS[name] in keys


@pytest.mark.parametrize("name", sorted(TABLES))
def test_writer_defaults_cover_exactly_the_not_null_columns_with_server_defaults(name):
    table = TABLES[name]
    with_default = {c.name for c in table.columns
                    if c.server_default is not None and c.computed is None and not c.nullable}
    assert set(DEFAULTS[name]) == with_default


def test_generated_and_serial_columns_are_never_written():
    for name, columns in WRITABLE.items():
        assert "id" not in columns and not set(KEY_SOURCES) & set(columns), name
