"""``scope=cluster``: searches run by ClickHouse over every node's lines, returned as
engine :class:`~logcaster.query.matches.Matches`, so every frontend renders them as it
renders the ring's.

The result rows are packed into one read-only block (a chunk per row, carrying the
row's receive time); a shard that does not answer is an error that says so, never a
silently partial result.
"""

from __future__ import annotations

from array import array
from collections import Counter
from itertools import accumulate
from typing import Any

from clickhouse_driver import Client

from ...query.aggregate import NONE, Breakdown, Counts
from ...query.errors import QueryError
from ...query.matches import Matches
from ...query.spec import QuerySpec
from ..ring import Block
from .sql import count_buckets, count_values, select_lines
from .url import StoreURL


def pack(stamps: list[int], lines: list[bytes]) -> Matches:
    """Rows as Matches over one block: a chunk per row."""
    if not lines:
        return Matches()
    data = bytearray(b"\n".join(lines) + b"\n")
    offsets = array("q", accumulate((len(x) + 1 for x in lines[:-1]), initial=0))
    block = Block.from_buffer(data, len(data), offsets, array("q", stamps))
    return Matches(len(lines), [(block.view(), array("q", (0, len(data))))])


class ClusterReader:
    """Runs searches on the store's table (the Distributed one with a cluster)."""

    def __init__(self, url: StoreURL, timeout_s: float = 30.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def _execute(self, sql: str, params: dict[str, object]) -> Any:
        error: Exception | None = None
        for host, port in self.url.hosts:
            client = Client(
                host,
                port=port,
                database=self.url.database,
                connect_timeout=2.0,
                send_receive_timeout=self.timeout_s,
                compression="lz4",
                settings={"strings_as_bytes": True, "skip_unavailable_shards": 0},
            )
            try:
                return client.execute(sql, params, columnar=True)
            except Exception as exc:
                error = exc
            finally:
                client.disconnect()
        why = str(error).splitlines()[0] if error else "no host"
        raise QueryError(f"ClickHouse query failed (scope=cluster): {why}")

    @property
    def table(self) -> str:
        return f"{self.url.database}.{self.url.table}"

    def search(self, spec: QuerySpec) -> Matches:
        """The lines ``spec`` matches in ClickHouse, oldest first; with a limit, the
        newest ``limit`` (frontends apply ``order=desc`` when they render)."""
        columns = self._execute(*select_lines(self.table, spec))
        stamps, lines = (list(columns[0]), list(columns[1])) if columns else ([], [])
        if spec.limit is not None:
            stamps.reverse()  # asked newest first to apply the limit
            lines.reverse()
        return pack(stamps, lines)

    def counts(self, spec: QuerySpec, step: int, by: str | None) -> tuple[Counts, Breakdown]:
        """Matches per bucket (GROUP BY in ClickHouse), as the engine's histogram takes."""
        columns = self._execute(*count_buckets(self.table, spec, step, by))
        counts: Counts = {}
        breakdown: Breakdown = {}
        for bucket, value, n in zip(*columns, strict=True) if columns else ():
            counts[bucket] = counts.get(bucket, 0) + n
            if by is not None:
                breakdown.setdefault(bucket, Counter())[_value(value)] += n
        return counts, breakdown

    def values(self, spec: QuerySpec, field: str) -> Counter[str]:
        """Matches per value of ``field`` (GROUP BY in ClickHouse)."""
        columns = self._execute(*count_values(self.table, spec, field))
        return Counter({_value(v): n for v, n in zip(*columns, strict=True)} if columns else {})


def _value(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text or NONE
