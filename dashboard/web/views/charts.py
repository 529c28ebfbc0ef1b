"""Live Bokeh charts fed by ColumnDataSource.stream: throughput per type, producer health.

Their legends are static HTML beside the plots: a Bokeh legend re-renders itself (new canvases
for every entry) whenever anything reachable from its items changes, streamed data included,
which cost the page a legend rebuild per chart update.

Bokeh's time axes know no zones: each point keeps its instant (`u`, epoch ms) and is plotted at
`t`, the wall clock of the page's zone at that instant; a new zone re-plots every point, and the
axes name the zone. The charts take the page's theme as explicit colours (they win over any
document theme), so they match the page in a template or a notebook alike."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import panel as pn
import param
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, HoverTool, LinearAxis, Range1d
from bokeh.plotting import figure

from analytics.events import Health

THROUGHPUT_SERIES = [("pattern", "#2b6cb0"), ("indicator", "#38a169"),
                     ("indicator_alert", "#d69e2e"), ("critical_alert", "#c53030")]
HEALTH_SERIES = [("CPU %", "#2b6cb0"), ("memory %", "#805ad5"), ("processing lag (ms, right axis)", "#d69e2e")]
THROUGHPUT_ROLLOVER = 600  # one point a second: the last 10 minutes
NICE = [float(m * 10 ** e) for e in range(1, 8) for m in (1, 2, 5)]  # the throughput axis's tops: 10 … 50 M
# One chart is drawn every CHART_EVERY seconds, in turns (throughput, then health): each every four
# seconds, never both in one frame. An update redraws a whole chart (canvas, axes, ticks: 25-55 ms of
# the browser's main thread at 1920 px here); both every second were a sixth of the page's cost and
# its longest tasks. The metric cards give the live rates every second.
CHART_EVERY = 2
HEALTH_ROLLOVER = 720  # one point a health event
HEALTH_WAITING = "Producer health: no report since this page opened"  # the empty chart says why
EXCHANGE_ZONE = "America/New_York"
# the charts' colours per page theme: background, text, axes and grid (theme.css has the page's)
THEME_COLOURS = {"light": {"background": "#ffffff", "text": "#1a202c", "axis": "#5a6577", "grid": "#e5e9ef"},
                 "dark": {"background": "#181818", "text": "#e6e9ee", "axis": "#9aa5b4", "grid": "#33373d"}}
CSS = Path(__file__).with_name("charts.css").read_text(encoding="utf-8")  # read once, sent inline


def throughput_chart() -> tuple[figure, ColumnDataSource]:
    """Events per second per type, one point a second."""
    source = ColumnDataSource({"t": [], "u": [], **{k: [] for k, _ in THROUGHPUT_SERIES}})
    fig = figure(height=220, sizing_mode="stretch_width", x_axis_type="datetime", title="Events per second",
                 toolbar_location=None, y_range=Range1d(0, NICE[0]))
    for kind, colour in THROUGHPUT_SERIES:
        fig.line("t", kind, source=source, color=colour, line_width=2)
    clock_axis(fig)
    fig.add_tools(HoverTool(tooltips=[(k.replace("_", " "), f"@{k}") for k, _ in THROUGHPUT_SERIES]
                            + [("time", "@t{%H:%M:%S}")], formatters={"@t": "datetime"}, mode="vline"))
    return fig, source


def health_chart() -> tuple[figure, ColumnDataSource]:
    """The producer's CPU and memory (%, left axis) and processing lag (ms, right axis)."""
    source = ColumnDataSource({"t": [], "u": [], "cpu": [], "memory": [], "lag": []})
    fig = figure(height=220, sizing_mode="stretch_width", x_axis_type="datetime", title=HEALTH_WAITING,
                 toolbar_location=None, y_range=Range1d(0, 100))
    fig.extra_y_ranges = {"lag": Range1d(0, 1000)}
    fig.add_layout(LinearAxis(y_range_name="lag", axis_label="lag (ms)"), "right")
    fig.yaxis[0].axis_label = "%"
    clock_axis(fig)
    for field, (_, colour) in zip(("cpu", "memory", "lag"), HEALTH_SERIES, strict=True):
        axis = {"y_range_name": "lag"} if field == "lag" else {}
        fig.line("t", field, source=source, color=colour, line_width=2, **axis)
        fig.scatter("t", field, source=source, color=colour, size=5, **axis)  # a report a minute: one shows too
    return fig, source


def legend(series: list[tuple[str, str]]) -> str:
    """A chart's legend as static HTML: a coloured swatch and a label per series (fixed labels)."""
    items = "".join(f'<span class="item"><span class="swatch" style="background:{colour}"></span>'
                    f'{escape(label.replace("_", " "))}</span>' for label, colour in series)
    return f'<div class="ts-legend">{items}</div>'


def nice_top(value: float) -> float:
    """The value axis's top: the first of 10, 20, 50, 100, 200, 500, … above `value` with 10 % to
    spare. It moves only when the rate crosses a step; a range fitted to the data moved with every
    point, and each move could lay the whole chart out again (the page's longest frames)."""
    for top in NICE:
        if value * 1.1 <= top:
            return top
    return NICE[-1]


def clock_axis(fig: figure) -> None:
    """The time axis as a clock (the last minutes of today need no date): cheaper to draw too, as
    the date under the first tick was formatted anew on every redraw."""
    fig.xaxis[0].formatter = DatetimeTickFormatter(seconds="%H:%M:%S", minsec="%H:%M:%S", minutes="%H:%M",
                                                   hourmin="%H:%M", hours="%H:%M", context=None)


def style(fig: figure, theme: str) -> None:
    """The figure in the page's theme: explicit colours, so no document theme overrides them."""
    c = THEME_COLOURS[theme]
    fig.background_fill_color = fig.border_fill_color = c["background"]
    fig.outline_line_color = c["grid"]
    fig.title.text_color = c["text"]
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.axis_line_color = axis.major_tick_line_color = axis.minor_tick_line_color = c["axis"]
        axis.major_label_text_color = axis.axis_label_text_color = c["axis"]
    for grid in (*fig.xgrid, *fig.ygrid):
        grid.grid_line_color = c["grid"]


FONT = "sans-serif"  # HoloViews charts' text (Bokeh's default, Helvetica, is a serif font where it is missing)


def sans(fig: figure) -> None:
    """A HoloViews figure's title, axes and legends in the page's kind of font, labels not bold."""
    fig.title.text_font = FONT
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.axis_label_text_font = axis.major_label_text_font = FONT
        axis.axis_label_text_font_style = "normal"
    for legend in fig.legend:
        legend.label_text_font = FONT


def wall_ms(utc_ms: float, zone: ZoneInfo) -> float:
    """An instant (epoch ms) as the wall clock of `zone` reads it, in ms: where a UTC-only axis plots it."""
    offset = datetime.fromtimestamp(utc_ms / 1000, UTC).astimezone(zone).utcoffset()
    return utc_ms + offset.total_seconds() * 1000


class Charts(pn.viewable.Viewer):
    """Throughput per type (a point a second, from the buffer's rates) and the producer's health
    (a point a health event), each with its legend, in the page's zone and theme; each drawn every
    four seconds, in turns."""

    last_second = param.Integer(default=0, doc="epoch second of the latest throughput point")
    zone = param.String(default=EXCHANGE_ZONE, doc="IANA zone the time axes show")
    label = param.String(default="ET", doc="how the axes name the zone")
    theme = param.Selector(default="light", objects=list(THEME_COLOURS), doc="the page's theme")

    def __init__(self, **params):
        super().__init__(**params)
        self.throughput_fig, self.throughput_source = throughput_chart()
        self.health_fig, self.health_source = health_chart()
        self._zone = ZoneInfo(self.zone)
        self._points: list[tuple[float, dict]] = []  # throughput points not yet drawn: (epoch ms, counts)
        self._health: list[tuple] = []  # health points not yet drawn: (epoch ms, cpu, memory, lag)
        self._calls = 0  # seconds added: which of them draws, and which chart, follows from it
        self._restyle()
        self._label()

        def chart(fig, series):
            return pn.Column(pn.pane.Bokeh(fig, sizing_mode="stretch_width"),
                             pn.pane.HTML(legend(series), stylesheets=[CSS]), sizing_mode="stretch_width",
                             styles={"flex": "1 1 420px"})
        self._layout = pn.FlexBox(chart(self.throughput_fig, THROUGHPUT_SERIES), chart(self.health_fig, HEALTH_SERIES),
                                  flex_wrap="wrap", gap="10px", sizing_mode="stretch_width")

    @param.depends("theme", watch=True)
    def _restyle(self) -> None:
        for fig in (self.throughput_fig, self.health_fig):
            style(fig, self.theme)

    @param.depends("label", watch=True)
    def _label(self) -> None:
        for fig in (self.throughput_fig, self.health_fig):
            fig.xaxis[0].axis_label = f"time ({self.label})"

    @param.depends("zone", watch=True)
    def _replot(self) -> None:
        """Every point at its wall clock in the new zone."""
        self._zone = ZoneInfo(self.zone)
        for source in (self.throughput_source, self.health_source):
            source.data = {**source.data, "t": [wall_ms(u, self._zone) for u in source.data["u"]]}

    def add_second(self, second: int, counts: dict) -> None:
        """One throughput point: events per type in that second (once per second at most). Every
        CHART_EVERY calls one chart is drawn, in turns: throughput, then health (what waits for it)."""
        if second <= self.last_second:
            return
        self._points.append((second * 1000, {k: counts.get(k, 0) for k, _ in THROUGHPUT_SERIES}))
        self.last_second = second
        call, self._calls = self._calls, self._calls + 1
        if call % CHART_EVERY:
            return
        if call // CHART_EVERY % 2 == 0:
            self._send_throughput()
        else:
            self._send_health()

    def add_health(self, ev: Health) -> None:
        """One health point, drawn at the health chart's next turn."""
        self._health.append((ev.ts.timestamp() * 1000, ev.cpu_percent, ev.memory_percent, ev.processing_lag_ms))

    def send(self) -> None:
        """Draw every point that waits, on both charts."""
        self._send_throughput()
        self._send_health()

    def _send_throughput(self) -> None:
        if self._points:
            points, self._points = self._points, []
            self.throughput_source.stream({"t": [wall_ms(u, self._zone) for u, _ in points], "u": [u for u, _ in points],
                                           **{k: [c[k] for _, c in points] for k, _ in THROUGHPUT_SERIES}},
                                          rollover=THROUGHPUT_ROLLOVER)
            data = self.throughput_source.data
            top = nice_top(max((max(data[k], default=0) for k, _ in THROUGHPUT_SERIES), default=0))
            if self.throughput_fig.y_range.end != top:
                self.throughput_fig.y_range.end = top

    def _send_health(self) -> None:
        if self._health:
            points, self._health = self._health, []
            self.health_fig.title.text = "Producer health"
            self.health_source.stream({"t": [wall_ms(p[0], self._zone) for p in points], "u": [p[0] for p in points],
                                       "cpu": [p[1] for p in points], "memory": [p[2] for p in points],
                                       "lag": [p[3] for p in points]}, rollover=HEALTH_ROLLOVER)
            lag_max = max((v for v in self.health_source.data["lag"] if v is not None), default=0)
            end = max(1000, lag_max * 1.2)
            if self.health_fig.extra_y_ranges["lag"].end != end:
                self.health_fig.extra_y_ranges["lag"].end = end

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
