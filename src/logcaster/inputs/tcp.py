"""The TCP ingest adapter: bytes in from sockets, complete lines to the intake.

:class:`IngestProtocol` is one connection: it reads straight into a shared
scratch buffer, hands each read's lines to the framer (octet counting or
newlines, chosen per connection by :mod:`.stream`) and then the intake, and
pauses reading while a store asks it to. :class:`IngestConnections` owns the
open connections of one listener: admission, counters, idle sweeping, shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from ..pipeline.intake import Intake
from ..stats import Metric
from .framing import Scratch
from .guard import ConnectionGuard
from .stream import StreamFramer


@dataclass(slots=True)
class IngestStats:
    clients: int = 0  # connections open now
    truncated: int = 0  # lines cut to --max-line-bytes
    malformed: int = 0  # octet-counted frames that could not be delimited, or cut short
    rejected: int = 0  # connections closed at once: --max-clients reached
    denied: int = 0  # connections closed at once: not in --ingest-allow
    idle_closed: int = 0  # connections closed by --idle-timeout
    lines: int = 0  # lines stored from TCP connections
    bytes: int = 0  # bytes read from TCP connections


class IngestConnections:
    """The connections of one ingest listener, and the factory of new ones."""

    def __init__(
        self, intake: Intake, scratch: Scratch, guard: ConnectionGuard, idle_timeout: float = 0.0
    ) -> None:
        self.intake = intake
        self.scratch = scratch
        self.guard = guard
        self.idle_timeout = idle_timeout
        self.stats = IngestStats()
        self.open: set[IngestProtocol] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def protocol(self) -> IngestProtocol:
        if self._sweeper is None and self.idle_timeout > 0:
            self._sweeper = asyncio.get_running_loop().create_task(self._close_idle())
        return IngestProtocol(self)

    async def _close_idle(self) -> None:
        """--idle-timeout: close connections that sent nothing for that long (one
        the server stopped reading for a store is waiting, not silent)."""
        timeout = self.idle_timeout
        while True:
            await asyncio.sleep(min(timeout / 2, 1.0))
            limit = time.monotonic() - timeout
            for conn in list(self.open):
                if not conn.paused and conn.last_active < limit and conn.transport is not None:
                    self.stats.idle_closed += 1
                    conn.transport.close()

    def close_all(self) -> None:
        """Shutdown: store every connection's unterminated last line, then drop it."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.open):
            conn.flush()
            if conn.transport is not None:
                conn.transport.abort()

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        yield Metric("Clients", s.clients, "ingest connections open now", prom="ingest_connections")
        yield Metric("TcpLines", s.lines, "lines received over TCP", "counter", "tcp_lines")
        yield Metric(
            "TcpBytes", s.bytes, "bytes received over TCP", "counter", "tcp_received_bytes"
        )
        yield Metric(
            "Truncated", s.truncated, "lines cut to --max-line-bytes", "counter", "lines_truncated"
        )
        yield Metric(
            "Malformed",
            s.malformed,
            "messages that could not be delimited (bad count, cut frame, bad datagram)",
            "counter",
            "malformed_messages",
        )
        yield Metric(
            "Rejected",
            s.rejected,
            "connections refused: --max-clients",
            "counter",
            "ingest_rejected_connections",
        )
        yield Metric(
            "Denied",
            s.denied,
            "connections refused: --ingest-allow",
            "counter",
            "ingest_denied_connections",
        )
        yield Metric(
            "IdleClosed",
            s.idle_closed,
            "connections closed: --idle-timeout",
            "counter",
            "ingest_idle_closed_connections",
        )


class IngestProtocol(asyncio.BufferedProtocol):
    """One ingest connection. Reads straight into the shared scratch buffer."""

    def __init__(self, owner: IngestConnections) -> None:
        self.owner = owner
        self.intake = owner.intake
        self.stats = owner.stats
        self.framer = StreamFramer(owner.scratch.max_line_bytes, owner.scratch)
        self.transport: asyncio.Transport | None = None
        self.last_active = time.monotonic()
        self.paused = False  # reading stopped until a store has drained

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        guard = self.owner.guard
        if not guard.allowed(transport.get_extra_info("peername")):
            self.stats.denied += 1
            self.transport.abort()
            return
        if guard.full(self.stats.clients):
            self.stats.rejected += 1
            self.transport.abort()
            return
        self.owner.open.add(self)
        self.stats.clients += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.framer.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.last_active = time.monotonic()
        framer, stats = self.framer, self.stats
        stats.bytes += nbytes
        block = framer.commit(nbytes)
        if block:
            stats.lines += framer.lines
            if self.intake.accept(block, framer.lines):
                self._pause()
        if framer.truncated or framer.malformed:
            self._count()

    def _count(self) -> None:
        framer, stats = self.framer, self.stats
        stats.truncated += framer.truncated
        stats.malformed += framer.malformed
        framer.truncated = framer.malformed = 0

    def _pause(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
            self.paused = True
            self.intake.pause(self, self._resume)

    def _resume(self) -> None:
        self.paused = False
        self.last_active = time.monotonic()  # the idle clock restarts with reading
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.flush()
        return False

    def flush(self) -> None:
        """Store an unterminated last line (the client closed, or we shut down)."""
        tail = self.framer.close()
        if tail:
            self.stats.lines += 1
            self.intake.accept(tail)
        self._count()

    def connection_lost(self, exc: Exception | None) -> None:
        self.flush()
        self.intake.forget(self)
        if self in self.owner.open:
            self.owner.open.discard(self)
            self.stats.clients -= 1
