"""The recorder: every decoded event (before the live view's filters) into PostgreSQL, in batches.

It reads the buffer as an "all" consumer, writes with analytics' idempotent COPY (a detection seen
twice, or on both pattern channels, is stored once), and rides out a database that goes away:
the unwritten events stay in memory up to `backlog_limit` (the consumer's capacity; beyond it
the oldest are counted as dropped), writes are retried with backoff, and everything is written
once the database is back. Stopping flushes what is left.

Its account is exact: every event handed to it (of a kind it records) is, at every instant,
written, duplicate (its key was stored already), skipped (PostgreSQL, or a check before it,
refused it: the reason is kept), dropped (the backlog overflowed) or still pending:
`handed = written + duplicate + skipped + dropped + pending`.

Writing is pipelined over WRITERS connections: while PostgreSQL works on one batch (its writer
thread waiting without the GIL), another writer formats and sends the next and the recorder
thread drains and converts the one after, so the client and PostgreSQL work at the same time.
Batches may commit out of order; each is idempotent, so the stored rows are the same.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from queue import SimpleQueue

import psycopg

from analytics import partitions
from analytics.db import connect, upgrade
from analytics.events import AnyEvent
from analytics.writer import MAX_REASON, Outcome, Prepared, write_batch
from dashboard.stream.buffer import StreamingBuffer

log = logging.getLogger(__name__)

BATCH_MAX = 20_000  # events per write
BACKLOG_LIMIT = 1_000_000  # events held in memory while the database is away
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0
MAINTAIN_EVERY_S = 3600  # s between day-partition upkeeps (partitions ahead, retention)
WRITERS = 3  # batches being written at once, each on its own connection
CONNECT_TIMEOUT_S = 5
LAST_SKIPS = 10  # skip reasons kept for the status (with their count and time)
FATES = ("written", "duplicate", "skipped", "dropped", "pending")  # what becomes of an event handed over


class _Batch:
    """Drained events, converted for COPY, and the write in flight for them (if any)."""

    __slots__ = ("events", "prepared", "future")

    def __init__(self, events: list, prepared: Prepared):
        self.events = events
        self.prepared = prepared
        self.future: Future | None = None


class Recorder:
    """Writes the stream of `buffer` to the history tables of `database_url`."""

    def __init__(self, buffer: StreamingBuffer, database_url: str, *, interval: float = 0.5,
                 batch_max: int = BATCH_MAX, backlog_limit: int = BACKLOG_LIMIT, migrate: bool = True,
                 stop_timeout: float = 10.0, retention_days: int = 0, compact: bool = True):
        self.buffer = buffer
        self.database_url = database_url
        self.retention_days = retention_days  # older day partitions are dropped (0: keep all)
        self.maintained: dict = {}  # the last partition upkeep: when, made, dropped (or its error)
        self.compact = compact  # compact closed days (off in benchmarks that time the writes alone)
        self.compacted: list[str] = []  # closed days' partitions rewritten in symbol order (partitions.py)
        self._compactor: threading.Thread | None = None  # compacting, one partition at a time
        self._maintain_at = 0.0  # monotonic time of the next upkeep
        self.interval = interval
        self.batch_max = batch_max
        self.backlog_limit = backlog_limit
        self.migrate = migrate
        self.stop_timeout = stop_timeout
        self.written = 0  # events stored (a session's start and stop complete one row)
        self.duplicate = 0  # events whose key was stored already
        self.skipped = 0  # events refused (by PostgreSQL, or a check before it), with a reason
        self.last_skips: deque[dict] = deque(maxlen=LAST_SKIPS)  # {"at", "reason", "count"}, newest last
        self.not_recorded = 0  # events of kinds with no table (persistence): out of `handed` once read
        self.rows_added: dict[str, int] = {}
        self.batches = 0
        self.retries = 0
        self.last_error: str | None = None
        self.last_write_at: float | None = None
        self._batches: deque[_Batch] = deque()  # drained, not yet written, oldest first
        self._converting = 0  # events drained and being converted (not yet in _batches)
        self._converting_since: float | None = None  # when the oldest of them was received
        self._account = threading.Lock()  # the counts change together, and are read together
        self._jobs: SimpleQueue = SimpleQueue()  # (future, prepared) for the writer threads; None ends one
        self._writers: list[threading.Thread] = []  # daemons: one stuck on a dead server never blocks exit
        self._local = threading.local()  # the writer thread's own connection
        self._conns: list[psycopg.Connection] = []  # every writer's connection, to close at stop
        self._conns_lock = threading.Lock()
        self._stopped = False
        self._consumer = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Recorder:
        if self.migrate:
            upgrade(self.database_url)
        self._consumer = self.buffer.register("recorder", mode="all", capacity=self.backlog_limit)
        self._stop.clear()
        self._writers = [threading.Thread(target=self._work, name=f"tickstock-recorder-writer-{i}", daemon=True)
                         for i in range(WRITERS)]
        for t in self._writers:
            t.start()
        self._thread = threading.Thread(target=self._run, name="tickstock-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Write what is left (retrying for up to `stop_timeout` s), then let go of the database.

        Bounded: a write still hanging on an unresponsive server after that is abandoned (its
        daemon thread never holds up the process) and the events left unwritten are logged."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout + 5)
            self._thread = None
        if self._compactor is not None:  # ends after the partition it is rewriting
            self._compactor.join(self.stop_timeout)
            self._compactor = None
        if self._consumer is not None:
            self.buffer.unregister(self._consumer)
        for _ in self._writers:
            self._jobs.put(None)
        for t in self._writers:
            t.join(2.0)
        busy = [t for t in self._writers if t.is_alive()]
        if busy:
            log.error("recorder: %d write(s) still hang on the database; abandoned", len(busy))
        self._writers = []
        if not busy:  # a connection in use by a hung writer is left to it
            with self._conns_lock:
                conns, self._conns = self._conns, []
            for conn in conns:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
        self._stopped = True

    @property
    def state(self) -> str:
        """stopped, writing, retrying (waiting to write again after a failure) or idle."""
        if self._stopped:
            return "stopped"
        batches = list(self._batches)
        if any(b.future is not None and not b.future.done() for b in batches):
            return "writing"
        if batches and self.last_error is not None:
            return "retrying"
        return "idle"

    # ------------------------------------------------------------ the loop

    def _maintain(self) -> None:
        """Day partitions ahead of need and none past retention (at start, then hourly)."""
        self._maintain_at = time.monotonic() + MAINTAIN_EVERY_S
        try:
            with connect(self.database_url) as conn:
                done = partitions.maintain(conn, self.retention_days)
                conn.commit()
            self.maintained = {"at": time.time(), **done}
            if done["dropped"]:
                log.info("history retention (%d days) dropped %s", self.retention_days, ", ".join(done["dropped"]))
        except Exception as exc:  # the database is away: writes retry on their own; so does this, next hour
            self.maintained = {"at": time.time(), "error": f"{type(exc).__name__}: {exc}"}
            self._maintain_at = time.monotonic() + RETRY_MAX_S
            return
        if self.compact and (self._compactor is None or not self._compactor.is_alive()):
            self._compactor = threading.Thread(target=self._compact, name="tickstock-recorder-compactor", daemon=True)
            self._compactor.start()

    def _compact(self) -> None:
        """(compactor thread) Rewrite the closed days' partitions in symbol order, one at a time, until
        none is left or the recorder stops; off the recording loop, which a rewrite would stall."""
        try:
            with connect(self.database_url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                conn.autocommit = True
                while not self._stop.is_set() and (name := partitions.compact_next(conn)) is not None:
                    self.compacted.append(name)
        except Exception as exc:  # the database is away: the next upkeep tries again
            log.warning("recorder: compacting closed days' partitions failed (next upkeep retries): %s", exc)

    def _run(self) -> None:
        backoff, deadline, retry_at = RETRY_MIN_S, None, 0.0
        batches = self._batches
        while True:
            if deadline is None and time.monotonic() >= self._maintain_at:
                self._maintain()
            if deadline is None and self._stop.is_set():
                deadline = time.monotonic() + self.stop_timeout  # flush what is left, within reason
            if deadline is not None and time.monotonic() > deadline:
                if batches or self._consumer.queued:
                    log.error("recorder stopped with %d events unwritten: %s", self.backlog, self.last_error)
                return
            if len(batches) <= WRITERS:  # those being written, and the next one made ready meanwhile
                if not batches and deadline is None:
                    self._consumer.wait(self.interval)
                with self._account:
                    events = self._consumer.drain(self.batch_max)
                    self._converting = len(events)
                    self._converting_since = events[0].received if events else None
                if events:
                    self._take(events)
            flying = [b for b in batches if b.future is not None]
            if time.monotonic() >= retry_at:
                for b in batches:
                    if len(flying) >= WRITERS:
                        break
                    if b.future is None:
                        b.future = Future()
                        self._jobs.put((b.future, b.prepared))
                        flying.append(b)
            if not flying:
                if not batches:
                    if deadline is not None:
                        return
                    continue
                pause = max(0.0, retry_at - time.monotonic())  # waiting to retry
                if deadline is None:
                    self._stop.wait(pause)
                else:  # stopping: the stop event is set, so sleep, but not past the deadline
                    time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                continue
            more = len(batches) <= WRITERS and self._consumer.queued > 0  # convert the next meanwhile
            done, _ = wait([b.future for b in flying], timeout=0 if more else self.interval,
                           return_when=FIRST_COMPLETED)
            for b in flying:
                if b.future not in done:
                    continue
                if self._finish(b):
                    backoff = RETRY_MIN_S
                else:
                    retry_at = time.monotonic() + backoff * (0.75 + random.random() / 2)
                    backoff = min(backoff * 2, RETRY_MAX_S)

    def _take(self, events: list) -> None:
        """Convert drained events into a batch (outside the lock: the CPU-heavy part)."""
        try:
            batch = _Batch(events, Prepared(events))
        except Exception as exc:  # a bug in the conversion: skip this batch, loudly, not the recorder
            log.exception("recorder could not convert %d events for writing", len(events))
            with self._account:
                self._converting, self._converting_since = 0, None
                self._skip(Counter({f"recorder: could not convert ({type(exc).__name__}: {exc})"[:MAX_REASON]:
                                    len(events)}))
            return
        with self._account:
            self._batches.append(batch)
            self._converting, self._converting_since = 0, None
            self.not_recorded += batch.prepared.not_recorded

    def _skip(self, reasons: Counter) -> None:
        """(under the account lock) Count skipped events and keep their reasons for the status."""
        at = time.time()
        for reason, n in reasons.items():
            self.skipped += n
            self.last_skips.append({"at": at, "reason": reason, "count": n})

    def _work(self) -> None:
        """(writer thread) Write the batches handed over until told to end."""
        while (job := self._jobs.get()) is not None:
            future, prepared = job
            try:
                future.set_result(self._write(prepared))
            except BaseException as exc:  # reported to the loop through the future
                future.set_exception(exc)

    def _write(self, prepared: Prepared) -> Outcome:
        """(writer thread) One batch into PostgreSQL on this thread's connection, connecting first if
        need be; a failed write closes the connection (the next one connects afresh)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = connect(self.database_url, connect_timeout=CONNECT_TIMEOUT_S)
            with self._conns_lock:
                self._conns = [c for c in self._conns if not c.closed] + [conn]
        try:
            return write_batch(conn, prepared)
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            raise

    def _finish(self, batch: _Batch) -> bool:
        """Count a finished write, or keep its batch for a retry."""
        try:
            outcome: Outcome = batch.future.result()
        except Exception as exc:  # the database went away (or a bug): keep the batch, say why, retry
            if not isinstance(exc, (psycopg.Error, OSError)):
                log.exception("history write failed unexpectedly")
            batch.future = None
            self.retries += 1
            self.last_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
            log.warning("history write failed (%s); %d events kept for a retry", self.last_error, self.backlog)
            return False
        with self._account:
            self._batches.remove(batch)
            self.written += outcome.written
            self.duplicate += outcome.duplicate
            self._skip(Counter(outcome.skipped))  # the writer has logged them
            for table, n in outcome.added.items():
                self.rows_added[table] = self.rows_added.get(table, 0) + n
            self.batches += 1
        self.last_write_at = time.time()
        self.last_error = None
        return True

    # ------------------------------------------------------------ status

    # A status is read by other threads (every page, /api/status) while the recorder thread drains,
    # converts and writes, and the ingest pushes onto the queue: each read takes the account lock
    # and, for the queue, the consumer's own lock, so its figures are of one instant.

    @property
    def backlog(self) -> int:
        """Events received but not yet written (pending)."""
        with self._account:
            return self._pending(self._queue()[2])

    def _queue(self) -> tuple[int, int, int, AnyEvent | None]:
        """(under the account lock) The consumer's delivered, dropped, queued and oldest queued event,
        read together under its lock (the ingest pushes meanwhile; only a drain, under the account
        lock, empties it)."""
        c = self._consumer
        if c is None:
            return 0, 0, 0, None
        with c._lock:
            q = c._queue
            return c.delivered, c.dropped, len(q), (q[0] if q else None)

    def _pending(self, queued: int) -> int:
        """(under the account lock) Events queued, being converted, or in a batch not yet written."""
        return queued + self._converting + sum(b.prepared.count for b in self._batches)

    def _lag(self, oldest_queued: AnyEvent | None) -> float:
        """(under the account lock) Age of the oldest pending event: the batches are oldest first, then
        the events being converted, then the queue (0 when caught up)."""
        batch = next((b for b in self._batches if b.prepared.count), None)
        if batch is not None:
            received = batch.events[0].received
        elif self._converting:
            received = self._converting_since
        elif oldest_queued is not None:
            received = oldest_queued.received
        else:
            return 0.0
        return round(time.time() - received, 3)

    def lag_s(self) -> float:
        """Age of the oldest event not yet written (0 when caught up)."""
        with self._account:
            return self._lag(self._queue()[3])

    def _fates(self, delivered: int, dropped: int, queued: int) -> dict:
        """(under the account lock) See `account`."""
        return {"handed": delivered - self.not_recorded + dropped + queued, "written": self.written,
                "duplicate": self.duplicate, "skipped": self.skipped, "dropped": dropped,
                "pending": self._pending(queued)}

    def account(self) -> dict:
        """The fate of every event handed over: `handed = written + duplicate + skipped + dropped +
        pending`, read at one instant."""
        with self._account:
            return self._fates(*self._queue()[:3])

    def snapshot(self) -> dict:
        with self._account:
            delivered, dropped, queued, oldest = self._queue()
            account = self._fates(delivered, dropped, queued)
            lag = self._lag(oldest)
            skips = [{**s, "at": round(s["at"], 3)} for s in self.last_skips]
            rows_added, batches = dict(self.rows_added), self.batches
        return {
            "state": self.state,
            **account,
            "identity_holds": account["handed"] == sum(account[k] for k in FATES),
            "last_skips": skips,
            "not_recorded": self.not_recorded,
            "rows_added": rows_added,
            "batches": batches,
            "backlog": account["pending"],
            "lag_s": lag,
            "retries": self.retries,
            "partitions": {**self.maintained, "compacted": len(self.compacted)},
            "last_error": self.last_error,
            "last_write_at": self.last_write_at,
        }
