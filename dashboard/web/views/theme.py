"""Light and dark: which one a page opens in, and the header's switch between them.

The choice is per browser: the switch keeps it in a cookie (and localStorage) and reloads the page,
and the server reads the cookie when it builds the next page, so the template, the widgets and the
Bokeh charts are all drawn in the chosen theme from the first frame. A `?theme=dark` (or `default`)
in the address wins, as it does for Panel's templates."""

from __future__ import annotations

from pathlib import Path

import param
from panel.custom import JSComponent

THEMES = ("light", "dark")
COOKIE = "ts_theme"  # also the localStorage key (theme.js)
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"  # the page's, the charts' and the toasts'
_HERE = Path(__file__).parent
_LIGHT = f":root {{ --ts-font: {FONT}; }}\n" + (_HERE / "theme.css").read_text(encoding="utf-8")
CSS = {"light": _LIGHT, "dark": _LIGHT + (_HERE / "theme-dark.css").read_text(encoding="utf-8")}  # for the document
_SWITCH_CSS = """  /* on the header, navy in both themes */
button { font: 13px system-ui, sans-serif; padding: 5px 12px; border-radius: 6px; cursor: pointer;
         border: 1px solid rgba(255, 255, 255, .6); background: transparent; color: #fff; white-space: nowrap; }
button:hover { background: rgba(255, 255, 255, .12); }
"""


def chosen(cookies: dict, args: dict) -> str:
    """The theme a page opens in: `?theme=` in its address, else the browser's cookie, else light."""
    arg = (args.get("theme") or [b""])[0]
    arg = arg.decode() if isinstance(arg, bytes) else arg
    if arg in ("dark", "default", "light"):
        return "dark" if arg == "dark" else "light"
    return "dark" if cookies.get(COOKIE) == "dark" else "light"


class ThemeSwitch(JSComponent):
    """The header's button to the other theme (the `t` key presses it too, through a document event)."""

    theme = param.Selector(default="light", objects=list(THEMES), constant=True, doc="the page's theme")
    cookie = param.String(default=COOKIE, constant=True, doc="where the choice is kept (cookie and localStorage)")

    _esm = "theme.js"  # beside this module; Panel sends it inline
    _stylesheets = [_SWITCH_CSS]
