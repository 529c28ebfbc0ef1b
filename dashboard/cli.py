"""The `tickstock` command: a thin layer that parses flags and hands off to the library."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading

from .settings import Settings, SettingsError


class CLIError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
        return value
    return parse


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "prefix", None):
        overrides["channel_prefix"] = args.prefix
    return Settings.from_env(**overrides)


def _redis_url(args: argparse.Namespace, settings: Settings) -> str:
    url = getattr(args, "redis_url", None) or settings.redis_url
    if not url:
        raise CLIError("no Redis to talk to: pass --redis-url or set REDIS_URL "
                       "(`tickstock demo` starts an embedded one)")
    return url


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so loops end cleanly and print their summaries."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


# ------------------------------------------------------------------ commands


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulator import SimulatorError, simulate

    settings = _settings(args)
    url = _redis_url(args, settings)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    stop = _stop_on_signals()

    def progress(p: dict) -> None:
        if not args.json and not args.quiet:
            print(f"\rsent {p.get('total', 0)} messages", end="", file=sys.stderr, flush=True)

    try:
        summary = simulate(url, rate=args.rate, duration=args.duration, mode=args.mode, symbols=symbols,
                           seed=args.seed, prefix=settings.channel_prefix,
                           health_interval=args.health_interval, stop_event=stop, on_progress=progress)
    except SimulatorError as exc:
        raise CLIError(str(exc)) from exc
    if not args.json and not args.quiet:
        print(file=sys.stderr)
    print(json.dumps(summary) if args.json else _human_summary(summary))
    return 0


def _human_summary(summary: dict) -> str:
    lines = [f"session {summary.get('session_id')}: {summary.get('total')} messages in "
             f"{summary.get('duration_s')} s"]
    lines += [f"  {ch}: {n}" for ch, n in sorted(summary.get("sent", {}).items())]
    return "\n".join(lines)


def cmd_tail(args: argparse.Namespace) -> int:
    from .tail import TailError, tail

    settings = _settings(args)
    url = _redis_url(args, settings)
    stop = _stop_on_signals()
    try:
        summary = tail(settings, url, duration=args.duration, count=args.count, quiet=args.quiet, stop=stop)
    except TailError as exc:
        raise CLIError(str(exc)) from exc
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0


def _auth_kwargs(args: argparse.Namespace) -> dict:
    """Panel's authentication options, passed through as given."""
    keys = ("basic_auth", "cookie_secret", "oauth_provider", "oauth_key", "oauth_secret",
            "oauth_redirect_uri", "oauth_encryption_key", "oauth_jwt_user", "oauth_expiry")
    kwargs = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "oauth_extra_params", None):
        try:
            kwargs["oauth_extra_params"] = json.loads(args.oauth_extra_params)
        except json.JSONDecodeError as exc:
            raise CLIError(f"--oauth-extra-params: not JSON: {exc}") from exc
    if ("basic_auth" in kwargs or "oauth_provider" in kwargs) and "cookie_secret" not in kwargs:
        import secrets
        kwargs["cookie_secret"] = secrets.token_hex(32)
    return kwargs


def _serve_page(args: argparse.Namespace, stop: threading.Event, on_ready=None) -> None:
    """Serve /streaming and the REST routes until `stop` is set (SIGINT/SIGTERM)."""
    import panel as pn

    from .app import create_page
    from .routes import ROUTES

    origins = [f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
    server = pn.serve({"streaming": create_page}, port=args.port, address=args.address, show=False,
                      start=False, title="TickStock Live", extra_patterns=list(ROUTES),
                      websocket_origin=origins, **_auth_kwargs(args))
    loop = server.io_loop

    def watch() -> None:
        stop.wait()
        loop.add_callback(loop.stop)

    threading.Thread(target=watch, name="tickstock-stop", daemon=True).start()
    server.start()
    if on_ready is not None:
        on_ready(f"http://{args.address}:{args.port}/streaming")
    try:
        loop.start()
    finally:
        server.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    from . import runtime

    settings = _settings(args)
    if args.redis_url:
        settings.redis_url = args.redis_url
    if args.database_url:
        settings.database_url = args.database_url
    ingest = runtime.get_ingest(settings)
    stop = _stop_on_signals()
    try:
        if args.record:
            ingest.record(runtime.database_url(settings))
        _serve_page(args, stop, on_ready=lambda url: print(f"TickStock Live at {url}", flush=True))
    finally:
        runtime.shutdown()
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record the stream to PostgreSQL without a page; SIGTERM/Ctrl-C flushes and stops."""
    from . import runtime

    settings = _settings(args)
    settings.redis_url = args.redis_url or settings.redis_url
    settings.database_url = args.database_url or settings.database_url
    if not settings.redis_url:
        raise CLIError("no Redis to record from: pass --redis-url or set REDIS_URL")
    stop = _stop_on_signals()
    ingest = runtime.get_ingest(settings)
    try:
        ingest.record(runtime.database_url(settings))
        print(f"recording {settings.channel_prefix}:* from {settings.redis_url}", file=sys.stderr, flush=True)
        while not stop.wait(args.report_every):
            snap = ingest.recorder.snapshot()
            print(f"written {snap['written']}  backlog {snap['backlog']}  lag {snap['lag_s']} s  "
                  f"state {snap['state']}", file=sys.stderr, flush=True)
    finally:
        ingest.stop()
        summary = {"buffer": ingest.buffer.stats(), "recorder": ingest.recorder.snapshot()
                   if ingest.recorder else None}
        runtime.shutdown()
    print(json.dumps({"received": summary["buffer"]["received"], **(summary["recorder"] or {})}))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import ReplayError, replay

    settings = _settings(args)
    url = _redis_url(args, settings)
    database = args.database_url or settings.database_url
    if not database:
        raise CLIError("which history store? pass --database-url or set DATABASE_URL")
    stop = _stop_on_signals()
    try:
        summary = replay(database, url, args.session, speed=args.speed, prefix=settings.channel_prefix,
                         progress=not args.quiet, stop_event=stop)
    except ReplayError as exc:
        raise CLIError(str(exc)) from exc
    print(json.dumps(summary))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from analytics.db import current_revision, upgrade

    from . import runtime

    settings = _settings(args)
    settings.database_url = args.database_url or settings.database_url
    if not settings.database_url:
        raise CLIError("which database? pass --database-url or set DATABASE_URL")
    url = runtime.database_url(settings)
    try:
        if args.action == "upgrade":
            upgrade(url)
        revision = current_revision(url)
    except Exception as exc:  # unreachable server, missing database, bad credentials
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CLIError(f"database at {url}: {reason}") from exc
    print(f"{url}: schema at revision {revision}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Embedded Redis and PostgreSQL, the simulator in the background, the dashboard."""
    from . import runtime
    from .services import database_url_or_embedded, redis_url_or_embedded
    from .simulator import simulate

    settings = _settings(args)
    stop = _stop_on_signals()
    with contextlib.ExitStack() as stack:
        print("starting embedded Redis and PostgreSQL ...", flush=True)
        redis_url = redis_url_or_embedded(settings.redis_url, stack)
        database_url = database_url_or_embedded(settings.database_url, stack)
        settings.redis_url, settings.database_url = redis_url, database_url
        print(f"  Redis      {redis_url}\n  PostgreSQL {database_url}", flush=True)
        ingest = runtime.get_ingest(settings)
        ingest.subscriber.wait_subscribed(10)
        ingest.record(database_url)
        sim_stop = threading.Event()

        def simulator() -> None:
            while not sim_stop.is_set():  # one simulated session after another
                simulate(redis_url, rate=args.rate, duration=args.session_length, mode=None, seed=args.seed,
                         prefix=settings.channel_prefix, health_interval=args.health_interval,
                         stop_event=sim_stop)
                args.seed += 1

        sim = threading.Thread(target=simulator, name="tickstock-simulator", daemon=True)
        sim.start()
        try:
            _serve_page(args, stop, on_ready=lambda url: print(
                f"TickStock Live demo at {url}  (simulator at {args.rate:g} events/s; Ctrl-C stops)", flush=True))
        finally:
            sim_stop.set()
            sim.join(10)
            runtime.shutdown()
    print("stopped: simulator, dashboard, Redis and PostgreSQL", flush=True)
    return 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickstock", description="TickStock Live: live TickStockPL analytics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def redis_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help="Redis to use (default: $REDIS_URL)")
        p.add_argument("--prefix", help="channel prefix (default: $STREAMING_CHANNEL_PREFIX or 'tickstock')")

    sim = sub.add_parser("simulate", help="publish a realistic TickStockPL session to Redis")
    redis_flags(sim)
    sim.add_argument("--rate", type=_positive(float), default=20.0, help="messages per second, all channels (0: as fast as possible; default 20)")
    sim.add_argument("--duration", type=_positive(float), help="seconds to run (overrides --mode)")
    sim.add_argument("--mode", choices=["quick", "standard", "extended", "single"], default="quick",
                     help="quick 30 s, standard 120 s, extended 600 s, single: one message of each kind (default quick)")
    sim.add_argument("--symbols", help="comma-separated symbols (default: 20 liquid US stocks)")
    sim.add_argument("--seed", type=int, default=42, help="same seed, same stream (default 42)")
    sim.add_argument("--health-interval", type=_positive(float), default=10.0, help="seconds between health events (default 10)")
    sim.add_argument("--json", action="store_true", help="print the summary of what was sent as JSON on the last line")
    sim.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sim.set_defaults(func=cmd_simulate)

    tl = sub.add_parser("tail", help="print the decoded live stream as JSON lines")
    redis_flags(tl)
    tl.add_argument("--duration", type=_positive(float), help="stop after this many seconds")
    tl.add_argument("--count", type=_positive(int), help="stop once this many messages have been received")
    tl.add_argument("--quiet", action="store_true", help="no per-event output, only the final accounting")
    tl.add_argument("--json", action="store_true", help="JSON lines (the default; kept for scripts)")
    tl.set_defaults(func=cmd_tail)

    def server_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=int, default=5006, help="HTTP port (default 5006)")
        p.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--basic-auth", help="a password, or a JSON file of user: password (Panel's --basic-auth)")
        p.add_argument("--cookie-secret", help="secret for signed cookies (generated when auth is on)")
        p.add_argument("--oauth-provider", help="Panel OAuth provider: github, google, azure, okta, auth0, generic, ...")
        p.add_argument("--oauth-key", help="OAuth client id")
        p.add_argument("--oauth-secret", help="OAuth client secret")
        p.add_argument("--oauth-redirect-uri", help="OAuth redirect URI")
        p.add_argument("--oauth-extra-params", help="OAuth extra parameters as JSON")
        p.add_argument("--oauth-encryption-key", help="key to encrypt OAuth tokens in cookies")
        p.add_argument("--oauth-jwt-user", help="JWT claim naming the user")
        p.add_argument("--oauth-expiry", type=int, help="days an OAuth login lasts")

    sv = sub.add_parser("serve", help="serve the dashboard against $REDIS_URL / $DATABASE_URL")
    redis_flags(sv)
    server_flags(sv)
    sv.add_argument("--record", action="store_true", help="also record the stream to PostgreSQL")
    sv.add_argument("--database-url", help="history store (default: $DATABASE_URL, else embedded)")
    sv.set_defaults(func=cmd_serve)

    rc = sub.add_parser("record", help="record the stream to PostgreSQL, without a page")
    redis_flags(rc)
    rc.add_argument("--database-url", help="history store (default: $DATABASE_URL, else embedded)")
    rc.add_argument("--report-every", type=_positive(float), default=10.0, help="seconds between progress lines")
    rc.set_defaults(func=cmd_record)

    rp = sub.add_parser("replay", help="republish a recorded session to Redis at N x speed")
    redis_flags(rp)
    rp.add_argument("--session", required=True, help="the recorded session id")
    rp.add_argument("--speed", type=_positive(float), default=1.0, help="time factor (default 1; 0: as fast as possible)")
    rp.add_argument("--database-url", help="history store (default: $DATABASE_URL)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_replay)

    db = sub.add_parser("db", help="history schema: `tickstock db upgrade` creates or migrates it")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--database-url", help="default: $DATABASE_URL")
    db.add_argument("--prefix", help=argparse.SUPPRESS)
    db.set_defaults(func=cmd_db)

    dm = sub.add_parser("demo", help="everything on one machine: embedded services, simulator, dashboard")
    dm.add_argument("--prefix", help=argparse.SUPPRESS)
    server_flags(dm)
    dm.add_argument("--rate", type=_positive(float), default=20.0, help="simulated events per second (default 20)")
    dm.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    dm.add_argument("--session-length", type=_positive(float), default=600.0,
                    help="seconds per simulated session before the next starts (default 600)")
    dm.add_argument("--health-interval", type=_positive(float), default=10.0,
                    help="seconds between simulated health events (default 10)")
    dm.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (CLIError, SettingsError) as exc:
        print(f"tickstock {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
