"""Rolling per-second counters: events/s per type and active symbols over the last minute."""

from __future__ import annotations

from collections import Counter, deque
from typing import get_args

from dashboard import constants as C
from dashboard.wire.events import AnyEvent

KIND = {cls: cls.__struct_config__.tag for cls in get_args(AnyEvent)}  # record type -> its JSON "kind"
RATE_SPAN_S = 5  # events/s is averaged over the last 5 complete seconds


class RateWindow:
    """Counts per event type in one-second buckets, and when each symbol was last seen."""

    def __init__(self, span: int = C.RATE_WINDOW_S):
        self.span = span
        self._second: int | None = None
        self._current: Counter = Counter()
        self._history: deque[tuple[int, Counter]] = deque(maxlen=span)
        self.last_seen: dict[str, float] = {}

    def bucket(self, now: float) -> Counter:
        """The counter of the second `now` falls in, rolling older seconds into history."""
        second = int(now)
        if second != self._second:
            if self._second is not None:
                self._history.append((self._second, self._current))
            self._second, self._current = second, Counter()
        return self._current

    def snapshot(self, now: float) -> dict:
        second = int(now)
        buckets = list(self._history)
        if self._second is not None:
            buckets.append((self._second, self._current))
        recent = [c for s, c in buckets if second - RATE_SPAN_S <= s < second]
        total: Counter = Counter()
        for c in recent:
            total.update(c)
        horizon = now - self.span
        stale = [s for s, t in self.last_seen.items() if t < horizon]
        for s in stale:
            del self.last_seen[s]
        per_type = {KIND[k]: round(v / RATE_SPAN_S, 2) for k, v in total.items()}
        return {
            "events_per_s": round(sum(total.values()) / RATE_SPAN_S, 2),
            "events_per_s_by_type": per_type,
            "active_symbols": len(self.last_seen),
        }

    def counts_at(self, second: int) -> dict[str, int]:
        """The per-kind counts of one whole second (empty when nothing arrived then)."""
        if second == self._second:
            return {KIND[k]: n for k, n in self._current.items()}
        for s, c in reversed(self._history):
            if s == second:
                return {KIND[k]: n for k, n in c.items()}
            if s < second:
                break
        return {}
