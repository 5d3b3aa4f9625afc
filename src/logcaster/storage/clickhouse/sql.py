"""Query specs as ClickHouse SQL: the WHERE clause of a QuerySpec, with every user
value passed as a query parameter (never spliced into the text).

Keywords and patterns are bytes of any value, so they travel as hex digits
(``unhex(...)``), which no quoting can break out of. Keywords become
``position(line, k) > 0`` (AND or OR), a regex ``match(line, r)``
(ClickHouse uses RE2 too; a leading ``(?flags)`` is rewritten as a ``(?flags:...)``
group, which old servers read correctly), levels ``level IN (...)`` on the
MATERIALIZED column, the time range ``ts`` bounds on the sort key.

Where a column cannot decide exactly, the condition is widened and the row marked
for verification on the node (:func:`check`, :mod:`.verify`): ``host=``, ``app=``,
``facility=`` on the ``fuzzy`` rows (JSON, non-ASCII), ``level=`` on lines holding a
``"level"`` key (a numeric JSON level overrides the tokens), and ``field.NAME=`` on
every row, narrowed by the value as a literal when it is written the same way in
every format.
"""

from __future__ import annotations

import re

from ...query.spec import FieldFilter, QuerySpec

_LEADING_FLAGS = re.compile(r"^\(\?([imsU]+)\)")
# A value written the same way in JSON, logfmt and syslog text (as the ring's
# post-filter narrows by it): rows without it as a literal cannot match.
_PLAIN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9._@+\-]{2,}$")
_DERIVED = frozenset({"field.facility", "field.severity", "field.level", "field.pri"})

Params = dict[str, object]
COLUMNS = ("level", "host", "app", "facility")  # fields that are table columns
# A JSON level (a number, or a level member of an object line) may override the tokens
# (ClickHouse 18.16 has no multiSearchAny*; '.' in log.level: any byte, a superset)
HAS_LEVEL_KEY = "match(line, '(?i)\"(level|severity|log.level|priority)\"')"


def column(field: str) -> str | None:
    """``field`` as a column name, from the fixed set only (never user text in SQL);
    None for ``field.NAME`` (read on the node)."""
    return field if field in COLUMNS else None


def check(spec: QuerySpec, by: str | None = None) -> str:
    """SQL that is 1 on the rows the node must verify (and classify by ``by``)."""
    parts = []
    names = {f.name for f in spec.fields} | ({by} if by else set())
    if any(column(n) is None for n in names):
        return "1"
    if spec.levels or by == "level":
        parts.append(HAS_LEVEL_KEY)
    if names - {"level"}:
        parts.append("fuzzy = 1")
    return " OR ".join(parts) or "0"


def _field_term(i: int, f: FieldFilter, params: Params) -> str | None:
    """The (widened) condition of one field filter, or None for no condition."""
    params[f"f{i}"] = f.value.encode("utf-8", "surrogateescape").hex()
    value = f"unhex(%(f{i})s)"
    name = column(f.name)
    if name is None:
        if f.name in _DERIVED or not _PLAIN.match(f.value):
            del params[f"f{i}"]
            return None
        return f"position(line, {value}) > 0"
    test = f"startsWith({name}, {value})" if f.prefix else f"{name} = {value}"
    return f"(fuzzy = 1 OR ifNull({test}, 0) = 1)"


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
        terms.append(f"(level IN %(levels)s OR {HAS_LEVEL_KEY})")
    for i, f in enumerate(spec.fields):
        term = _field_term(i, f, params)
        if term is not None:
            terms.append(term)
    if spec.time_from is not None:
        params["lo"] = max(spec.time_from, 0)
        terms.append("ts >= %(lo)s")
    if spec.time_to is not None:
        params["hi"] = max(spec.time_to, 0)
        terms.append("ts <= %(hi)s")
    return (" AND ".join(terms) or "1"), params


def select_lines(table: str, spec: QuerySpec) -> tuple[str, Params]:
    """The rows ``spec`` may match as ``(ts, line)``, oldest first; with a limit,
    newest first (the caller puts them back in order). When some rows need
    verifying on the node, ``(ts, line, level, check)`` and no SQL limit."""
    condition, params = where(spec)
    verify = check(spec)
    newest_first = spec.limit is not None
    way = "DESC" if newest_first else "ASC"
    order = f"ts {way}, batch {way}, seq {way}"
    extra = "" if verify == "0" else f", level, toUInt8({verify})"
    sql = f"SELECT ts, line{extra} FROM {table} WHERE {condition} ORDER BY {order}"
    if spec.limit is not None and verify == "0":
        params["limit"] = spec.limit
        sql += " LIMIT %(limit)s"
    return sql, params


def checked_rows(table: str, spec: QuerySpec, by: str | None) -> tuple[str, Params] | None:
    """The rows an aggregation by ``by`` verifies on the node, as ``(ts, line,
    level)``; None when ClickHouse decides every row."""
    verify = check(spec, by)
    if verify == "0":
        return None
    condition, params = where(spec)
    return f"SELECT ts, line, level FROM {table} WHERE ({condition}) AND ({verify})", params


def _decided(spec: QuerySpec, by: str | None) -> tuple[str, Params, str] | None:
    verify = check(spec, by)
    if verify == "1":
        return None
    condition, params = where(spec)
    return f"({condition}) AND NOT ({verify})", params, (column(by) or "''") if by else "''"


def count_buckets(
    table: str, spec: QuerySpec, step: int, by: str | None
) -> tuple[str, Params] | None:
    """Matches per ``step``-ns bucket of receive time (and per ``by`` value) among
    the rows ClickHouse decides: rows of ``(bucket, value, count)``; None for none."""
    decided = _decided(spec, by)
    if decided is None:
        return None
    condition, params, value = decided
    params["step"] = step
    sql = (
        f"SELECT intDiv(ts, %(step)s) AS bucket, {value} AS value, count() FROM {table} "
        f"WHERE {condition} GROUP BY bucket, value"
    )
    return sql, params


def count_values(table: str, spec: QuerySpec, field: str) -> tuple[str, Params] | None:
    """Matches per value of ``field`` among the rows ClickHouse decides: rows of
    ``(value, count)``; None for none."""
    decided = _decided(spec, field)
    if decided is None:
        return None
    condition, params, value = decided
    return f"SELECT {value} AS value, count() FROM {table} WHERE {condition} GROUP BY value", params
