"""The HTTP API's handlers: ``/api/v1/query`` (NDJSON or text, streamed),
``/api/v1/tail`` (NDJSON or Server-Sent Events, live), ``/api/v1/stats`` (every
counter as JSON), ``/healthz`` and ``/readyz``. Each is a thin adapter: parameters to a
spec, the engine or the live taps to work, a renderer to the response.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from aiohttp import HttpVersion11, web

from ...pipeline.taps import LiveTaps
from ...query.commands import take
from ...query.engine import Engine, search_views
from ...query.errors import QueryError
from ...query.spec import build_spec
from ...stats import Registry
from .body import Body
from .jobs import Runners, jobs_in_flight, output_size
from .params import params_of, since_of, spec_of
from .render import (
    NDJSON,
    SSE,
    Job,
    Piece,
    record_jobs,
    render_records,
    scan_record_jobs,
    text_jobs,
)
from .tail import TailSink


@dataclass(frozen=True, slots=True)
class Backend:
    """What the handlers work with."""

    engine: Engine
    taps: LiveTaps
    registry: Registry
    ready: Callable[[], bool]  # every listener bound, the ring reloaded


BACKEND = web.AppKey("backend", Backend)
TAILS = web.AppKey("tails", set[TailSink])
COMMANDS = ("QUERY", "TAIL", "HITS", "TOP", "STATS")  # as the query metrics name them
Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]


def timed(command: str) -> Callable[[Endpoint], Endpoint]:
    """Count each request of an endpoint and its time, to the reply's end, in the
    engine's query metrics (as ``frontend="http"``)."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def run(request: web.Request) -> web.StreamResponse:
            with request.app[BACKEND].engine.metrics.timed("http", command):
                return await endpoint(request)

        return run

    return wrap


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _wants(request: web.Request, kind: str) -> bool:
    return kind in request.headers.get("Accept", "")


async def _stream(
    request: web.Request, jobs: Iterator[Job], content_type: str
) -> web.StreamResponse:
    """Run the rendering jobs on the pool (:class:`~.jobs.Runners`), a few ahead, and
    write their output in order as it comes (:class:`~.body.Body`); the jobs not
    started yet are dropped if the client goes."""
    engine = request.app[BACKEND].engine
    response = web.StreamResponse(headers={"Content-Type": content_type})
    if request.version >= HttpVersion11:
        response.enable_chunked_encoding()  # what aiohttp picks: Body frames alike
    await response.prepare(request)
    body = Body(request, response)
    runners = Runners(engine)
    running: deque[asyncio.Future[Sequence[Piece]]] = deque()
    try:
        for job in itertools.islice(jobs, engine.parallelism + 1):
            running.append(runners.add(job))
        while running:
            pieces = await running.popleft()
            ahead = jobs_in_flight(engine.parallelism, output_size(pieces))
            for job in itertools.islice(jobs, max(0, ahead - len(running))):
                running.append(runners.add(job))
            for piece in pieces:
                await body.write(piece)  # raises once the client has gone
    finally:
        body.close()
        runners.stop()
        for waiting in running:
            waiting.cancel()
    await response.write_eof()
    return response


@timed("QUERY")
async def query(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    text = _wants(request, "text/plain")
    try:
        spec = spec_of(request.query.items(), time.time_ns())
        plan = None if text else await backend.engine.streamable(spec)
        if plan is None:
            matches = await backend.engine.search(spec)
    except QueryError as exc:
        return error(400, str(exc))
    if plan is not None:  # records as each run of the ring is scanned
        matcher, views = plan
        jobs = scan_record_jobs(views, matcher, newest_first=spec.descending)
        return await _stream(request, jobs, "application/x-ndjson")
    if text:
        lines = text_jobs(matches, newest_first=spec.descending)
        return await _stream(request, lines, "text/plain; charset=utf-8")
    records = record_jobs(matches, newest_first=spec.descending)
    return await _stream(request, records, "application/x-ndjson")


async def tail(request: web.Request) -> web.StreamResponse:
    """The last matches since ``since`` (default: none), then every new match, live.
    Counted once in the query metrics, its time running to the end of the backfill,
    or to the request's end if that comes first (refused, or the client gone)."""
    metrics = request.app[BACKEND].engine.metrics
    start = time.perf_counter()
    counted = False

    def started() -> None:
        nonlocal counted
        if not counted:
            counted = True
            metrics.observe("http", "TAIL", time.perf_counter() - start)

    try:
        return await _tail(request, started)
    finally:
        started()


async def _tail(request: web.Request, started: Callable[[], None]) -> web.StreamResponse:
    backend = request.app[BACKEND]
    now = time.time_ns()
    engine = backend.engine
    try:
        own, params = take(params_of(request.query.items()), "since")
        spec = build_spec(params, now)
        if spec.cluster:
            raise QueryError("The tail is node-local: scope=cluster applies to query, hits and top")
        since = since_of(own.get("since"), now)
        matcher = await engine.compile(spec)
        earlier = None
        if since is not None:
            earlier = await engine.compile(replace(spec, time_from=since, limit=None))
    except QueryError as exc:
        return error(400, str(exc))
    sse = _wants(request, "text/event-stream")
    framing = SSE if sse else NDJSON
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream" if sse else "application/x-ndjson",
            "Cache-Control": "no-cache",
        }
    )
    await response.prepare(request)
    sink = TailSink(response, request.transport, framing)
    tails = request.app[TAILS]
    tails.add(sink)
    # Subscribe and take the backfill's snapshot with no await in between: every line
    # is in exactly one of the two (new lines queue in the sink meanwhile).
    tap = backend.taps.add(matcher, sink)
    snapshot = engine.ring.snapshot()
    try:
        if earlier is not None:
            stop = threading.Event()
            try:
                backfill = await engine.pool.run(search_views, snapshot.views, earlier, stop)
            finally:
                stop.set()  # a cancelled request (the client has gone) ends the job early
            if spec.limit is not None:
                backfill = backfill.keep_newest(spec.limit)
            for chunk in render_records(backfill, framing):
                await response.write(chunk)
        else:
            await response.write(b": tailing\n\n" if sse else b"")
        started()
        await sink.run(functools.partial(backend.taps.caught_up, tap))
    except (ConnectionError, RuntimeError, asyncio.CancelledError):
        pass
    finally:
        backend.taps.remove(tap)
        tails.discard(sink)
    return response


@timed("STATS")
async def stats(request: web.Request) -> web.StreamResponse:
    registry = request.app[BACKEND].registry
    return web.json_response({m.name: m.value for m in registry})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[BACKEND].ready():
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "starting"}, status=503)
