"""Reads of the history store off the server's event loop, the latest request winning.

A view (History, the symbol view) sets `wanted` to what the user asked for last and awaits `run`:
the read happens on a worker thread, so one session's large range never freezes another's page,
and a request made while a read is running is read next instead of that read's result."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class LatestRead:
    """One view's reads of `fetch(request)`; `wanted` is None once the view closed."""

    def __init__(self, fetch: Callable[[Any], Any]):
        self.fetch = fetch
        self.wanted: Any = None  # the request asked for last
        self.busy = False  # a read is running (it will read `wanted` next if that changed)

    async def run(self) -> tuple[Any, Any] | None:
        """(request, outcome) once the latest request is read; None at once when a read is running
        already (it reads the latest), or when the view closed meanwhile."""
        if self.busy or self.wanted is None:
            return None
        self.busy = True
        try:
            loop = asyncio.get_running_loop()
            request = self.wanted
            while True:
                outcome = await loop.run_in_executor(None, self.fetch, request)
                if self.wanted is None:
                    return None
                if request is self.wanted:
                    return request, outcome
                request = self.wanted  # superseded while reading: read the latest instead
        finally:
            self.busy = False
