"""``scope=cluster``: searches run by ClickHouse over every node's lines, returned as
engine :class:`~logcaster.query.matches.Matches`, so every frontend renders them as it
renders the ring's.

The result rows are packed into one read-only block (a chunk per row, carrying the
row's receive time); a shard that does not answer is an error that says so, never a
silently partial result.
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from typing import Any

from clickhouse_driver import Client

from ...query.errors import QueryError
from ...query.matches import Matches
from ...query.spec import QuerySpec
from ..ring import Block
from .sql import select_lines
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

    def search(self, spec: QuerySpec) -> Matches:
        """The lines ``spec`` matches in ClickHouse, oldest first (newest first with
        ``order=desc``); with a limit, the newest ``limit``."""
        sql, params = select_lines(f"{self.url.database}.{self.url.table}", spec)
        columns = self._execute(sql, params)
        stamps, lines = (list(columns[0]), list(columns[1])) if columns else ([], [])
        if spec.limit is not None and not spec.descending:
            stamps.reverse()  # asked newest first to apply the limit; shown oldest first
            lines.reverse()
        matches = pack(stamps, lines)
        return matches
