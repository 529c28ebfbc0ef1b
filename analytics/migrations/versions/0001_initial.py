"""Initial history schema: sessions, patterns, indicators, indicator and critical alerts, health.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _jsonb(name: str, default: str) -> sa.Column:
    return sa.Column(name, JSONB, nullable=False, server_default=sa.text(f"'{default}'::jsonb"))


def _key(name: str, source: str) -> sa.Column:
    return sa.Column(name, sa.Text, sa.Computed(f"coalesce({source}, '')", persisted=True), nullable=False)


def upgrade() -> None:
    """Create every table with its natural unique key (time first) and its symbol-and-time index."""
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("universe", sa.Text),
        sa.Column("trigger_type", sa.Text),
        sa.Column("started_at", TZ),
        sa.Column("stopped_at", TZ),
        sa.Column("stop_reason", sa.Text),
        sa.PrimaryKeyConstraint("session_id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])

    op.create_table(
        "patterns",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("pattern_type", sa.Text, nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("detected_at", TZ, nullable=False),
        sa.Column("timeframe", sa.Text),
        _jsonb("parameters", "{}"),
        sa.Column("high_confidence", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("published_at", TZ),
        sa.Column("received_at", TZ),
        _key("timeframe_key", "timeframe"),
        sa.PrimaryKeyConstraint("id", name="pk_patterns"),
        sa.UniqueConstraint(
            "detected_at", "symbol", "pattern_type", "timeframe_key",
            name="uq_patterns_detected_at_symbol_pattern_type_timeframe_key",
        ),
    )
    op.create_index("ix_patterns_symbol_detected_at", "patterns", ["symbol", "detected_at"])

    op.create_table(
        "indicators",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("indicator", sa.Text, nullable=False),
        sa.Column("values", JSONB, nullable=False),
        sa.Column("calculated_at", TZ, nullable=False),
        sa.Column("timeframe", sa.Text),
        sa.Column("published_at", TZ),
        sa.Column("received_at", TZ),
        _key("timeframe_key", "timeframe"),
        sa.PrimaryKeyConstraint("id", name="pk_indicators"),
        sa.UniqueConstraint(
            "calculated_at", "symbol", "indicator", "timeframe_key",
            name="uq_indicators_calculated_at_symbol_indicator_timeframe_key",
        ),
    )
    op.create_index("ix_indicators_symbol_calculated_at", "indicators", ["symbol", "calculated_at"])

    op.create_table(
        "indicator_alerts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("alert_type", sa.Text, nullable=False),
        _jsonb("data", "{}"),
        sa.Column("alerted_at", TZ, nullable=False),
        sa.Column("received_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_alerts"),
        sa.UniqueConstraint(
            "alerted_at", "symbol", "alert_type", name="uq_indicator_alerts_alerted_at_symbol_alert_type"
        ),
    )
    op.create_index("ix_indicator_alerts_symbol_alerted_at", "indicator_alerts", ["symbol", "alerted_at"])

    op.create_table(
        "critical_alerts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text),
        sa.Column("alert_type", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("severity", sa.Text, nullable=False, server_default=sa.text("'critical'")),
        _jsonb("data", "{}"),
        sa.Column("alerted_at", TZ, nullable=False),
        sa.Column("received_at", TZ),
        sa.Column("message_key", sa.Text, sa.Computed("md5(message)", persisted=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_critical_alerts"),
        sa.UniqueConstraint(
            "alerted_at", "alert_type", "message_key", name="uq_critical_alerts_alerted_at_alert_type_message_key"
        ),
    )

    op.create_table(
        "health",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        _jsonb("issues", "[]"),
        sa.Column("ticks_per_second", sa.Double),
        sa.Column("bars_per_minute", sa.Double),
        sa.Column("processing_lag_ms", sa.Double),
        sa.Column("cpu_percent", sa.Double),
        sa.Column("memory_mb", sa.Double),
        sa.Column("memory_percent", sa.Double),
        sa.Column("active_symbols", sa.Integer),
        sa.Column("stale_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        _jsonb("stale_symbols", "[]"),
        sa.Column("connections_active", sa.Integer),
        sa.Column("connections_failed", sa.Integer),
        sa.Column("reconnections", sa.Integer),
        sa.Column("reported_at", TZ, nullable=False),
        sa.Column("received_at", TZ),
        _key("session_key", "session_id"),
        sa.PrimaryKeyConstraint("id", name="pk_health"),
        sa.UniqueConstraint("reported_at", "session_key", name="uq_health_reported_at_session_key"),
    )


def downgrade() -> None:
    """Drop every history table."""
    for table in ("health", "critical_alerts", "indicator_alerts", "indicators", "patterns", "sessions"):
        op.drop_table(table)
