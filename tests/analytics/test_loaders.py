"""Loaders: exact round trips, parameterised filters, the COPY fallback, and live frames of the same shape."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics import db, fetch
from analytics.frames import parse_json, shape
from analytics.joins import combine
from analytics.loaders import (
    live_frame,
    load_alerts,
    load_critical_alerts,
    load_health,
    load_indicators,
    load_patterns,
    load_sessions,
)
from analytics.records import rows_from_frame
from analytics.sample import sample_history
from analytics.writer import write_events, write_rows

INJECTIONS = [
    "AAPL'; DROP TABLE patterns; --",
    "' OR '1'='1",
    "AAPL\") OR 1=1 --",
    "$1",
    "%s",
    "{}",
    "AAPL\x00",
]


def fresh(df: pd.DataFrame, table: str = "patterns") -> pd.DataFrame:
    """A slice of a frame as a loader would return it (categories of the rows present only)."""
    cats = {c: str for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)}
    return shape(df.astype(cats), table)


@pytest.fixture(scope="module")
def sample():
    return sample_history(days=6, symbols=("AAPL", "NVDA", "TSLA"), patterns_per_symbol_day=12,
                          indicator_every_minutes=30)


@pytest.fixture
def stored(history_url, sample):
    for table in ("sessions", "patterns", "indicators", "indicator_alerts"):
        write_rows(history_url, table, rows_from_frame(sample[table], table))
    return history_url


@pytest.fixture(params=["adbc", "copy"])
def driver(request, monkeypatch):
    """Run a test through ADBC (whatever the rows the planner expects) and through COPY to CSV."""
    if request.param == "copy":
        monkeypatch.setattr(fetch, "adbc", None)
    elif fetch.adbc is None:
        pytest.skip("adbc-driver-postgresql not installed")
    else:
        monkeypatch.setattr(fetch, "ADBC_MIN_ROWS", 0)
    return request.param


def test_every_table_round_trips_exactly(stored, sample, driver):
    pd.testing.assert_frame_equal(load_patterns(stored), sample["patterns"])
    pd.testing.assert_frame_equal(load_indicators(stored), sample["indicators"])
    pd.testing.assert_frame_equal(load_alerts(stored), sample["indicator_alerts"])
    pd.testing.assert_frame_equal(load_sessions(stored), sample["sessions"])


def test_live_events_round_trip_through_the_database(history_url, wire_events, driver):
    write_events(history_url, wire_events)
    for kind, load in (("pattern", load_patterns), ("indicator", load_indicators),
                       ("indicator_alert", load_alerts), ("critical_alert", load_critical_alerts),
                       ("health", load_health), ("session", load_sessions)):
        live = combine(live_frame(wire_events, kind=kind))  # the store keeps one copy of repeats
        pd.testing.assert_frame_equal(load(history_url), live, check_like=False, obj=kind)


def test_filters_by_symbol_time_type_session_and_confidence(stored, sample):
    p = sample["patterns"]
    start, end = datetime(2025, 1, 22, tzinfo=UTC), datetime(2025, 1, 23, 18, tzinfo=UTC)
    got = load_patterns(stored, symbols=["AAPL", "TSLA"], start=start, end=end, pattern_types="Doji")
    want = p[p.symbol.isin(["AAPL", "TSLA"]) & (p.detected_at >= start) & (p.detected_at < end)
             & (p.pattern_type == "Doji")]
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, fresh(want))
    assert len(load_patterns(stored, session_id="sample-2025-01-24")) == (p.session_id == "sample-2025-01-24").sum()
    assert len(load_patterns(stored, min_confidence=0.8)) == (p.confidence >= 0.8).sum()
    i = load_indicators(stored, symbols="NVDA", indicators=["RSI"], start=date(2025, 1, 24))
    assert set(i.indicator) == {"RSI"} and set(i.symbol) == {"NVDA"} and len(i) == 13
    assert list(i.columns[-1:]) == ["value"]  # only the RSI's value keys are expanded
    a = load_alerts(stored, alert_types=["RSI_OVERBOUGHT"], end="2025-01-21")
    assert set(a.alert_type) <= {"RSI_OVERBOUGHT"} and (a.alerted_at < pd.Timestamp("2025-01-21", tz="UTC")).all()


def test_limit_keeps_the_latest_rows_in_time_order(stored, sample):
    got = load_patterns(stored, limit=5)
    pd.testing.assert_frame_equal(got, fresh(sample["patterns"].tail(5)))


def test_columns_loads_only_those(stored, sample):
    got = load_patterns(stored, columns=["symbol", "confidence"])
    assert list(got.columns) == ["symbol", "confidence"]
    pd.testing.assert_frame_equal(got, sample["patterns"][["symbol", "confidence"]])
    with pytest.raises(ValueError, match="bogus"):
        load_patterns(stored, columns=["bogus"])


def test_sql_injection_in_filters_matches_nothing_and_changes_nothing(stored, sample):
    for hostile in INJECTIONS:
        assert load_patterns(stored, symbols=[hostile]).empty, hostile
        assert load_patterns(stored, pattern_types=hostile, session_id=hostile).empty, hostile
        assert set(load_alerts(stored, symbols=["AAPL", hostile]).symbol) == {"AAPL"}, hostile
        assert load_indicators(stored, indicators=[hostile]).empty, hostile
        assert load_critical_alerts(stored, severities=[hostile], alert_types=[hostile]).empty, hostile
    assert len(load_patterns(stored)) == len(sample["patterns"])
    with db.engine_for(stored).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patterns")).scalar_one() == len(sample["patterns"])


def test_empty_results_keep_their_types(history_url):
    frame = load_patterns(history_url, symbols=[])
    assert frame.empty and dict(frame.dtypes) == dict(live_frame([]).dtypes)
    assert str(frame.detected_at.dtype) == "datetime64[ns, UTC]"
    assert isinstance(frame.symbol.dtype, pd.CategoricalDtype)


def test_indicator_keys_with_quotes_are_read_back_as_columns(history_url):
    event = {"kind": "indicator", "symbol": "AAPL", "indicator": "Odd", "values": {"it's": 1.5, 'a"b': 2.0},
             "calculated_at": datetime(2025, 1, 2, tzinfo=UTC), "ts": datetime(2025, 1, 2, tzinfo=UTC)}
    write_events(history_url, [event])
    got = load_indicators(history_url)
    assert got[["a\"b", "it's"]].iloc[0].tolist() == [2.0, 1.5]


def indicator_event(minute: int, indicator: str, values: dict) -> dict:
    at = datetime(2025, 1, 2, 15, minute, tzinfo=UTC)
    return {"kind": "indicator", "symbol": "AAPL", "indicator": indicator, "values": values,
            "calculated_at": at, "ts": at}


def test_each_values_key_of_any_row_is_a_float_column_empty_where_a_row_lacks_it(history_url, driver):
    values = [("RSI", {"value": 30}), ("MACD", {"macd": 1.25, "signal": -0.5, "histogram": 1.75}),
              ("RSI", {"value": 71.5, "note": None}), ("Odd", {}), ("BollingerBands", {"upper": 2, "lower": 1})]
    write_events(history_url, [indicator_event(i, name, v) for i, (name, v) in enumerate(values)])
    got = load_indicators(history_url)
    keys = sorted({k for _, v in values for k in v})
    assert list(got.columns[-len(keys):]) == keys and (got[keys].dtypes == "float64").all()
    expected = [[float(v[k]) if v.get(k) is not None else None for k in keys] for _, v in values]
    assert got[keys].astype(object).where(got[keys].notna(), None).values.tolist() == expected
    assert load_indicators(history_url, indicators=["RSI"]).columns[-2:].tolist() == ["note", "value"]


def test_a_key_holding_numbers_in_some_rows_and_numeric_text_in_others_reads_as_numbers(history_url):
    write_events(history_url, [indicator_event(0, "Level", {"level": 1.5}), indicator_event(1, "Level", {"level": "2.5"})])
    assert load_indicators(history_url)["level"].tolist() == [1.5, 2.5]


def test_progress_bar_shows_on_request(stored, sample, capsys):
    assert len(load_patterns(stored, progress=True)) == len(sample["patterns"])
    assert "rows" in capsys.readouterr().err


def test_live_frame_matches_the_loaders_shape(wire_events, history_url):
    for kind, load in (("pattern", load_patterns), ("indicator_alert", load_alerts),
                       ("critical_alert", load_critical_alerts), ("health", load_health),
                       ("session", load_sessions)):
        live, stored = live_frame(wire_events, kind=kind), load(history_url)
        assert list(live.columns) == list(stored.columns), kind
        assert [str(t) for t in live.dtypes] == [str(t) for t in stored.dtypes], kind


def test_live_frame_from_dicts_and_records_agree(wire_events):
    patterns = [e for e in wire_events if type(e).__name__ == "Pattern"]
    as_dicts = [{"kind": "pattern", **{f: getattr(e, f) for f in e.__struct_fields__}} for e in patterns]
    pd.testing.assert_frame_equal(live_frame(patterns), live_frame(as_dicts))
    frame = live_frame(patterns)
    assert frame.pattern_type.tolist() == ["Doji", "Doji", "Hammer", "HeadShoulders", "BreakoutDaily"]


def test_live_frame_needs_a_kind_for_a_mixed_stream(wire_events):
    with pytest.raises(ValueError, match="several kinds"):
        live_frame(wire_events)
    indicators = live_frame(wire_events, kind="indicator")
    assert indicators.indicator.tolist() == ["RSI", "MACD", "BollingerBands"]
    assert indicators.loc[1, ["histogram", "macd", "signal"]].tolist() == [0.0391, 0.4312, 0.3921]


def test_live_and_history_concatenate_cleanly(stored, sample):
    history = load_patterns(stored, end="2025-01-24")
    live = live_frame([{"kind": "pattern", "symbol": "AMD", "pattern": "Doji", "confidence": 0.9,
                        "detected_at": datetime(2025, 1, 24, 15, tzinfo=UTC),
                        "ts": datetime(2025, 1, 24, 15, tzinfo=UTC), "received": 1737730800.1}])
    both = combine(history, live)
    assert len(both) == len(history) + 1 and both.symbol.iloc[-1] == "AMD"
    assert isinstance(both.symbol.dtype, pd.CategoricalDtype) and "AMD" in both.symbol.cat.categories
    assert str(both.detected_at.dtype) == "datetime64[ns, UTC]"


def test_pattern_parameters_load_as_jsonb_text_or_parsed_on_request(history_url):
    params = {"volume": 15800, "close": 129.84, "tiny": 1e-05, "direction": "bull\"ish", "ratio": 1.0}
    row = {"symbol": "AAPL", "pattern_type": "Doji", "confidence": 0.9, "parameters": params,
           "detected_at": datetime(2025, 1, 24, 15, tzinfo=UTC), "timeframe": None}
    write_rows(history_url, "patterns", [row, {**row, "symbol": "MSFT", "parameters": {}}])
    got = load_patterns(history_url)
    assert got.dtypes.astype(str).to_dict() == shape(pd.DataFrame(), "patterns").dtypes.astype(str).to_dict()
    assert str(got["parameters"].dtype) == "str" and str(got["symbol"].dtype) == "category"
    assert list(got["symbol"].cat.categories) == ["AAPL", "MSFT"]
    assert got["detected_at"].dtype == "datetime64[ns, UTC]" and got["timeframe"].isna().all()
    text = got["parameters"].tolist()
    assert text == ['{"tiny": 0.00001, "close": 129.84, "ratio": 1.0, "volume": 15800, "direction": "bull\\"ish"}',
                    "{}"]  # as PostgreSQL prints jsonb, which is what live_frame writes too
    assert live_frame([{"kind": "pattern", **row}])["parameters"].tolist() == text[:1]
    parsed = load_patterns(history_url, parse_parameters=True)["parameters"]
    assert parsed.dtype == object and parsed.tolist() == [params, {}]
    assert parse_json(got["parameters"]).tolist() == [params, {}]


def test_pattern_loads_of_some_columns_keep_their_dtypes(stored, sample):
    got = load_patterns(stored, columns=["symbol", "pattern_type", "confidence", "detected_at"])
    want = sample["patterns"][["symbol", "pattern_type", "confidence", "detected_at"]]
    pd.testing.assert_frame_equal(got, want)


def test_a_large_scan_split_over_parallel_connections_gives_the_same_frame(stored, sample, monkeypatch):
    monkeypatch.setattr(fetch, "SPLIT_MIN_PAGES", 0)  # the sample is small: split it anyway
    pages = []
    real = fetch._page_ranges
    monkeypatch.setattr(fetch, "_page_ranges", lambda url, select: pages.append(real(url, select)) or pages[-1])
    pd.testing.assert_frame_equal(load_patterns(stored), sample["patterns"])
    pd.testing.assert_frame_equal(load_patterns(stored, pattern_types="Doji"),
                                  fresh(sample["patterns"][sample["patterns"].pattern_type == "Doji"]))
    assert len(pages[0]) == fetch.SPLIT_PARTS
    before = len(pages)
    assert load_patterns(stored, symbols=["AAPL"]).symbol.eq("AAPL").all()
    assert all(p == [] for p in pages[before:])  # indexed: one scan, never split


def test_the_parts_of_a_split_scan_read_one_snapshot(stored, sample, monkeypatch):
    """A row stored while the parts are being read shows in neither (nor in one part only)."""
    monkeypatch.setattr(fetch, "SPLIT_MIN_PAGES", 0)
    real, calls = fetch._adbc_table, []

    def part_after_a_write(uri, text, params, bar, snapshot=None):
        calls.append(snapshot)
        if len(calls) == 1:  # the first part starts only after another client stored a row
            extra = rows_from_frame(sample["patterns"].tail(1).assign(symbol="LATE"), "patterns")
            write_rows(stored, "patterns", extra)
        return real(uri, text, params, bar, snapshot)

    monkeypatch.setattr(fetch, "_adbc_table", part_after_a_write)
    got = load_patterns(stored)
    assert len(calls) == fetch.SPLIT_PARTS and calls[0] is not None and len(set(calls)) == 1
    pd.testing.assert_frame_equal(got, sample["patterns"])  # as of the load's start
    assert "LATE" in set(load_patterns(stored).symbol)  # stored indeed, seen by the next load


def test_rows_stored_out_of_time_order_load_in_time_order(history_url, sample):
    rows = rows_from_frame(sample["patterns"], "patterns")[::-1]  # newest first on disk
    write_rows(history_url, "patterns", rows)
    pd.testing.assert_frame_equal(load_patterns(history_url), sample["patterns"])


def test_a_select_the_planner_expects_to_be_small_skips_the_adbc_connection(stored, sample, monkeypatch):
    """Opening an ADBC connection costs more than a symbol's month of rows takes to arrive: small
    selects go through COPY on psycopg, large ones through ADBC, with the same frame either way."""
    if fetch.adbc is None:
        pytest.skip("adbc-driver-postgresql not installed")
    used = []
    for name in ("_fetch_copy", "_adbc_table"):
        real = getattr(fetch, name)
        monkeypatch.setattr(fetch, name, lambda *a, _real=real, _name=name, **k: used.append(_name) or _real(*a, **k))
    one = load_indicators(stored, symbols=["AAPL"])
    assert used == ["_fetch_copy"]
    monkeypatch.setattr(fetch, "ADBC_MIN_ROWS", 1)  # every select counts as large
    used.clear()
    pd.testing.assert_frame_equal(load_indicators(stored, symbols=["AAPL"]), one)
    assert used == ["_adbc_table"]
    assert len(one) == (sample["indicators"].symbol == "AAPL").sum() > 0 and one.symbol.eq("AAPL").all()
