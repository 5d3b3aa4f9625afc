"""The server's lifecycle: startup -> serve -> shutdown.

Startup binds both listeners (exposing their real ports, so port 0 works),
serve runs until SIGINT/SIGTERM, shutdown stops accepting, stores every
connection's unterminated last line, closes clients and the worker pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import Config, ConfigError, MiB
from .console import say
from .follow import FollowHub
from .framing import Scratch
from .guard import ConnectionGuard
from .ingest import IngestProtocol
from .intake import Counters, Intake
from .persist import PersistWriter, check_directory, load_newest, recover
from .pool import WorkerPool
from .queryport import QueryProtocol
from .ring import DEFAULT_BLOCK_SIZE, BlockFactory, Ring
from .service import QueryService

BACKLOG = 4096


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _bound(server: asyncio.Server) -> Address:
    sock: socket.socket = server.sockets[0]
    host, port = sock.getsockname()[:2]
    return Address(host, port)


class LogServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ring = Ring(
            config.ring.capacity,
            config.ring.max_memory,
            DEFAULT_BLOCK_SIZE,
            BlockFactory(DEFAULT_BLOCK_SIZE),
        )
        self.counters = Counters()
        self.follow = FollowHub(stall_timeout=config.query.timeout)
        self.intake = Intake(self.ring, self.follow, self.counters)
        self.ingest_connections: set[IngestProtocol] = set()
        self.query_connections: set[QueryProtocol] = set()
        self._ingest: asyncio.Server | None = None
        self._query: asyncio.Server | None = None
        self._stop: asyncio.Event | None = None
        self.pool: WorkerPool | None = None
        self.service: QueryService | None = None
        self.writer: PersistWriter | None = None

    # ---------------------------------------------------------------- startup
    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if cfg.persist.enabled:
            self._start_persistence(loop)
        self.pool = WorkerPool(cfg.pool.workers, cfg.pool.queue_size)
        self.service = QueryService(self.ring, self.pool, self.counters, self.follow, self.writer)
        scratch = Scratch(cfg.ingest.max_line_bytes)
        guard = ConnectionGuard(cfg.ingest.max_clients, cfg.ingest.allow)
        service = self.service
        ingest_tls, query_tls = cfg.tls_ports
        tls = tls_context(cfg.tls.cert, cfg.tls.key) if cfg.tls.cert else None
        try:
            self._ingest = await create_listener(
                loop,
                lambda: IngestProtocol(self.intake, scratch, self.ingest_connections, guard),
                cfg.ingest.host,
                cfg.ingest.port,
                tls if ingest_tls else None,
            )
            self._query = await create_listener(
                loop,
                lambda: QueryProtocol(
                    service,
                    cfg.query.timeout,
                    self.query_connections,
                    cfg.query.max_clients,
                    cfg.query.auth_token,
                ),
                cfg.query.host,
                cfg.query.port,
                tls if query_tls else None,
            )
        except BaseException:
            if self._ingest is not None:
                self._ingest.close()
            if self.writer is not None:
                self.writer.close()
            raise

    def _start_persistence(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check the directory, repair a torn tail, reload the ring, start the writer."""
        cfg = self.config
        directory = Path(cfg.persist.dir)
        check_directory(directory)
        recover(directory)
        t0 = time.perf_counter()
        parts = load_newest(directory, cfg.ring.capacity, cfg.ring.max_memory)
        files = 0
        for data, offs, tss in parts:
            view = memoryview(data)
            ends = [*offs[1:], len(data)]
            for start, end, ts in zip(offs, ends, tss, strict=True):
                self.counters.reloaded += self.ring.append(view[start:end], ts)
            files += 1
        say(
            f"LogCaster reloaded {self.counters.reloaded} lines from {files} file(s) "
            f"in {time.perf_counter() - t0:.2f} s",
            error=False,
        )
        self.writer = PersistWriter(
            directory,
            max_file_bytes=max(1, int(cfg.persist.max_file_mb * MiB)),
            retention_bytes=max(1, int(cfg.persist.retention_mb * MiB)),
            fsync_ms=cfg.persist.fsync_ms,
            on_drained=lambda: self._call_soon(loop, self.intake.resume_all),
        )
        self.writer.start()
        self.intake.writer = self.writer

    @staticmethod
    def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            loop.call_soon_threadsafe(fn)

    @property
    def ingest_address(self) -> Address:
        assert self._ingest is not None
        return _bound(self._ingest)

    @property
    def query_address(self) -> Address:
        assert self._query is not None
        return _bound(self._query)

    def banner(self) -> str:
        return f"LogCaster listening: ingest {self.ingest_address}, query {self.query_address}"

    # ------------------------------------------------------------------ serve
    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def serve(self) -> None:
        assert self._stop is not None
        idle = self.config.ingest.idle_timeout
        sweeper = asyncio.create_task(self._close_idle(idle)) if idle > 0 else None
        try:
            await self._stop.wait()
        finally:
            if sweeper is not None:
                sweeper.cancel()

    async def _close_idle(self, timeout: float) -> None:
        """--idle-timeout: close ingest connections that sent nothing for that long."""
        while True:
            await asyncio.sleep(min(timeout / 2, 1.0))
            limit = time.monotonic() - timeout
            for conn in list(self.ingest_connections):
                if conn.last_active < limit and conn.transport is not None:
                    self.counters.idle_closed += 1
                    conn.transport.close()

    # --------------------------------------------------------------- shutdown
    async def shutdown(self) -> None:
        """Stop accepting, store what was received, close clients, write out, stop."""
        for srv in (self._ingest, self._query):
            if srv is not None:
                srv.close()
        for conn in list(self.ingest_connections):
            conn.flush()
            if conn.transport is not None:
                conn.transport.abort()
        for qconn in list(self.query_connections):
            if qconn.transport is not None:
                qconn.transport.abort()
        for srv in (self._ingest, self._query):
            if srv is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(srv.wait_closed(), 2.0)
        if self.writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.writer.close)
        if self.pool is not None:
            self.pool.shutdown()


def _install_signals(loop: asyncio.AbstractEventLoop, server: LogServer) -> None:
    state = {"signals": 0}

    def on_signal(signum: int) -> None:
        state["signals"] += 1
        if state["signals"] > 1:
            say("LogCaster: second signal, exiting now")
            os._exit(128 + signum)
        server.request_stop()
        say("LogCaster: shutting down")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)


async def run_server(config: Config) -> None:
    server = LogServer(config)
    await server.start()
    _install_signals(asyncio.get_running_loop(), server)
    say(server.banner(), error=False)
    try:
        await server.serve()
    finally:
        await server.shutdown()
    r = server.ring
    say(f"LogCaster stopped: Total={r.total}, Dropped={r.dropped}, Current={r.current}")


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) for the given PEM certificate and key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        why = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(f"--tls-cert/--tls-key: cannot load {cert} and {key}: {why}") from None
    return ctx


def listen_socket(host: str, port: int) -> socket.socket | None:
    """A dual-stack listening socket for ``::`` (IPv6 and IPv4-mapped clients alike),
    which the event loop would otherwise open IPv6-only; None for other hosts."""
    if host != "::" or not socket.has_ipv6:
        return None
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def create_listener(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], asyncio.BaseProtocol],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
) -> asyncio.Server:
    sock = listen_socket(host, port)
    if sock is not None:
        return await loop.create_server(factory, sock=sock, backlog=BACKLOG, ssl=tls)
    return await loop.create_server(
        factory, host, port, backlog=BACKLOG, reuse_address=True, ssl=tls
    )


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard limit (10 000 clients need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed, else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(config: Config) -> int:
    raise_open_file_limit()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(run_server(config))
    return 0
