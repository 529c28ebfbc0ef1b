"""Live Bokeh charts fed by ColumnDataSource.stream: throughput per type, producer health.

Their legends are static HTML beside the plots: a Bokeh legend re-renders itself (new canvases
for every entry) whenever anything reachable from its items changes, streamed data included,
which cost the page a legend rebuild per chart update."""

from __future__ import annotations

from html import escape

from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, LinearAxis, Range1d
from bokeh.plotting import figure

THROUGHPUT_SERIES = [("pattern", "#2b6cb0"), ("indicator", "#38a169"),
                     ("indicator_alert", "#d69e2e"), ("critical_alert", "#c53030")]
HEALTH_SERIES = [("CPU %", "#2b6cb0"), ("memory %", "#805ad5"), ("processing lag (ms, right axis)", "#d69e2e")]
THROUGHPUT_ROLLOVER = 600  # one point a second: the last 10 minutes
HEALTH_ROLLOVER = 720  # one point a health event


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
    items = "".join(f'<span style="margin-right:14px"><span style="display:inline-block;width:14px;height:3px;'
                    f'background:{colour};vertical-align:middle;margin-right:5px"></span>{escape(label.replace("_", " "))}'
                    f"</span>" for label, colour in series)
    return f'<div style="font:11px system-ui,sans-serif;color:#4a5568;padding-left:40px">{items}</div>'

