"""``/metrics``: the stats registry in the Prometheus text format, with the process'
own metrics (CPU, memory, open files), through ``prometheus-client``.

Names follow the Prometheus conventions: ``logcaster_`` plus the INFO name in
snake case, counters ending in ``_total``, byte values in ``_bytes``; word-valued
entries (``Persist=on``) become ``logcaster_persist_info{value="on"} 1``; labelled
entries sharing a name are one family (``logcaster_queries_total{frontend,command}``),
and histograms (``logcaster_query_duration_seconds``) keep their buckets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ...stats import Metric as StatsMetric
from ...stats import Registry

_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metric_name(name: str) -> str:
    """``HeldBytes`` -> ``logcaster_held_bytes``; ``QueryJobs`` -> ``logcaster_query_jobs``."""
    return "logcaster_" + _WORD.sub("_", name).lower()


class RegistryCollector:
    """A prometheus-client collector reading LogCaster's registry at each scrape.

    Metrics sharing a Prometheus name (labelled series, such as the query counts by
    command) are one family."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for m in self.registry:
            name = "logcaster_" + m.prom if m.prom else metric_name(m.name)
            label_names = [k for k, _ in m.labels]
            label_values = [v for _, v in m.labels]
            if isinstance(m.value, str):
                name += "_info"
                label_names.append("value")
                label_values.append(m.value)
            family = families.get(name)
            if family is None:
                family = families[name] = _family(m, name, label_names)
            if isinstance(family, HistogramMetricFamily):
                b = m.buckets
                assert b is not None, m.name
                buckets = [(str(le), n) for le, n in b.cumulative] + [("+Inf", b.count)]
                family.add_metric(label_values, buckets, b.sum)
            elif isinstance(m.value, str):
                family.add_metric(label_values, 1)  # type: ignore[attr-defined]
            else:
                family.add_metric(label_values, m.value)  # type: ignore[attr-defined]
        yield from families.values()


def _family(m: StatsMetric, name: str, labels: list[str]) -> Metric:
    if m.kind == "histogram" and not isinstance(m.value, str):
        return HistogramMetricFamily(name, m.help, labels=labels)
    if m.kind == "counter" and not isinstance(m.value, str):
        # prometheus-client appends _total to a counter family's samples.
        return CounterMetricFamily(name, m.help, labels=labels)
    return GaugeMetricFamily(name, m.help, labels=labels)


def exposition_registry(registry: Registry) -> CollectorRegistry:
    prom = CollectorRegistry(auto_describe=False)
    prom.register(RegistryCollector(registry))
    ProcessCollector(registry=prom)
    return prom


METRICS = web.AppKey("metrics", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
