"""Channel names: the registry's channel suffixes joined to a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard import constants as C
from dashboard.wire.kinds import BY_NAME, SUFFIXES


@dataclass(frozen=True)
class Channels:
    """The full channel names for one prefix (Redis pub/sub ignores database numbers)."""

    prefix: str = C.DEFAULT_CHANNEL_PREFIX

    def name(self, suffix: str) -> str:
        return f"{self.prefix}:{suffix}"

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(self.name(s) for s in SUFFIXES)

    def of(self, kind: str) -> str:
        """The channel a kind of event is published on (`of("pattern")`: …:patterns:streaming)."""
        return self.name(BY_NAME[kind].channels[0])

    def confident(self, kind: str) -> str:
        """The channel of a kind's high-confidence copies (`confident("pattern")`: …:patterns:detected)."""
        suffix = BY_NAME[kind].confident
        if suffix is None:
            raise ValueError(f"{kind} has no channel of high-confidence copies")
        return self.name(suffix)

    def suffix(self, channel: str) -> str | None:
        """The suffix of a channel of this prefix, or None for a foreign channel."""
        head = self.prefix + ":"
        if channel.startswith(head):
            rest = channel[len(head):]
            if rest in SUFFIXES:
                return rest
        return None

    # the channels by the names tools and tests have long used
    session_started = property(lambda self: self.of("session_started"))
    session_stopped = property(lambda self: self.of("session_stopped"))
    health = property(lambda self: self.of("health"))
    patterns_streaming = property(lambda self: self.of("pattern"))
    patterns_detected = property(lambda self: self.confident("pattern"))
    indicators = property(lambda self: self.of("indicator"))
    alerts_indicators = property(lambda self: self.of("indicator_alert"))
    alerts_critical = property(lambda self: self.of("critical_alert"))
    persistence = property(lambda self: self.of("persistence"))
