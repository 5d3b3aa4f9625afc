"""How a streamed reply runs its jobs (``frontends/http/jobs.py``): in order, at most
one runner per searching core, errors handed to the reply, dropped jobs never run,
and a long reply taking turns with other work on a crowded pool."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

from logcaster.frontends.http.jobs import Runners
from logcaster.frontends.http.render import Piece
from logcaster.query.engine import Engine
from logcaster.query.pool import WorkerPool
from logcaster.storage.ring import Ring


def engine_of(workers: int, parallelism: int) -> Engine:
    engine = Engine(Ring(1000, 1 << 16, block_size=1 << 12), WorkerPool(workers, 64))
    engine.parallelism = parallelism
    return engine


class Tracker:
    """Jobs that record how many of them run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.ran: list[int] = []

    def job(self, n: int, seconds: float = 0.002) -> Callable[[], Sequence[Piece]]:
        def run() -> Sequence[Piece]:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.ran.append(n)
            time.sleep(seconds)  # the GIL released, as rendering releases it
            with self.lock:
                self.now -= 1
            return [b"%d" % n]

        return run


Body = Callable[[Engine, Runners, Tracker], Awaitable[None]]


def on_pool(workers: int, parallelism: int, body: Body) -> None:
    """Run ``body`` with an engine on a fresh pool, a reply's runners and a tracker."""

    async def main() -> None:
        engine = engine_of(workers, parallelism)
        try:
            await body(engine, Runners(engine), Tracker())
        finally:
            engine.pool.shutdown()

    asyncio.run(main())


async def started(tracker: Tracker, jobs: int) -> None:
    deadline = time.monotonic() + 30
    while len(tracker.ran) < jobs:
        assert time.monotonic() < deadline, "the jobs did not start"
        await asyncio.sleep(0.001)


def test_outputs_come_in_order_from_at_most_one_runner_per_core() -> None:
    async def body(engine: Engine, runners: Runners, tracker: Tracker) -> None:
        # the first job is the slowest: the later ones finish before it
        done = [runners.add(tracker.job(n, 0.2 if n == 0 else 0.002)) for n in range(20)]
        outputs = [await d for d in done]
        assert outputs == [[b"%d" % n] for n in range(20)]
        assert tracker.most == 2  # four pool threads, two cores: two at once
        assert tracker.ran == sorted(tracker.ran)  # taken in the order queued

    on_pool(4, 2, body)


def test_a_failing_job_fails_its_output_only() -> None:
    def bad() -> Sequence[Piece]:
        raise ValueError("broken job")

    async def body(engine: Engine, runners: Runners, tracker: Tracker) -> None:
        first, second, third = (runners.add(j) for j in (lambda: [b"a"], bad, lambda: [b"c"]))
        assert await first == [b"a"]
        try:
            await second
        except ValueError as exc:
            assert str(exc) == "broken job"
        else:
            raise AssertionError("the job's error was lost")
        assert await third == [b"c"]

    on_pool(2, 2, body)


def test_stopped_runners_start_no_more_jobs() -> None:
    async def body(engine: Engine, runners: Runners, tracker: Tracker) -> None:
        first = runners.add(tracker.job(0, 0.05))
        rest = [runners.add(tracker.job(n)) for n in range(1, 10)]
        await started(tracker, 1)  # the first job is running
        runners.stop()
        assert await first == [b"0"]
        await asyncio.sleep(0.1)
        assert tracker.ran == [0]
        assert not any(d.done() for d in rest)  # the reply cancels them
        late = runners.add(tracker.job(99))
        await asyncio.sleep(0.05)
        assert tracker.ran == [0] and not late.done()

    on_pool(2, 1, body)


def test_a_long_reply_takes_turns_with_other_work() -> None:
    """Two pool threads, both running a reply's jobs: a job of another query, handed
    to the pool meanwhile, runs long before the reply's forty jobs are done."""

    async def body(engine: Engine, runners: Runners, tracker: Tracker) -> None:
        done = [runners.add(tracker.job(n, 0.005)) for n in range(40)]
        await started(tracker, 2)
        before = len(tracker.ran)
        other = await engine.pool.run(lambda: len(tracker.ran))
        # each runner ends the job it is on, then gives its thread back
        assert other <= before + 4, (before, other)
        assert [await d for d in done] == [[b"%d" % n] for n in range(40)]

    on_pool(2, 2, body)


def test_jobs_fail_rather_than_wait_when_the_pool_is_gone() -> None:
    async def body(engine: Engine, runners: Runners, tracker: Tracker) -> None:
        engine.pool.shutdown()  # the server is stopping: no runner can start
        done = [runners.add(tracker.job(n)) for n in range(3)]
        for d in done:
            try:
                await asyncio.wait_for(d, 10)
            except RuntimeError:
                continue
            raise AssertionError("a job ran on a pool that was shut down")
        assert tracker.ran == []

    on_pool(2, 2, body)
