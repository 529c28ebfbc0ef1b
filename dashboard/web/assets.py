"""Every file the page and the login form load comes from this server, none from a CDN.

Panel serves its own and Bokeh's files (`/static/...`) when Bokeh's resources are "server" (the
default of `panel serve` and `pn.serve`), but two things still point at cdn.holoviz.org:

- its login and logout pages (`--basic-auth`) show a logo and a favicon from the CDN: `login.html`
  beside this file is ours for both, with nothing linked from outside the page;
- a stylesheet Panel attaches to each component (loading.css) is addressed by the document's
  `dist_url`, which Panel sets only once it renders the page; models built before then (the whole
  page) point at the CDN, Panel re-addresses those it finds in the page, and a History load still
  fetched loading.css from the CDN: `address_locally` sets `dist_url` first, as each session is
  created (`routes.py` registers it: `panel serve --plugins dashboard.web.routes`
  and `tickstock serve` both import that module before they serve).
"""

from __future__ import annotations

from pathlib import Path

import panel as pn
from panel.io.resources import LOCAL_DIST

LOGIN_TEMPLATE = Path(__file__).with_name("login.html")  # the logout page too


def address_locally(session_context) -> None:
    """A new session's document (Panel's current one here) addresses Panel's files on this server:
    Panel's own key, set as Panel sets it when it renders the page."""
    rel = pn.state.rel_path
    pn.state.curdoc._template_variables.setdefault("dist_url", f"{rel}/{LOCAL_DIST}" if rel else LOCAL_DIST)


def login_options(auth: dict) -> dict:
    """`auth` (Panel's serve options) with our login and logout pages when it asks for a login."""
    if "basic_auth" not in auth and "oauth_provider" not in auth:
        return auth
    pages = {"logout_template": str(LOGIN_TEMPLATE)}
    if "basic_auth" in auth:
        pages["login_template"] = str(LOGIN_TEMPLATE)
    return {**auth, **pages}
