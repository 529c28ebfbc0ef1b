"""The rates window: events/s per type and active symbols, read by the page while the ingest counts."""

from __future__ import annotations

import threading

from analytics.events import Indicator, Pattern
from dashboard.stream.rates import KIND, RateWindow
from tests.helpers import frequent_thread_switches


def test_counts_land_in_their_second_and_average_over_the_last_complete_seconds():
    window = RateWindow()
    for second in range(100, 106):
        counts = window.bucket(second + 0.5)
        counts[Pattern] += 10
        counts[Indicator] += second - 100
        window.last_seen[f"S{second}"] = second + 0.5
    snap = window.snapshot(106.2)  # seconds 101..105 complete
    assert snap["events_per_s_by_type"] == {KIND[Pattern]: 10.0, KIND[Indicator]: 3.0}
    assert snap["events_per_s"] == 13.0
    assert snap["active_symbols"] == 6
    assert window.counts_at(103) == {KIND[Pattern]: 10, KIND[Indicator]: 3}
    assert window.counts_at(105) == {KIND[Pattern]: 10, KIND[Indicator]: 5}  # the current second
    assert window.counts_at(99) == {}
    assert window.snapshot(100 + window.span + 1.0)["active_symbols"] == 5  # S100 is older than the span


def test_the_page_reading_while_the_ingest_counts_never_raises_and_figures_add_up():
    """The ingest counts the way `StreamingBuffer.take` does (one bucket per batch, then counters and
    last-seen stamps); the page reads events/s, active symbols and a second's counts meanwhile."""
    window = RateWindow(span=100_000)  # nothing leaves the window during the test
    seconds, batches, per_batch, symbols = 4_000, 3, 4, 500
    per_second = batches * per_batch
    opened = [0]  # the latest second the ingest has counted into (seconds before it are complete)
    done = threading.Event()
    errors: list[BaseException] = []
    wrong: list[str] = []
    reads = [0]

    def ingest() -> None:
        try:
            for second in range(1, seconds + 1):
                for b in range(batches):
                    counts = window.bucket(second + b / batches)
                    opened[0] = second
                    for i in range(per_batch):
                        counts[Pattern] += 1
                        window.last_seen[f"S{(second * per_second + b * per_batch + i) % symbols}"] = second
        finally:
            done.set()

    def page() -> None:
        while not done.is_set():
            t = opened[0]
            try:
                snap = window.snapshot(t)
                previous = window.counts_at(t - 1)
            except RuntimeError as exc:  # "deque mutated during iteration", "dictionary changed size ..."
                errors.append(exc)
                return
            reads[0] += 1
            if t > 5 and snap["events_per_s"] != per_second:
                wrong.append(f"events/s at {t}: {snap['events_per_s']}")
            if t > 1 and previous != {KIND[Pattern]: per_second}:
                wrong.append(f"second {t - 1}: {previous}")
            if not 0 <= snap["active_symbols"] <= symbols:
                wrong.append(f"active symbols at {t}: {snap['active_symbols']}")

    with frequent_thread_switches():
        threads = [threading.Thread(target=ingest), threading.Thread(target=page)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    assert not any(th.is_alive() for th in threads)
    assert not errors, f"reading the window raised: {errors[0]!r}"
    assert not wrong, f"{len(wrong)} inconsistent reads, first: {wrong[:3]}"
    assert reads[0] > 10  # the page really read while the ingest counted
    assert window.counts_at(seconds - 1) == {KIND[Pattern]: per_second}
