"""Health and sessions keep every other figure the producer sent, in a `details` jsonb column.

Producers nest figures the typed columns do not name (a queue depth, a symbol count); the decoder
keeps them by dotted path, and these columns store them. Existing rows get an empty object.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("health", "sessions"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN details jsonb NOT NULL DEFAULT '{{}}'::jsonb")


def downgrade() -> None:
    for table in ("health", "sessions"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN details")
