"""Events as table rows and sentences: plain functions, testable without a browser."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from analytics.events import CriticalAlert, Indicator, IndicatorAlert, Pattern

# Columns are as wide as their longest text (table.js); "grow" takes the room left, "link" cells
# are symbols a click opens (LiveTable.picked), "short" is a header's text where the title is much
# wider than the values (the title shows on hover and heads the CSV column).
TIME_COLUMN = {"field": "time", "title": "Time", "kind": "time"}
SYMBOL_COLUMN = {"field": "symbol", "title": "Symbol", "link": True}
PATTERN_COLUMNS = [
    TIME_COLUMN, SYMBOL_COLUMN,
    {"field": "pattern", "title": "Pattern"},
    {"field": "confidence", "title": "Confidence", "short": "Conf.", "kind": "conf"},
    {"field": "timeframe", "title": "Timeframe", "short": "TF"},
    {"field": "parameters", "title": "Key parameters", "grow": True},
]
ALERT_COLUMNS = [
    TIME_COLUMN, SYMBOL_COLUMN,
    {"field": "alert_type", "title": "Alert"},
    {"field": "sentence", "title": "What happened", "grow": True},
]
INDICATOR_FIELDS = [  # (indicator, value key, column title)
    ("RSI", "value", "RSI"), ("SMA", "value", "SMA"), ("EMA", "value", "EMA"),
    ("MACD", "macd", "MACD"), ("MACD", "signal", "Signal"), ("MACD", "histogram", "Hist"),
    ("BollingerBands", "upper", "BB upper"), ("BollingerBands", "middle", "BB mid"),
    ("BollingerBands", "lower", "BB lower"),
]
INDICATOR_COLUMNS = (
    [SYMBOL_COLUMN]
    + [{"field": f"{i}.{k}", "title": t, "kind": "num"} for i, k, t in INDICATOR_FIELDS]
    + [{"field": "other", "title": "Other", "grow": True}, {"field": "time", "title": "Updated", "kind": "time"}]
)
_KNOWN = {(i, k) for i, k, _ in INDICATOR_FIELDS}
CRITICAL_COLUMNS = [  # a wrapping table (LiveTable.wrap): long messages read in full
    TIME_COLUMN,
    {"field": "alert_type", "title": "Type"},
    {"field": "severity", "title": "Severity"},
    {"field": "message", "title": "Message", "grow": True},
]

ALERT_STYLE = {
    "RSI_OVERBOUGHT": "bearish", "RSI_OVERSOLD": "bullish",
    "MACD_BULLISH_CROSS": "bullish", "MACD_BEARISH_CROSS": "bearish",
    "BB_UPPER_BREAK": "neutral", "BB_LOWER_BREAK": "neutral",
}


def _ms(dt) -> float:
    return dt.timestamp() * 1000.0


def _num(value, digits: int = 2) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else str(value)
    return str(value)


def key_parameters(params: dict, limit: int = 4) -> str:
    """A short `k=v` summary of a detection's parameters (numbers rounded)."""
    parts = []
    for k, v in params.items():
        if isinstance(v, (dict, list)):
            v = ",".join(_num(x) for x in v) if isinstance(v, list) and len(v) <= 4 else "…"
        parts.append(f"{k}={_num(v)}")
        if len(parts) == limit:
            break
    return " ".join(parts)


def pattern_row(p: Pattern) -> dict:
    return {
        "time": _ms(p.detected_at), "symbol": p.symbol, "pattern": p.pattern,
        "confidence": p.confidence, "timeframe": p.timeframe or "",
        "parameters": key_parameters(p.parameters), "_cls": "high" if p.high_confidence else "",
    }


def alert_sentence(a: IndicatorAlert) -> str:
    """A trader's sentence for an indicator alert: 'AAPL: RSI overbought (72.5)'."""
    d, s = a.data, a.symbol
    kind = a.alert_type.upper()
    rsi = d.get("rsi", d.get("value"))
    if kind == "RSI_OVERBOUGHT":
        return f"{s}: RSI overbought ({_num(rsi, 1)})"
    if kind == "RSI_OVERSOLD":
        return f"{s}: RSI oversold ({_num(rsi, 1)})"
    if kind in ("MACD_BULLISH_CROSS", "MACD_BEARISH_CROSS"):
        side, where = ("bullish", "above") if kind == "MACD_BULLISH_CROSS" else ("bearish", "below")
        if "macd" in d and "signal" in d:
            return f"{s}: MACD {side} cross (MACD {_num(d['macd'], 4)} {where} signal {_num(d['signal'], 4)})"
        return f"{s}: MACD {side} cross"
    if kind in ("BB_UPPER_BREAK", "BB_LOWER_BREAK"):
        side, band, op = ("above", "upper", ">") if kind == "BB_UPPER_BREAK" else ("below", "lower", "<")
        if "close" in d and band in d:
            return f"{s}: broke {side} the {band} Bollinger band (close {_num(d['close'])} {op} {_num(d[band])})"
        return f"{s}: broke {side} the {band} Bollinger band"
    detail = ", ".join(f"{k} {_num(v)}" for k, v in list(d.items())[:3])
    label = kind.replace("_", " ").lower()
    return f"{s}: {label} ({detail})" if detail else f"{s}: {label}"


def alert_row(a: IndicatorAlert) -> dict:
    return {"time": _ms(a.ts), "symbol": a.symbol, "alert_type": a.alert_type,
            "sentence": alert_sentence(a), "_cls": ALERT_STYLE.get(a.alert_type.upper(), "")}


def indicator_row(previous: dict | None, ind: Indicator) -> dict:
    """The symbol's grid row with this calculation's values merged into the previous ones."""
    row = dict(previous) if previous else {"symbol": ind.symbol, "other": ""}
    others = dict(row.pop("_others", {}))
    for k, v in ind.values.items():
        if (ind.indicator, k) in _KNOWN:
            row[f"{ind.indicator}.{k}"] = v
        else:
            others[f"{ind.indicator}.{k}" if k != "value" else ind.indicator] = v
    row["_others"] = others
    row["other"] = " ".join(f"{k}={_num(v)}" for k, v in sorted(others.items()))
    row["time"] = _ms(ind.calculated_at)
    return row


def critical_text(c: CriticalAlert) -> str:
    return f"{c.alert_type}: {c.message}" if c.message else c.alert_type


def critical_row(c: CriticalAlert) -> dict:
    return {"time": _ms(c.ts), "alert_type": c.alert_type, "severity": c.severity, "message": c.message}


_NOT_SHOWN = {"channel", "received", "session_id"}


def record_columns(record: type) -> list[dict]:
    """A table's columns for any record type: its time, then each field it carries."""
    fields = [f.name for f in msgspec.structs.fields(record) if f.name not in _NOT_SHOWN | {"ts"}]
    return [TIME_COLUMN] + [SYMBOL_COLUMN if name == "symbol" else
                            {"field": name, "title": name.replace("_", " ").capitalize()} for name in fields]


def record_row(ev) -> dict:
    """A row of `record_columns` for any record: datetimes as epoch ms, objects as k=v text."""
    row = {"time": _ms(ev.ts)}
    for f in msgspec.structs.fields(type(ev)):
        if f.name in _NOT_SHOWN or f.name == "ts":
            continue
        value = getattr(ev, f.name)
        row[f.name] = key_parameters(value) if isinstance(value, dict) else \
            value.isoformat() if hasattr(value, "isoformat") else value
    return row


# The live page's row builder of each kind of event it shows in a table, by the kind's name (the
# record's tag). A kind the registry shows as rows (dashboard/wire/kinds.py, live="rows") and that
# is not listed gets `record_row` and a table of its own (tests/dashboard/wire/test_kinds.py checks
# every kind has a builder). The indicator builder merges a calculation into the symbol's previous row.
LIVE_ROWS: dict[str, Callable[..., dict]] = {
    "pattern": pattern_row,
    "indicator": indicator_row,
    "indicator_alert": alert_row,
    "critical_alert": critical_row,
}
