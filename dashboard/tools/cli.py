"""The `tickstock` command: a thin layer that parses flags and hands off to the library.

A mistake (a bad flag or setting, a Redis or PostgreSQL that does not answer, a port in use)
is one line on stderr naming the flag or variable, exit status 2, found before anything starts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading

from dashboard import constants as C
from dashboard.settings import (
    SettingsError,
    reach_database,
    reach_redis,
)
from dashboard.tools.startup import (
    CLIError,
    Parser,
    check_listen,
    chosen_database_url,
    chosen_redis_url,
    history_store,
    number_flag,
    port_flag,
    session_id_flag,
    settings_from,
    start_recording,
    stop_on_signals,
)


def cmd_simulate(args: argparse.Namespace) -> int:
    from dashboard.tools.simulator import SimulatorError, simulate

    settings = settings_from(args)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols is not None else None
    if symbols == []:
        raise CLIError(f"--symbols: no symbol in {args.symbols!r}")
    url = chosen_redis_url(args, settings)
    stop = stop_on_signals()

    def progress(p: dict) -> None:
        if not args.json and not args.quiet:
            print(f"\rsent {p.get('total', 0)} messages", end="", file=sys.stderr, flush=True)

    try:
        summary = simulate(url, rate=args.rate, duration=args.duration, mode=args.mode, symbols=symbols,
                           seed=args.seed, prefix=settings.channel_prefix, health_interval=args.health_interval,
                           stop_event=stop, on_progress=progress, session_id=args.session_id)
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
    from dashboard.tools.tail import TailError, tail

    settings = settings_from(args)
    url = chosen_redis_url(args, settings)
    stop = stop_on_signals()
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


def _serve_page(args: argparse.Namespace, auth: dict, stop: threading.Event, on_ready=None) -> None:
    """Serve /streaming and the REST routes (behind `auth`, Panel's options) until `stop` is set."""
    import panel as pn

    from dashboard.web.app import create_page
    from dashboard.web.assets import login_options
    from dashboard.web.routes import ROUTES

    origins = [f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
    try:
        server = pn.serve({"streaming": create_page}, port=args.port, address=args.address, show=False,
                          start=False, title="TickStock Live", extra_patterns=list(ROUTES),
                          websocket_origin=origins, **login_options(auth))
    except OSError as exc:  # taken since check_listen looked
        raise CLIError(f"--port: cannot listen on {args.address}:{args.port} ({exc.strerror or exc})") from exc
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
    """The page and REST against the producer's Redis; refuses to run without one."""
    from dashboard import runtime

    settings, auth = settings_from(args), _auth_kwargs(args)
    check_listen(args.address, args.port)
    settings.redis_url = chosen_redis_url(args, settings)
    if args.embedded_database is not None and not args.record:
        raise CLIError("--embedded-database: only with --record (it is where the recording goes)")
    stop = stop_on_signals()  # from here on, SIGTERM/Ctrl-C stop what has started
    with contextlib.ExitStack() as stack:
        if args.record:
            settings.database_url, name = history_store(args, settings, stack)
        else:  # the History tab's store; it may come and go (the tab says so)
            settings.database_url, name = chosen_database_url(args, settings, reach=False)
        runtime.tune_gc()
        ingest = runtime.get_ingest(settings)
        try:
            if args.record:
                start_recording(ingest, settings.database_url, name)
            _serve_page(args, auth, stop, on_ready=lambda url: print(f"TickStock Live at {url}", flush=True))
        finally:
            runtime.shutdown()
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record the stream to PostgreSQL without a page; SIGTERM/Ctrl-C flushes and stops."""
    from dashboard import runtime

    settings = settings_from(args)
    settings.redis_url = chosen_redis_url(args, settings)
    stop = stop_on_signals()  # from here on, SIGTERM/Ctrl-C stop what has started
    with contextlib.ExitStack() as stack:
        settings.database_url, name = history_store(args, settings, stack)
        runtime.tune_gc()
        ingest = runtime.get_ingest(settings)
        try:
            start_recording(ingest, settings.database_url, name)
            ingest.subscriber.wait_subscribed(C.SUBSCRIBE_WAIT_S)  # "recording" means listening
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
    from dashboard.tools.replay import NoHistory, ReplayError, UnknownSession, replay

    settings = settings_from(args)
    url = chosen_redis_url(args, settings)
    database, name = chosen_database_url(args, settings)
    if not database:
        raise CLIError("which history store? pass --database-url or set DATABASE_URL")
    stop = stop_on_signals()
    try:
        summary = replay(database, url, args.session, speed=args.speed, prefix=settings.channel_prefix,
                         progress=not args.quiet, stop_event=stop)
    except UnknownSession as exc:
        raise CLIError(f"--session: {exc}") from exc
    except NoHistory as exc:
        raise CLIError(f"{name}: {exc}") from exc
    except ReplayError as exc:
        raise CLIError(str(exc)) from exc
    print(json.dumps(summary))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from analytics.db import current_revision, normalise_url, upgrade

    settings = settings_from(args)
    url, name = chosen_database_url(args, settings)
    if not url:
        raise CLIError("which database? pass --database-url or set DATABASE_URL")
    try:
        if args.action == "upgrade":
            upgrade(url)
        revision = current_revision(url)
    except Exception as exc:  # the server went away, or refuses what a migration needs
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CLIError(f"{name}: {reason}") from exc
    print(f"{normalise_url(url)}: schema at revision {revision}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Embedded Redis and PostgreSQL, the simulator in the background, the dashboard."""
    from dashboard import runtime
    from dashboard.services.embedded import database_url_or_embedded, redis_url_or_embedded
    from dashboard.tools.simulator import simulate

    settings, auth = settings_from(args), _auth_kwargs(args)
    check_listen(args.address, args.port)  # before any embedded service starts
    if settings.redis_url:  # the environment's instead of an embedded one
        reach_redis(settings.redis_url, "REDIS_URL")
    if settings.database_url:
        reach_database(settings.database_url, "DATABASE_URL")
    stop = stop_on_signals()
    with contextlib.ExitStack() as stack:
        print("starting embedded Redis and PostgreSQL ...", flush=True)
        redis_url = redis_url_or_embedded(settings.redis_url, stack)
        database_url = database_url_or_embedded(settings.database_url, stack)
        settings.redis_url, settings.database_url = redis_url, database_url
        print(f"  Redis      {redis_url}\n  PostgreSQL {database_url}", flush=True)
        runtime.tune_gc()
        ingest = runtime.get_ingest(settings)
        ingest.subscriber.wait_subscribed(10)
        ingest.record(database_url)
        sim_stop = threading.Event()

        def simulator() -> None:
            while not sim_stop.is_set():  # one simulated session after another, each with its own id
                simulate(redis_url, rate=args.rate, duration=args.session_length, mode=None, seed=args.seed,
                         prefix=settings.channel_prefix, health_interval=args.health_interval,
                         stop_event=sim_stop)
                args.seed += 1

        sim = threading.Thread(target=simulator, name="tickstock-simulator", daemon=True)
        sim.start()
        try:
            _serve_page(args, auth, stop, on_ready=lambda url: print(
                f"TickStock Live demo at {url}  (simulator at {args.rate:g} events/s; Ctrl-C stops)", flush=True))
        finally:
            sim_stop.set()
            sim.join(10)
            runtime.shutdown()
    print("stopped: simulator, dashboard, Redis and PostgreSQL", flush=True)
    return 0


# ------------------------------------------------------------------ parser

_positive, _positive_int, _speed = number_flag(float), number_flag(int), number_flag(float, zero="as fast as possible")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tickstock", description="TickStock Live: live TickStockPL analytics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def redis_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help="Redis to use (default: $REDIS_URL)")
        p.add_argument("--prefix", help="channel prefix (default: $STREAMING_CHANNEL_PREFIX or 'tickstock')")

    def store_flags(p: argparse.ArgumentParser, what: str) -> None:
        where = p.add_mutually_exclusive_group()
        where.add_argument("--database-url", help=f"{what} (default: $DATABASE_URL)")
        where.add_argument("--embedded-database", nargs="?", const="", metavar="DIR",
                           help="record into an embedded PostgreSQL instead: its data kept in DIR, "
                                "or deleted at exit without DIR")

    sim = sub.add_parser("simulate", help="publish a realistic TickStockPL session to Redis")
    redis_flags(sim)
    sim.add_argument("--rate", type=_positive, default=20.0, help="messages per second, all channels (default 20)")
    sim.add_argument("--duration", type=_positive, help="seconds to run (overrides --mode)")
    sim.add_argument("--mode", choices=["quick", "standard", "extended", "single"], default="quick",
                     help="quick 30 s, standard 120 s, extended 600 s, single: one message of each kind (default quick)")
    sim.add_argument("--symbols", help="comma-separated symbols (default: 20 liquid US stocks)")
    sim.add_argument("--seed", type=int, default=42, help="the market's seed (default 42)")
    sim.add_argument("--session-id", type=session_id_flag,
                     help="the session's id (default: a new one each run); the same --seed and --session-id "
                          "give the same stream")
    sim.add_argument("--health-interval", type=_positive, default=10.0, help="seconds between health events (default 10)")
    sim.add_argument("--json", action="store_true", help="print the summary of what was sent as JSON on the last line")
    sim.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sim.set_defaults(func=cmd_simulate)

    tl = sub.add_parser("tail", help="print the decoded live stream as JSON lines")
    redis_flags(tl)
    tl.add_argument("--duration", type=_positive, help="stop after this many seconds")
    tl.add_argument("--count", type=_positive_int, help="stop once this many messages have been received")
    tl.add_argument("--quiet", action="store_true", help="no per-event output, only the final accounting")
    tl.add_argument("--json", action="store_true", help="JSON lines (the default; kept for scripts)")
    tl.set_defaults(func=cmd_tail)

    def server_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=port_flag, default=5006, help="HTTP port (default 5006)")
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
        p.add_argument("--oauth-expiry", type=_positive_int, help="days an OAuth login lasts")

    sv = sub.add_parser("serve", help="serve the dashboard against $REDIS_URL (required) and $DATABASE_URL")
    redis_flags(sv)
    server_flags(sv)
    sv.add_argument("--record", action="store_true", help="also record the stream to PostgreSQL")
    store_flags(sv, "history store")
    sv.set_defaults(func=cmd_serve)

    rc = sub.add_parser("record", help="record the stream to PostgreSQL, without a page")
    redis_flags(rc)
    store_flags(rc, "history store to record into")
    rc.add_argument("--report-every", type=_positive, default=10.0, help="seconds between progress lines")
    rc.set_defaults(func=cmd_record)

    rp = sub.add_parser("replay", help="republish a recorded session to Redis at N x speed")
    redis_flags(rp)
    rp.add_argument("--session", required=True, help="the recorded session id")
    rp.add_argument("--speed", type=_speed, default=1.0, help="time factor (default 1; 0: as fast as possible)")
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
    dm.add_argument("--rate", type=_positive, default=20.0, help="simulated events per second (default 20)")
    dm.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    dm.add_argument("--session-length", type=_positive, default=600.0,
                    help="seconds per simulated session before the next starts (default 600)")
    dm.add_argument("--health-interval", type=_positive, default=10.0,
                    help="seconds between simulated health events (default 10)")
    dm.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dashboard.services.embedded import ServiceError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (CLIError, SettingsError, ServiceError) as exc:
        print(f"tickstock: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the command's own handler was in place
        return 130
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
