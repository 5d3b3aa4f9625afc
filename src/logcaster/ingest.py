"""The ingest port's asyncio adapter: bytes in from a socket, lines to the intake."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

from .framing import LineFramer, Scratch

if TYPE_CHECKING:
    from .guard import ConnectionGuard
    from .intake import Intake


class IngestProtocol(asyncio.BufferedProtocol):
    """One ingest connection. Reads straight into a shared scratch buffer."""

    def __init__(
        self,
        intake: Intake,
        scratch: Scratch,
        connections: set[IngestProtocol],
        guard: ConnectionGuard,
    ) -> None:
        self.intake = intake
        self.counters = intake.counters
        self.framer = LineFramer(scratch.max_line_bytes, scratch)
        self.connections = connections
        self.guard = guard
        self.transport: asyncio.Transport | None = None
        self.last_active = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.guard.allowed(transport.get_extra_info("peername")):
            self.counters.denied += 1
            self.transport.abort()
            return
        if self.guard.full(self.counters.clients):
            self.counters.rejected += 1
            self.transport.abort()
            return
        self.connections.add(self)
        self.counters.clients += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.framer.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.last_active = time.monotonic()
        framer = self.framer
        block = framer.commit(nbytes)
        if block and self.intake.accept(block, framer.lines):
            self._pause()
        if framer.truncated:
            self.counters.truncated += framer.truncated
            framer.truncated = 0

    def _pause(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
            self.intake.pause(self, self._resume)

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.flush()
        return False

    def flush(self) -> None:
        """Store an unterminated last line (the client closed, or we shut down)."""
        tail = self.framer.close()
        if tail:
            self.intake.accept(tail)
        if self.framer.truncated:
            self.counters.truncated += self.framer.truncated
            self.framer.truncated = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self.flush()
        self.intake.forget(self)
        if self in self.connections:
            self.connections.discard(self)
            self.counters.clients -= 1
