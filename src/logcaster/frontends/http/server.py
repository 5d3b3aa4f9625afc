"""The HTTP listener: an aiohttp application on the server's event loop, its routes,
bearer-token authentication, JSON errors, and the port it really bound.

:class:`HTTPListener` is a :class:`~logcaster.net.Listener` like the TCP ones, so
the lifecycle code starts and stops it with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
import ssl
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler

from ...net import BACKLOG, Address, bound_socket
from ...query.spec import MAX_COMMAND_BYTES
from . import aggregate, api, ui
from .metrics import METRICS, exposition_registry, metrics
from .tail import TailSink

OPEN = frozenset({"/healthz"})  # answered without a token, like the UI's files
MAX_TARGET = MAX_COMMAND_BYTES  # a request line's target: a query as long as a command
MAX_FIELD = 8190  # a header field (aiohttp's default; the API's headers are short)
HANDLER_ARGS: dict[str, Any] = {  # access_log=None: no access log (typed as a Logger)
    "access_log": None,
    "max_line_size": MAX_TARGET,
    "max_field_size": MAX_FIELD,
}


def bearer_token(authorization: str) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <token>`` header, or None for
    another scheme. The scheme is case-insensitive (RFC 9110 section 11.1), one or more
    spaces follow it."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.lstrip(" ").encode("utf-8", "replace")


def auth_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN and not ui.is_public(request.path):
            given = bearer_token(request.headers.get("Authorization", ""))
            # the token itself compared in constant time, whatever the scheme's case
            if given is None or not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "Authentication required"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="logcaster"'},
                )
        return await handler(request)

    return check


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413, ...) as ``{"error": ...}``; a bug costs one 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)
    except Exception as exc:
        return web.json_response({"error": f"Internal error: {type(exc).__name__}"}, status=500)


class JSONErrorHandler(RequestHandler):
    """aiohttp's connection protocol, with its own errors (a request it cannot read,
    before any handler or middleware runs) answered as ``{"error": ...}`` like the
    rest: a request target over :data:`MAX_TARGET` bytes is a 414, a header field
    over :data:`MAX_FIELD` a 431."""

    __slots__ = ()

    def __init__(self, server: web.Server) -> None:
        super().__init__(server, loop=asyncio.get_running_loop(), **HANDLER_ARGS)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A request the client got wrong (aiohttp's HttpProcessingError: a bad
        request line or header, a line too long) is one warning line, not a
        traceback: a client sending garbage must not fill the log with them."""
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            why = " ".join(str(exc.message).split())[:200]
            remote = args[1] if len(args) > 1 else "?"
            self.logger.warning("Bad HTTP request from %s: %s", remote, why)
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs it, as before
        text = message or HTTPStatus(status).phrase
        if isinstance(exc, LineTooLong):
            if exc.args[1] == MAX_TARGET:
                status = 414
                text = f"Request target too long (limit {MAX_TARGET} bytes, as a query command)"
            else:
                status = 431
                text = f"Header field too long (limit {MAX_FIELD} bytes)"
        response = web.json_response({"error": text}, status=status)
        response.force_close()
        return response


class JSONErrorSite(web.SockSite):
    """A :class:`web.SockSite` whose connections are :class:`JSONErrorHandler` s
    (aiohttp's own sites take the runner's protocol; this one only swaps it)."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: JSONErrorHandler(server),
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
        )


def build_app(
    backend: api.Backend,
    token: str = "",
    max_body: int = 16 << 20,
    more_routes: Iterable[Callable[[web.Application], None]] = (),
    root_api: Handler | None = None,
) -> web.Application:
    """The application: this frontend's routes, then those ``more_routes`` add (the
    HTTP ingestion endpoints, which belong to the inputs), behind the same middlewares.
    ``/`` is the web page for browsers and ``root_api`` (Elasticsearch's handshake)
    for every other client."""
    middlewares: list[Middleware] = [json_errors]
    if token:
        middlewares.append(auth_middleware(token))
    app = web.Application(middlewares=middlewares, client_max_size=max_body)
    app[api.BACKEND] = backend
    backend.engine.metrics.declare("http", api.COMMANDS)
    app[api.TAILS] = set()
    app[METRICS] = exposition_registry(backend.registry)
    app.router.add_get("/api/v1/query", api.query)
    app.router.add_get("/api/v1/tail", api.tail)
    app.router.add_get("/api/v1/stats", api.stats)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_get("/ready", api.readyz)  # Loki's path, for its clients' health checks
    app.router.add_get("/metrics", metrics)
    aggregate.add_routes(app)
    ui.add_routes(app, root_api)
    for add in more_routes:
        add(app)
    return app


class HTTPListener:
    """The HTTP port (one aiohttp runner and site)."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        tls: ssl.SSLContext | None = None,
        flag: str = "--http-port",
    ) -> None:
        self.name = "http"
        self.flag = flag  # the setting that chose the port, for bind errors
        self.app = app
        self.host, self.port = host, port
        self.tls = tls
        # handler_cancellation: a client that disconnects ends its query or tail at once.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=2.0, handler_cancellation=True
        )
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        await self._runner.setup()
        self._sock = bound_socket(self.host, self.port)
        site = JSONErrorSite(self._runner, self._sock, ssl_context=self.tls, backlog=BACKLOG)
        await site.start()

    @property
    def address(self) -> Address:
        assert self._sock is not None, "not started"
        host, port = self._sock.getsockname()[:2]
        return Address(host, port)

    def close(self) -> None:
        """Stop accepting: the listening socket closes when the runner is cleaned up."""

    def close_connections(self) -> None:
        tails: set[TailSink] = self.app[api.TAILS]
        for sink in list(tails):
            sink.abort()

    async def wait_closed(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(Exception):
            await self._runner.cleanup()
