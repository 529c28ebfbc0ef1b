"""Live Bokeh charts fed by ColumnDataSource.stream: throughput per type, producer health."""

from __future__ import annotations

from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, LinearAxis, Range1d
from bokeh.plotting import figure

THROUGHPUT_SERIES = [("pattern", "#2b6cb0"), ("indicator", "#38a169"),
                     ("indicator_alert", "#d69e2e"), ("critical_alert", "#c53030")]
THROUGHPUT_ROLLOVER = 600  # one point a second: the last 10 minutes
HEALTH_ROLLOVER = 720  # one point a health event


def throughput_chart() -> tuple[figure, ColumnDataSource]:
    """Events per second per type, one point a second."""
    source = ColumnDataSource({"t": [], **{k: [] for k, _ in THROUGHPUT_SERIES}})
    fig = figure(height=220, sizing_mode="stretch_width", x_axis_type="datetime", title="Events per second",
                 toolbar_location=None, y_range=DataRange1d(start=0))
    for kind, colour in THROUGHPUT_SERIES:
        fig.line("t", kind, source=source, color=colour, line_width=2, legend_label=kind.replace("_", " "))
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "10px"
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
    fig.line("t", "cpu", source=source, color="#2b6cb0", line_width=2, legend_label="CPU %")
    fig.line("t", "memory", source=source, color="#805ad5", line_width=2, legend_label="memory %")
    fig.line("t", "lag", source=source, color="#d69e2e", line_width=2, y_range_name="lag",
             legend_label="processing lag")
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "10px"
    return fig, source
