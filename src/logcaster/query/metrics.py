"""Query counts and latencies by frontend and command, in one place for every frontend.

The engine holds one :class:`QueryMetrics`; each frontend declares its commands
once (so every series exists, at zero, from the start) and reports each command it
has answered with its duration. The registry renders the counts (``Queries.line.QUERY``)
and the seconds spent (``QuerySeconds.line.QUERY``) in INFO and ``/api/v1/stats``;
``/metrics`` shows them as ``logcaster_queries_total{frontend,command}`` and the
histogram ``logcaster_query_duration_seconds{frontend,command}``.

Everything here runs on the event loop: no lock.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ..stats import Buckets, Metric

# Upper bounds (seconds) of the latency buckets; +Inf is implied.
BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Series:
    __slots__ = ("count", "in_bucket", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.in_bucket = [0] * (len(BOUNDS) + 1)  # the last one: above every bound


class QueryMetrics:
    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}

    def declare(self, frontend: str, commands: Iterable[str]) -> None:
        """The commands ``frontend`` answers, counted from zero."""
        for command in commands:
            self._series.setdefault((frontend, command), _Series())

    def observe(self, frontend: str, command: str, seconds: float) -> None:
        series = self._series.get((frontend, command))
        if series is None:
            series = self._series[(frontend, command)] = _Series()
        series.count += 1
        series.seconds += seconds
        series.in_bucket[bisect_left(BOUNDS, seconds)] += 1

    @contextmanager
    def timed(self, frontend: str, command: str) -> Iterator[None]:
        """Count one ``command`` and its duration, however it ends."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(frontend, command, time.perf_counter() - start)

    def count(self, frontend: str, command: str) -> int:
        series = self._series.get((frontend, command))
        return series.count if series is not None else 0

    def collect(self) -> Iterable[Metric]:
        for (frontend, command), s in self._series.items():
            labels = (("frontend", frontend), ("command", command))
            yield Metric(
                f"Queries.{frontend}.{command}",
                s.count,
                "commands answered, by frontend and command",
                "counter",
                "queries",
                labels,
            )
            cumulative, total = [], 0
            for bound, n in zip(BOUNDS, s.in_bucket, strict=False):
                total += n
                cumulative.append((bound, total))
            yield Metric(
                f"QuerySeconds.{frontend}.{command}",
                round(s.seconds, 6),
                "seconds spent answering commands (to the reply's end; a tail: its start)",
                "histogram",
                "query_duration_seconds",
                labels,
                Buckets(tuple(cumulative), s.count, s.seconds),
            )
