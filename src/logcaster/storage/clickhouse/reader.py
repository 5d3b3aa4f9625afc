"""``scope=cluster``: searches run by ClickHouse over every node's lines, returned as
engine :class:`~logcaster.query.matches.Matches`, so every frontend renders them as it
renders the ring's.

The result rows are packed into one read-only block (a chunk per row, carrying the
row's receive time); a shard that does not answer (down, or hung past the query
timeout) is an error that says so, never a silently partial result. Rows ClickHouse
cannot decide exactly are verified on the node (:mod:`.verify`).
"""

from __future__ import annotations

import socket
from array import array
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from clickhouse_driver import Client

from ...query.aggregate import NONE, Breakdown, Counts
from ...query.errors import QueryError
from ...query.matches import Matches
from ...query.spec import QuerySpec
from ..ring import Block
from .sql import checked_rows, count_buckets, count_values, select_lines
from .url import StoreURL
from .verify import accepted, classifier


def pack(stamps: Sequence[int], lines: Sequence[bytes]) -> Matches:
    """Rows as Matches over one block: a chunk per run of rows with one receive time
    (offsets and times by NumPy, not per row in Python)."""
    n = len(lines)
    if not n:
        return Matches()
    data = bytearray(b"\n").join(lines)
    data += b"\n"
    sizes = np.fromiter(map(len, lines), dtype=np.int64, count=n) + 1
    starts = np.cumsum(sizes) - sizes
    ts = np.fromiter(stamps, dtype=np.int64, count=n)
    first = np.ones(n, dtype=bool)
    first[1:] = ts[1:] != ts[:-1]
    offsets, times = array("q"), array("q")
    offsets.frombytes(starts[first].tobytes())
    times.frombytes(ts[first].tobytes())
    block = Block.from_buffer(data, len(data), offsets, times)
    return Matches(n, [(block.view(), array("q", (0, len(data))))], [n])


class ClusterReader:
    """Runs searches on the store's table (the Distributed one with a cluster).

    Every reply from ClickHouse must come within ``timeout_s`` (a socket timeout on
    the node's side: a hung shard would otherwise hold a query for 3 x the server's
    ``receive_timeout``); a query that fails or times out on every entry host is a
    QueryError saying so, never a partial result given as a whole one.
    """

    def __init__(self, url: StoreURL, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def _execute(self, sql: str, params: dict[str, object]) -> Any:
        error: Exception | None = None
        for host, port in self.url.hosts:
            client = Client(
                host,
                port=port,
                database=self.url.database,
                connect_timeout=min(2.0, self.timeout_s),
                send_receive_timeout=self.timeout_s,
                compression=self.url.compression,
                settings={"strings_as_bytes": True, "skip_unavailable_shards": 0},
            )
            try:
                return client.execute(sql, params, columnar=True)
            except Exception as exc:
                error = exc
            finally:
                client.disconnect()
        raise QueryError(f"ClickHouse query failed (scope=cluster): {_why(error)}; no result given")

    @property
    def table(self) -> str:
        return f"{self.url.database}.{self.url.table}"

    def search(self, spec: QuerySpec) -> Matches:
        """The lines ``spec`` matches in ClickHouse, oldest first; with a limit, the
        newest ``limit`` (frontends apply ``order=desc`` when they render)."""
        columns = self._execute(*select_lines(self.table, spec))
        if not columns:
            return Matches()
        stamps, lines = list(columns[0]), list(columns[1])
        if len(columns) > 2:  # some rows are verified here
            checked = np.fromiter(columns[3], dtype=bool, count=len(lines))
            ok = ~checked
            rows = np.flatnonzero(checked)
            ok[rows] = accepted(spec, [lines[i] for i in rows])
            keep = np.flatnonzero(ok)
            if spec.limit is not None:
                keep = keep[: spec.limit]
            stamps = [stamps[i] for i in keep]
            lines = [lines[i] for i in keep]
        if spec.limit is not None:
            stamps.reverse()  # asked newest first to apply the limit
            lines.reverse()
        return pack(stamps, lines)

    def counts(self, spec: QuerySpec, step: int, by: str | None) -> tuple[Counts, Breakdown]:
        """Matches per bucket (GROUP BY in ClickHouse), as the engine's histogram takes."""
        counts: Counts = {}
        breakdown: Breakdown = {}
        grouped = count_buckets(self.table, spec, step, by)
        columns = self._execute(*grouped) if grouped is not None else None
        for bucket, value, n in zip(*columns, strict=True) if columns else ():
            counts[bucket] = counts.get(bucket, 0) + n
            if by is not None:
                breakdown.setdefault(bucket, Counter())[_value(value)] += n
        classify = classifier(by) if by is not None else None
        for ts, line, level in self._checked(spec, by):
            bucket = ts // step
            counts[bucket] = counts.get(bucket, 0) + 1
            if classify is not None:
                breakdown.setdefault(bucket, Counter())[classify(line, level)] += 1
        return counts, breakdown

    def values(self, spec: QuerySpec, field: str) -> Counter[str]:
        """Matches per value of ``field`` (GROUP BY in ClickHouse)."""
        out: Counter[str] = Counter()
        grouped = count_values(self.table, spec, field)
        columns = self._execute(*grouped) if grouped is not None else None
        for value, n in zip(*columns, strict=True) if columns else ():
            out[_value(value)] += n
        classify = classifier(field)
        for _ts, line, level in self._checked(spec, field):
            out[classify(line, level)] += 1
        return out

    def _checked(self, spec: QuerySpec, by: str | None) -> list[tuple[int, bytes, bytes]]:
        """The rows ClickHouse could not decide that match ``spec``, verified here."""
        query = checked_rows(self.table, spec, by)
        if query is None:
            return []
        columns = self._execute(*query)
        if not columns:
            return []
        ok = accepted(spec, columns[1])
        return [row for row, keep in zip(zip(*columns, strict=True), ok, strict=True) if keep]


def _value(raw: bytes | str | None) -> str:
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    return text or NONE


def _why(error: Exception | None) -> str:
    if error is None:
        return "no host"
    if isinstance(error, TimeoutError | socket.timeout):
        return "no reply within the query timeout (a shard may be hung)"
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
