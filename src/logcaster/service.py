"""Executes parsed commands against the ring; the transport-free core of the query port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from . import commands as cmd
from .pool import WorkerPool
from .ring import Ring
from .search import render_raw, search_literal


@dataclass(slots=True)
class Counters:
    """Gauges and counters shown by STATS."""

    clients: int = 0  # ingest connections open now
    truncated: int = 0  # lines cut to --max-line-bytes


class QueryService:
    def __init__(self, ring: Ring, pool: WorkerPool, counters: Counters) -> None:
        self.ring = ring
        self.pool = pool
        self.counters = counters

    async def execute(self, line: bytes) -> AsyncIterator[bytes]:
        """Yield the reply to one command line, in chunks, each ending in a newline."""
        command = cmd.parse_command(line)
        match command:
            case cmd.Stats():
                ring = self.ring
                yield cmd.stats_line(ring.total, ring.dropped, ring.current, self.counters.clients)
            case cmd.Count():
                yield cmd.count_line(self.ring.current)
            case cmd.KeywordQuery(keyword=keyword):
                async for chunk in self._keyword_query(keyword):
                    yield chunk
            case cmd.Error():
                yield command.reply()

    async def _keyword_query(self, keyword: bytes) -> AsyncIterator[bytes]:
        snapshot = self.ring.snapshot()
        matches = await self.pool.run(search_literal, snapshot, keyword)
        yield cmd.found_line(matches.count)
        chunks = render_raw(matches)
        while True:
            chunk = await self.pool.run(next, chunks, None)
            if chunk is None:
                return
            yield chunk
