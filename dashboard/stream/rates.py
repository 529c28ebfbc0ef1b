"""Rolling per-second counters: events/s per type and active symbols over the last minute."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import get_args

from analytics.events import AnyEvent
from dashboard import constants as C

KIND = {cls: cls.__struct_config__.tag for cls in get_args(AnyEvent)}  # record type -> its JSON "kind"
RATE_SPAN_S = 5  # events/s is averaged over the last 5 complete seconds


def _kind(record: type) -> str:
    """A record type's kind name (one outside the contract by its tag, else its class name)."""
    return KIND.get(record) or getattr(record.__struct_config__, "tag", None) or record.__name__


class RateWindow:
    """Counts per event type in one-second buckets, and when each symbol was last seen.

    One writer (the ingest) and any number of readers (the page's sessions, /api/status). The
    writer takes the lock once per batch, in `bucket`, and then counts into the current second and
    stamps `last_seen` without it, so the hot path stays a dict increment. Readers therefore never
    iterate those live dicts: under the lock they take one-call copies (`dict(d)` copies in C,
    atomic under the GIL) and work on the copies; iterating a deque or dict the writer is
    changing raised RuntimeError on the page."""

    def __init__(self, span: int = C.RATE_WINDOW_S):
        self.span = span
        self._second: int | None = None
        self._current: Counter = Counter()
        self._history: deque[tuple[int, Counter]] = deque(maxlen=span)
        self.last_seen: dict[str, float] = {}  # written by the writer only (pruned in `bucket`)
        self._lock = threading.Lock()  # the buckets roll over together: a reader never counts one twice

    def bucket(self, now: float) -> Counter:
        """(writer) The counter of the second `now` falls in, rolling older seconds into history."""
        second = int(now)
        with self._lock:
            if second == self._second:
                return self._current
            if self._second is not None:
                self._history.append((self._second, self._current))
            self._second, self._current = second, Counter()
            current = self._current
        self._forget(now - self.span)  # once a second, on the writer's own thread
        return current

    def _forget(self, horizon: float) -> None:
        """(writer) Drop symbols not seen since `horizon`, so `last_seen` stays the size of the window."""
        seen = self.last_seen
        for symbol in [s for s, t in seen.items() if t < horizon]:
            del seen[symbol]

    def snapshot(self, now: float) -> dict:
        second = int(now)
        with self._lock:
            recent = [dict(c) for s, c in self._history if second - RATE_SPAN_S <= s < second]
            if self._second is not None and second - RATE_SPAN_S <= self._second < second:
                recent.append(dict(self._current))
            seen = dict(self.last_seen)
        total: Counter = Counter()
        for c in recent:
            total.update(c)
        horizon = now - self.span
        per_type = {_kind(k): round(v / RATE_SPAN_S, 2) for k, v in total.items()}
        return {
            "events_per_s": round(sum(total.values()) / RATE_SPAN_S, 2),
            "events_per_s_by_type": per_type,
            "active_symbols": sum(1 for t in seen.values() if t >= horizon),
        }

    def counts_at(self, second: int) -> dict[str, int]:
        """The per-kind counts of one whole second (empty when nothing arrived then)."""
        counts: dict = {}
        with self._lock:
            if second == self._second:
                counts = dict(self._current)
            else:
                for s, c in reversed(self._history):
                    if s <= second:
                        counts = dict(c) if s == second else {}
                        break
        return {_kind(k): n for k, n in counts.items()}
