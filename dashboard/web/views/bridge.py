"""From the ingest thread to one session's document: its consumer on the buffer, and when to drain it.

Bokeh models may be touched only under their document's lock, and the buffer hands events over
on the ingest thread. So the buffer's `on_ready` only asks the session's document for a callback:
a critical alert or a state event (urgent) on the next tick; buffered rows once per flush
interval, right after the buffer's timed flush. Under load the buffer also flushes early (a kind
reached its batch size); those events wait in the consumer for the timed flush, or at most one
interval after the last drain, so the tables repaint four times a second however heavy the
stream (each repaint costs the browser a frame: at ten a second the page used a quarter of a core)
and no row waits more than an interval longer than the buffer made it wait. Each callback's
changes leave as one websocket message. In Jupyter there is no server document to call back
into: a periodic callback at the flush interval drains instead. Either way a one-second callback
refreshes the page's figures.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import panel as pn
from panel.io.state import set_curdoc

from analytics.events import AnyEvent
from dashboard.stream.buffer import BUFFERED, StreamingBuffer  # BUFFERED: kinds that wait

REFRESH_MS = 1000  # ms between two refreshes of status, metrics and the throughput chart
MIN_POLL_MS = 50  # Jupyter: the fastest a periodic drain polls, whatever the flush interval


class DocumentBridge:
    """One session's consumer on the buffer and the callbacks that bring its events into the page.

    `dispatch(events)` places drained events (oldest first) in the page; `refresh()` runs once a
    second. Both run in the session's document (or on the notebook's loop)."""

    def __init__(self, buffer: StreamingBuffer, name: str, dispatch: Callable[[list[AnyEvent]], None],
                 refresh: Callable[[], None], *, mode: str = "live"):
        self.buffer = buffer
        self.dispatch = dispatch
        self.refresh = refresh
        self.doc = None  # the session's Bokeh document, once started in a server
        self.closed = False
        self._scheduled = False  # a paced drain is due: events wait in the consumer
        self._prompt = False  # a callback to make it is on the next tick
        self._waiting = False  # a timeout callback to make it is set
        self._urgent = False  # an urgent drain is on its way
        self._last_drain = 0.0
        self._flushes_seen = 0  # the buffer's timed flushes at the last paced drain
        self._held: list[AnyEvent] = []  # buffered events an urgent drain left for the paced one
        self._callbacks: list = []
        # replay: a page opened mid-session starts with the recent stream, not an empty table
        self.consumer = buffer.register(name, mode=mode, on_ready=self.on_ready, replay=True)

    # ------------------------------------------------------------ lifecycle

    def start(self, jupyter: bool = False) -> None:
        """Start the callbacks of a served session (or of a notebook, with `jupyter=True`)."""
        doc = pn.state.curdoc
        if not jupyter and doc is not None and doc.session_context is not None:
            self.doc = doc
            self.on_ready(False)  # the recent stream the consumer starts with, shown without waiting for news
        else:  # no server document to call back into: poll at the flush interval
            interval = max(MIN_POLL_MS, int(self.buffer.interval * 1000))
            self._callbacks.append(pn.state.add_periodic_callback(self.drain, period=interval))
        self._callbacks.append(pn.state.add_periodic_callback(self._refresh, period=REFRESH_MS))

    def close(self) -> None:
        """Release the consumer and stop the callbacks (the tab closed)."""
        if self.closed:
            return
        self.closed = True
        self.buffer.unregister(self.consumer)
        for cb in self._callbacks:
            cb.stop()
        self._callbacks.clear()

    # ------------------------------------------------------------ draining

    def drain(self, urgent_only: bool = False) -> int:
        """Dispatch the events queued since the last drain; returns how many there were.

        With `urgent_only`, buffered events (patterns, indicators, indicator alerts) are held for
        the next drain, which takes them first."""
        events = self.consumer.drain()
        if self._held:
            events, self._held = self._held + events, []
        if urgent_only:
            self._held = [ev for ev in events if type(ev) in BUFFERED]
            events = [ev for ev in events if type(ev) not in BUFFERED]
        if events:
            self.dispatch(events)
        return len(events)

    def on_ready(self, urgent: bool) -> None:
        """Called from the ingest thread: ask the session's document to drain on a coming tick."""
        doc = self.doc
        if doc is None or self.closed:
            return
        try:
            if urgent:
                if not self._urgent:
                    self._urgent = True
                    doc.add_next_tick_callback(self._drain_urgent)
            elif not self._scheduled:
                self._scheduled = self._prompt = True
                doc.add_next_tick_callback(self._drain_paced)
            elif not self._prompt and self._timed():  # the timed flush came while a drain waits
                self._prompt = True
                doc.add_next_tick_callback(self._drain_paced)
        except Exception:  # the document is gone: the session is closing
            self._scheduled = self._prompt = self._urgent = False

    def _timed(self) -> bool:
        """Whether the buffer made a timed flush since the last paced drain."""
        return self.buffer.flushes != self._flushes_seen

    def _one_message(self):
        """The session's document held: what a callback changes leaves as ONE websocket message,
        so the browser applies a drain's tables (or a refresh's panes) in one task and paints once."""
        return pn.io.hold(self.doc) if self.doc is not None else contextlib.nullcontext()

    def _refresh(self) -> None:
        with self._one_message():
            self.refresh()

    def _drain_urgent(self) -> None:
        """Critical alerts and state events only: buffered rows wait for the paced drain, so the
        alert's messages leave in a short callback and the tables keep their own pace."""
        self._urgent = False
        with set_curdoc(self.doc), self._one_message():
            self.drain(urgent_only=True)
        if self._held and not self._scheduled and not self.closed:
            self._scheduled = self._prompt = True
            self.doc.add_next_tick_callback(self._drain_paced)

    def _drain_paced(self) -> None:
        """Buffered rows: after a timed flush, or one interval after the last drain (early flushes
        and a buffer that is off flush at other times)."""
        if not self._scheduled or self.closed:
            return  # drained already
        wait = self._last_drain + self.buffer.interval - time.monotonic()
        if wait > 0:
            self._prompt = False  # first: a timed flush from now on asks for a prompt callback again
            if not self._timed():
                if not self._waiting:
                    self._waiting = True
                    self.doc.add_timeout_callback(self._drain_due, int(wait * 1000) + 1)
                return
        self._scheduled = self._prompt = False
        self._flushes_seen = self.buffer.flushes
        self._last_drain = time.monotonic()
        with set_curdoc(self.doc), self._one_message():
            self.drain()

    def _drain_due(self) -> None:
        self._waiting = False
        self._drain_paced()
