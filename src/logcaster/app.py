"""The server's wiring and lifecycle: startup -> serve -> shutdown.

Startup checks what values alone cannot (host names, certificate files) before
anything starts, opens
the stores (repairing and reloading the file store), builds the engine and
binds every listener (ingest TCP, query, ingest UDP on the TCP port's number
unless told otherwise), each reporting its real address (so port 0 works).
Serve runs until SIGINT/SIGTERM. Shutdown stops accepting on every listener,
stores each ingest connection's unterminated last line, closes all clients,
writes out and closes the stores, and stops the worker pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from .config import Config, MiB, check_startup
from .console import engine, say
from .frontends.http.api import Backend
from .frontends.http.server import HTTPListener, build_app
from .frontends.irc.protocol import IrcConnections
from .frontends.line.handler import LineHandler
from .frontends.line.protocol import LineConnections
from .inputs import es_setup
from .inputs.framing import Scratch
from .inputs.guard import ConnectionGuard
from .inputs.http import HttpIngest
from .inputs.tcp import IngestConnections
from .inputs.udp import UdpInput
from .net import (
    Listener,
    TCPListener,
    UDPListener,
    bind_error,
    keep_freed_memory,
    new_event_loop,
    raise_open_file_limit,
    tls_context,
)
from .pipeline.intake import Intake
from .pipeline.taps import LiveTaps
from .query.engine import Engine, Remote
from .query.pool import WorkerPool
from .stats import Constant, Metric, Registry
from .storage.batch import Store
from .storage.factory import BlockFactory
from .storage.files import PersistWriter, check_directory, recover, reload_ring
from .storage.ring import DEFAULT_BLOCK_SIZE, Ring
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
        self.clickhouse: Store | None = None
        self.pool: WorkerPool | None = None
        self.ready = False  # every listener bound, the ring refilled
        self._stop: asyncio.Event | None = None

    # ---------------------------------------------------------------- startup
    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if cfg.persist.enabled:
            self.files = self._open_files(loop)
            self.intake.stores.append(self.files)
        if cfg.store.url:
            self.clickhouse = self._open_clickhouse(loop)
            self.intake.stores.append(self.clickhouse)
        try:
            self.listeners = self._build(loop)
            for listener in self.listeners:
                try:
                    await listener.start()
                except OSError as exc:
                    raise bind_error(listener, exc) from None
            self.ready = True
        except BaseException:
            for listener in self.listeners:
                listener.close()
            for store in (self.files, self.clickhouse):
                if store is not None:
                    store.close()
            raise

    def _build(self, loop: asyncio.AbstractEventLoop) -> list[Listener]:
        """The engine, the input and frontend connection owners, the stats registry."""
        cfg = self.config
        self.pool = pool = WorkerPool(cfg.pool.workers, cfg.pool.queue_size)
        files = self.files
        engine = Engine(
            self.ring,
            pool,
            files.history_views if files is not None else None,
            self._cluster_reader(),
        )
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
        for collector in (self.ring, ingest, line, pool, self.taps, engine.metrics):
            self.registry.register(collector)
        self.registry.register(
            files or Constant(Metric("Persist", "off", "whether lines are also written to --dir"))
        )
        if self.clickhouse is not None:
            self.registry.register(self.clickhouse)
        self.registry.register(self.intake)
        ingest_tls, query_tls = cfg.tls_ports
        tls = tls_context(cfg.tls.cert, cfg.tls.key) if cfg.tls.cert else None
        ingest_tls_context = tls if ingest_tls else None
        tcp = TCPListener(
            "ingest", cfg.ingest.host, cfg.ingest.port, ingest, ingest_tls_context, flag="--port"
        )
        listeners: list[Listener] = [
            tcp,
            TCPListener(
                "query",
                cfg.query.host,
                cfg.query.port,
                line,
                tls if query_tls else None,
                flag="--query-port",
            ),
        ]
        udp_port = cfg.ingest.udp_port
        if udp_port == "off":
            self.registry.register(
                Constant(Metric("Udp", "off", "whether the UDP ingest port is open"))
            )
        else:
            udp = UdpInput(self.intake, cfg.ingest.max_line_bytes, ingest.guard, ingest.stats)
            self.registry.register(udp)
            port = int(udp_port) if udp_port != "same" else (lambda: tcp.address.port)
            listeners.append(UDPListener("udp", cfg.ingest.host, port, udp))
        if cfg.http.port != OFF:
            backend = Backend(engine, self.taps, self.registry, lambda: self.ready)
            inputs = HttpIngest(self.intake, cfg.ingest.max_line_bytes, cfg.http.max_body)
            self.registry.register(inputs)
            web = build_app(
                backend,
                cfg.query.auth_token,
                cfg.http.max_body,
                [inputs.add_routes],
                root_api=es_setup.info,
            )
            http_tls = tls if cfg.http.tls else None
            listeners.append(
                HTTPListener(web, cfg.http.host, cfg.http.port, http_tls, flag="--http-port")
            )
        if cfg.irc.enabled:
            irc = IrcConnections(
                engine, self.taps, self.registry, cfg.irc.max_reply, cfg.irc.password
            )
            self.registry.register(irc)
            irc_tls = tls if cfg.irc.tls else None
            listeners.append(
                TCPListener("irc", cfg.irc.host, cfg.irc.port, irc, irc_tls, flag="--irc-port")
            )
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

    def _open_clickhouse(self, loop: asyncio.AbstractEventLoop) -> Store:
        """The ClickHouse store with its spool; it connects (and may spool) on its thread."""
        # Imported here: the driver takes most of a second to import, and only --store needs it.
        from .storage.clickhouse.spool import Spool
        from .storage.clickhouse.url import parse_store_url
        from .storage.clickhouse.writer import ClickHouseStore

        cfg = self.config.store
        store = ClickHouseStore(
            parse_store_url(cfg.url),
            cfg.node or socket.gethostname(),
            Spool(Path(cfg.spool_dir), max(1, int(cfg.spool_mb * MiB))),
            batch_rows=cfg.batch_rows,
            batch_s=max(cfg.batch_ms, 1) / 1000,
            create=cfg.init,
            retention_days=cfg.retention_days,
            on_drained=lambda: _call_soon(loop, self.intake.resume_all),
        )
        store.start()
        return store

    def _cluster_reader(self) -> Remote | None:
        """``scope=cluster``'s reader of the shared store, with --store."""
        if not self.config.store.url:
            return None
        from .storage.clickhouse.reader import ClusterReader
        from .storage.clickhouse.url import parse_store_url

        timeout_s = max(self.config.store.query_timeout_ms, 100) / 1000
        return ClusterReader(parse_store_url(self.config.store.url), timeout_s)

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
        loop = asyncio.get_running_loop()
        for store in (self.files, self.clickhouse):
            if store is not None:
                await loop.run_in_executor(None, store.close)
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
    say(f"LogCaster engine: {engine()}", error=False)
    try:
        await app.serve()
    finally:
        await app.shutdown()
    r = app.ring
    say(f"LogCaster stopped: Total={r.total}, Dropped={r.dropped}, Current={r.current}")


def serve(config: Config) -> int:
    check_startup(config)  # before any thread starts: a failed check just exits
    raise_open_file_limit()
    keep_freed_memory()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(run(config))
    return 0
