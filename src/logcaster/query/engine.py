"""The query engine: runs a :class:`~logcaster.query.spec.QuerySpec` over the ring (or
the stored history) and returns :class:`~logcaster.query.matches.Matches`.

A search is split into contiguous runs of blocks, one worker-pool job each, so
the C scanners (which release the GIL) use every core; with a limit, the newest
lines are searched first, in windows grown until the limit is met. The engine
knows nothing of any wire protocol: frontends render what it returns.
Aggregations (:meth:`Engine.hits`, :meth:`Engine.top`) read the same blocks the
same way and return plain results (:mod:`.aggregate`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from ..storage.ring import BlockView, Ring, Snapshot
from . import aggregate
from .aggregate import Breakdown, Counts, Histogram, Top
from .errors import QueryError
from .matches import Matches, tail, whole
from .metrics import QueryMetrics
from .newest import INLINE_CUT, everything, newest
from .pool import WorkerPool
from .postfilter import Scanner, compile_spec
from .regions import time_regions
from .spec import QuerySpec

History = Callable[[], tuple[BlockView, ...]]  # every stored line, oldest first (blocking)


class Remote(Protocol):
    """A store that runs queries itself (``scope=cluster``). Blocking calls, run on
    the pool; each raises QueryError when the store cannot answer in full."""

    def search(self, spec: QuerySpec) -> Matches:
        """The matches, oldest first (the newest ``limit`` with a limit)."""
        ...

    def counts(self, spec: QuerySpec, step: int, by: str | None) -> tuple[Counts, Breakdown]:
        """Matches per bucket of ``step`` ns (and per value of ``by``)."""
        ...

    def values(self, spec: QuerySpec, field: str) -> Counter[str]:
        """Matches per value of ``field``."""
        ...


NO_REMOTE = "scope=cluster needs a shared store: start the server with --store"


def search_views(
    views: Sequence[BlockView], matcher: Scanner, stop: threading.Event | None = None
) -> Matches:
    """Run ``matcher`` over some block views (one worker's share of a snapshot); give
    up between blocks once ``stop`` is set (whoever asked has gone)."""
    spec = matcher.spec
    timed = spec.time_from is not None or spec.time_to is not None
    matches = Matches()
    for view in views:
        if stop is not None and stop.is_set():
            break
        spans: array[int] = array("q")
        regions = time_regions(view, spec) if timed else [(view.start, view.end)]
        count = 0
        for s, e in regions:
            count += matcher.scan(view.buf, s, e, spans)
        matches.add(view, spans, count)
    return matches


def search(snapshot: Snapshot, spec: QuerySpec) -> Matches:
    """Single-threaded search of a whole snapshot."""
    return search_views(snapshot.views, compile_spec(spec))


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


class Engine:
    """Searches on the worker pool; the event loop only hands out jobs."""

    def __init__(
        self,
        ring: Ring,
        pool: WorkerPool,
        history: History | None = None,
        remote: Remote | None = None,
    ) -> None:
        self.ring = ring
        self.pool = pool
        self.history = history  # scope=all: the stored files, when there are any
        self.remote = remote  # scope=cluster: the shared store, when there is one
        self.parallelism = max(1, min(pool.workers, os.cpu_count() or 1))
        self.metrics = QueryMetrics()  # every frontend reports its commands here

    async def compile(self, spec: QuerySpec) -> Scanner:
        """The matcher of ``spec`` with its field filters (a regex is compiled on the
        pool; without one it takes microseconds, here); raises QueryError."""
        if spec.regex is None:
            return compile_spec(spec)
        return await self.pool.run(compile_spec, spec)

    async def search(self, spec: QuerySpec) -> Matches:
        """Matches of ``spec`` in a snapshot of the ring, searched in parallel.

        With a limit, the newest lines are searched first, in windows that grow
        until the limit is met (:func:`.newest.newest`).
        """
        if spec.cluster:
            return await self.pool.run(self._remote(spec).search, spec)
        if everything(spec) and not spec.history:
            matches = whole(self.ring.snapshot())  # every line: counted, not scanned
        else:
            matcher = await self.compile(spec)
            views = await self._views(spec)
            if spec.limit is None:
                return Matches.merge(await self._search_parallel(views, matcher))
            matches = await newest(
                views, matcher, spec.limit, self.pool.run, self._share, search_views
            )
        if spec.limit is not None and matches.count > spec.limit:
            if spec.limit <= INLINE_CUT:
                return matches.keep_newest(spec.limit)
            matches = await self.pool.run(matches.keep_newest, spec.limit)
        return matches

    async def streamable(self, spec: QuerySpec) -> tuple[Scanner, tuple[BlockView, ...]] | None:
        """The matcher and the views to scan of a query whose matches a frontend may
        render as it finds them, a run of views at a time (no limit, no cluster
        scope), or None; raises QueryError."""
        if spec.cluster or spec.limit is not None:
            return None
        return await self.compile(spec), await self._views(spec)

    async def hits(self, spec: QuerySpec, step: int, by: str | None = None) -> Histogram:
        """Matches of ``spec`` per ``step`` ns of receive time (and per value of the
        field ``by``; a spec limit or order is not applied); raises QueryError, also
        for too many buckets."""
        aggregate.check_range(spec, step)
        if spec.cluster:
            remote = await self.pool.run(self._remote(spec, by).counts, spec, step, by)
            return aggregate.histogram(spec, step, by, [remote])
        matcher = await self.compile(spec)
        views = await self._views(spec)
        parts = split_views(views, self.parallelism)
        counted = await asyncio.gather(
            *(self.pool.run(aggregate.count_buckets, p, matcher, step, by) for p in parts)
        )
        return aggregate.histogram(spec, step, by, counted)

    async def top(self, spec: QuerySpec, field: str, limit: int) -> Top:
        """The ``limit`` most frequent values of ``field`` among the matches of ``spec``
        (a spec limit or order is not applied); raises QueryError."""
        if spec.cluster:
            values = await self.pool.run(self._remote(spec, field).values, spec, field)
            return aggregate.top(field, limit, [values])
        matcher = await self.compile(spec)
        views = await self._views(spec)
        parts = split_views(views, self.parallelism)
        counted = await asyncio.gather(
            *(self.pool.run(aggregate.count_values, p, matcher, field) for p in parts)
        )
        return aggregate.top(field, limit, counted)

    def _remote(self, spec: QuerySpec, field: str | None = None) -> Remote:
        if self.remote is None:
            raise QueryError(NO_REMOTE)
        return self.remote

    async def _views(self, spec: QuerySpec) -> tuple[BlockView, ...]:
        if spec.history and self.history is not None:
            return await self.pool.run(self.history)
        return self.ring.snapshot().views

    async def tail(self, count: int) -> Matches:
        """The newest ``count`` lines held."""
        return await self.pool.run(tail, self.ring.snapshot(), count)

    def _share(
        self, pieces: Sequence[BlockView], matcher: Scanner, stop: threading.Event
    ) -> list[Matches]:
        """On a worker: each piece searched, on this thread and the others free."""
        return self.pool.share(
            lambda piece: search_views((piece,), matcher, stop), pieces, self.parallelism - 1
        )

    async def _search_parallel(
        self, views: tuple[BlockView, ...], matcher: Scanner
    ) -> list[Matches]:
        """One job per share of ``views``; if the search is cancelled (its client has
        gone), the jobs not started are dropped and the running ones stop at their
        next block."""
        parts = split_views(views, self.parallelism)
        stop = threading.Event()
        try:
            jobs = (self.pool.run(search_views, p, matcher, stop) for p in parts)
            return list(await asyncio.gather(*jobs))
        except asyncio.CancelledError:
            stop.set()
            raise
