"""Channel names: the TickStockPL suffixes joined to a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard import constants as C

SUFFIXES = (
    C.SESSION_STARTED,
    C.SESSION_STOPPED,
    C.HEALTH,
    C.PATTERNS_STREAMING,
    C.PATTERNS_DETECTED,
    C.INDICATORS_STREAMING,
    C.ALERTS_INDICATORS,
    C.ALERTS_CRITICAL,
    C.PERSISTENCE,
)


@dataclass(frozen=True)
class Channels:
    """The full channel names for one prefix (Redis pub/sub ignores database numbers)."""

    prefix: str = C.DEFAULT_CHANNEL_PREFIX

    def name(self, suffix: str) -> str:
        return f"{self.prefix}:{suffix}"

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(self.name(s) for s in SUFFIXES)

    def suffix(self, channel: str) -> str | None:
        """The suffix of a channel of this prefix, or None for a foreign channel."""
        head = self.prefix + ":"
        if channel.startswith(head):
            rest = channel[len(head):]
            if rest in SUFFIXES:
                return rest
        return None

    session_started = property(lambda self: self.name(C.SESSION_STARTED))
    session_stopped = property(lambda self: self.name(C.SESSION_STOPPED))
    health = property(lambda self: self.name(C.HEALTH))
    patterns_streaming = property(lambda self: self.name(C.PATTERNS_STREAMING))
    patterns_detected = property(lambda self: self.name(C.PATTERNS_DETECTED))
    indicators = property(lambda self: self.name(C.INDICATORS_STREAMING))
    alerts_indicators = property(lambda self: self.name(C.ALERTS_INDICATORS))
    alerts_critical = property(lambda self: self.name(C.ALERTS_CRITICAL))
    persistence = property(lambda self: self.name(C.PERSISTENCE))
