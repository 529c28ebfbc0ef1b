"""Keyboard shortcuts, and their list in the sidebar (one table says both what a key does and what
the list shows).

One listener on the document; keys typed into a field (the filters, the symbol picker) are the
field's, never a shortcut. `/` and `t` act in the browser (focus the symbol filter, switch theme);
the others reach the page's Python as the action's name."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

import param
from panel.custom import JSComponent

from dashboard.web.views.filters import SYMBOL_FILTER

# (KeyboardEvent.key, how the list names the key, the action, what the list says it does)
SHORTCUTS = [(" ", "Space", "pause", "pause / resume"),
             ("/", "/", "filter", "focus the symbol filter"),
             ("t", "t", "theme", "switch light / dark theme"),
             ("Escape", "Esc", "close", "close the symbol view")]
_CSS = Path(__file__).with_name("keys.css").read_text(encoding="utf-8")  # read once, sent inline


def shortcut_list() -> str:
    rows = "".join(f"<dt><kbd>{escape(label)}</kbd></dt><dd>{escape(what)}</dd>"
                   for _, label, _, what in SHORTCUTS)
    return f'<div class="ts-keys"><div class="title">Keyboard shortcuts</div><dl>{rows}</dl></div>'


class Shortcuts(JSComponent):
    """Listens for the shortcuts on the document; shows their list. `actions` maps an action's name
    ("pause", "close") to what it does on the server."""

    keys = param.Dict(default={key: action for key, _, action, _ in SHORTCUTS}, constant=True,
                      doc="KeyboardEvent.key -> action")
    html = param.String(default=shortcut_list(), constant=True, doc="the visible list")
    symbol_filter = param.String(default=SYMBOL_FILTER, constant=True, doc="class of the widget `/` focuses")

    _esm = "keys.js"  # beside this module; Panel sends it inline
    _stylesheets = [_CSS]

    def __init__(self, actions: dict[str, Callable[[], None]], **params):
        super().__init__(**params)
        self.actions = actions

    def _handle_msg(self, msg) -> None:
        action = self.actions.get(msg.get("action")) if isinstance(msg, dict) else None
        if action is not None:
            action()
