"""A search whose asker has gone (its task cancelled: an HTTP client that
disconnected) stops at the next block instead of scanning the rest on the pool."""

from __future__ import annotations

import asyncio
import threading
from array import array

import pytest

from logcaster.query import newest as newest_module
from logcaster.query.engine import Engine
from logcaster.query.pool import WorkerPool
from logcaster.query.spec import QuerySpec
from logcaster.scan import Buffer
from logcaster.storage.ring import Ring


class HeldScanner:
    """Matches nothing; its first scan waits until released."""

    def __init__(self, spec: QuerySpec) -> None:
        self.spec = spec
        self.scans = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def scan(self, buf: Buffer, start: int, end: int, out: array[int]) -> int:
        self.scans += 1
        self.started.set()
        assert self.release.wait(10)
        return 0


def test_a_cancelled_search_stops_between_blocks() -> None:
    ring = Ring(10_000, 1 << 20, block_size=64)
    for i in range(40):
        ring.append(b"line %02d with some padding\n" % i, 1_000 + i)
    views = ring.snapshot().views
    assert len(views) >= 8

    async def run() -> HeldScanner:
        pool = WorkerPool(1, 4)  # one worker: the whole snapshot is one job
        engine = Engine(ring, pool)
        spec = QuerySpec(keywords=(b"line",))  # a filter: a spec without one is not scanned
        scanner = HeldScanner(spec)

        async def compiled(spec: QuerySpec) -> HeldScanner:
            return scanner

        engine.compile = compiled  # type: ignore[assignment,method-assign]
        search = asyncio.create_task(engine.search(spec))
        assert await asyncio.to_thread(scanner.started.wait, 10)
        search.cancel()
        await asyncio.wait([search])  # the cancellation has reached the engine
        scanner.release.set()
        await pool.run(lambda: None)  # queued behind the search job: it has ended
        pool.shutdown()
        assert search.cancelled()
        return scanner

    scanner = asyncio.run(run())
    assert scanner.scans == 1  # the block being scanned, none after


def test_a_search_left_alone_scans_every_block() -> None:
    ring = Ring(10_000, 1 << 20, block_size=64)
    for i in range(40):
        ring.append(b"line %02d with some padding\n" % i, 1_000 + i)

    async def run() -> int:
        pool = WorkerPool(2, 4)
        engine = Engine(ring, pool)
        matches = await engine.search(QuerySpec(keywords=(b"padding",)))
        pool.shutdown()
        return matches.count

    assert asyncio.run(run()) == 40


def test_a_cancelled_limit_search_stops_between_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(newest_module, "INLINE_MAX", 0)  # every window on the pool
    monkeypatch.setattr(newest_module, "PIECE", 64)
    ring = Ring(10_000, 1 << 20, block_size=64)
    for i in range(40):
        ring.append(b"line %02d with some padding\n" % i, 1_000 + i)

    async def run() -> HeldScanner:
        pool = WorkerPool(1, 4)  # one worker: no helper takes a piece
        engine = Engine(ring, pool)
        spec = QuerySpec(keywords=(b"line",), limit=5)
        scanner = HeldScanner(spec)

        async def compiled(spec: QuerySpec) -> HeldScanner:
            return scanner

        engine.compile = compiled  # type: ignore[assignment,method-assign]
        search = asyncio.create_task(engine.search(spec))
        assert await asyncio.to_thread(scanner.started.wait, 10)
        search.cancel()
        await asyncio.wait([search])
        scanner.release.set()
        await pool.run(lambda: None)  # queued behind the search job: it has ended
        pool.shutdown()
        assert search.cancelled()
        return scanner

    scanner = asyncio.run(run())
    assert scanner.scans == 1  # the piece being scanned, none after
