"""Live Bokeh charts fed by ColumnDataSource.stream: throughput per type, producer health.

Their legends are static HTML beside the plots: a Bokeh legend re-renders itself (new canvases
for every entry) whenever anything reachable from its items changes, streamed data included,
which cost the page a legend rebuild per chart update."""

from __future__ import annotations

from html import escape
from pathlib import Path

import panel as pn
import param
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, LinearAxis, Range1d
from bokeh.plotting import figure

from analytics.events import Health

THROUGHPUT_SERIES = [("pattern", "#2b6cb0"), ("indicator", "#38a169"),
                     ("indicator_alert", "#d69e2e"), ("critical_alert", "#c53030")]
HEALTH_SERIES = [("CPU %", "#2b6cb0"), ("memory %", "#805ad5"), ("processing lag (ms, right axis)", "#d69e2e")]
THROUGHPUT_ROLLOVER = 600  # one point a second: the last 10 minutes
HEALTH_ROLLOVER = 720  # one point a health event
CSS = Path(__file__).with_name("charts.css").read_text(encoding="utf-8")  # read once, sent inline


def throughput_chart() -> tuple[figure, ColumnDataSource]:
    """Events per second per type, one point a second."""
    source = ColumnDataSource({"t": [], **{k: [] for k, _ in THROUGHPUT_SERIES}})
    fig = figure(height=220, sizing_mode="stretch_width", x_axis_type="datetime", title="Events per second",
                 toolbar_location=None, y_range=DataRange1d(start=0))
    for kind, colour in THROUGHPUT_SERIES:
        fig.line("t", kind, source=source, color=colour, line_width=2)
    fig.add_tools(HoverTool(tooltips=[(k.replace("_", " "), f"@{k}") for k, _ in THROUGHPUT_SERIES]
                            + [("time", "@t{%H:%M:%S}")], formatters={"@t": "datetime"}, mode="vline"))
    return fig, source


def health_chart() -> tuple[figure, ColumnDataSource]:
    """The producer's CPU and memory (%, left axis) and processing lag (ms, right axis)."""
    source = ColumnDataSource({"t": [], "cpu": [], "memory": [], "lag": []})
    fig = figure(height=220, sizing_mode="stretch_width", x_axis_type="datetime", title="Producer health",
                 toolbar_location=None, y_range=Range1d(0, 100))
    fig.extra_y_ranges = {"lag": Range1d(0, 1000)}
    fig.add_layout(LinearAxis(y_range_name="lag", axis_label="lag (ms)"), "right")
    fig.yaxis[0].axis_label = "%"
    for field, (_, colour) in zip(("cpu", "memory", "lag"), HEALTH_SERIES, strict=True):
        fig.line("t", field, source=source, color=colour, line_width=2,
                 **({"y_range_name": "lag"} if field == "lag" else {}))
    return fig, source


def legend(series: list[tuple[str, str]]) -> str:
    """A chart's legend as static HTML: a coloured swatch and a label per series (fixed labels)."""
    items = "".join(f'<span class="item"><span class="swatch" style="background:{colour}"></span>'
                    f'{escape(label.replace("_", " "))}</span>' for label, colour in series)
    return f'<div class="ts-legend">{items}</div>'


class Charts(pn.viewable.Viewer):
    """Throughput per type (a point a second, from the buffer's rates) and the producer's health
    (a point a health event), each with its legend."""

    last_second = param.Integer(default=0, doc="epoch second of the latest throughput point")

    def __init__(self, **params):
        super().__init__(**params)
        self.throughput_fig, self.throughput_source = throughput_chart()
        self.health_fig, self.health_source = health_chart()

        def chart(fig, series):
            return pn.Column(pn.pane.Bokeh(fig, sizing_mode="stretch_width"),
                             pn.pane.HTML(legend(series), stylesheets=[CSS]), sizing_mode="stretch_width")
        self._layout = pn.Row(chart(self.throughput_fig, THROUGHPUT_SERIES), chart(self.health_fig, HEALTH_SERIES),
                              sizing_mode="stretch_width")

    def add_second(self, second: int, counts: dict) -> None:
        """One throughput point: events per type in that second (once per second at most)."""
        if second <= self.last_second:
            return
        self.throughput_source.stream({"t": [second * 1000], **{k: [counts.get(k, 0)] for k, _ in THROUGHPUT_SERIES}},
                                      rollover=THROUGHPUT_ROLLOVER)
        self.last_second = second

    def add_health(self, ev: Health) -> None:
        self.health_source.stream({"t": [ev.ts.timestamp() * 1000], "cpu": [ev.cpu_percent],
                                   "memory": [ev.memory_percent], "lag": [ev.processing_lag_ms]},
                                  rollover=HEALTH_ROLLOVER)
        lag_max = max((v for v in self.health_source.data["lag"] if v is not None), default=0)
        self.health_fig.extra_y_ranges["lag"].end = max(1000, lag_max * 1.2)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
