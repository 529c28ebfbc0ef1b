"""The registry of event kinds: each kind of TickStockPL event declared once, everything else derived.

A `Kind` names its typed record (`analytics.events`, whose `HISTORY` says where it is recorded),
the channel suffixes it arrives on, its lane through the buffer and the key that collapses its
repeats, where the live page shows it, and its REST endpoint. From `KINDS` come the channel list,
the decoder's dispatch by channel, the buffer's lanes and keys, the ingest's state kinds, the
REST routes, replay's and the simulator's channels; tests check that no kind lacks a piece.
README "Development" has the recipe for adding one.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.events import (
    CriticalAlert,
    Event,
    Health,
    Indicator,
    IndicatorAlert,
    Pattern,
    Persistence,
    SessionStarted,
    SessionStopped,
    kind_name,
)

BUFFERED = "buffered"  # waits for the next flush (batched, collapsed, filtered)
IMMEDIATE = "immediate"  # never waits: straight to every consumer
STATE = "state"  # never waits, and the session tracker folds it into the producer's state
LANES = (BUFFERED, IMMEDIATE, STATE)


@dataclass(frozen=True)
class Coalesce:
    """Per flush, only the latest event of each key is delivered (the rest count as coalesced)."""

    key: tuple[str, ...]  # record fields


@dataclass(frozen=True)
class Dedup:
    """A repeat of one event (on any of the kind's channels) is delivered once; events of one
    `window` key within the dedup window collapse to the latest; those whose `floor` field is under
    the live view's minimum are filtered; a repeat carrying the `mark` flag passes it on."""

    identity: tuple[str, ...]  # record fields that identify one event
    window: tuple[str, ...]  # record fields of the dedup window (STREAMING_DEDUP_WINDOW)
    floor: str  # the field compared with STREAMING_PATTERN_MIN_CONFIDENCE
    mark: str  # a boolean field a repeat sets on the copy pending


@dataclass(frozen=True)
class Rest:
    """A history endpoint: GET /streaming/api/<name>[/<symbol>]?hours=1..24&limit=…[&<filter>=NAME]."""

    name: str  # path segment, and the CSV file's name
    columns: tuple[str, ...]  # table columns answered, in order
    limit: tuple[int, int, int]  # default, lowest, highest rows
    by_symbol: bool = True  # the symbol is part of the path
    filter: str | None = None  # a text column the client may filter on, by the parameter of its name
    upper: bool = False  # the filter's value is compared in upper case


@dataclass(frozen=True)
class Kind:
    """One kind of event and every piece the live side needs for it."""

    record: type[Event]  # the typed record; its tag is the kind's name, analytics.events.HISTORY its table
    channels: tuple[str, ...]  # channel suffixes it arrives on; the first is its own (replay and the simulator's)
    lane: str  # BUFFERED, IMMEDIATE or STATE
    live: str | None  # where the page shows it: "rows" (views.rows.LIVE_ROWS[name]), a session-state
    # field it feeds ("session", "health"), or None: counted only (required, so never forgotten)
    key: Coalesce | Dedup | None = None  # BUFFERED only: how repeats collapse (None: every event kept)
    confident: str | None = None  # the channel of its high-confidence copies: records read there are marked
    rest: Rest | None = None  # its history endpoint, if it has one

    @property
    def name(self) -> str:
        return kind_name(self.record)


KINDS: tuple[Kind, ...] = (
    Kind(Pattern, ("patterns:streaming", "patterns:detected"), BUFFERED, "rows",
         key=Dedup(identity=("symbol", "pattern", "detected_at", "timeframe"), window=("symbol", "pattern"),
                   floor="confidence", mark="high_confidence"),
         confident="patterns:detected",  # TickStockPL sends detections >= 0.8 there too
         rest=Rest("patterns", ("detected_at", "symbol", "pattern_type", "confidence", "timeframe",
                                "high_confidence", "session_id", "parameters"), limit=(100, 1, 1000))),
    Kind(Indicator, ("indicators:streaming",), BUFFERED, "rows", key=Coalesce(("symbol", "indicator")),
         rest=Rest("indicators", ("calculated_at", "symbol", "indicator", "values", "timeframe", "session_id"),
                   limit=(1000, 1, 5000), filter="indicator")),
    Kind(IndicatorAlert, ("alerts:indicators",), BUFFERED, "rows",
         rest=Rest("alerts", ("alerted_at", "symbol", "alert_type", "data", "session_id"), limit=(50, 10, 500),
                   by_symbol=False, filter="alert_type", upper=True)),
    Kind(CriticalAlert, ("alerts:critical",), IMMEDIATE, "rows"),
    Kind(SessionStarted, ("streaming:session_started",), STATE, "session"),
    Kind(SessionStopped, ("streaming:session_stopped",), STATE, "session"),
    Kind(Health, ("streaming:health",), STATE, "health"),
    Kind(Persistence, ("streaming:persistence",), STATE, None),  # the producer's storage confirmations
)

BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
BY_RECORD: dict[type[Event], Kind] = {k.record: k for k in KINDS}
BY_CHANNEL: dict[str, Kind] = {suffix: k for k in KINDS for suffix in k.channels}  # suffix -> kind
SUFFIXES: tuple[str, ...] = tuple(BY_CHANNEL)  # every channel suffix, in registry order
