"""Patterns: one unique key led by symbol (NULLS NOT DISTINCT), no serial id, no generated key.

The key (symbol, detected_at, pattern_type, timeframe) replaces the time-led key on a generated
`timeframe_key`, the (symbol, detected_at) index and the bigserial id: one index instead of three
halves PostgreSQL's work per recorded row and still serves the symbol-and-time queries. NULLS NOT
DISTINCT (PostgreSQL 15+) keeps a detection without a timeframe deduplicated; an empty timeframe is
stored as NULL (the old key made '' and NULL one key, so existing rows cannot collide).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_KEY = "uq_patterns_symbol_detected_at_pattern_type_timeframe"
OLD_KEY = "uq_patterns_detected_at_symbol_pattern_type_timeframe_key"


def upgrade() -> None:
    """Swap the three indexes of patterns for the one symbol-led unique key (data kept)."""
    op.execute("UPDATE patterns SET timeframe = NULL WHERE timeframe = ''")
    op.execute(f"ALTER TABLE patterns ADD CONSTRAINT {NEW_KEY} "
               "UNIQUE NULLS NOT DISTINCT (symbol, detected_at, pattern_type, timeframe)")
    op.execute(f"ALTER TABLE patterns DROP CONSTRAINT {OLD_KEY}")
    op.execute("DROP INDEX ix_patterns_symbol_detected_at")
    op.execute("ALTER TABLE patterns DROP COLUMN timeframe_key, DROP COLUMN id")


def downgrade() -> None:
    """Back to 0001's id, generated key, time-led unique key and (symbol, time) index (data kept)."""
    op.execute("ALTER TABLE patterns ADD COLUMN id bigserial, "
               "ADD COLUMN timeframe_key text GENERATED ALWAYS AS (coalesce(timeframe, '')) STORED NOT NULL")
    op.execute("ALTER TABLE patterns ADD CONSTRAINT pk_patterns PRIMARY KEY (id)")
    op.execute(f"ALTER TABLE patterns ADD CONSTRAINT {OLD_KEY} "
               "UNIQUE (detected_at, symbol, pattern_type, timeframe_key)")
    op.execute("CREATE INDEX ix_patterns_symbol_detected_at ON patterns (symbol, detected_at)")
    op.execute(f"ALTER TABLE patterns DROP CONSTRAINT {NEW_KEY}")
