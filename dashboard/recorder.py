"""The recorder: every decoded event (before the live view's filters) into PostgreSQL, in batches.

It reads the buffer as an "all" consumer, writes with analytics' idempotent COPY (a detection seen
twice, or on both pattern channels, is stored once), and rides out a database that goes away:
the unwritten events stay in memory up to `backlog_limit` (the consumer's capacity; beyond it
the oldest are counted as dropped), writes are retried with backoff, and everything is written
once the database is back. Stopping flushes what is left.

Writing is pipelined: while one batch is being COPYed by a writer thread (which mostly waits on
PostgreSQL, without the GIL), the recorder thread drains and converts the next one.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg

from analytics.db import connect, upgrade
from analytics.writer import Prepared, write_prepared

from .buffer import StreamingBuffer

log = logging.getLogger(__name__)

BATCH_MAX = 10_000  # events per write
BACKLOG_LIMIT = 1_000_000  # events held in memory while the database is away
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0


class Recorder:
    """Writes the stream of `buffer` to the history tables of `database_url`."""

    def __init__(self, buffer: StreamingBuffer, database_url: str, *, interval: float = 0.5,
                 batch_max: int = BATCH_MAX, backlog_limit: int = BACKLOG_LIMIT, migrate: bool = True,
                 stop_timeout: float = 10.0):
        self.buffer = buffer
        self.database_url = database_url
        self.interval = interval
        self.batch_max = batch_max
        self.backlog_limit = backlog_limit
        self.migrate = migrate
        self.stop_timeout = stop_timeout
        self.state = "idle"  # idle, writing, retrying, stopped
        self.written = 0  # events handed to the database (rows added may be fewer: duplicates)
        self.rows_added: dict[str, int] = {}
        self.batches = 0
        self.retries = 0
        self.last_error: str | None = None
        self.last_write_at: float | None = None
        self._batches: deque[tuple[list, Prepared]] = deque()  # drained, not yet written, oldest first
        self._writer: ThreadPoolExecutor | None = None  # one write in flight at a time
        self._conn: psycopg.Connection | None = None  # used by the writer thread only
        self._consumer = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Recorder:
        if self.migrate:
            upgrade(self.database_url)
        self._consumer = self.buffer.register("recorder", mode="all", capacity=self.backlog_limit)
        self._stop.clear()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tickstock-recorder-writer")
        self._thread = threading.Thread(target=self._run, name="tickstock-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Write what is left (retrying for up to `stop_timeout` s), then let go of the database."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout + 30)
            self._thread = None
        if self._consumer is not None:
            self.buffer.unregister(self._consumer)
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._disconnect()
        self.state = "stopped"

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        backoff, deadline = RETRY_MIN_S, None
        inflight: Future | None = None
        while True:
            if deadline is None and self._stop.is_set():
                deadline = time.monotonic() + self.stop_timeout  # flush what is left, within reason
            if len(self._batches) < 2:  # the batch being written, and the next one made ready meanwhile
                if not self._batches and deadline is None:
                    self._consumer.wait(self.interval)
                events = self._consumer.drain(self.batch_max)
                if events:
                    self._batches.append((events, Prepared(events)))
            if inflight is None:
                if not self._batches:
                    if deadline is not None:
                        return
                    continue
                inflight = self._writer.submit(self._write_oldest)
                continue  # convert the next batch while this one is written
            ok = self._finish(inflight)
            inflight = None
            if ok:
                backoff = RETRY_MIN_S
                continue
            if deadline is not None and time.monotonic() > deadline:
                log.error("recorder stopped with %d events unwritten: %s", self.backlog, self.last_error)
                return
            pause = backoff * (0.75 + random.random() / 2)
            if deadline is None:
                self._stop.wait(pause)
            else:
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, RETRY_MAX_S)

    def _write_oldest(self) -> dict[str, int]:
        """(writer thread) The oldest batch into PostgreSQL, connecting first if need be."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url)
        self.state = "writing"
        return write_prepared(self._conn, self._batches[0][1])

    def _finish(self, inflight: Future) -> bool:
        """Wait for the write in flight; count it, or keep its batch for a retry."""
        try:
            added = inflight.result()
        except Exception as exc:  # the database went away (or a bug): keep the batch, say why, retry
            if not isinstance(exc, (psycopg.Error, OSError)):
                log.exception("history write failed unexpectedly")
            self.retries += 1
            self.state = "retrying"
            self.last_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
            log.warning("history write failed (%s); %d events kept for a retry", self.last_error, self.backlog)
            self._disconnect()
            return False
        events, _ = self._batches.popleft()
        for table, n in added.items():
            self.rows_added[table] = self.rows_added.get(table, 0) + n
        self.written += len(events)
        self.batches += 1
        self.last_write_at = time.time()
        self.last_error = None
        self.state = "idle"
        return True

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    # ------------------------------------------------------------ status

    @property
    def backlog(self) -> int:
        """Events received but not yet written."""
        return sum(len(events) for events, _ in list(self._batches)) + (self._consumer.queued if self._consumer else 0)

    def lag_s(self) -> float:
        """Age of the oldest event not yet written (0 when caught up)."""
        batches = list(self._batches)
        oldest = batches[0][0][0] if batches else None
        if oldest is None and self._consumer is not None and self._consumer.queued:
            oldest = self._consumer._queue[0]
        return round(time.time() - oldest.received, 3) if oldest is not None else 0.0

    def snapshot(self) -> dict:
        return {
            "state": self.state,
            "written": self.written,
            "rows_added": dict(self.rows_added),
            "batches": self.batches,
            "backlog": self.backlog,
            "lag_s": self.lag_s(),
            "dropped": self._consumer.dropped if self._consumer else 0,
            "retries": self.retries,
            "last_error": self.last_error,
            "last_write_at": self.last_write_at,
        }
