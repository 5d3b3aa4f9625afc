"""The worker pool: a fixed set of threads fed by a bounded job queue.

The event loop is the producer, the threads are the consumers. The queue bound
is enforced on the loop side: :meth:`WorkerPool.run` waits for a free slot
before handing a job over, so a flood of requests parks the *requesting
connections* (which stop being read) instead of growing an unbounded queue.
A job on a worker may share its work out to other workers
(:meth:`WorkerPool.share`), bounded by the jobs that do.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..stats import Metric

T = TypeVar("T")
R = TypeVar("R")


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

    @property
    def crowded(self) -> bool:
        """Some job handed over waits for a thread (read from any thread: a hint)."""
        return self.waiting > self.workers

    def share(self, fn: Callable[[T], R], items: Sequence[T], helpers: int) -> list[R]:
        """``fn`` of each of ``items``, in order, computed on the calling worker thread
        and on up to ``helpers`` more pool threads, each taking the next item as it
        comes free; blocks until all are done (the first error is raised).

        A job already on a worker shares its work out this way with no trip
        through the event loop. A helper that starts late finds nothing left, and
        only items a running thread took are waited for: callers filling the
        whole pool cannot deadlock waiting for helpers that never start."""
        results: list[R | None] = [None] * len(items)
        errors: list[BaseException] = []
        claims = itertools.count()  # next() of it is atomic under the GIL
        left = [len(items)]
        lock = threading.Lock()
        all_done = threading.Event()

        def work() -> None:
            while (i := next(claims)) < len(items):
                try:
                    results[i] = fn(items[i])
                except BaseException as exc:  # raised on the caller's thread
                    errors.append(exc)
                with lock:
                    left[0] -= 1
                    if not left[0]:
                        all_done.set()

        for _ in range(min(helpers, len(items) - 1)):
            try:
                self._executor.submit(work)
            except RuntimeError:  # shut down: the caller does it all
                break
        work()
        if items:
            all_done.wait()
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]  # every slot is filled

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def collect(self) -> Iterable[Metric]:
        yield Metric(
            "QueryJobs",
            self.waiting,
            "search jobs handed to workers, not finished",
            prom="query_jobs_running",
        )
