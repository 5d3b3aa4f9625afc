"""The worker pool: a fixed set of threads fed by a bounded job queue.

The event loop is the producer, the threads are the consumers. The queue bound
is enforced on the loop side: :meth:`WorkerPool.run` waits for a free slot
before handing a job over, so a flood of requests parks the *requesting
connections* (which stop being read) instead of growing an unbounded queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..stats import Metric

T = TypeVar("T")


class WorkerPool:
    def __init__(self, workers: int, queue_size: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="logcaster-w")
        self._slots = asyncio.Semaphore(workers + queue_size)
        self.waiting = 0  # jobs handed over and not finished

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on a worker thread; wait for a queue slot first."""
        async with self._slots:
            self.waiting += 1
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._executor, fn, *args)
            finally:
                self.waiting -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def collect(self) -> Iterable[Metric]:
        yield Metric(
            "QueryJobs",
            self.waiting,
            "search jobs handed to workers, not finished",
            prom="query_jobs_running",
        )
