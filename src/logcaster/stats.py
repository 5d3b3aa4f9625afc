"""One registry of every counter and gauge, read by every renderer of statistics.

Each subsystem owns its numbers and exposes them as a *collector*: an object
whose ``collect()`` yields :class:`Metric` values when asked (like Prometheus'
client_python). The :class:`Registry` holds the collectors in the order they
were registered; the line port's ``INFO`` (and later HTTP's JSON and
``/metrics``) render the same list, so no frontend lists counters by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["counter", "gauge", "info", "histogram"]
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Buckets:
    """A histogram's state: ``(upper bound, observations <= it)`` per bucket (cumulative,
    +Inf implied by ``count``), the number of observations and their sum."""

    cumulative: tuple[tuple[float, int], ...]
    count: int
    sum: float


@dataclass(frozen=True, slots=True)
class Metric:
    """One value: ``name`` as INFO shows it (``Total``), what it means, its kind, and
    ``prom``, its Prometheus name without prefix or ``_total`` (default: ``name`` in
    snake case). Metrics that share a ``prom`` name are one family, told apart by
    their ``labels``.

    Counters only grow; gauges go up and down; info values are words (``on``); a
    histogram's value is the sum of its observations, its ``buckets`` the rest.
    """

    name: str
    value: int | float | str
    help: str
    kind: Kind = "gauge"
    prom: str = ""
    labels: Labels = ()
    buckets: Buckets | None = None


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class Constant:
    """A collector of fixed values (a subsystem that is switched off, say)."""

    def __init__(self, *metrics: Metric) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


class FunctionCollector:
    """A collector made from a function (for a subsystem that is a plain object)."""

    def __init__(self, fn: Callable[[], Iterable[Metric]]) -> None:
        self.fn = fn

    def collect(self) -> Iterable[Metric]:
        return self.fn()


class Registry:
    def __init__(self) -> None:
        self._collectors: list[Collector] = []

    def register(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def __iter__(self) -> Iterator[Metric]:
        """Every metric, collector by collector, in registration order."""
        for collector in self._collectors:
            yield from collector.collect()

    def values(self) -> dict[str, int | float | str]:
        return {m.name: m.value for m in self}
