"""The server's wiring and lifecycle: startup -> serve -> shutdown.

Startup checks what values alone cannot (host names, certificate files), opens
the stores (repairing and reloading the file store), builds the engine and
binds every listener, each reporting its real address (so port 0 works).
Serve runs until SIGINT/SIGTERM. Shutdown stops accepting on every listener,
stores each ingest connection's unterminated last line, closes all clients,
writes out and closes the stores, and stops the worker pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from .config import Config, MiB, check_startup
from .console import say
from .frontends.http.api import Backend
from .frontends.http.server import HTTPListener, build_app
from .frontends.irc.protocol import IrcConnections
from .frontends.line.handler import LineHandler
from .frontends.line.protocol import LineConnections
from .inputs.framing import Scratch
from .inputs.guard import ConnectionGuard
from .inputs.tcp import IngestConnections
from .net import Listener, TCPListener, new_event_loop, raise_open_file_limit, tls_context
from .pipeline.intake import Intake
from .pipeline.taps import LiveTaps
from .query.engine import Engine
from .query.pool import WorkerPool
from .stats import Constant, Metric, Registry
from .storage.files import PersistWriter, check_directory, recover, reload_ring
from .storage.ring import DEFAULT_BLOCK_SIZE, BlockFactory, Ring
from .values import OFF


class App:
    """Every subsystem of one server process, built from one Config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ring = Ring(
            config.ring.capacity,
            config.ring.max_memory,
            DEFAULT_BLOCK_SIZE,
            BlockFactory(DEFAULT_BLOCK_SIZE),
        )
        self.taps = LiveTaps(stall_timeout=config.query.timeout)
        self.intake = Intake(self.ring, self.taps)
        self.registry = Registry()
        self.listeners: list[Listener] = []
        self.files: PersistWriter | None = None
        self.pool: WorkerPool | None = None
        self.ready = False  # every listener bound, the ring refilled
        self._stop: asyncio.Event | None = None

    # ---------------------------------------------------------------- startup
    async def start(self) -> None:
        cfg = self.config
        check_startup(cfg)
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if cfg.persist.enabled:
            self.files = self._open_files(loop)
            self.intake.stores.append(self.files)
        try:
            self.listeners = self._build(loop)
            for listener in self.listeners:
                await listener.start()
            self.ready = True
        except BaseException:
            for listener in self.listeners:
                listener.close()
            if self.files is not None:
                self.files.close()
            raise

    def _build(self, loop: asyncio.AbstractEventLoop) -> list[Listener]:
        """The engine, the input and frontend connection owners, the stats registry."""
        cfg = self.config
        self.pool = pool = WorkerPool(cfg.pool.workers, cfg.pool.queue_size)
        files = self.files
        engine = Engine(self.ring, pool, files.history_views if files is not None else None)
        ingest = IngestConnections(
            self.intake,
            Scratch(cfg.ingest.max_line_bytes),
            ConnectionGuard(cfg.ingest.max_clients, cfg.ingest.allow),
            cfg.ingest.idle_timeout,
        )
        handler = LineHandler(
            engine, self.ring, self.taps, self.registry, lambda: ingest.stats.clients
        )
        line = LineConnections(
            handler, cfg.query.timeout, cfg.query.max_clients, cfg.query.auth_token
        )
        for collector in (self.ring, ingest, line, pool, self.taps):
            self.registry.register(collector)
        self.registry.register(
            files or Constant(Metric("Persist", "off", "whether lines are also written to --dir"))
        )
        self.registry.register(self.intake)
        ingest_tls, query_tls = cfg.tls_ports
        tls = tls_context(cfg.tls.cert, cfg.tls.key) if cfg.tls.cert else None
        listeners: list[Listener] = [
            TCPListener(
                "ingest", cfg.ingest.host, cfg.ingest.port, ingest, tls if ingest_tls else None
            ),
            TCPListener("query", cfg.query.host, cfg.query.port, line, tls if query_tls else None),
        ]
        if cfg.http.port != OFF:
            backend = Backend(engine, self.taps, self.registry, lambda: self.ready)
            web = build_app(backend, cfg.query.auth_token, cfg.http.max_body)
            http_tls = tls if cfg.http.tls else None
            listeners.append(HTTPListener(web, cfg.http.host, cfg.http.port, http_tls))
        if cfg.irc.enabled:
            irc = IrcConnections(
                engine, self.taps, self.registry, cfg.irc.max_reply, cfg.irc.password
            )
            self.registry.register(irc)
            irc_tls = tls if cfg.irc.tls else None
            listeners.append(TCPListener("irc", cfg.irc.host, cfg.irc.port, irc, irc_tls))
        return listeners

    def _open_files(self, loop: asyncio.AbstractEventLoop) -> PersistWriter:
        """Check --dir, repair a torn tail, refill the ring from it, start the writer."""
        cfg = self.config.persist
        directory = Path(cfg.dir)
        check_directory(directory)
        recover(directory)
        t0 = time.perf_counter()
        lines, files = reload_ring(self.ring, directory)
        say(
            f"LogCaster reloaded {lines} lines from {files} file(s) "
            f"in {time.perf_counter() - t0:.2f} s",
            error=False,
        )
        writer = PersistWriter(
            directory,
            max_file_bytes=max(1, int(cfg.max_file_mb * MiB)),
            retention_bytes=max(1, int(cfg.retention_mb * MiB)),
            fsync_ms=cfg.fsync_ms,
            on_drained=lambda: _call_soon(loop, self.intake.resume_all),
        )
        writer.start()
        return writer

    def banner(self) -> str:
        bound = ", ".join(f"{lst.name} {lst.address}" for lst in self.listeners)
        return f"LogCaster listening: {bound}"

    # ------------------------------------------------------------------ serve
    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def serve(self) -> None:
        assert self._stop is not None
        await self._stop.wait()

    # --------------------------------------------------------------- shutdown
    async def shutdown(self) -> None:
        """Stop accepting, store what was received, close clients, write out, stop."""
        for listener in self.listeners:
            listener.close()
        for listener in self.listeners:
            listener.close_connections()
        for listener in self.listeners:
            await listener.wait_closed()
        if self.files is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.files.close)
        if self.pool is not None:
            self.pool.shutdown()


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has already closed
        loop.call_soon_threadsafe(fn)


def _install_signals(loop: asyncio.AbstractEventLoop, app: App) -> None:
    state = {"signals": 0}

    def on_signal(signum: int) -> None:
        state["signals"] += 1
        if state["signals"] > 1:
            say("LogCaster: second signal, exiting now")
            os._exit(128 + signum)
        app.request_stop()
        say("LogCaster: shutting down")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)


async def run(config: Config) -> None:
    app = App(config)
    await app.start()
    _install_signals(asyncio.get_running_loop(), app)
    say(app.banner(), error=False)
    try:
        await app.serve()
    finally:
        await app.shutdown()
    r = app.ring
    say(f"LogCaster stopped: Total={r.total}, Dropped={r.dropped}, Current={r.current}")


def serve(config: Config) -> int:
    raise_open_file_limit()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(run(config))
    return 0
