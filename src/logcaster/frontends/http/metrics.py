"""``/metrics``: the stats registry in the Prometheus text format, with the process'
own metrics (CPU, memory, open files), through ``prometheus-client``.

Names follow the Prometheus conventions: ``logcaster_`` plus the INFO name in
snake case, counters ending in ``_total``, byte values in ``_bytes``; word-valued
entries (``Persist=on``) become ``logcaster_persist_info{value="on"} 1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ...stats import Registry

_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metric_name(name: str) -> str:
    """``HeldBytes`` -> ``logcaster_held_bytes``; ``QueryJobs`` -> ``logcaster_query_jobs``."""
    return "logcaster_" + _WORD.sub("_", name).lower()


class RegistryCollector:
    """A prometheus-client collector reading LogCaster's registry at each scrape."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for m in self.registry:
            name = "logcaster_" + m.prom if m.prom else metric_name(m.name)
            if isinstance(m.value, str):
                info = GaugeMetricFamily(f"{name}_info", m.help, labels=["value"])
                info.add_metric([m.value], 1)
                yield info
            elif m.kind == "counter":
                # prometheus-client appends _total to a counter family's samples.
                yield CounterMetricFamily(name, m.help, value=m.value)
            else:
                yield GaugeMetricFamily(name, m.help, value=m.value)


def exposition_registry(registry: Registry) -> CollectorRegistry:
    prom = CollectorRegistry(auto_describe=False)
    prom.register(RegistryCollector(registry))
    ProcessCollector(registry=prom)
    return prom


METRICS = web.AppKey("metrics", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
