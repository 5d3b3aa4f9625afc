"""The ClickHouse tables: one MergeTree table per shard, partitioned by day and ordered
by receive time, and (with a cluster) a Distributed table over them for queries.

The node sends the receive time, the node, the batch id, the row's place in its
batch, the line, and the ``level``, ``host``, ``app``, ``facility`` and ``fuzzy``
columns it computed in C (:mod:`.columns`); ClickHouse stores them as sent. Those
five are ``DEFAULT`` columns whose expressions compute the same values from the line
in SQL (the level with the engine's RE2 patterns and aliases,
:mod:`logcaster.query.levels`; the others by :mod:`.fieldsql`, with ``fuzzy`` set on
rows it cannot decide exactly): ClickHouse evaluates them only for rows inserted
without them (a node of an earlier version) and for parts written before a column
existed. Written for the oldest server tried (Debian's 18.16): no TTL, no codecs, no
DateTime64, no ``ON CLUSTER``. :func:`upgrades` brings tables made by earlier
versions to this shape: a missing column is added (``ADD COLUMN``; old rows compute
it when read), a MATERIALIZED one (which ClickHouse computed on every insert and
which no INSERT may name) becomes ``DEFAULT`` with the same expression
(``MODIFY COLUMN``: a change of metadata only, the stored values stay).
"""

from __future__ import annotations

from clickhouse_driver import Client

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


def computed() -> dict[str, str]:
    """Column name -> ``TYPE DEFAULT expression`` of the columns the node computes,
    in table order."""
    out = {"level": f"String DEFAULT {level_expression()}"}
    for name, (kind, expression) in FIELD_COLUMNS.items():
        out[name] = f"{kind} DEFAULT {expression()}"
    return out


def local_table_ddl(url: StoreURL) -> str:
    columns = ", ".join([SENT, *(f"{n} {d}" for n, d in computed().items())])
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


def upgrades(table: str, kinds: dict[str, str]) -> list[str]:
    """``ALTER TABLE`` statements bringing ``table`` (``kinds``: its column names and
    their ``system.columns.default_kind``) to the computed columns: ``ADD COLUMN`` for
    a missing one (no ``AFTER``: 18.16 takes none naming an ordinary column after
    MATERIALIZED ones), ``MODIFY COLUMN`` for a MATERIALIZED one."""
    out = []
    for name, definition in computed().items():
        if name not in kinds:
            out.append(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
        elif kinds[name] == "MATERIALIZED":
            out.append(f"ALTER TABLE {table} MODIFY COLUMN {name} {definition}")
    return out


def takes_computed(kinds: dict[str, str]) -> bool:
    """Whether an INSERT may send the computed columns to a table with these
    columns (``name -> default_kind``): each present and neither MATERIALIZED nor
    ALIAS; a table not found is taken to be one this version creates)."""
    return not kinds or all(kinds.get(name, "ALIAS") in ("", "DEFAULT") for name in computed())


def table_kinds(client: Client, database: str, table: str) -> dict[str, str]:
    """A table's column names and their ``default_kind`` ('' for an ordinary one)."""
    rows = client.execute(
        "SELECT name, default_kind FROM system.columns "
        "WHERE database = %(db)s AND table = %(table)s",
        {"db": database, "table": table},
    )
    return {_text(name): _text(kind) for name, kind in rows}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def upgrade(client: Client, database: str, table: str) -> None:
    """Bring a table made by an earlier version to the current columns."""
    for statement in upgrades(f"{database}.{table}", table_kinds(client, database, table)):
        client.execute(statement)
