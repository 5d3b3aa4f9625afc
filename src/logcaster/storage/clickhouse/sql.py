"""Query specs as ClickHouse SQL: the WHERE clause of a QuerySpec, with every user
value passed as a query parameter (never spliced into the text).

Keywords and patterns are bytes of any value, so they travel as hex digits
(``unhex(...)``), which no quoting can break out of. Keywords become
``position(line, k) > 0`` (AND or OR), a regex ``match(line, r)``
(ClickHouse uses RE2 too; a leading ``(?flags)`` is rewritten as a ``(?flags:...)``
group, which old servers read correctly), levels ``level IN (...)`` on the
MATERIALIZED column, the time range ``ts`` bounds on the sort key.
"""

from __future__ import annotations

import re

from ...query.errors import QueryError
from ...query.spec import QuerySpec

_LEADING_FLAGS = re.compile(r"^\(\?([imsU]+)\)")

Params = dict[str, object]
COLUMNS = frozenset({"level"})  # the fields HITS by= and TOP may name, as table columns


def column(field: str) -> str:
    """``field`` as a column name, from the fixed set only (never user text in SQL)."""
    if field not in COLUMNS:
        raise QueryError(f"scope=cluster cannot count by '{field}' (only {', '.join(COLUMNS)})")
    return field


def clickhouse_regex(pattern: str) -> str:
    """``pattern`` with a leading ``(?i)``-style flag group turned into ``(?i:...)``."""
    m = _LEADING_FLAGS.match(pattern)
    if m is None:
        return pattern
    return f"(?{m.group(1)}:{pattern[m.end() :]})"


def where(spec: QuerySpec) -> tuple[str, Params]:
    """``(condition, parameters)`` selecting the rows ``spec`` matches."""
    terms: list[str] = []
    params: Params = {}
    if spec.keywords:
        names = []
        for i, keyword in enumerate(spec.keywords):
            params[f"k{i}"] = keyword.hex()
            names.append(f"position(line, unhex(%(k{i})s)) > 0")
        joined = (" OR " if spec.any_keyword else " AND ").join(names)
        terms.append(f"({joined})")
    if spec.regex is not None:
        params["re"] = clickhouse_regex(spec.regex).encode("utf-8", "surrogateescape").hex()
        terms.append("match(line, unhex(%(re)s))")
    if spec.levels:
        params["levels"] = tuple(sorted(spec.levels))
        terms.append("level IN %(levels)s")
    if spec.time_from is not None:
        params["lo"] = max(spec.time_from, 0)
        terms.append("ts >= %(lo)s")
    if spec.time_to is not None:
        params["hi"] = max(spec.time_to, 0)
        terms.append("ts <= %(hi)s")
    return (" AND ".join(terms) or "1"), params


def select_lines(table: str, spec: QuerySpec) -> tuple[str, Params]:
    """The rows ``spec`` matches as ``(ts, line)``, oldest first; with a limit, newest
    first (the newest ``limit`` rows: the caller puts them back in order)."""
    condition, params = where(spec)
    newest_first = spec.limit is not None
    way = "DESC" if newest_first else "ASC"
    order = f"ts {way}, batch {way}, seq {way}"
    sql = f"SELECT ts, line FROM {table} WHERE {condition} ORDER BY {order}"
    if spec.limit is not None:
        params["limit"] = spec.limit
        sql += " LIMIT %(limit)s"
    return sql, params


def count_buckets(table: str, spec: QuerySpec, step: int, by: str | None) -> tuple[str, Params]:
    """Matches per ``step``-ns bucket of receive time (and per ``by`` value):
    rows of ``(bucket, value, count)``."""
    condition, params = where(spec)
    params["step"] = step
    value = column(by) if by is not None else "''"
    sql = (
        f"SELECT intDiv(ts, %(step)s) AS bucket, {value} AS value, count() FROM {table} "
        f"WHERE {condition} GROUP BY bucket, value"
    )
    return sql, params


def count_values(table: str, spec: QuerySpec, field: str) -> tuple[str, Params]:
    """Matches per value of ``field``: rows of ``(value, count)``."""
    condition, params = where(spec)
    value = column(field)
    return f"SELECT {value} AS value, count() FROM {table} WHERE {condition} GROUP BY value", params
