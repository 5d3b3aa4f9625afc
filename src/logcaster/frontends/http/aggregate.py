"""The HTTP aggregation endpoints: ``/api/v1/hits`` (matches per time bucket, optionally
per value of a field) and ``/api/v1/top`` (the most frequent values of a field), as
JSON. Thin adapters like :mod:`.api`: URL parameters to a spec, the engine's
``hits``/``top`` to work, the result to one JSON object.

``step=auto`` (or no ``step``) picks a round bucket width that cuts the queried range
(``time_from`` .. ``time_to``, an open end being the oldest line held or now) into
about :data:`AUTO_BUCKETS` buckets, so a page can ask for "a histogram of this range"
without knowing what the ring holds.
"""

from __future__ import annotations

import time

from aiohttp import web

from ...query.commands import hits_params, take, top_params
from ...query.errors import QueryError
from ...query.spec import QuerySpec
from .api import BACKEND, Backend, error, timed
from .params import params_of
from .render import rfc3339

NS = 1_000_000_000
AUTO_BUCKETS = 120
NICE_STEPS = tuple(
    n * unit
    for unit, counts in (
        (NS // 1000, (1, 10, 20, 50, 100, 250, 500)),  # ms
        (NS, (1, 2, 5, 10, 15, 30)),
        (60 * NS, (1, 2, 5, 10, 15, 30)),
        (3600 * NS, (1, 2, 3, 6, 12)),
        (86400 * NS, (1, 2, 7, 14, 30, 90, 365)),
    )
    for n in counts
)


def auto_step(lo: int, hi: int) -> int:
    """The smallest round step that cuts ``lo`` .. ``hi`` (ns) into at most AUTO_BUCKETS."""
    span = max(hi - lo, 1)
    for step in NICE_STEPS:
        if span // step < AUTO_BUCKETS:
            return step
    return NICE_STEPS[-1] * (span // (NICE_STEPS[-1] * AUTO_BUCKETS) + 1)


def _oldest_held(backend: Backend, now_ns: int) -> int:
    views = backend.engine.ring.snapshot().views
    return min((v.block.ts_min for v in views), default=now_ns)


def step_of(spec: QuerySpec, backend: Backend, now_ns: int) -> int:
    """``step=auto``: the round step that fits the spec's range (an open end being the
    oldest line held or now)."""
    lo = spec.time_from if spec.time_from is not None else _oldest_held(backend, now_ns)
    hi = spec.time_to if spec.time_to is not None else now_ns
    return auto_step(lo, hi)


@timed("HITS")
async def hits(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/hits?step=1m&by=level&<filters>``: the line port's ``HITS``
    parameters, read by its parser, but for ``step=auto`` (or none)."""
    backend = request.app[BACKEND]
    now = time.time_ns()
    try:
        params = params_of(request.query.items())
        spec, step, by = hits_params(params, now, lambda s: step_of(s, backend, now))
        histogram = await backend.engine.hits(spec, step, by)
    except QueryError as exc:
        return error(400, str(exc))
    buckets: list[dict[str, object]] = []
    for b in histogram.buckets:
        bucket: dict[str, object] = {"time": rfc3339(b.start), "count": b.count}
        if by is not None:
            bucket["by"] = dict(b.values)
        buckets.append(bucket)
    body: dict[str, object] = {"step_ns": histogram.step, "buckets": buckets}
    if by is not None:
        body["by"] = by
    body["total"] = sum(b.count for b in histogram.buckets)
    return web.json_response(body)


@timed("TOP")
async def top(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/top?field=level&limit=10&<filters>``: the line port's ``TOP level
    limit=10 <filters>`` (``limit`` is the number of values here, not of lines)."""
    backend = request.app[BACKEND]
    try:
        own, params = take(params_of(request.query.items()), "field")
        if not own.get("field"):
            raise QueryError("TOP needs a field: field=level")
        spec, field, limit = top_params(own["field"], params, time.time_ns())
        result = await backend.engine.top(spec, field, limit)
    except QueryError as exc:
        return error(400, str(exc))
    values = [{"value": v, "count": n} for v, n in result.values]
    return web.json_response({"field": result.field, "values": values, "matched": result.matched})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/hits", hits)
    app.router.add_get("/api/v1/top", top)
