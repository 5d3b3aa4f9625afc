"""The worker pool's work sharing: a job on a worker computes a list of items with
the workers that are free, in order, raising the first error, and never waits for
a helper that has not started (callers filling the whole pool still finish)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from logcaster.query.pool import WorkerPool


def test_share_gives_every_result_in_order_from_several_threads() -> None:
    pool = WorkerPool(4, 8)
    seen: set[str] = set()
    barrier = threading.Barrier(2, timeout=10)

    def square(x: int) -> int:
        seen.add(threading.current_thread().name)
        if x == 0:
            barrier.wait()  # item 0 waits until another thread has taken item 1
        if x == 1:
            barrier.wait()
        return x * x

    async def run() -> list[int]:
        return await pool.run(pool.share, square, list(range(50)), 3)

    try:
        assert asyncio.run(run()) == [x * x for x in range(50)]
    finally:
        pool.shutdown()
    assert len(seen) >= 2


def test_share_raises_the_first_error_after_every_item_is_done() -> None:
    pool = WorkerPool(2, 4)
    done: list[int] = []

    def check(x: int) -> int:
        if x == 3:
            raise ValueError("bad item")
        done.append(x)
        return x

    try:
        with pytest.raises(ValueError, match="bad item"):
            pool.share(check, list(range(10)), 1)
    finally:
        pool.shutdown()
    assert sorted(done) == [x for x in range(10) if x != 3]


def test_sharers_filling_the_pool_do_not_wait_for_helpers_that_never_start() -> None:
    pool = WorkerPool(2, 8)
    both = threading.Barrier(2, timeout=10)

    def job(tag: int) -> list[int]:
        both.wait()  # both workers are busy sharing: no helper can start
        return pool.share(lambda x: x + tag, list(range(20)), 5)

    async def run() -> list[list[int]]:
        return list(await asyncio.gather(pool.run(job, 0), pool.run(job, 100)))

    try:
        assert asyncio.run(run()) == [list(range(20)), list(range(100, 120))]
    finally:
        pool.shutdown()


def test_share_on_a_pool_shut_down_runs_on_the_caller() -> None:
    pool = WorkerPool(2, 4)
    pool.shutdown()
    assert pool.share(str, [1, 2, 3], 2) == ["1", "2", "3"]
    assert pool.share(str, [], 2) == []
