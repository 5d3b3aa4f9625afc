"""The ClickHouse tables: one MergeTree table per shard, partitioned by day and ordered
by receive time, and (with a cluster) a Distributed table over them for queries.

Only the receive time, the node, the batch id, the row's place in its batch and the
line are sent; the level is a
MATERIALIZED column computed by ClickHouse from the line with the same RE2 patterns
and aliases the engine uses (:mod:`logcaster.query.levels`), so no Python runs per
line to fill it; so are host, app and facility (:mod:`.fieldsql`). Written for the
oldest server tried (Debian's 18.16): no TTL, no codecs, no DateTime64, no
``ON CLUSTER``. Tables made before a column existed get it from :func:`upgrades`
(``ALTER TABLE ... ADD COLUMN``; old rows compute it when read).
"""

from __future__ import annotations

from ...query.levels import _ALL_WORDS, ALIASES, SEVERITIES, _token_pattern
from .fieldsql import FIELD_COLUMNS
from .url import StoreURL


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def level_expression(column: str = "line") -> str:
    """SQL giving a line's canonical level ('' for none), as ``level_of`` does: a
    syslog PRI at the start (``<0>``..``<191>``) first, else the first level token."""
    token = f"extract({column}, {_quote('(' + _token_pattern(_ALL_WORDS) + ')')})"
    words = _quote(r"\b(" + "|".join(_ALL_WORDS) + r")\b")
    word = f"extract(upper({token}), {words})"
    aliases = ", ".join(_quote(a) for a in ALIASES)
    canon = ", ".join(_quote(c) for c in ALIASES.values())
    by_token = f"transform({word}, [{aliases}], [{canon}], '')"
    pri = f"toUInt16OrZero(extract({column}, '^<(0|[1-9][0-9]?[0-9]?)>'))"
    has_pri = f"match({column}, '^<(0|[1-9][0-9]?[0-9]?)>') AND {pri} <= 191"
    severities = ", ".join(_quote(x) for x in SEVERITIES)
    return f"if({has_pri}, arrayElement([{severities}], modulo({pri}, 8) + 1), {by_token})"


SENT = "ts UInt64, node String, batch String, seq UInt32, line String"


def materialized() -> dict[str, str]:
    """Column name -> ``TYPE MATERIALIZED expression``, in table order."""
    out = {"level": f"String MATERIALIZED {level_expression()}"}
    for name, (kind, expression) in FIELD_COLUMNS.items():
        out[name] = f"{kind} MATERIALIZED {expression()}"
    return out


def local_table_ddl(url: StoreURL) -> str:
    columns = ", ".join([SENT, *(f"{n} {d}" for n, d in materialized().items())])
    return (
        f"CREATE TABLE IF NOT EXISTS {url.database}.{url.local_table} ({columns}"
        + ") ENGINE = MergeTree() "
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000000000))) "
        "ORDER BY ts"
    )


def distributed_table_ddl(url: StoreURL) -> str:
    assert url.cluster is not None
    return (
        f"CREATE TABLE IF NOT EXISTS {url.database}.{url.table} "
        f"AS {url.database}.{url.local_table} "
        f"ENGINE = Distributed({url.cluster}, {url.database}, {url.local_table}, rand())"
    )


def upgrades(table: str, present: set[str]) -> list[str]:
    """``ALTER TABLE`` statements adding the MATERIALIZED columns ``table`` lacks
    (``present``: the names it has), in order (18.16 keeps MATERIALIZED columns
    after the ordinary ones and takes no ``AFTER`` naming an ordinary column)."""
    return [
        f"ALTER TABLE {table} ADD COLUMN {name} {definition}"
        for name, definition in materialized().items()
        if name not in present
    ]
