"""Every default interval and limit in one place, with its unit (each kind's channels are in the
registry, `dashboard.wire.kinds`)."""

DEFAULT_CHANNEL_PREFIX = "tickstock"  # first part of every channel name, joined to the kind's suffix with ":"

# Settings defaults (DESIGN.md "Settings").
DEFAULT_BUFFER_INTERVAL_MS = 250  # ms between flushes
DEFAULT_MAX_BUFFER_SIZE = 100  # events per type per flush; reaching it flushes early
DEFAULT_PATTERN_MIN_CONFIDENCE = 0.7  # 0..1
DEFAULT_HEALTH_CHECK_INTERVAL_S = 60  # s between producer health events
DEFAULT_MAX_HISTORY_SIZE = 1000  # rows per live table
DEFAULT_DEDUP_WINDOW_MS = 100  # ms: same symbol and pattern within it collapse to the latest

# Decoding limits.
MAX_PAYLOAD_BYTES = 64 * 1024  # larger messages are rejected unread
MAX_NESTING_DEPTH = 32  # deeper JSON is rejected
HIGH_CONFIDENCE = 0.8  # TickStockPL also sends detections at or above it on :detected

# Buffer limits.
CONSUMER_QUEUE_CAPACITY = 200_000  # events a consumer may fall behind before the oldest drop
PENDING_CAPACITY = 100_000  # events held between flushes before new ones drop
DETECTION_MEMORY = 65_536  # detection identities remembered to collapse repeats
RATE_WINDOW_S = 60  # s of per-second counters kept for events/s and active symbols

# Subscriber.
SOCKET_READ_BYTES = 1 << 16  # bytes per recv: small reads keep parsing in cache (1 MiB ones ran 2.3x slower)
PING_IDLE_S = 2.0  # s of silence before the subscriber pings Redis
PING_TIMEOUT_S = 3.0  # s to wait for the pong before the link counts as dead
SUBSCRIBE_WAIT_S = 10.0  # s a command waits for its subscription before it says it is listening
DRAIN_TIMEOUT_S = 1.0  # s a stopping subscriber waits for what Redis delivered before the stop
RECONNECT_BACKOFF_MIN_S = 0.1
RECONNECT_BACKOFF_MAX_S = 5.0
