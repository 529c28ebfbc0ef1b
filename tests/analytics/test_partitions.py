"""Day partitions: an existing database upgrades without losing a row, queries read only their
days, retention drops whole days, and a batch for a day without a partition makes it (and the week after)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from analytics import db, load_patterns, partitions, write_rows
from tests.fixtures import pattern_row

DAYS = ("2025-01-22", "2025-01-23", "2025-01-24")


def rows(url: str, query: str) -> list[tuple]:
    with db.engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query))]


def test_an_existing_database_is_upgraded_without_losing_a_row(private_database_url):
    url = private_database_url
    db.upgrade(url, "0003")  # today's schema before partitions, with data in it
    with db.engine_for(url).begin() as conn:
        for i, day in enumerate(DAYS):
            for n in range(4):
                at = f"{day} 15:0{n}:00+00"
                conn.execute(sa.text("INSERT INTO patterns (session_id, symbol, pattern_type, confidence, detected_at, "
                                     "timeframe, parameters) VALUES ('s', :s, 'Doji', 0.8, :at, NULL, '{\"i\": 1}')"),
                             {"s": f"S{i}{n}", "at": at})
                conn.execute(sa.text("INSERT INTO indicators (symbol, indicator, \"values\", calculated_at, timeframe) "
                                     "VALUES (:s, 'RSI', '{\"value\": 50}', :at, '1min')"), {"s": f"S{i}{n}", "at": at})
                conn.execute(sa.text("INSERT INTO indicator_alerts (symbol, alert_type, alerted_at) "
                                     "VALUES (:s, 'RSI_OVERBOUGHT', :at)"), {"s": f"S{i}{n}", "at": at})
    before = {t: rows(url, f"SELECT * FROM {t} ORDER BY 1, 2, 3") for t in ("patterns",)}
    indicators_before = rows(url, "SELECT symbol, indicator, \"values\"::text, calculated_at, timeframe_key "
                                  "FROM indicators ORDER BY 1")
    db.upgrade(url)
    assert rows(url, "SELECT * FROM patterns ORDER BY 1, 2, 3") == before["patterns"]
    assert rows(url, "SELECT symbol, indicator, \"values\"::text, calculated_at, timeframe_key "
                     "FROM indicators ORDER BY 1") == indicators_before
    assert rows(url, "SELECT count(*) FROM indicator_alerts") == [(12,)]
    with db.connect(url) as conn:
        for table in partitions.PARTITIONED:
            assert partitions.is_partitioned(conn, table)
            assert {date.fromisoformat(d) for d in DAYS} <= partitions.existing(conn, table)
    assert rows(url, "SELECT count(*) FROM patterns_20250123") == [(4,)]


def test_a_range_query_reads_only_the_partitions_of_its_days(history_url):
    write_rows(history_url, "patterns", [pattern_row(i * 86_400) for i in range(3)])  # three days
    plan = "\n".join(r[0] for r in rows(history_url, "EXPLAIN SELECT * FROM patterns WHERE detected_at >= "
                                                     "'2025-01-25 00:00+00' AND detected_at < '2025-01-26 00:00+00'"))
    assert "patterns_20250125" in plan and "patterns_20250124" not in plan and "patterns_20250126" not in plan
    got = load_patterns(history_url, start=datetime(2025, 1, 25, tzinfo=UTC), end=datetime(2025, 1, 26, tzinfo=UTC))
    assert len(got) == 1


def test_retention_drops_whole_days_and_keeps_the_rest(history_url):
    write_rows(history_url, "patterns", [pattern_row(i * 86_400) for i in range(5)])  # Jan 24 .. Jan 28
    with db.connect(history_url) as conn:
        done = partitions.maintain(conn, retention_days=2, today=date(2025, 1, 28))
        conn.commit()
    assert "patterns_20250124" in done["dropped"] and "patterns_20250126" not in done["dropped"]
    kept = rows(history_url, "SELECT detected_at::date FROM patterns ORDER BY 1")
    assert [r[0] for r in kept] == [date(2025, 1, 26), date(2025, 1, 27), date(2025, 1, 28)]
    assert "indicators_20250204" in done["made"]  # a week ahead of "today" (no indicator came)
    with db.connect(history_url) as conn:
        assert date(2025, 2, 4) in partitions.existing(conn, "patterns")


def test_a_batch_for_a_day_without_a_partition_makes_it_and_the_week_after(history_url):
    far = datetime(2031, 3, 5, 14, 30, tzinfo=UTC)
    assert write_rows(history_url, "patterns", [pattern_row(0, detected_at=far)]) == 1
    assert rows(history_url, "SELECT count(*) FROM patterns_20310305") == [(1,)]
    with db.connect(history_url) as conn:
        made = {d for d in partitions.existing(conn, "patterns") if d.year == 2031}
    assert made == {date(2031, 3, 5 + n) for n in range(partitions.AHEAD_DAYS + 1)}  # a backfill's next days


def _blocks(url: str, partition: str, symbol: str) -> int:
    """The heap pages one symbol's rows of a partition are spread over (what reading them costs)."""
    return rows(url, f"SELECT count(DISTINCT (ctid::text::point)[0]) FROM {partition} WHERE symbol = '{symbol}'")[0][0]


def test_closed_days_are_compacted_in_symbol_order_newest_first_and_today_is_left_alone(history_url):
    symbols = [f"S{n:02d}" for n in range(40)]
    # three days, 40 symbols interleaved in time order as a stream records them: 30 rows each a day
    batch = [pattern_row(day * 86_400 + i, symbol=symbols[i % 40], parameters={"pad": "x" * 200})
             for day in range(3) for i in range(1200)]
    write_rows(history_url, "patterns", batch)  # Jan 24, 25, 26 (T0's day and the next two)
    before = rows(history_url, "SELECT * FROM patterns ORDER BY symbol, detected_at")
    scattered = _blocks(history_url, "patterns_20250124", "S07")
    with db.connect(history_url) as conn:
        conn.autocommit = True
        done = []
        while (name := partitions.compact_next(conn, today=date(2025, 1, 26))) is not None:
            done.append(name)
        assert partitions.uncompacted(conn, today=date(2025, 1, 26)) == []
    assert [d for d in done if d.startswith("patterns_")] == ["patterns_20250125", "patterns_20250124"]
    assert not any(d.endswith("20250126") for d in done)  # "today" still being written
    assert rows(history_url, "SELECT * FROM patterns ORDER BY symbol, detected_at") == before  # not a row changed
    compacted = _blocks(history_url, "patterns_20250124", "S07")
    assert scattered >= 20 and compacted <= 2, (scattered, compacted)  # 30 rows: from ~30 pages to one or two
    assert _blocks(history_url, "patterns_20250126", "S07") >= 20
