"""The live page's views, each by its own state: set a param or hand it events, check what it shows."""

from __future__ import annotations

import time

from bokeh.document import Document

from analytics.events import Health, IndicatorAlert
from dashboard.stream.buffer import StreamingBuffer
from dashboard.web.views.bridge import DocumentBridge
from dashboard.web.views.charts import Charts
from dashboard.web.views.critical import CriticalAlerts
from dashboard.web.views.filters import Filters, Pause
from dashboard.web.views.status import HealthPanel, Metrics, StatusBar
from dashboard.web.views.streams import AlertStream, IndicatorGrid, PatternStream
from tests.fixtures import CH, T0, critical_record, indicator_record, pattern_record


def alert_record(symbol: str = "AAPL", kind: str = "RSI_OVERSOLD") -> IndicatorAlert:
    return IndicatorAlert(channel=CH.alerts_indicators, ts=T0, received=0.0, symbol=symbol, alert_type=kind,
                          data={"rsi": 24.25})


def symbols(table) -> list[str]:
    return [r["symbol"] for r in table.rows]


# ---------------------------------------------------------------- status, metrics, health


def test_status_bar_shows_the_session_escaped():
    bar = StatusBar()
    assert 'data-status="idle"' in bar.pane.object
    bar.session = {"status": "active", "session_id": "<s1>", "universe": "top_500", "market_open": True}
    assert 'data-status="active"' in bar.pane.object and "&lt;s1&gt;" in bar.pane.object
    assert "market open" in bar.pane.object


STATUS = {"buffer": {"received": 10, "rejected": 0, "dropped": 0, "events_per_s": 2.5},
          "subscriber": {"state": "connected", "reconnects": 0}, "recorder": None}


def test_metrics_show_the_account_the_lag_and_nothing_unplaced_until_there_is():
    metrics = Metrics()
    assert metrics.pane.object == ""  # nothing before the first refresh
    metrics.lags.extend([0.1, 0.2, 0.3])
    metrics.refresh(STATUS, session_dropped=0)
    html = metrics.pane.object
    assert '<div class="ts-card" data-metric="received"><div class="v">10<' in html
    assert '<div class="v">200 ms</div><div class="k">lag p50' in html
    assert 'data-metric="unplaced"' not in html
    metrics.unplaced = {"quote": 3, "trade": 1}
    assert 'data-metric="unplaced" title="quote: 3, trade: 1"><div class="v">4<' in metrics.pane.object


def test_metrics_count_what_the_session_lost_as_dropped_in_red():
    metrics = Metrics()
    metrics.refresh(STATUS, session_dropped=5)
    assert '<div class="ts-card bad" data-metric="dropped"><div class="v">5<' in metrics.pane.object


def test_health_panel_shows_the_latest_report_escaped():
    health = HealthPanel()
    assert "No health report yet" in health.pane.object
    health.report = {"status": "degraded", "issues": ["<script>x</script>"], "cpu_percent": 91.0}
    assert "degraded" in health.pane.object and "91.0 %" in health.pane.object
    assert "&lt;script&gt;" in health.pane.object and "<script>" not in health.pane.object


# ---------------------------------------------------------------- filters and pause


def test_filters_show_rows_by_symbol_pattern_and_confidence():
    f = Filters(min_confidence=0.7)
    row = {"symbol": "AAPL", "pattern": "Doji", "confidence": 0.75}
    assert f.shows(row) and f.shows({"symbol": "AAPL", "sentence": "an alert has no confidence"})
    f.min_confidence = 0.8
    assert not f.shows(row)
    f.param.update(min_confidence=0.5, symbols=["MSFT"])
    assert not f.shows(row) and not f.shows_symbol("AAPL") and f.shows_symbol("MSFT")
    f.param.update(symbols=[], pattern_types=["Hammer"])
    assert not f.shows(row) and f.shows_symbol("AAPL")


def test_filters_offer_every_symbol_seen_with_escaped_labels():
    f = Filters()
    f.seen_symbols.update({"MSFT", "<img src=x>"})
    f.offer_seen()
    assert f.symbol_options == ["<img src=x>", "MSFT"]
    assert f._layout[0].options == {"&lt;img src=x&gt;": "<img src=x>", "MSFT": "MSFT"}


def test_the_note_beside_the_slider_says_how_many_patterns_it_hides():
    f = Filters(min_confidence=0.7)
    note = f._layout[3]
    assert note.object == ""
    f.hidden = 4
    assert "4 hidden below 0.70" in note.object


def test_pause_button_reads_resume_while_paused_and_the_note_counts_waiting_events():
    pause = Pause()
    button, note = pause._layout
    assert button.name == "Pause" and not note.visible
    button.value = True  # the user clicks
    assert pause.paused and button.name == "Resume" and note.visible
    pause.missed = 3
    assert note.object == "<b>Paused</b>: 3 new events waiting"


# ---------------------------------------------------------------- the streams


def test_pattern_stream_shows_new_rows_newest_first_and_redraws_on_a_filter():
    f = Filters()
    stream = PatternStream(f, max_rows=10)
    for i, s in enumerate(("AAPL", "MSFT", "AAPL")):
        stream.take(pattern_record(s, conf=0.9, seconds=i))
    assert stream.publish() == 3
    assert symbols(stream.table) == ["AAPL", "MSFT", "AAPL"] and stream.table.rows[2]["time"] < stream.table.rows[0]["time"]
    assert f.seen_symbols == {"AAPL", "MSFT"} and f.seen_patterns == {"Doji"}
    f.symbols = ["MSFT"]
    stream.redraw()
    assert symbols(stream.table) == ["MSFT"]


def test_pattern_stream_keeps_patterns_under_the_buffer_threshold_apart_and_counts_what_it_hides():
    f = Filters(min_confidence=0.7)
    stream = PatternStream(f, max_rows=2, floor=0.7)
    stream.take(pattern_record("HIGH", conf=0.9, seconds=0))
    for i in range(5):  # more low ones than the kept rows: they push out only each other
        stream.take(pattern_record(f"LOW{i}", conf=0.6, seconds=1 + i))
    assert stream.publish() == 1
    stream.count_hidden()
    assert stream.hidden == 2
    f.min_confidence = 0.5
    stream.redraw()
    assert symbols(stream.table) == ["LOW4", "LOW3"]  # the table holds max_rows, newest first
    assert stream.hidden == 0
    f.min_confidence = 0.95  # above the threshold: the kept ones at or above it can be hidden too
    stream.redraw()
    assert (symbols(stream.table), stream.hidden) == ([], 3)


def test_a_paused_stream_counts_its_rows_but_sends_none():
    stream = AlertStream(Filters())
    stream.take(alert_record())
    assert stream.publish(paused=True) == 1
    assert stream.table.rows == []
    stream.redraw()  # resume
    assert stream.table.rows[0]["sentence"] == "AAPL: RSI oversold (24.2)"


def test_indicator_grid_updates_a_symbol_in_place_and_filters_by_symbol():
    f = Filters()
    grid = IndicatorGrid(f)
    grid.take(indicator_record("AAPL", "RSI", 55.0))
    grid.take(indicator_record("MSFT", "RSI", 45.0))
    grid.take(indicator_record("AAPL", "SMA", 150.0))
    assert grid.publish() == 2
    aapl = next(r for r in grid.table.rows if r["symbol"] == "AAPL")
    assert (aapl["RSI.value"], aapl["SMA.value"]) == (55.0, 150.0)
    f.symbols = ["MSFT"]
    grid.take(indicator_record("AAPL", "RSI", 60.0))
    assert grid.publish() == 0  # a hidden symbol's update is not sent
    grid.redraw()
    assert symbols(grid.table) == ["MSFT"]


# ---------------------------------------------------------------- critical alerts and charts


def test_critical_alert_raises_the_banner_fills_the_table_and_dismiss_hides_it():
    critical = CriticalAlerts(notifications=False)
    assert not critical.banner.visible and critical.notifier.enabled is False
    critical.take(critical_record("<b>FEED</b>"))
    assert critical.count == 1 and critical.banner.visible
    assert "&lt;b&gt;FEED&lt;/b&gt;: m" in critical.banner.object and "<b>FEED</b>" not in critical.banner.object
    assert critical.table.rows[0]["alert_type"] == "<b>FEED</b>"  # the table writes text, never markup
    critical._layout[1].clicks += 1  # Dismiss
    assert not critical.banner_visible and not critical.banner.visible


def test_a_burst_of_critical_alerts_is_one_toast_then_one_summary_and_the_banner_and_table_keep_up():
    critical = CriticalAlerts(notifications=False)
    assert critical.table.height == 28 + 2 * 22 + 2  # none yet: room for "No critical alerts"
    critical.take(critical_record("FEED_DOWN"), now=100.0)
    assert critical.table.height == 28 + 2 * 22 + 2  # one alert: room for it wrapped, no blank band
    assert list(critical.toasted) == ["FEED_DOWN: m"]  # the first at once
    for i, at in enumerate((100.5, 101.0, 102.0)):
        critical.take(critical_record(f"LAG_{i}"), now=at)
    assert list(critical.toasted) == ["FEED_DOWN: m"]  # within the gap: they wait
    assert critical.latest.alert_type == "LAG_2" and critical.table.size == 4  # the banner and table do not
    critical.tick(now=104.9)
    assert len(critical.toasted) == 1
    critical.tick(now=105.0)  # the gap is over: one toast sums them up
    assert list(critical.toasted) == ["FEED_DOWN: m", "3 more critical alerts · latest: LAG_2: m"]
    critical.tick(now=111.0)  # nothing waits: no toast
    critical.take(critical_record("DISK"), now=111.0)  # a lone alert after the gap: its own toast at once
    assert list(critical.toasted)[-1] == "DISK: m"
    assert critical.table.height == 160  # five alerts, two lines each: its full height
    critical.take(critical_record("OLD"), now=120.0, news=False)  # from before the page opened
    assert list(critical.toasted)[-1] == "DISK: m" and critical.latest.alert_type == "OLD"


def test_charts_take_a_throughput_point_a_second_and_a_health_point_an_event_drawn_in_turns():
    charts = Charts()
    assert charts.health_fig.title.text == "Producer health: no report since this page opened"
    charts.add_second(100, {"pattern": 5})  # the first point is drawn at once
    assert charts.throughput_source.data["pattern"] == [5]
    charts.add_second(100, {"pattern": 7})  # the same second again: ignored
    health = Health(channel=CH.health, ts=T0, received=0.0, status="healthy", cpu_percent=40.0,
                    memory_percent=20.0, processing_lag_ms=2500.0)
    charts.add_health(health)
    charts.add_second(101, {"indicator": 2})  # no chart is drawn this second
    assert charts.throughput_source.data["pattern"] == [5] and charts.health_source.data["lag"] == []
    charts.add_second(102, {"indicator": 3})  # the health chart's turn: the throughput points wait
    assert charts.throughput_source.data["pattern"] == [5]
    assert charts.health_source.data["lag"] == [2500.0] and charts.health_fig.title.text == "Producer health"
    charts.add_health(health)
    charts.add_second(103, {})
    charts.add_second(104, {"pattern": 1})  # the throughput chart's turn: its four points, each in its second
    assert charts.throughput_source.data["pattern"] == [5, 0, 0, 0, 1]
    assert charts.throughput_source.data["indicator"] == [0, 2, 3, 0, 0]
    assert charts.throughput_source.data["u"] == [100_000, 101_000, 102_000, 103_000, 104_000]
    assert charts.health_source.data["lag"] == [2500.0]  # never in the same second as the throughput chart
    charts.add_second(105, {})
    charts.add_second(106, {})
    assert charts.health_source.data["lag"] == [2500.0, 2500.0]
    assert charts.throughput_fig.y_range.end == 10  # 5 events/s at most: the first step, 10 % to spare
    charts.add_second(107, {"indicator": 650})
    charts.add_second(108, {})  # the throughput chart's turn
    assert charts.throughput_fig.y_range.end == 1000  # 650 (+10 %) fits under 1000, not 715
    assert charts.health_fig.extra_y_ranges["lag"].end == 3000.0  # the lag axis grows to show it


# ---------------------------------------------------------------- the bridge


class Placed(list):
    def __call__(self, events):
        self.append([type(e).__name__ for e in events])


def test_an_urgent_drain_places_the_critical_alert_and_holds_buffered_events_for_the_next():
    buffer = StreamingBuffer()
    placed = Placed()
    bridge = DocumentBridge(buffer, "s", placed, lambda: None)
    buffer.take([pattern_record()])
    buffer.flush()
    buffer.take([critical_record()])
    assert bridge.drain(urgent_only=True) == 1
    assert placed == [["CriticalAlert"]]
    assert bridge.drain() == 1 and placed[-1] == ["Pattern"]  # held, not lost


def test_in_a_document_the_ingest_asks_for_one_callback_per_kind_of_drain():
    buffer = StreamingBuffer()
    placed = Placed()
    bridge = DocumentBridge(buffer, "s", placed, lambda: None)
    bridge.doc = doc = Document()
    buffer.take([pattern_record(s) for s in ("AAPL", "MSFT", "NVDA")])
    buffer.flush()
    buffer.flush()
    buffer.take([critical_record()])
    buffer.take([critical_record("FEED_DOWN")])
    callbacks = {cb.callback.__name__: cb.callback for cb in doc.session_callbacks}
    assert len(doc.session_callbacks) == 2  # one paced, one urgent, however often the buffer called
    callbacks["_drain_urgent"]()  # the alerts leave at once, the rows wait for their pace
    callbacks["_drain_paced"]()
    assert placed == [["CriticalAlert", "CriticalAlert"], ["Pattern", "Pattern", "Pattern"]]


def test_closing_the_bridge_releases_its_consumer_and_a_jupyter_start_polls():
    buffer = StreamingBuffer(interval=0.25)
    bridge = DocumentBridge(buffer, "s", Placed(), lambda: None)
    bridge.start(jupyter=True)
    assert len(bridge._callbacks) == 2  # the drain at the flush interval, the refresh every second
    assert bridge._callbacks[0].period == 250
    bridge.close()
    assert bridge.closed and not bridge._callbacks
    assert buffer.stats()["consumers"] == []
    bridge.on_ready(True)  # a late call from the ingest thread does nothing


def test_rows_of_an_early_flush_wait_for_the_timed_flush_or_one_interval():
    buffer = StreamingBuffer(interval=0.25, max_size=2)
    placed = Placed()
    bridge = DocumentBridge(buffer, "s", placed, lambda: None)
    bridge.doc = doc = Document()
    bridge._flushes_seen, bridge._last_drain = buffer.flushes, time.monotonic()  # a paced drain just now
    buffer.take([pattern_record(s) for s in ("AAPL", "MSFT")])  # a full batch: the buffer flushes early
    assert buffer.early_flushes == 1
    [first] = [cb.callback for cb in doc.session_callbacks]
    first()  # within the interval and no timed flush yet: it waits, with a deadline
    assert placed == []
    timeouts = [cb for cb in doc.session_callbacks if cb.callback.__name__ == "_drain_due"]
    assert len(timeouts) == 1 and 0 < timeouts[0].timeout <= 251
    buffer.take([pattern_record("NVDA")])
    buffer.flush()  # the timed flush: one prompt drain of everything waiting
    [prompt] = [cb.callback for cb in doc.session_callbacks if cb.callback.__name__ == "_drain_paced"]
    prompt()
    assert placed == [["Pattern", "Pattern", "Pattern"]]
    timeouts[0].callback()  # the deadline finds nothing left to do
    assert not doc.session_callbacks
    assert len(placed) == 1
    bridge._last_drain -= 1  # an interval on, without a timed flush (a buffer that is off): drained at once
    buffer.take([pattern_record(s) for s in ("AMD", "INTC")])
    [latest] = [cb.callback for cb in doc.session_callbacks]
    latest()
    assert placed[-1] == ["Pattern", "Pattern"]


def test_the_indicator_grid_is_as_tall_as_its_rows_up_to_its_height():
    grid = IndicatorGrid(Filters())
    assert grid.table.height == 28 + 2 * 22 + 2  # empty: room for the note that says why
    for s in ("AAPL", "MSFT", "NVDA"):
        grid.take(indicator_record(s, "RSI", 50.0))
    grid.publish()
    assert grid.table.height == 28 + 3 * 22 + 2
    for i in range(40):
        grid.take(indicator_record(f"S{i}", "RSI", 50.0))
    grid.publish()
    assert grid.table.height == 450  # then it scrolls
