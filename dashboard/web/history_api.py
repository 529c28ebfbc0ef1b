"""History REST endpoints (the upstream's paths): validated parameters, parameterised queries.

One endpoint per kind that declares a `Rest` in the registry (`dashboard.wire.kinds`):
GET /streaming/api/patterns/<symbol>?hours=1..24&limit=1..1000
GET /streaming/api/indicators/<symbol>?hours=1..24&indicator=NAME&limit=1..5000
GET /streaming/api/alerts?hours=1..24&alert_type=TYPE&limit=10..500
and the session's summary: GET /streaming/api/summary?hours=1..168
Each takes ?format=csv and ?tz= (exchange, the default, utc or an IANA name): every time in the
answer is ISO 8601 with its offset in that zone, written so by PostgreSQL (its session TimeZone
for the query's transaction). A bad parameter is a 400 with a JSON reason; nothing a client sends
reaches SQL as text (every value is a bound parameter of a SQLAlchemy Core query). JSON rows are
encoded by PostgreSQL (json_agg), so a 1000-row answer creates no Python object per row.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache, partial

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import DataError, SQLAlchemyError
from tornado.ioloop import IOLoop

from analytics.db import engine_for
from analytics.events import HISTORY
from analytics.tables import TABLES, critical_alerts, indicator_alerts, indicators, patterns
from dashboard.runtime import get_ingest
from dashboard.web.rest import APIHandler, BadParameter, zone_of
from dashboard.wire.kinds import KINDS, Kind, Rest

SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_/^=:]{0,31}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _int(args: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = args.pop(name, None)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,7}", raw):
        raise BadParameter(f"{name}: expected a whole number from {lo} to {hi}, got {raw[:40]!r}")
    value = int(raw)
    if not lo <= value <= hi:
        raise BadParameter(f"{name}: must be from {lo} to {hi}, got {value}")
    return value


def _name(args: dict, name: str, pattern: re.Pattern = NAME) -> str | None:
    raw = args.pop(name, None)
    if raw is None or raw == "":
        return None
    if not pattern.fullmatch(raw):
        raise BadParameter(f"{name}: letters, digits, '_', '.', '-' only (at most 64), got {raw[:40]!r}")
    return raw


class EncodedRows:
    """A JSON answer whose `rows` PostgreSQL already encoded; `fields` come before them."""

    def __init__(self, fields: dict, rows_json: str, count: int):
        self.fields, self.rows_json, self.count = fields, rows_json, count

    def encode(self) -> bytes:
        head = json.dumps({**self.fields, "count": self.count})[:-1]
        return f'{head}, "rows": {self.rows_json}}}'.encode()


class HistoryHandler(APIHandler):
    """Shared parsing, database access and JSON/CSV output for the history endpoints."""

    columns: list[str] = []
    max_hours = 24
    fmt = "json"

    def args(self) -> dict:
        """The query parameters, each given once (repeats are a client error)."""
        args = {}
        for key, values in self.request.query_arguments.items():
            if len(values) != 1:
                raise BadParameter(f"{key}: give it once")
            args[key] = values[0].decode("utf-8", "replace")
        return args

    async def get(self, *path) -> None:
        try:
            args = self.args()
            fmt = self.fmt = args.pop("format", "json")
            if fmt not in ("json", "csv"):
                raise BadParameter(f"format: json or csv, got {fmt[:20]!r}")
            hours = _int(args, "hours", 1, 1, self.max_hours)
            self.zone = zone_of(args.pop("tz", None))
            result = self.query(args, hours, *path)
            if args:
                raise BadParameter(f"unknown parameter {sorted(args)[0][:40]!r}")
        except BadParameter as exc:
            return self.send_error_json(400, str(exc))
        url = get_ingest().settings.database_url
        if not url:
            return self.send_error_json(503, "no history store: serve with --record or set DATABASE_URL")
        try:  # off the server's loop, so the live page keeps streaming meanwhile
            payload = await IOLoop.current().run_in_executor(None, result, engine(url))
        except BadParameter as exc:  # a zone Python knows and PostgreSQL does not
            return self.send_error_json(400, str(exc))
        except SQLAlchemyError as exc:
            return self.send_error_json(503, f"history store unavailable: {type(exc.orig or exc).__name__}")
        if fmt == "csv":
            return self.write_csv(payload)
        if isinstance(payload, EncodedRows):
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            return self.finish(payload.encode())
        self.write_json(payload)

    def query(self, args: dict, hours: int, *path):
        raise NotImplementedError

    def write_csv(self, payload: dict) -> None:
        rows = payload.get("rows", [])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{self.csv_name}.csv"')
        self.finish(out.getvalue())

    csv_name = "history"


@cache
def engine(url: str) -> sa.Engine:
    return engine_for(url)


def _since(hours: int) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def _rows(conn, stmt) -> list[dict]:
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._mapping.items()}
            for r in conn.execute(stmt)]


@contextmanager
def _connect(eng: sa.Engine, zone: str) -> Iterator[sa.Connection]:
    """A connection whose times come out in `zone`: PostgreSQL's TimeZone, for this transaction only
    (the pool's next user gets the server's default back)."""
    with eng.connect() as conn:
        try:
            conn.execute(sa.select(sa.func.set_config("TimeZone", zone, True)))
        except DataError as exc:
            raise BadParameter(f"tz: the history store does not know the zone {zone!r}") from exc
        yield conn


_SUMMARY_POOL = ThreadPoolExecutor(4, thread_name_prefix="tickstock-summary")  # its statements run at once


def _all_rows(eng: sa.Engine, stmt) -> list:
    with eng.connect() as conn:
        return conn.execute(stmt).all()


_KNOWN_ZONES: set = set()  # (store, zone) the store has accepted: not asked again


def _check_zone(eng: sa.Engine, zone: str) -> None:
    with _connect(eng, zone):  # BadParameter when the store does not know the zone
        pass


def _answer(eng: sa.Engine, fmt: str, zone: str, stmt, newest_first, fields: dict) -> dict | EncodedRows:
    """The statement's rows after `fields`, times in `zone`: dicts for CSV, or JSON built by
    PostgreSQL in the same order."""
    with _connect(eng, zone) as conn:
        if fmt == "csv":
            rows = _rows(conn, stmt)
            return {**fields, "count": len(rows), "rows": rows}
        sub = stmt.subquery("r")
        ordered = aggregate_order_by(sa.literal_column("r"), sub.c[newest_first.name].desc())
        encoded = sa.select(sa.func.coalesce(sa.func.json_agg(ordered), sa.text("'[]'::json")).cast(sa.Text),
                            sa.func.count()).select_from(sub)
        rows_json, count = conn.execute(encoded).one()
    return EncodedRows(fields, rows_json, count)


def _symbol(raw: str) -> str:
    if not SYMBOL.fullmatch(raw):
        raise BadParameter(f"symbol: 1-32 letters, digits or . - _ / ^ = :, got {raw[:40]!r}")
    return raw


class KindHandler(HistoryHandler):
    """The recorded events of one kind (its `Rest` in the registry), newest first: by the symbol in
    the path or across symbols, over the last `hours`, optionally of one type (`filter`)."""

    rest: Rest
    table: sa.Table
    time: str

    def query(self, args, hours, *path):
        rest, t = self.rest, self.table
        symbol = _symbol(path[0]) if rest.by_symbol else None
        name = _name(args, rest.filter) if rest.filter else None
        if name and rest.upper:
            name = name.upper()
        default, lo, hi = rest.limit
        limit = _int(args, "limit", default, lo, hi)
        cond = [t.c[self.time] >= _since(hours)]
        if symbol is not None:
            cond.insert(0, t.c.symbol == symbol)
        if name:
            cond.append(t.c[rest.filter] == name)
        stmt = (sa.select(*(t.c[c] for c in self.columns)).where(*cond)
                .order_by(t.c[self.time].desc()).limit(limit))
        fields = {**({"symbol": symbol} if rest.by_symbol else {}), "hours": hours,
                  **({rest.filter: name} if rest.filter else {}), "tz": self.zone}
        return lambda eng: _answer(eng, self.fmt, self.zone, stmt, t.c[self.time], fields)


def kind_handler(kind: Kind) -> type[KindHandler]:
    """The handler of a kind's endpoint."""
    stored = HISTORY[kind.record]
    return type(f"{kind.record.__name__}Handler", (KindHandler,), {
        "rest": kind.rest, "table": TABLES[stored.table], "time": stored.time, "columns": list(kind.rest.columns),
        "csv_name": kind.rest.name})


class SummaryHandler(HistoryHandler):
    columns = ["section", "key", "count"]
    csv_name = "summary"
    max_hours = 168

    def query(self, args, hours):
        started = get_ingest().session.started
        session_id = started.session_id if started else None
        since = _since(hours)
        p, a, i, c = patterns, indicator_alerts, indicators, critical_alerts

        def scope(t, time_col):
            cond = [t.c[time_col] >= since]
            if session_id:
                cond.append(t.c.session_id == session_id)
            return cond

        statements = [
            # one pass over the patterns of the range: counts per (type, symbol), added up below
            sa.select(p.c.pattern_type, p.c.symbol, sa.func.count(), sa.func.count().filter(p.c.high_confidence))
            .where(*scope(p, "detected_at")).group_by(p.c.pattern_type, p.c.symbol),
            sa.select(a.c.alert_type, sa.func.count()).where(*scope(a, "alerted_at"))
            .group_by(a.c.alert_type).order_by(sa.func.count().desc()),
            sa.select(sa.select(sa.func.count()).where(*scope(i, "calculated_at")).scalar_subquery(),
                      sa.select(sa.func.count()).where(c.c.alerted_at >= since).scalar_subquery()),
        ]

        def run(eng):
            # the three counts at once, each on a pooled connection (a day is ~330k indicator rows and
            # ~70k patterns: two scans, two cores); the answer has no times, but a zone the history
            # store does not know is still a 400, as on every endpoint: checked beside them
            known = (eng.url, self.zone) in _KNOWN_ZONES
            zone = None if known else _SUMMARY_POOL.submit(_check_zone, eng, self.zone)
            per, alerts, [(counted, critical)] = _SUMMARY_POOL.map(partial(_all_rows, eng), statements)
            if zone is not None:
                zone.result()
                _KNOWN_ZONES.add((eng.url, self.zone))
            alerts = dict(alerts)
            by_type: dict[str, int] = {}
            by_symbol: dict[str, int] = {}
            for kind, symbol, n, _high in per:
                by_type[kind] = by_type.get(kind, 0) + n
                by_symbol[symbol] = by_symbol.get(symbol, 0) + n
            by_type = dict(sorted(by_type.items(), key=lambda kv: -kv[1]))
            top = sorted(by_symbol.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            totals = {
                "patterns": sum(by_type.values()),
                "high_confidence": sum(row[3] for row in per),
                "indicators": counted,
                "indicator_alerts": sum(alerts.values()),
                "critical_alerts": critical,
                "symbols": len(by_symbol),
            }
            rows = ([{"section": "pattern_type", "key": k, "count": v} for k, v in by_type.items()]
                    + [{"section": "top_symbol", "key": s, "count": n} for s, n in top]
                    + [{"section": "alert_type", "key": k, "count": v} for k, v in alerts.items()]
                    + [{"section": "total", "key": k, "count": v} for k, v in totals.items()])
            return {"session_id": session_id, "hours": hours, "totals": totals, "patterns_by_type": by_type,
                    "top_symbols": [{"symbol": s, "patterns": n} for s, n in top],
                    "alert_distribution": alerts, "rows": rows}
        return run


ROUTES = [
    *((rf"/streaming/api/{k.rest.name}" + ("/([^/]+)" if k.rest.by_symbol else ""), kind_handler(k), {})
      for k in KINDS if k.rest is not None),
    (r"/streaming/api/summary", SummaryHandler, {}),
]
