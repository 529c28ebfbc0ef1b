"""TickStock history: schema, migrations, fast writes and loads, joins and statistics in pandas.

Usable in any notebook or script: nothing here imports the dashboard, Panel or Bokeh. The typed
records both sides share, and where history keeps each kind, are in `analytics.events`.
"""

from .db import current_revision, engine_for, head_revision, normalise_url, upgrade
from .frames import parse_json
from .joins import combine, enrich_patterns, with_base_rate
from .loaders import (
    live_frame,
    load,
    load_alerts,
    load_critical_alerts,
    load_health,
    load_indicators,
    load_patterns,
    load_sessions,
)
from .sample import sample_history
from .stats import (
    alert_distribution,
    confidence_distribution,
    pattern_frequency,
    session_summary,
    unusual_activity,
)
from .writer import write_events, write_rows

__all__ = [
    "alert_distribution", "combine", "confidence_distribution", "current_revision", "engine_for",
    "enrich_patterns", "head_revision", "live_frame", "load", "load_alerts", "load_critical_alerts", "load_health",
    "load_indicators", "load_patterns", "load_sessions", "normalise_url", "parse_json", "pattern_frequency",
    "sample_history", "session_summary", "unusual_activity", "upgrade", "with_base_rate", "write_events",
    "write_rows",
]
