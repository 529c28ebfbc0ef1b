"""The recorder on real PostgreSQL: everything decoded is stored once, through an outage."""

from __future__ import annotations

import json

import sqlalchemy as sa

from dashboard.ingest import Ingest
from dashboard.services import EmbeddedPostgres
from dashboard.settings import Settings
from dashboard.views.live import LiveDashboard
from tests.helpers import wait_for


def detection(i: int, conf: float = 0.9) -> str:
    ts = f"2025-01-24T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
    return json.dumps({"event": "pattern_detected", "timestamp": ts, "session_id": "rec-1",
                       "detection": {"pattern_type": "Doji", "symbol": f"S{i:04d}", "confidence": conf,
                                     "timestamp": ts, "timeframe": "1min", "parameters": {"i": i}}})


def count(url: str, table: str) -> int:
    with sa.create_engine(url).connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()


def test_every_decoded_event_is_stored_once_including_filtered_and_duplicates(
        ingest, redis_client, channel_prefix, private_database_url):
    ingest.record(private_database_url)
    p = channel_prefix
    for i in range(50):
        redis_client.publish(f"{p}:patterns:streaming", detection(i, conf=0.5 if i % 5 == 0 else 0.9))
    for i in range(0, 50, 2):  # high-confidence copies on the other channel, and plain repeats
        redis_client.publish(f"{p}:patterns:detected", detection(i))
        redis_client.publish(f"{p}:patterns:streaming", detection(i))
    redis_client.publish(f"{p}:alerts:indicators", json.dumps({"alert_type": "RSI_OVERBOUGHT", "symbol": "S0001",
                                                              "timestamp": "2025-01-24T10:00:01Z", "data": {"rsi": 71}}))
    redis_client.publish(f"{p}:alerts:critical", json.dumps({"type": "CONNECTION_LOST", "message": "m",
                                                            "timestamp": "2025-01-24T10:00:02Z"}))
    wait_for(lambda: ingest.buffer.stats()["received"] == 102, message="not all messages arrived")
    rec = ingest.recorder
    wait_for(lambda: rec.backlog == 0 and rec.written >= 102, message=f"recorder never caught up: {rec.snapshot()}")
    assert count(private_database_url, "patterns") == 50  # filtered ones too; copies and repeats once
    assert count(private_database_url, "indicator_alerts") == 1
    assert count(private_database_url, "critical_alerts") == 1
    assert ingest.status()["recorder"]["rows_added"]["patterns"] == 50


def test_database_outage_loses_nothing_and_the_dashboard_keeps_running(
        ingest, redis_client, channel_prefix, tmp_path):
    pg = EmbeddedPostgres(data_dir=tmp_path / "pg")
    pg.start()
    try:
        ingest.record(pg.url)
        live = ingest.buffer.register("live")
        rec = ingest.recorder
        for i in range(100):
            redis_client.publish(f"{channel_prefix}:patterns:streaming", detection(i))
        wait_for(lambda: rec.written == 100, message=f"first writes: {rec.snapshot()}")
        pg.stop()
        for i in range(100, 300):
            redis_client.publish(f"{channel_prefix}:patterns:streaming", detection(i))
        wait_for(lambda: rec.state == "retrying" and rec.backlog == 200, timeout=20,
                 message=f"the outage was not noticed: {rec.snapshot()}")
        assert ingest.status()["recorder"]["last_error"]
        page = LiveDashboard(ingest)  # the page shows the backlog, in red
        page.refresh_status()
        assert '<div class="ts-card bad" data-metric="recorder_backlog"><div class="v">200<' in page.metrics_pane.object
        page.close()
        wait_for(lambda: ingest.buffer.stats()["delivered"] == 300)
        assert len(live.drain()) == 300  # the live side never waited for the database
        pg.start()
        wait_for(lambda: rec.backlog == 0 and rec.written == 300, timeout=30,
                 message=f"the backlog was not written after the database came back: {rec.snapshot()}")
        assert count(pg.url, "patterns") == 300
        assert rec.snapshot()["dropped"] == 0 and rec.retries >= 1
    finally:
        ingest.stop()
        pg.stop()


def test_stopping_flushes_what_is_pending(redis_url, channel_prefix, redis_client, private_database_url):
    ing = Ingest(Settings.from_env({"STREAMING_BUFFER_INTERVAL": "60000"}, channel_prefix=channel_prefix),
                 redis_url).start()
    assert ing.subscriber.wait_subscribed(10)
    ing.record(private_database_url)
    for i in range(20):
        redis_client.publish(f"{channel_prefix}:patterns:streaming", detection(i))
    wait_for(lambda: ing.buffer.stats()["received"] == 20)
    ing.stop()  # no flush has run yet: stopping must still store all 20
    assert count(private_database_url, "patterns") == 20


def test_concurrent_writers_store_duplicates_split_across_batches_once(private_database_url):
    """Small batches keep both writer connections busy while copies of the same detections land in
    different batches (cross-channel copies, repeats): every detection is stored exactly once."""
    from dashboard.buffer import StreamingBuffer
    from dashboard.decoding import decode
    from dashboard.recorder import WRITERS, Recorder

    buffer = StreamingBuffer()
    recorder = Recorder(buffer, private_database_url, batch_max=37).start()
    try:
        events = []
        for i in range(2_000):
            raw = detection(i).encode()
            events.append(decode("patterns:streaming", "t:patterns:streaming", raw, 1.0))
            if i % 3 == 0:  # the copy on :detected, a few detections later (often the next batch)
                events.append(decode("patterns:detected", "t:patterns:detected", detection(max(0, i - 20)).encode(), 1.0))
        for k in range(0, len(events), 50):
            buffer.take(events[k:k + 50])
        buffer.flush()
        wait_for(lambda: recorder.written == len(events), timeout=60,
                 message=f"recorder never caught up: {recorder.snapshot()}")
        assert WRITERS > 1 and recorder.batches > 2 * WRITERS
        assert count(private_database_url, "patterns") == 2_000
        assert recorder.rows_added["patterns"] == 2_000
        assert recorder.snapshot()["backlog"] == 0
    finally:
        recorder.stop()


def test_stop_is_bounded_when_the_database_never_answers():
    """A server that accepts connections and then says nothing (a paused PostgreSQL, a black hole):
    stop() gives up after its timeout instead of hanging, and says what was left unwritten."""
    import socket
    import threading
    import time

    from dashboard.buffer import StreamingBuffer
    from dashboard.decoding import decode
    from dashboard.recorder import Recorder

    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(silent.accept()[0]) for _ in range(8)], daemon=True).start()
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
    buffer = StreamingBuffer()
    recorder = Recorder(buffer, url, migrate=False, stop_timeout=1.0).start()
    try:
        buffer.take([decode("patterns:streaming", "t:patterns:streaming", detection(i).encode(), 1.0) for i in range(5)])
        buffer.flush()
        wait_for(lambda: accepted, message="the recorder never tried to connect")
        started = time.monotonic()
        recorder.stop()
        assert time.monotonic() - started < 10
        snap = recorder.snapshot()
        assert snap["state"] == "stopped" and snap["written"] == 0 and snap["backlog"] == 5
    finally:
        silent.close()
        for s in accepted:
            s.close()
