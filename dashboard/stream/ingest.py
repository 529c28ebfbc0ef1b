"""The process's one ingest: subscriber → decode → buffer, plus session state and rejections.

Created once per process (`Ingest.shared`) however many browser sessions there are; nothing
starts until `start()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from dashboard.settings import Settings
from dashboard.stream.buffer import StreamingBuffer
from dashboard.stream.session import SessionTracker
from dashboard.stream.subscriber import Subscriber
from dashboard.wire.channels import Channels
from dashboard.wire.decoding import Batch, Rejected, reader
from dashboard.wire.kinds import BY_CHANNEL, STATE

log = logging.getLogger(__name__)
REJECTION_LOG = 200  # most recent rejections kept for the page and /status
EXCERPT_BYTES = 200
RECENT_FACTOR = 3  # a new session starts with up to this many times STREAMING_MAX_HISTORY_SIZE events


class Ingest:
    """Reads the TickStockPL channels on `redis_url` into a StreamingBuffer."""

    _shared: Ingest | None = None
    _shared_lock = threading.Lock()

    def __init__(self, settings: Settings, redis_url: str,
                 on_reject: Callable[[dict], None] | None = None):
        self.settings = settings
        self.redis_url = redis_url
        self.channels = Channels(settings.channel_prefix)
        self.buffer = StreamingBuffer(
            interval=settings.buffer_interval,
            max_size=settings.max_buffer_size,
            min_confidence=settings.pattern_min_confidence,
            dedup_window=settings.dedup_window,
            enabled=settings.buffer_enabled,
            recent=RECENT_FACTOR * settings.max_history_size,
        )
        self.session = SessionTracker(settings.health_check_interval_s)
        self.rejections: deque[dict] = deque(maxlen=REJECTION_LOG)
        self.on_reject = on_reject
        self.started_at: float | None = None
        self.recorder = None  # a Recorder writing this ingest's stream to PostgreSQL, if any
        self._routes: dict[bytes, tuple] = {  # channel -> (name, its decoder, carries session state)
            name.encode(): (name, reader(suffix, name), BY_CHANNEL[suffix].lane == STATE)
            for name, suffix in ((n, self.channels.suffix(n)) for n in self.channels.all)
        }
        self.subscriber = Subscriber(redis_url, self.channels.all, self.handle)

    @classmethod
    def shared(cls, factory: Callable[[], Ingest]) -> Ingest:
        """The process-wide ingest, made (and started) by `factory` on first use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = factory().start()
            return cls._shared

    @classmethod
    def reset_shared(cls) -> None:
        with cls._shared_lock:
            if cls._shared is not None:
                cls._shared.stop()
            cls._shared = None

    def start(self) -> Ingest:
        self.started_at = time.time()
        self.buffer.start()
        if self.settings.streaming_enabled:
            self.subscriber.start()
        return self

    def record(self, database_url: str) -> Ingest:
        """Also write every decoded event to the history tables at `database_url`."""
        from dashboard.stream.recorder import Recorder

        self.recorder = Recorder(self.buffer, database_url,
                                 retention_days=self.settings.history_retention_days).start()
        return self

    def stop(self) -> None:
        """Stop reading, flush what is pending so consumers get everything, then the recorder."""
        self.subscriber.stop()
        self.buffer.stop()
        if self.recorder is not None:
            self.recorder.stop()

    def handle(self, replies: list) -> None:
        """Decode one read's [b"message", channel, payload] replies and hand them to the buffer.
        Each member of a batch is an event of its own: received, decoded or rejected on its own."""
        now = time.time()
        routes = self._routes
        per_channel: dict[bytes, int] = {}
        rejected: Counter = Counter()
        batches = batched = 0
        events = []
        append = events.append
        for reply in replies:
            if type(reply) is not list or reply[0] != b"message":
                continue  # a pong or a late confirmation
            channel = reply[1]
            per_channel[channel] = per_channel.get(channel, 0) + 1
            route = routes.get(channel) or self._route(channel)
            try:
                ev = route[1](reply[2], now)
            except Rejected as exc:
                rejected[exc.code] += 1
                self._rejected(route[0], exc, reply[2], now)
                continue
            except Exception as exc:  # a decoder bug must cost one message, counted, not the loop
                log.exception("decoder failed on a message from %s", route[0])
                rejected["decoder_error"] += 1
                self._rejected(route[0], Rejected("decoder_error", f"{type(exc).__name__}: {exc}"), reply[2], now)
                continue
            if type(ev) is Batch:
                batches += 1
                batched += len(ev)
                per_channel[channel] += len(ev) - 1
                for member in ev:
                    if isinstance(member, Rejected):
                        rejected[member.code] += 1
                        self._rejected(route[0], member, reply[2], now)
                        continue
                    append(member)
                    if route[2]:
                        self.session.update(member)
                continue
            append(ev)
            if route[2]:
                self.session.update(ev)
        received = {routes[ch][0] if ch in routes else ch.decode("utf-8", "replace"): n
                    for ch, n in per_channel.items()}
        self.buffer.take(events, received=received, rejected=rejected, batches=(batches, batched))
        last = self.subscriber.last_message_at
        for name in received:
            last[name] = now

    def _route(self, channel: bytes) -> tuple:
        """The route of a channel we did not subscribe to (every message on it is rejected)."""
        name = channel.decode("utf-8", "replace")
        return (name, reader(None, name), False)

    def _rejected(self, channel: str, exc: Rejected, raw: bytes, now: float) -> None:
        entry = {
            "at": now,
            "channel": channel,
            "code": exc.code,
            "reason": exc.reason,
            "excerpt": raw[:EXCERPT_BYTES].decode("utf-8", "replace"),
        }
        self.rejections.append(entry)
        if self.on_reject is not None:
            self.on_reject(entry)

    def status(self) -> dict:
        """Session, latest health, subscriber state and the buffer's accounting."""
        sub = self.subscriber.snapshot()
        redis_state = sub["state"] if self.settings.streaming_enabled else "disabled"
        return {
            "session": self.session.snapshot(redis_state=redis_state),
            "subscriber": sub,
            "buffer": self.buffer.stats(),
            "rejections": list(self.rejections)[-20:],
            "recorder": self.recorder.snapshot() if self.recorder is not None else None,
            "streaming_enabled": self.settings.streaming_enabled,
            "channel_prefix": self.settings.channel_prefix,
            "uptime_s": round(time.time() - self.started_at, 1) if self.started_at else 0.0,
        }
