"""Executes parsed commands against the ring: the transport-free core of the query port.

Heavy work (searching, per-line rendering) runs on the worker pool against a
ring snapshot; the event loop only hands out jobs and writes their results.
A search is split into contiguous runs of blocks, one job each, so the C
scanners (which release the GIL) use every core.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from . import commands as cmd
from .follow import FollowHub
from .intake import Counters
from .persist import PersistWriter, all_files, open_block
from .pool import WorkerPool
from .ring import BlockView, Ring
from .search import Matcher, Matches, QueryError, render, render_stamped, search_views, tail


class Peer(Protocol):
    """The query connection a command came from (what FOLLOW needs of it)."""

    def push(self, data: bytes) -> bool: ...

    def buffered(self) -> int: ...

    def abort(self) -> None: ...

    async def wait_closed(self) -> None: ...


def split_views(views: tuple[BlockView, ...], parts: int) -> list[tuple[BlockView, ...]]:
    """Cut ``views`` into at most ``parts`` contiguous, near-equal runs."""
    parts = max(1, min(parts, len(views)))
    size, extra = divmod(len(views), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(views[start:end])
        start = end
    return out


class QueryService:
    def __init__(
        self,
        ring: Ring,
        pool: WorkerPool,
        counters: Counters,
        follow: FollowHub,
        writer: PersistWriter | None = None,
    ) -> None:
        self.ring = ring
        self.writer = writer
        self.pool = pool
        self.counters = counters
        self.follow = follow
        self.parallelism = max(1, min(pool.workers, os.cpu_count() or 1))

    async def execute(self, line: bytes, peer: Peer | None = None) -> AsyncIterator[bytes]:
        """Yield the reply to one command line, in chunks of whole lines."""
        command = cmd.parse_command(line)
        match command:
            case cmd.Stats():
                ring = self.ring
                yield cmd.stats_line(ring.total, ring.dropped, ring.current, self.counters.clients)
            case cmd.Count():
                yield cmd.count_line(self.ring.current)
            case cmd.Help():
                yield cmd.HELP_TEXT.encode()
            case cmd.Info():
                yield self.info()
            case cmd.Query(spec=spec):
                async for chunk in self._query(spec):
                    yield chunk
            case cmd.Tail(count=count):
                snapshot = self.ring.snapshot()
                matches = await self.pool.run(tail, snapshot, count)
                async for chunk in self._stream(render_stamped(matches)):
                    yield chunk
            case cmd.Follow(spec=spec):
                async for chunk in self._follow(spec, peer):
                    yield chunk
            case cmd.Error():
                yield command.reply()

    async def search(self, spec: cmd.QuerySpec) -> Matches:
        """Matches of ``spec`` in a snapshot of the ring, searched in parallel.

        With a limit, blocks are searched newest first in growing batches and
        the search stops once the limit is met.
        """
        matcher = await self.pool.run(Matcher, spec)
        if spec.history and self.writer is not None:
            views = await self.pool.run(self._history_views)
        else:
            views = self.ring.snapshot().views
        if spec.limit is None:
            return Matches.merge(await self._search_parallel(views, matcher))
        collected: list[Matches] = []
        found = 0
        end = len(views)
        batch = self.parallelism
        while end > 0 and found < spec.limit:
            start = max(0, end - batch)
            parts = await self._search_parallel(views[start:end], matcher)
            collected[:0] = parts
            found += sum(p.count for p in parts)
            end, batch = start, batch * 2
        matches = Matches.merge(collected)
        if matches.count > spec.limit:
            matches = await self.pool.run(matches.keep_newest, spec.limit)
        return matches

    def _history_views(self) -> tuple[BlockView, ...]:
        """Every persisted line, oldest first, as memory-mapped file views."""
        assert self.writer is not None
        self.writer.flush(timeout=10.0)
        blocks = (open_block(f) for f in all_files(self.writer.directory))
        return tuple(b.view() for b in blocks if b is not None)

    def info(self) -> bytes:
        """``INFO``: every counter, ``name=value`` per line, after a header line."""
        ring, c = self.ring, self.counters
        values: dict[str, object] = {
            "Total": ring.total,
            "Dropped": ring.dropped,
            "Current": ring.current,
            "Clients": c.clients,
            "HeldBytes": ring.held_bytes,
            "Truncated": c.truncated,
            "Rejected": c.rejected,
            "Denied": c.denied,
            "IdleClosed": c.idle_closed,
            "QueryRejected": c.query_rejected,
            "QueryEvicted": c.query_evicted,
            "AuthFailures": c.auth_failures,
            "Reloaded": c.reloaded,
            "QueryJobs": self.pool.waiting,
            "Followers": len(self.follow.followers),
            "FollowSkipped": self.follow.skipped,
            "FollowCut": self.follow.cut,
            "Persist": "on" if self.writer is not None else "off",
        }
        if self.writer is not None:
            w = self.writer.stats
            values |= {
                "PersistedLines": w.lines,
                "PersistedBytes": w.bytes,
                "Files": self.writer.file_count(),
                "FilesRotated": w.files_rotated,
                "FilesDeleted": w.files_deleted,
                "WriteQueue": self.writer.queue_depth,
                "WriteBacklogBytes": self.writer.backlog,
                "WriteErrors": w.write_errors,
                "NotPersisted": w.not_persisted,
                "IngestPauses": c.paused,
            }
        body = "".join(f"{k}={v}\n" for k, v in values.items())
        return f"INFO: {len(values)} counters\n{body}".encode()

    async def _search_parallel(
        self, views: tuple[BlockView, ...], matcher: Matcher
    ) -> list[Matches]:
        parts = split_views(views, self.parallelism)
        return list(await asyncio.gather(*(self.pool.run(search_views, p, matcher) for p in parts)))

    async def _query(self, spec: cmd.QuerySpec) -> AsyncIterator[bytes]:
        try:
            matches = await self.search(spec)
        except QueryError as exc:
            yield cmd.Error(str(exc)).reply()
            return
        # The header goes out with the first lines, in one write: clients that
        # read the reply with a single recv() (the seed's test client) see both.
        header: bytes | None = cmd.found_line(matches.count)
        async for chunk in self._stream(render(matches, spec)):
            if header is not None:
                chunk, header = header + chunk, None
            yield chunk
        if header is not None:
            yield header

    async def _stream(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        """Pull rendered chunks on the pool (rendering may be per-line Python work)."""
        while True:
            chunk = await self.pool.run(next, chunks, None)
            if chunk is None:
                return
            yield chunk

    async def _follow(self, spec: cmd.QuerySpec, peer: Peer | None) -> AsyncIterator[bytes]:
        if peer is None:
            yield cmd.Error("FOLLOW needs a connection").reply()
            return
        try:
            matcher = await self.pool.run(Matcher, spec)
        except QueryError as exc:
            yield cmd.Error(str(exc)).reply()
            return
        yield b"FOLLOWING\n"
        follower = self.follow.add(matcher, peer)
        try:
            await peer.wait_closed()
        finally:
            self.follow.remove(follower)
