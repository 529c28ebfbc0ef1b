"""The streaming buffer: batches, collapses and fans events out, accounting for every message.

Every message received ends in exactly one of delivered, deduplicated, filtered, rejected,
dropped (or is still pending): `received = delivered + deduplicated + filtered + rejected +
dropped + pending` holds at every instant, so at rest the identity of DESIGN.md holds.
Delivered means handed to the consumers; each consumer then counts what it read and what it
lost by falling more than its capacity behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from analytics.events import AnyEvent
from dashboard import constants as C
from dashboard.stream.rates import RateWindow
from dashboard.wire.kinds import BUFFERED as BUFFERED_LANE
from dashboard.wire.kinds import KINDS, Coalesce, Dedup, Kind

log = logging.getLogger(__name__)
MODES = ("live", "with_filtered", "all")
LANED = tuple(k for k in KINDS if k.lane == BUFFERED_LANE)  # the kinds that wait for a flush, in delivery order
BUFFERED = tuple(k.record for k in LANED)  # their record types; the rest never waits for a flush


class _Lane:
    """One buffered kind's events waiting for the next flush, and how its repeats collapse."""

    __slots__ = ("record", "coalesce", "identity", "window", "floor", "mark", "seen")

    def __init__(self, kind: Kind):
        self.record = kind.record
        key = kind.key
        self.coalesce = attrgetter(*key.key) if isinstance(key, Coalesce) else None
        dedup = key if isinstance(key, Dedup) else None
        self.identity = attrgetter(*dedup.identity) if dedup else None
        self.window = attrgetter(*dedup.window) if dedup else None
        self.floor = attrgetter(dedup.floor) if dedup else None
        self.mark = dedup.mark if dedup else None
        self.seen: OrderedDict = OrderedDict()  # identity -> first channel, the last DETECTION_MEMORY


class Consumer:
    """One reader of the stream (a browser session, the recorder, `tail`), at its own pace.

    mode "live": what the live view shows; "with_filtered": plus patterns under the confidence
    threshold; "all": every decoded event before dedup and filtering (the recorder).
    """

    def __init__(self, name: str, mode: str, capacity: int, on_ready: Callable[[bool], None] | None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.name = name
        self.mode = mode
        self.capacity = capacity
        self.on_ready = on_ready
        self.delivered = 0  # events handed out by drain()
        self.dropped = 0  # events lost by falling more than `capacity` behind
        self.closed = False
        self._queue: deque = deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def _push(self, events: list, urgent: bool = False) -> None:
        if not events or self.closed:
            return
        with self._lock:
            self._queue.extend(events)
            over = len(self._queue) - self.capacity
            if over > 0:
                for _ in range(over):
                    self._queue.popleft()
                self.dropped += over
        self._ready.set()
        if self.on_ready is not None:
            try:
                self.on_ready(urgent)
            except Exception:  # a consumer's callback must never break the ingest
                log.exception("on_ready callback of consumer %s failed", self.name)

    def drain(self, limit: int | None = None) -> list[AnyEvent]:
        """The events queued since the last drain, oldest first (at most `limit`)."""
        with self._lock:
            if limit is None or limit >= len(self._queue):
                out = list(self._queue)
                self._queue.clear()
            else:
                out = [self._queue.popleft() for _ in range(limit)]
            if not self._queue:
                self._ready.clear()
            self.delivered += len(out)
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until events are queued (or timeout); True when some are."""
        return self._ready.wait(timeout)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def snapshot(self) -> dict:
        return {"name": self.name, "mode": self.mode, "delivered": self.delivered,
                "dropped": self.dropped, "queued": self.queued}


@dataclass
class Account:
    """The fate of every event, with the breakdowns the status page shows. A message that carries
    a batch counts as one received event per member (`messages` counts what Redis delivered)."""

    received: int = 0
    delivered: int = 0
    deduplicated: int = 0
    filtered: int = 0
    rejected: int = 0
    dropped: int = 0
    received_per_channel: Counter = field(default_factory=Counter)
    deduplicated_by: Counter = field(default_factory=Counter)  # window, cross_channel, repeat, coalesced
    rejected_by: Counter = field(default_factory=Counter)  # rejection code -> count
    messages: int = 0  # pub/sub messages read: received minus the extra members of batches
    batches: int = 0  # messages that carried a batch of events
    batched: int = 0  # events that arrived inside a batch


class StreamingBuffer:
    """Collects decoded events between flushes and fans each batch out to every consumer."""

    def __init__(
        self,
        *,
        interval: float = C.DEFAULT_BUFFER_INTERVAL_MS / 1000,
        max_size: int = C.DEFAULT_MAX_BUFFER_SIZE,
        min_confidence: float = C.DEFAULT_PATTERN_MIN_CONFIDENCE,
        dedup_window: float = C.DEFAULT_DEDUP_WINDOW_MS / 1000,
        enabled: bool = True,
        pending_capacity: int = C.PENDING_CAPACITY,
        consumer_capacity: int = C.CONSUMER_QUEUE_CAPACITY,
        recent: int = 0,
    ):
        self.interval = interval
        self.max_size = max_size
        self.min_confidence = min_confidence
        self.dedup_window = dedup_window
        self.enabled = enabled
        self.pending_capacity = pending_capacity
        self.consumer_capacity = consumer_capacity
        self.account = Account()
        self.rates = RateWindow()
        self.flushes = 0
        self.early_flushes = 0
        self._lock = threading.RLock()
        self._fan_lock = threading.RLock()  # fan-out and registration: no event missed or doubled
        self._recent: deque = deque(maxlen=recent)  # the last delivered live events, for new sessions
        self._consumers: list[Consumer] = []
        self._all_mode = False  # any consumer wants every decoded event
        self._lanes: dict[type, _Lane] = {k.record: _Lane(k) for k in LANED}
        self._slots = len(self._lanes) + 1  # pending lists that flush early at max_size (and the filtered one)
        self._pending: dict[type, list | dict] = {}  # per kind: its events (a dict by key where they coalesce)
        self._windows: dict[type, dict[tuple, tuple[int, float]]] = {}  # window key -> (index, arrival)
        self._plain: list[AnyEvent] = []  # with the buffer off: the events of kinds that are not deduplicated
        self._filtered: list[AnyEvent] = []
        self._everything: list[AnyEvent] = []
        self._reset()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------ consumers

    def register(self, name: str, *, mode: str = "live", capacity: int | None = None,
                 on_ready: Callable[[bool], None] | None = None, replay: bool = False) -> Consumer:
        """A new consumer that sees every event delivered from now on (and, with `replay`, the
        most recent ones delivered before, so a page opened mid-session is not empty)."""
        consumer = Consumer(name, mode, capacity or self.consumer_capacity, on_ready)
        with self._fan_lock, self._lock:
            if replay and self._recent:
                consumer._queue.extend(self._recent)
                consumer._ready.set()
            self._consumers.append(consumer)
            self._all_mode = any(c.mode == "all" for c in self._consumers)
        return consumer

    def unregister(self, consumer: Consumer) -> None:
        with self._lock:
            consumer.closed = True
            if consumer in self._consumers:
                self._consumers.remove(consumer)
            self._all_mode = any(c.mode == "all" for c in self._consumers)

    # ------------------------------------------------------------ ingest side

    def take(self, events: Iterable[AnyEvent], *, received: Counter | dict | None = None,
             rejected: Counter | dict | None = None, batches: tuple[int, int] = (0, 0),
             now: float | None = None) -> None:
        """Account for events read from Redis (`received` per channel, `rejected` per code; `batches`:
        how many messages carried a batch, and how many events they held) and take the decoded
        ones, all under one lock so the identity never wavers."""
        now = time.monotonic() if now is None else now
        urgent: list[AnyEvent] = []
        with self._lock:
            acc = self.account
            if received:
                acc.received_per_channel.update(received)
                total = sum(received.values())
                acc.received += total
                acc.messages += total - batches[1] + batches[0]
                acc.batches += batches[0]
                acc.batched += batches[1]
            if rejected:
                acc.rejected_by.update(rejected)
                acc.rejected += sum(rejected.values())
            everything = self._everything if self._all_mode else None
            wall = time.time()
            counts = self.rates.bucket(wall)
            last_seen = self.rates.last_seen
            enabled, max_size = self.enabled, self.max_size
            # pending cannot outgrow the capacity when every list flushes early at max_size
            capped = self._slots * max_size > self.pending_capacity
            lanes, pending, windows, coalesced = self._lanes, self._pending, self._windows, 0
            batches = []
            for ev in events:
                kind = type(ev)
                counts[kind] += 1
                lane = lanes.get(kind)
                if lane is None:  # critical alerts and state events never wait for a flush
                    urgent.append(ev)
                    continue
                last_seen[ev.symbol] = wall
                if everything is not None:
                    everything.append(ev)
                if not enabled:
                    if lane.identity is not None:
                        self._add_deduped(lane, ev, now, acc, self._pending[kind], self._windows[kind])
                    else:
                        self._plain.append(ev)
                    continue
                if capped and self.pending >= self.pending_capacity:
                    acc.dropped += 1  # overload beyond the documented capacity
                    continue
                waiting = pending[kind]
                if lane.coalesce is not None:
                    key = lane.coalesce(ev)
                    if key in waiting:
                        coalesced += 1
                    waiting[key] = ev
                    full = len(waiting) >= max_size
                elif lane.identity is not None:
                    self._add_deduped(lane, ev, now, acc, waiting, windows[kind])
                    full = len(waiting) >= max_size or len(self._filtered) >= max_size
                else:
                    waiting.append(ev)
                    full = len(waiting) >= max_size
                if full or (everything is not None and len(everything) >= self._slots * max_size):
                    self.early_flushes += 1  # overflow handling: flush early, never drop
                    batches.append(self._swap())
                    pending, windows = self._pending, self._windows
                    everything = self._everything if everything is not None else None
            if coalesced:
                acc.deduplicated += coalesced
                acc.deduplicated_by["coalesced"] += coalesced
            if not self.enabled:
                batches.append(self._swap())
            acc.delivered += len(urgent)
        if urgent:
            self._fan_out(urgent, [], urgent=True)
        for batch in batches:
            self._fan_out(*batch)

    def _add_deduped(self, lane: _Lane, ev: AnyEvent, now: float, acc: Account, pending: list,
                     window: dict) -> None:
        """A repeat counts once; under the floor it is filtered; in the window, the latest is kept
        (`pending` and `window`: the lane's waiting events and window slots, looked up once per take)."""
        identity = lane.identity(ev)
        seen = lane.seen
        first_channel = seen.get(identity)
        if first_channel is not None:
            acc.deduplicated += 1
            acc.deduplicated_by["cross_channel" if first_channel != ev.channel else "repeat"] += 1
            slot = window.get(lane.window(ev))
            if slot is not None and getattr(ev, lane.mark):
                waiting = pending[slot[0]]
                if lane.identity(waiting) == identity:
                    setattr(waiting, lane.mark, True)  # the copy from :detected flags the row shown
            return
        seen[identity] = ev.channel
        if len(seen) > C.DETECTION_MEMORY:
            seen.popitem(last=False)
        if lane.floor(ev) < self.min_confidence:
            acc.filtered += 1
            self._filtered.append(ev)
            return
        key = lane.window(ev)
        slot = window.get(key)
        if slot is not None and now - slot[1] <= self.dedup_window:
            pending[slot[0]] = ev  # keep the latest, in the earlier one's place
            window[key] = (slot[0], now)
            acc.deduplicated += 1
            acc.deduplicated_by["window"] += 1
        else:
            window[key] = (len(pending), now)
            pending.append(ev)

    # ------------------------------------------------------------ flushing

    def flush(self) -> int:
        """Deliver everything pending now; returns the number of live events delivered."""
        with self._lock:
            live, filtered, everything = self._swap()
            self.flushes += 1
        if live or filtered or everything:
            self._fan_out(live, filtered, everything)
        return len(live)

    def _swap(self) -> tuple[list, list, list]:
        """Take the pending events out (under the lock), counting them delivered."""
        live: list[AnyEvent] = []
        for record, lane in self._lanes.items():
            waiting = self._pending[record]
            live.extend(waiting.values() if lane.coalesce is not None else waiting)
        live.extend(self._plain)
        out = (live, self._filtered, self._everything)
        self._reset()
        self.account.delivered += len(live)
        return out

    def _reset(self) -> None:
        self._pending = {r: {} if lane.coalesce is not None else [] for r, lane in self._lanes.items()}
        self._windows = {r: {} for r in self._lanes}
        self._plain, self._filtered, self._everything = [], [], []

    def _fan_out(self, live: list, filtered: list, everything: list | None = None,
                 urgent: bool = False) -> None:
        with self._fan_lock:
            if self._recent.maxlen:
                self._recent.extend(live)
            for c in list(self._consumers):
                self._push_to(c, live, filtered, everything, urgent)

    @staticmethod
    def _push_to(c: Consumer, live: list, filtered: list, everything: list | None, urgent: bool) -> None:
        if c.mode == "live":
            c._push(live, urgent)
        elif c.mode == "with_filtered":
            c._push(live + filtered if filtered else live, urgent)
        elif urgent:
            c._push(live, urgent)  # urgent events reach the recorder at once too
        elif everything:
            c._push(everything)

    @property
    def pending(self) -> int:
        return sum(map(len, self._pending.values())) + len(self._plain)

    # ------------------------------------------------------------ the flusher thread

    def start(self) -> None:
        """Flush every `interval` seconds on a daemon thread until stop()."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tickstock-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    # ------------------------------------------------------------ statistics

    def stats(self) -> dict:
        """Accounting, rates and depth, as plain JSON-ready values."""
        with self._lock:
            acc = self.account
            accepted = acc.received - acc.rejected
            pending = self.pending
            return {
                "received": acc.received,
                "messages": acc.messages,
                "batches": acc.batches,
                "batched_events": acc.batched,
                "delivered": acc.delivered,
                "deduplicated": acc.deduplicated,
                "filtered": acc.filtered,
                "rejected": acc.rejected,
                "dropped": acc.dropped,
                "pending": pending,
                "identity_holds": acc.received == acc.delivered + acc.deduplicated + acc.filtered
                + acc.rejected + acc.dropped + pending,
                "consumer_dropped": sum(c.dropped for c in self._consumers),
                "received_per_channel": dict(acc.received_per_channel),
                "deduplicated_by": dict(acc.deduplicated_by),
                "rejected_by": dict(acc.rejected_by),
                "dedup_rate": round(acc.deduplicated / accepted, 4) if accepted else 0.0,
                "depth": pending + max((c.queued for c in self._consumers), default=0),
                "flushes": self.flushes,
                "early_flushes": self.early_flushes,
                "consumers": [c.snapshot() for c in self._consumers],
                **self.rates.snapshot(time.time()),
            }
