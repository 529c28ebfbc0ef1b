"""`tickstock tail`: the live stream in the terminal, ending with the buffer's accounting."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO

from analytics.events import Pattern, to_json
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest


class TailError(RuntimeError):
    """tail could not start (Redis unreachable)."""


def tail(settings: Settings, redis_url: str, *, duration: float | None = None, count: int | None = None,
         quiet: bool = False, stop: threading.Event | None = None, out: IO[bytes] | None = None,
         err: IO[str] | None = None, connect_timeout: float = 10.0) -> dict:
    """Print decoded events as JSON lines until duration/count/stop; return the accounting."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr
    stop = stop or threading.Event()

    def on_reject(entry: dict) -> None:
        if not quiet:
            err.write(json.dumps({"rejected": entry["code"], "reason": entry["reason"],
                                  "channel": entry["channel"], "excerpt": entry["excerpt"]}) + "\n")

    ingest = Ingest(settings, redis_url, on_reject=on_reject)
    consumer = ingest.buffer.register("tail", mode="with_filtered")
    ingest.start()
    started = time.monotonic()
    if not ingest.subscriber.wait_subscribed(connect_timeout):
        error = ingest.subscriber.last_error or "no answer"
        where = ingest.subscriber.snapshot()["url"]  # its password masked
        ingest.stop()
        raise TailError(f"cannot subscribe at {where} within {connect_timeout:.0f} s: {error}")
    deadline = None if duration is None else started + duration
    shown = {"delivered": 0, "filtered": 0}
    min_conf = settings.pattern_min_confidence
    try:
        while not stop.is_set():
            consumer.wait(0.05)
            _emit(consumer.drain(), out, quiet, min_conf, shown)
            if count is not None and ingest.buffer.account.received >= count:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()  # flushes what is pending
        _emit(consumer.drain(), out, quiet, min_conf, shown)
    stats = ingest.buffer.stats()
    sub = ingest.subscriber.snapshot()
    dropped = stats["dropped"] + consumer.dropped
    summary = {
        "received": stats["received"],
        "received_per_channel": stats["received_per_channel"],
        "delivered": shown["delivered"],
        "deduplicated": stats["deduplicated"],
        "filtered": stats["filtered"],
        "rejected": stats["rejected"],
        "dropped": dropped,
        "deduplicated_by": stats["deduplicated_by"],
        "rejected_by": stats["rejected_by"],
        "reconnects": sub["reconnects"],
        "disconnected_s": sub["disconnected_s"],
        "duration_s": round(time.monotonic() - started, 3),
    }
    summary["identity_holds"] = summary["received"] == (
        summary["delivered"] + summary["deduplicated"] + summary["filtered"] + summary["rejected"] + dropped
    )
    return summary


def _emit(events: list, out: IO[bytes], quiet: bool, min_conf: float, shown: dict) -> None:
    lines = []
    for ev in events:
        filtered = type(ev) is Pattern and ev.confidence < min_conf
        shown["filtered" if filtered else "delivered"] += 1
        if not quiet:
            line = to_json(ev)
            lines.append(b'{"filtered":true,' + line[1:] if filtered else line)
    if lines:
        out.write(b"\n".join(lines) + b"\n")
        out.flush()
