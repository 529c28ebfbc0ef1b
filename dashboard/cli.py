"""The `tickstock` command: a thin layer that parses flags and hands off to the library."""

from __future__ import annotations

import argparse
import contextlib
import json
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
