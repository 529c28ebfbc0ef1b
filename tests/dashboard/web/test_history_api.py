"""History REST on real PostgreSQL: recorded rows come back; hostile parameters get a 400."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.fixtures import calculation, detection, indicator_alert, serve, session_started, stop
from tests.helpers import wait_for


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def iso(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def recorded(redis_url, module_database_url):
    s = serve(redis_url, {"DATABASE_URL": module_database_url}, "--record")
    s.publish("streaming:session_started", session_started("hist-1", "u", iso(60)))
    sent = 2
    for i in range(30):  # AAPL: 20 Doji + 10 Hammer over the last 30 minutes; MSFT: 5 Doji
        name = "Doji" if i < 20 else "Hammer"
        s.publish("patterns:streaming", detection("AAPL", name, 0.8 + i / 1000, iso(i), session_id="hist-1",
                                                  parameters={"i": i}))
    for i in range(5):
        s.publish("patterns:streaming", detection("MSFT", "Doji", 0.75, iso(i), session_id="hist-1",
                                                  timeframe=None, parameters={}))
    for i in range(12):
        s.publish("alerts:indicators", indicator_alert("AAPL", "RSI_OVERBOUGHT" if i % 3 else "MACD_BULLISH_CROSS",
                                                       {"rsi": 70 + i}, iso(i), session_id="hist-1"))
        s.publish("indicators:streaming", calculation("AAPL", "RSI", {"value": 70 + i}, iso(i), session_id="hist-1"))
    sent += 30 + 5 + 24 - 1
    api = s.url + "/api"

    def caught_up():
        st = json.loads(get(api + "/status")[2])
        rec = st["recorder"]
        return st["buffer"]["received"] >= sent and rec and rec["backlog"] == 0 and rec["written"] >= sent
    wait_for(caught_up, timeout=30, message="the recorder did not catch up")
    yield s, api, module_database_url
    stop(s)


def test_patterns_of_a_symbol_newest_first_within_the_window(recorded):
    _, api, _ = recorded
    status, _, body = get(api + "/patterns/AAPL?hours=1&limit=25")
    data = json.loads(body)
    assert status == 200 and data["count"] == 25
    times = [r["detected_at"] for r in data["rows"]]
    assert times == sorted(times, reverse=True)
    assert {r["pattern_type"] for r in data["rows"]} == {"Doji", "Hammer"}
    assert json.loads(get(api + "/patterns/MSFT")[2])["count"] == 5
    assert json.loads(get(api + "/patterns/NOPE")[2])["count"] == 0


def test_indicators_alerts_and_summary(recorded):
    _, api, _ = recorded
    ind = json.loads(get(api + "/indicators/AAPL?indicator=RSI&hours=2")[2])
    assert ind["count"] == 12 and ind["rows"][0]["values"] == {"value": 70.0}
    alerts = json.loads(get(api + "/alerts?alert_type=macd_bullish_cross&limit=10")[2])
    assert alerts["count"] == 4 and {r["alert_type"] for r in alerts["rows"]} == {"MACD_BULLISH_CROSS"}
    summary = json.loads(get(api + "/summary")[2])
    assert summary["session_id"] == "hist-1"
    assert summary["patterns_by_type"] == {"Doji": 25, "Hammer": 10}
    assert summary["top_symbols"][0] == {"symbol": "AAPL", "patterns": 30}
    assert summary["alert_distribution"] == {"RSI_OVERBOUGHT": 8, "MACD_BULLISH_CROSS": 4}
    assert summary["totals"]["indicators"] == 12 and summary["totals"]["symbols"] == 2


def test_csv_format_on_each_endpoint(recorded):
    _, api, _ = recorded
    for path, first_column in (("/patterns/AAPL", "detected_at"), ("/indicators/AAPL", "calculated_at"),
                               ("/alerts", "alerted_at"), ("/summary", "section")):
        status, ctype, body = get(api + path + "?format=csv")
        assert status == 200 and ctype.startswith("text/csv"), path
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert rows and next(iter(rows[0])) == first_column, path


HOSTILE = ["'; DROP TABLE patterns; --", "AAPL' OR '1'='1", "1; SELECT pg_sleep(5)", "<script>alert(1)</script>",
           "../../etc/passwd", "%00", "A" * 500, "𝔸𝔸𝔸"]


@pytest.mark.parametrize("path_template", [
    "/patterns/{v}", "/indicators/{v}", "/patterns/AAPL?hours={v}", "/patterns/AAPL?limit={v}",
    "/indicators/AAPL?indicator={v}", "/alerts?alert_type={v}", "/alerts?limit={v}", "/alerts?hours={v}",
    "/summary?hours={v}", "/patterns/AAPL?format={v}", "/patterns/AAPL?tz={v}", "/summary?tz={v}",
])
def test_hostile_values_in_every_parameter_get_a_400_and_touch_nothing(recorded, path_template):
    _, api, db = recorded
    with sa.create_engine(db).connect() as conn:
        before = conn.execute(sa.text("select count(*) from patterns")).scalar_one()
    for value in HOSTILE:
        status, ctype, body = get(api + path_template.format(v=urllib.parse.quote(value, safe="")))
        assert status == 400, (path_template, value, body)
        assert ctype.startswith("application/json") and json.loads(body)["error"]
    with sa.create_engine(db).connect() as conn:
        assert conn.execute(sa.text("select count(*) from patterns")).scalar_one() == before


@pytest.mark.parametrize("query", ["hours=0", "hours=25", "hours=-1", "hours=1.5", "limit=0", "limit=1001",
                                   "hours=1&hours=2", "nope=1"])
def test_out_of_range_and_unknown_parameters_say_what_is_wrong(recorded, query):
    _, api, _ = recorded
    status, _, body = get(api + "/patterns/AAPL?" + query)
    reason = json.loads(body)["error"]
    assert status == 400 and query.split("=")[0] in reason


def test_alert_limit_bounds_are_10_to_500(recorded):
    _, api, _ = recorded
    assert get(api + "/alerts?limit=9")[0] == 400
    assert get(api + "/alerts?limit=501")[0] == 400
    assert get(api + "/alerts?limit=500")[0] == 200


def test_json_rows_encoded_by_postgresql_hold_the_stored_values(recorded):
    _, api, db = recorded
    rows = json.loads(get(api + "/patterns/AAPL?hours=1&limit=30")[2])["rows"]
    columns = "detected_at, symbol, pattern_type, confidence, timeframe, high_confidence, session_id, parameters"
    with sa.create_engine(db, connect_args={"options": "-c TimeZone=UTC"}).connect() as conn:
        stored = conn.execute(sa.text(f"SELECT {columns} FROM patterns WHERE symbol = 'AAPL' "
                                      "ORDER BY detected_at DESC")).mappings().all()
    for row in rows:  # RFC 3339 in exchange time (PostgreSQL drops trailing zeros of the fraction)
        at = row["detected_at"] = datetime.fromisoformat(row["detected_at"])
        assert at.utcoffset() == at.astimezone(ZoneInfo("America/New_York")).utcoffset()
    assert rows == [dict(r) for r in stored] and list(rows[0]) == columns.split(", ")
    assert rows[0]["parameters"] == {"i": 0}


def offset(text: str) -> timedelta:
    return datetime.fromisoformat(text).utcoffset()


def expected_offset(text: str, zone: str) -> timedelta:
    return datetime.fromisoformat(text).astimezone(ZoneInfo(zone)).utcoffset()


@pytest.mark.parametrize("path, column", [("/patterns/AAPL", "detected_at"), ("/indicators/AAPL", "calculated_at"),
                                          ("/alerts", "alerted_at")])
def test_every_time_is_in_the_zone_of_tz_with_its_offset_exchange_time_by_default(recorded, path, column):
    _, api, _ = recorded
    answers = {tz: json.loads(get(api + path + ("?tz=" + urllib.parse.quote(tz) if tz else ""))[2])
               for tz in ("", "exchange", "utc", "UTC", "Asia/Kolkata", "America/Chicago")}
    zones = {"": "America/New_York", "exchange": "America/New_York", "utc": "UTC", "UTC": "UTC",
             "Asia/Kolkata": "Asia/Kolkata", "America/Chicago": "America/Chicago"}
    for tz, data in answers.items():
        assert data["tz"] == zones[tz] and data["rows"], tz
        for row in data["rows"]:
            assert offset(row[column]) == expected_offset(row[column], zones[tz]), (tz, row[column])
    assert answers["Asia/Kolkata"]["rows"][0][column].endswith("+05:30")
    assert answers["utc"]["rows"][0][column].endswith("+00:00")
    instants = {tz: [datetime.fromisoformat(r[column]) for r in data["rows"]] for tz, data in answers.items()}
    assert all(times == instants["utc"] for times in instants.values())  # the same instants, written in each zone


def test_csv_times_are_in_the_zone_of_tz_too(recorded):
    _, api, _ = recorded
    by_zone = {}
    for tz in ("exchange", "Asia/Tokyo"):
        status, _, body = get(api + f"/patterns/AAPL?format=csv&limit=5&tz={urllib.parse.quote(tz)}")
        assert status == 200
        by_zone[tz] = [row["detected_at"] for row in csv.DictReader(io.StringIO(body.decode()))]
    zones = {"exchange": "America/New_York", "Asia/Tokyo": "Asia/Tokyo"}
    for tz, times in by_zone.items():
        assert len(times) == 5 and all(offset(t) == expected_offset(t, zones[tz]) for t in times), (tz, times)
    assert by_zone["Asia/Tokyo"][0].endswith("+09:00")
    assert [datetime.fromisoformat(t) for t in by_zone["exchange"]] == \
        [datetime.fromisoformat(t) for t in by_zone["Asia/Tokyo"]]


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "EST+5", "browser", "America/New York", "right/UTC", "+05:00"])
def test_a_zone_that_is_not_one_is_a_400_with_a_one_line_reason(recorded, tz):
    _, api, _ = recorded
    for path in ("/patterns/AAPL", "/summary"):
        status, ctype, body = get(api + f"{path}?tz={urllib.parse.quote(tz)}")
        reason = json.loads(body)["error"]
        assert status == 400 and ctype.startswith("application/json"), (path, tz, body)
        assert reason.startswith("tz: ") and "\n" not in reason and "Traceback" not in reason, reason
