"""What one session shows: its filters (symbols, pattern types, minimum confidence) and its pause.

A filter hides rows, it never drops them, so clearing it brings them back; a pause freezes the
view while events keep arriving underneath. Both are per session: another tab keeps its own."""

from __future__ import annotations

from html import escape
from pathlib import Path

import panel as pn
import param

from dashboard import constants as C

CSS = Path(__file__).with_name("filters.css").read_text(encoding="utf-8")  # read once, sent inline
SYMBOL_FILTER = "ts-symbol-filter"  # the symbol filter's class: the `/` shortcut focuses it (keys.js)


def _labels(values: list[str]) -> dict[str, str]:
    """Options for a MultiChoice: Bokeh renders option labels as HTML (Choices.js with allowHTML),
    so the labels are escaped copies of the values."""
    return {escape(v): v for v in values}


def _hidden_note(hidden: int, min_confidence: float) -> str:
    """How many kept patterns the slider hides, beside it."""
    return f'<span class="ts-note">{hidden} hidden below {min_confidence:.2f}</span>' if hidden else ""


class Filters(pn.viewable.Viewer):
    """Symbols, pattern types and minimum confidence, each empty or at its default showing all the
    live view shows; the options are every symbol and pattern seen so far."""

    symbols = param.List(default=[], doc="show only these symbols (empty: all)")
    pattern_types = param.List(default=[], doc="show only these patterns (empty: all)")
    min_confidence = param.Number(default=C.DEFAULT_PATTERN_MIN_CONFIDENCE, bounds=(0.0, 1.0),
                                  doc="hide patterns below this (may be below the buffer's threshold)")
    hidden = param.Integer(default=0, allow_refs=True, doc="kept patterns the minimum confidence hides now")
    symbol_options = param.List(default=[], doc="every symbol seen so far, sorted")
    pattern_options = param.List(default=[], doc="every pattern seen so far, sorted")

    def __init__(self, **params):
        super().__init__(**params)
        # filled at the event rate by the streams, offered once a second by offer_seen()
        self.seen_symbols: set[str] = set()
        self.seen_patterns: set[str] = set()
        # a column, as wide as the sidebar it sits in; the symbol filter is the one the `/` key focuses
        self.symbol_filter = pn.widgets.MultiChoice.from_param(
            self.param.symbols, name="Symbols", options=pn.bind(_labels, self.param.symbol_options),
            placeholder="all symbols", sizing_mode="stretch_width", css_classes=[SYMBOL_FILTER])
        self._layout = pn.Column(
            self.symbol_filter,
            pn.widgets.MultiChoice.from_param(self.param.pattern_types, name="Patterns", sizing_mode="stretch_width",
                                              options=pn.bind(_labels, self.param.pattern_options),
                                              placeholder="all patterns"),
            pn.widgets.FloatSlider.from_param(self.param.min_confidence, name="Min confidence", step=0.05,
                                              sizing_mode="stretch_width", margin=(5, 10, 0, 10)),
            pn.pane.HTML(pn.bind(_hidden_note, self.param.hidden, self.param.min_confidence),
                         sizing_mode="stretch_width", height=16, stylesheets=[CSS], margin=(0, 10)),
            sizing_mode="stretch_width",
        )

    @param.depends("symbols", "pattern_types", "min_confidence", watch=True, on_init=True)
    def _remember(self) -> None:
        """The filters as sets and a number: `shows` runs for every event, a param read costs more."""
        self._symbols, self._types = frozenset(self.symbols), frozenset(self.pattern_types)
        self._min = self.min_confidence

    def shows(self, row: dict) -> bool:
        """Whether a pattern or alert row passes the filters (pattern filters apply to patterns only)."""
        if self._symbols and row["symbol"] not in self._symbols:
            return False
        if "pattern" in row:
            if self._types and row["pattern"] not in self._types:
                return False
            if row["confidence"] < self._min:
                return False
        return True

    def shows_symbol(self, symbol: str) -> bool:
        return not self._symbols or symbol in self._symbols

    def offer_seen(self) -> None:
        """Offer every symbol and pattern seen so far (sorted only when a new one came)."""
        if len(self.seen_symbols) != len(self.symbol_options):
            self.symbol_options = sorted(self.seen_symbols)
        if len(self.seen_patterns) != len(self.pattern_options):
            self.pattern_options = sorted(self.seen_patterns)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def _pause_label(paused: bool) -> str:
    return "Resume" if paused else "Pause"


def _waiting(missed: int) -> str:
    return f"<b>Paused</b>: {missed} new events waiting" if missed else ""


class Pause(pn.viewable.Viewer):
    """Pause / Resume, and how many new events wait while paused."""

    paused = param.Boolean(default=False, doc="freeze the view; events keep arriving underneath")
    missed = param.Integer(default=0, doc="events that arrived during the pause and would be shown")

    def __init__(self, **params):
        super().__init__(**params)
        self._layout = pn.Row(
            pn.widgets.Toggle.from_param(self.param.paused, name=pn.bind(_pause_label, self.param.paused),
                                         button_type="warning", width=110),
            pn.pane.HTML(pn.bind(_waiting, self.param.missed), visible=self.param.paused),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
