"""LatestRead: reads off the event loop, a request made meanwhile read next and winning, nothing
handed back once the view closed."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from dashboard.web.views.reads import LatestRead


def run(scenario):
    """asyncio.run on a thread of its own: the browser tests' Playwright leaves a loop running here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result()


def test_a_request_made_while_reading_is_read_next_and_wins_and_a_second_run_waits_for_it():
    started, go, seen = threading.Event(), threading.Event(), []

    def fetch(request):
        seen.append(request)
        if request == "first":
            started.set()
            go.wait(5)
        return f"rows of {request}"

    async def scenario():
        read = LatestRead(fetch)
        read.wanted = "first"
        running = asyncio.ensure_future(read.run())
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        read.wanted = "second"  # the user asked again while the first was reading
        assert await read.run() is None  # a read is running: it will read this one
        go.set()
        return await running, read.busy

    result, busy = run(scenario)
    assert result == ("second", "rows of second") and seen == ["first", "second"] and not busy


def test_a_view_closed_while_reading_gets_nothing():
    async def scenario():
        read = LatestRead(lambda request: read.__setattr__("wanted", None) or "rows")  # closes as it reads
        read.wanted = "only"
        return await read.run()

    assert run(scenario) is None
