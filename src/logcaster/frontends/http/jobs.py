"""How a streamed reply (``/api/v1/query``) runs its rendering jobs.

The reply's jobs (:mod:`.render`) go to a few *runners*: pool tasks that each take
the next waiting job as they finish one, with no trip through the event loop in
between, and no more of them at once than the cores the engine searches with. The
event loop queues jobs ahead of the one whose bytes it is writing
(:func:`jobs_in_flight`) and writes their output in order as each finishes.

Before, each job was its own pool task: the pool's four threads took the queued
jobs all at once on two cores, and every job's end woke the event loop, which then
woke a thread for the next one. The threads waited on each other and on cores:
13-17% of two cores idle over a 250 k-record reply, 7-11% with runners, and the
reply ~5% sooner (six alternating pairs of 21 requests each, from 1% slower to 8%
faster).

When other work waits for a pool thread, a runner gives its thread back after the
job it is on and a successor takes its place at the back of the pool's queue, so a
long reply takes turns with the other queries as its jobs did.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Sequence

from ...query.engine import Engine
from .render import Job, Piece

__all__ = ["BYTES_AHEAD", "JOBS_QUEUED", "Runners", "jobs_in_flight", "output_size"]

# How many jobs a reply keeps queued or running: one more than the cores it searches
# with, and up to JOBS_QUEUED more while that many jobs' output would stay within
# BYTES_AHEAD (the size of the last job's output tells). While the event loop waits
# for the client to take a job's bytes, the runners go on with the next jobs; with
# one spare job they soon ran out and a core idled (~20% of two cores over a
# 250 k-record reply of ~2.4 MB per job). Replies whose jobs write more (every
# line: ~9 MB each) keep one spare job, and with it their bound on memory.
JOBS_QUEUED = 4
BYTES_AHEAD = 16 << 20

Done = asyncio.Future[Sequence[Piece]]


def jobs_in_flight(parallelism: int, job_bytes: int) -> int:
    """The jobs to keep queued or running, the last one's output ``job_bytes`` long."""
    most = BYTES_AHEAD // max(job_bytes, 1)
    return parallelism + max(1, min(JOBS_QUEUED, most - parallelism))


def output_size(pieces: Sequence[Piece]) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.end for p in pieces)


class Runners:
    """The runners of one reply. :meth:`add` queues a job (on the event loop) and
    returns the future of its output; :meth:`stop` drops the jobs not started."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._waiting: deque[tuple[Job, Done]] = deque()
        self._active = 0  # runners started and not yet out of work
        self._stopped = False
        self._tasks: set[asyncio.Future[None]] = set()

    def add(self, job: Job) -> Done:
        done: Done = self._loop.create_future()
        with self._lock:
            self._waiting.append((job, done))
            start = not self._stopped and self._active < self._engine.parallelism
            if start:
                self._active += 1
        if start:
            self._start()
        return done

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._waiting.clear()

    def _start(self) -> None:
        task = asyncio.ensure_future(self._engine.pool.run(self._run))
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Future[None]) -> None:
        """A runner's pool task ended: if it failed outside a job (the pool is shut
        down), the jobs it would have run fail with it, not wait forever."""
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        with self._lock:
            left = list(self._waiting)
            self._waiting.clear()
            self._active -= 1
        for _, done in left:
            _settle(done, None, task.exception())

    def _run(self) -> None:
        """On a pool thread: the waiting jobs in the order they were queued, until
        there are none, or other work waits for a thread."""
        pool = self._engine.pool
        while True:
            with self._lock:
                if self._stopped or not self._waiting:
                    self._active -= 1
                    return
                job, done = self._waiting.popleft()
            try:
                pieces = job()
            except BaseException as exc:  # handed to the reply, which raises it
                self._hand(done, None, exc)
            else:
                self._hand(done, pieces, None)
            if pool.crowded:
                break
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits
            self._loop.call_soon_threadsafe(self._start)  # a successor, this one's place

    def _hand(self, done: Done, pieces: Sequence[Piece] | None, exc: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_settle, done, pieces, exc)


def _settle(done: Done, pieces: Sequence[Piece] | None, exc: BaseException | None) -> None:
    if done.done():  # the reply has gone
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        assert pieces is not None
        done.set_result(pieces)
