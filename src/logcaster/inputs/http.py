"""The HTTP ingestion adapter: the shippers' endpoints on the HTTP port, each a thin
layer over a sans-IO parser of :mod:`.payloads`, one ``Intake.accept`` per body.

``/insert/jsonline`` (NDJSON), ``/loki/api/v1/push`` (snappy protobuf, or JSON when
so typed),
``/_bulk`` and ``/<index>/_bulk`` (Elasticsearch; the handshake and setup requests
its clients make first are :mod:`.es_setup`'s) and ``/v1/logs``
(OTLP/HTTP, protobuf or JSON). Bodies are read whole (``--http-max-body``, 413 past
it; aiohttp inflates a gzip body within the same bound, so a gzip bomb is a 413 too;
an ``x-gzip`` one, which aiohttp leaves as sent, is inflated here within it) and
parsed, a large body on a thread (NDJSON, Loki, bulk and OTLP in C with the GIL
released) so the event loop keeps serving TCP ingest meanwhile. A Loki or OTLP body
whose lines would pass 8x ``--http-max-body`` (labels and resource attributes are
repeated on every line) is a 413 as well, refused before they are all made. When a
store falls behind, requests are refused with 503 and ``Retry-After`` until it
drains; whatever was accepted before stays accepted.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

from ..pipeline.intake import Intake
from ..stats import Metric
from . import es_setup
from .bodies import BodyBuffers, gunzip, joined, read_chunks
from .es_setup import ES_HEADERS
from .payloads import bulk, jsonline, loki, otlp
from .payloads.records import Batch, Body, PayloadError, TooLarge

ENDPOINTS = ("Jsonline", "Loki", "Bulk", "Otlp")
PROTOBUF = "application/x-protobuf"
# Bodies up to this size are parsed on the event loop: in C in well under 0.1 ms
# (0.1-0.2 ms for OTLP JSON; a body the C readers leave to Python, in about the 5 ms
# the GIL's switch interval would give a parsing thread anyway), unless they are
# renamed by _msg_field in Python (a thread's, however small). Larger ones go to a
# thread: the C scanners release the GIL, so the loop runs on meanwhile.
INLINE_BODY = 64 << 10
STORED_PER_BODY = 8  # the lines one request stores: at most this many --http-max-body
# Elasticsearch's bound on an index name. The one in a /<index>/_bulk path goes
# into the answer's item for every action that names none: without a bound, a
# 16 MiB body of 16-byte actions under an 8 kB path would be answered with 8 GB.
MAX_INDEX_BYTES = 255
ENCODINGS = ("", "identity", "gzip", "x-gzip", "deflate", "zstd", "br")
# what aiohttp passes on as sent (x-gzip is inflated here; snappy, the Loki push's
# only, by its parser)
AS_SENT = ("", "identity", "x-gzip", "snappy")
JSON = "application/json"


def _encoding(request: web.Request) -> str:
    return request.headers.get("Content-Encoding", "").strip().lower()


def _parse_chunks(fn: Callable[..., Batch], chunks: list[bytes], args: tuple[object, ...]) -> Batch:
    return fn(joined(chunks), *args)


def _msg_field(request: web.Request) -> tuple[str, bool]:
    """VictoriaLogs' ``_msg_field``, which it takes as a query argument or a header;
    and whether the body may be parsed on the event loop (not when its records are
    renamed, in Python)."""
    names = request.query.get("_msg_field", request.headers.get("VL-Msg-Field", ""))
    return names, not jsonline.msg_fields(names)


class Refused(Exception):
    """A request answered with an error and nothing stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class HttpIngestStats:
    lines: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    malformed: int = 0  # records skipped
    truncated: int = 0  # lines cut to --max-line-bytes
    refused: int = 0  # requests answered 4xx/5xx with nothing stored
    busy: int = 0  # of those, 503: a store was behind


class HttpIngest:
    """The ingestion endpoints of one HTTP application, and their counters."""

    def __init__(self, intake: Intake, max_line: int, max_body: int) -> None:
        self.intake = intake
        self.max_line = max_line
        self.max_body = max_body
        # Loki labels and OTLP resource attributes are repeated on every line made
        # from them: what one request may store, so a small body cannot make
        # gigabytes (413 past it).
        self.max_stored = STORED_PER_BODY * max_body
        self.stats = HttpIngestStats()
        self.behind = False  # a store asked to pause: refuse until it drains
        self.buffers = BodyBuffers()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/insert/jsonline", self.jsonline)
        # each API at its own path and at VictoriaLogs' (under /insert/), so that a
        # shipper set up for either sends here unchanged
        for prefix in ("", "/insert"):
            r.add_post(prefix + "/loki/api/v1/push", self.loki)
        for es in es_setup.PREFIXES:
            for method in ("POST", "PUT"):
                r.add_route(method, es + "/_bulk", self.bulk)
                r.add_route(method, es + "/{index}/_bulk", self.bulk)
        r.add_post("/v1/logs", self.otlp)
        r.add_post("/insert/opentelemetry/v1/logs", self.otlp)
        es_setup.add_routes(app)

    # ------------------------------------------------------------ the common path
    async def _body(self, request: web.Request, endpoint: str) -> bytes:
        """The request's body, inflated; refuses when busy or too large."""
        _, body = await self._read(request, endpoint, False)
        assert not isinstance(body, list)  # only when direct
        return bytes(body)

    async def _read(
        self, request: web.Request, endpoint: str, direct: bool = True, snappy: bool = False
    ) -> tuple[bytearray | None, Body | list[bytes]]:
        """:meth:`_body`, when as sent and of a known length (``direct``: for the parsers
        that take any buffer) read straight into a reused buffer, or if larger than
        :data:`INLINE_BODY` gathered as its chunks (joined by :meth:`_parse`, off the
        event loop); the buffer, to be given back once the body's batch is stored
        (None: not one of them). ``snappy``: the endpoint takes that encoding too
        (the body is returned as sent)."""
        if self.behind:
            self.stats.busy += 1
            raise Refused(503, "A store is behind: retry shortly")
        encoding = _encoding(request)
        if encoding not in ENCODINGS and not (snappy and encoding == "snappy"):
            raise Refused(415, f"Unsupported Content-Encoding: {encoding}")
        length = request.content_length
        buf: bytearray | None = None
        body: Body | list[bytes]
        plain = encoding in AS_SENT
        try:
            if direct and plain and length is not None and INLINE_BODY < length <= self.max_body:
                body = await read_chunks(request, length)
            elif direct and plain and length is not None and length <= self.max_body:
                buf, body = await self.buffers.read(request, length)
            else:
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Refused(413, f"Request body larger than {self.max_body} bytes") from None
        except web.RequestPayloadError:  # a compressed body that does not inflate
            what = "Malformed request body" if plain else f"Invalid {encoding}-compressed body"
            raise Refused(400, what) from None
        # aiohttp has already inflated a gzip, deflate or zstd body, within client_max_size
        # (a bomb is a 413 like any large body); count the bytes as sent.
        self.stats.bytes[endpoint] += request.content_length or len(body)
        if encoding == "x-gzip":  # gzip by its old name (RFC 9110), which aiohttp leaves
            packed = body if isinstance(body, list) else bytes(body)  # joined on the thread
            if buf is not None:
                self.buffers.give(buf)
                buf = None
            loop = asyncio.get_running_loop()
            try:
                body = await loop.run_in_executor(None, gunzip, packed, self.max_body)
            except TooLarge:
                raise Refused(413, f"Request body larger than {self.max_body} bytes") from None
            except PayloadError:
                raise Refused(400, "Invalid x-gzip-compressed body") from None
        return buf, body

    async def _parse(
        self, fn: Callable[..., Batch], body: Body | list[bytes], *args: object, inline: bool = True
    ) -> Batch:
        """Run a parser (on a thread for a large body, one in chunks (joined there),
        or any body when not ``inline``: one parsed in Python); its errors become
        refusals."""
        try:
            if isinstance(body, list):
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, _parse_chunks, fn, body, args)
            if inline and len(body) <= INLINE_BODY:
                return fn(body, *args)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, functools.partial(fn, body, *args))
        except TooLarge as exc:
            raise Refused(413, str(exc)) from None
        except PayloadError as exc:
            raise Refused(400, str(exc)) from None

    def _store(self, batch: Batch, endpoint: str) -> None:
        s = self.stats
        s.malformed += batch.malformed
        s.truncated += batch.truncated
        if not batch.lines:
            return
        s.lines[endpoint] += batch.lines
        if self.intake.accept(batch.block, batch.lines) and not self.behind:
            self.behind = True
            self.intake.pause(self, self._drained)

    def _drained(self) -> None:
        self.behind = False

    def _refuse(
        self, exc: Refused, headers: dict[str, str] | None = None, otlp_json: bool | None = None
    ) -> web.Response:
        """The error answer: ``{"error": ...}``, or for OTLP (``otlp_json`` not None) the
        ``google.rpc.Status`` its spec wants, JSON or protobuf like the request."""
        self.stats.refused += 1
        headers = dict(headers or {})
        if exc.status == 503:
            headers["Retry-After"] = "1"
        if otlp_json is None:
            return web.json_response({"error": str(exc)}, status=exc.status, headers=headers)
        if otlp_json:
            body = otlp.status(exc.status, str(exc))
            return web.json_response(body, status=exc.status, headers=headers)
        return web.Response(
            body=otlp.status_protobuf(exc.status, str(exc)),
            status=exc.status,
            content_type=PROTOBUF,
            headers=headers,
        )

    def _summary(self, batch: Batch) -> web.Response:
        """204 when all was stored; 200 with counts if some was skipped; 400 if all was."""
        if not batch.malformed:
            return web.Response(status=204)
        body = {"accepted": batch.lines, "malformed": batch.malformed, "error": batch.first_error}
        if not batch.lines:
            self.stats.refused += 1
            return web.json_response(body, status=400)
        return web.json_response(body)

    # ---------------------------------------------------------------- endpoints
    async def jsonline(self, request: web.Request) -> web.Response:
        buf = None
        try:
            buf, body = await self._read(request, "Jsonline")
            names, inline = _msg_field(request)
            batch = await self._parse(jsonline.parse, body, self.max_line, names, inline=inline)
        except Refused as exc:
            return self._refuse(exc)
        self._store(batch, "Jsonline")
        if buf is not None:
            del body
            self.buffers.give(buf)
        return self._summary(batch)

    async def loki(self, request: web.Request) -> web.Response:
        buf = None
        try:
            buf, body = await self._read(request, "Loki", snappy=True)
            # as Loki: JSON when so typed, anything else (no type too) protobuf + snappy;
            # Content-Encoding: snappy (Vector's) names the snappy the protobuf already
            # has, and is undone before a JSON body is read
            if request.content_type != JSON:
                batch = await self._parse(
                    loki.parse_protobuf, body, self.max_line, self.max_body, self.max_stored
                )
            elif _encoding(request) == "snappy":
                batch = await self._parse(
                    loki.parse_json_snappy, body, self.max_line, self.max_body, self.max_stored
                )
            else:
                batch = await self._parse(loki.parse_json, body, self.max_line, self.max_stored)
            del body
        except Refused as exc:
            return self._refuse(exc)
        self._store(batch, "Loki")
        if buf is not None:
            self.buffers.give(buf)
        return self._summary(batch)

    async def bulk(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        index = request.match_info.get("index", "")
        if len(name := index.encode("utf-8", "surrogatepass")) > MAX_INDEX_BYTES:
            problem = f"index name is too long, ({len(name)} > {MAX_INDEX_BYTES})"
            refused = Refused(400, f"Invalid index name [{index[:64]}...], {problem}")
            return self._refuse(refused, ES_HEADERS)
        buf = None
        try:
            buf, body = await self._read(request, "Bulk")
            names, inline = _msg_field(request)
            batch = await self._parse(bulk.parse, body, self.max_line, index, names, inline=inline)
            del body
        except Refused as exc:
            return self._refuse(exc, ES_HEADERS)
        self._store(batch, "Bulk")
        if buf is not None:
            self.buffers.give(buf)
        took = int((time.perf_counter() - t0) * 1000)
        return web.Response(
            body=bulk.response(batch, took),
            content_type="application/json",
            charset="utf-8",
            headers=ES_HEADERS,
        )

    async def otlp(self, request: web.Request) -> web.Response:
        is_json = request.content_type == JSON
        buf = None
        try:
            buf, body = await self._read(request, "Otlp")
            batch = await self._parse(otlp.parse, body, self.max_line, is_json, self.max_stored)
            del body
        except Refused as exc:
            return self._refuse(exc, otlp_json=is_json)
        self._store(batch, "Otlp")
        if buf is not None:
            self.buffers.give(buf)
        if batch.malformed and not batch.lines:  # nothing accepted: the request failed
            return self._refuse(Refused(400, batch.first_error), otlp_json=is_json)
        if is_json:
            return web.json_response(otlp.response(batch))
        return web.Response(body=otlp.response_protobuf(batch), content_type=PROTOBUF)

    # ----------------------------------------------------------------- counters
    def collect(self) -> Iterable[Metric]:
        s = self.stats
        for name in ENDPOINTS:
            yield Metric(
                f"HttpLines{name}",
                s.lines[name],
                f"lines stored from HTTP {name.lower()} requests",
                "counter",
                f"http_ingest_{name.lower()}_lines",
            )
            yield Metric(
                f"HttpBytes{name}",
                s.bytes[name],
                f"request body bytes received by HTTP {name.lower()} (as sent, compressed)",
                "counter",
                f"http_ingest_{name.lower()}_received_bytes",
            )
        yield Metric(
            "HttpMalformed",
            s.malformed,
            "HTTP records skipped as malformed",
            "counter",
            "http_ingest_malformed_records",
        )
        yield Metric(
            "HttpTruncated",
            s.truncated,
            "HTTP lines cut to --max-line-bytes",
            "counter",
            "http_ingest_lines_truncated",
        )
        yield Metric(
            "HttpRefused",
            s.refused,
            "HTTP ingest requests refused, nothing stored",
            "counter",
            "http_ingest_refused_requests",
        )
        yield Metric(
            "HttpBusy",
            s.busy,
            "HTTP ingest requests refused with 503: a store was behind",
            "counter",
            "http_ingest_busy_requests",
        )
