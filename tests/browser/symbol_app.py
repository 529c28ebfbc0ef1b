"""A page holding only the symbol view, fed by the process's ingest as the live page feeds it:
`panel serve tests/browser/symbol_app.py` with REDIS_URL, STREAMING_CHANNEL_PREFIX and (for
history) DATABASE_URL, which it also records to. `?symbol=AAPL&theme=dark&zone=UTC` open it so."""

from __future__ import annotations

import panel as pn

from analytics.events import Indicator, IndicatorAlert, Pattern
from dashboard.runtime import get_ingest
from dashboard.web.views.symbol import SymbolView

FEED_MS = 200
SHOWN = (Pattern, Indicator, IndicatorAlert)


def create_page() -> pn.viewable.Viewable:
    pn.extension()
    ingest = get_ingest()
    url = ingest.settings.database_url or None
    if url is not None and ingest.recorder is None:
        ingest.record(url)
    args = {k: v[0].decode() for k, v in (pn.state.session_args or {}).items()}
    view = SymbolView(ingest, url, theme=args.get("theme", "light"), zone=args.get("zone", "America/New_York"))
    view.start()
    consumer = ingest.buffer.register(f"symbol-page-{id(view)}", mode="with_filtered")

    def feed() -> None:
        for ev in consumer.drain():
            if isinstance(ev, SHOWN):
                view.take(ev)

    pn.state.add_periodic_callback(feed, period=FEED_MS)
    pn.state.on_session_destroyed(lambda _: (view.release(), ingest.buffer.unregister(consumer)))
    if args.get("symbol"):
        pn.state.onload(lambda: view.open(args["symbol"]))
    background = "#15191e" if view.theme == "dark" else "#ffffff"
    return pn.Column(view.picker, view, sizing_mode="stretch_width", styles={"background": background})


if pn.state.served:
    create_page().servable(title="Symbol view")
