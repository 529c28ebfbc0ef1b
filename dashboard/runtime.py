"""The process's shared pieces, made on first use: settings, Redis, the ingest."""

from __future__ import annotations

import atexit
import contextlib
import gc
import threading

from dashboard.services.embedded import database_url_or_embedded, redis_url_or_embedded
from dashboard.settings import Settings
from dashboard.stream.ingest import Ingest

_stack = contextlib.ExitStack()
_lock = threading.Lock()
# The stream allocates a few small tuples per event (dedup keys, window slots, COPY values): at
# 100,000 events a second the default threshold of 700 runs ~1,400 young collections a second
# (2.5 s of 25 in the month benchmark's recorder run; 0.7-0.9 s with these).
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Collect garbage less often: for a process that runs the stream (`tickstock serve`, `record`,
    `demo`, and the benchmarks that measure them); a notebook's kernel is left as it is."""
    gc.set_threshold(*GC_THRESHOLDS)


def get_ingest(settings: Settings | None = None) -> Ingest:
    """The one ingest of this process; starts an embedded Redis when REDIS_URL is unset."""
    def factory() -> Ingest:
        s = settings or Settings.from_env()
        with _lock:
            url = redis_url_or_embedded(s.redis_url, _stack)
        return Ingest(s, url)
    return Ingest.shared(factory)


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or an embedded PostgreSQL kept for this process's lifetime."""
    with _lock:
        url = database_url_or_embedded(settings.database_url, _stack)
    settings.database_url = url
    return url


@atexit.register
def shutdown() -> None:
    """Stop the ingest (flushing its recorder) and then any embedded services this process started;
    also at interpreter exit, so a script or kernel that never calls it leaves nothing running."""
    Ingest.reset_shared()
    _stack.close()
