"""What the history holds, cheaply: the recorded symbols, without reading every row.

The symbol-led indexes of `patterns` and `indicators` answer "the next symbol after X" at once, so
a loose index scan (a recursive query hopping from one symbol to the next) lists thousands of
symbols from millions of rows in milliseconds, where `SELECT DISTINCT` would read them all.
"""

from __future__ import annotations

from .db import connect

_NEXT_SYMBOLS = """
WITH RECURSIVE s(symbol) AS (
    (SELECT symbol FROM {table} ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT t.symbol FROM {table} t WHERE t.symbol > s.symbol ORDER BY t.symbol LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT symbol FROM s WHERE symbol IS NOT NULL
"""


def recorded_symbols(url: str, tables: tuple[str, ...] = ("patterns", "indicators")) -> list[str]:
    """Every symbol with a recorded pattern or indicator value, sorted."""
    found: set[str] = set()
    with connect(url) as conn:
        for table in tables:
            found.update(row[0] for row in conn.execute(_NEXT_SYMBOLS.format(table=table)).fetchall())
    return sorted(found)
