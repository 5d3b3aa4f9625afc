"""The ingest port's asyncio adapter: bytes in from a socket, lines into the ring."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .framing import LineFramer, Scratch

if TYPE_CHECKING:
    from .follow import FollowHub
    from .ring import Ring
    from .service import Counters


class IngestProtocol(asyncio.BufferedProtocol):
    """One ingest connection. Reads straight into a shared scratch buffer."""

    def __init__(
        self,
        ring: Ring,
        counters: Counters,
        scratch: Scratch,
        connections: set[IngestProtocol],
        follow: FollowHub,
    ) -> None:
        self.ring = ring
        self.follow = follow
        self.counters = counters
        self.framer = LineFramer(scratch.max_line_bytes, scratch)
        self.connections = connections
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.connections.add(self)
        self.counters.clients += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.framer.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        framer = self.framer
        block = framer.commit(nbytes)
        if block:
            now = time.time_ns()
            self.ring.append(block, now, framer.lines)
            if self.follow:
                self.follow.publish(bytes(block), now)
        if self.framer.truncated:
            self.counters.truncated += self.framer.truncated
            self.framer.truncated = 0

    def eof_received(self) -> bool:
        self.flush()
        return False

    def flush(self) -> None:
        """Store an unterminated last line (the client closed, or we shut down)."""
        tail = self.framer.close()
        if tail:
            now = time.time_ns()
            self.ring.append(tail, now)
            if self.follow:
                self.follow.publish(tail, now)
        if self.framer.truncated:
            self.counters.truncated += self.framer.truncated
            self.framer.truncated = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self.flush()
        if self in self.connections:
            self.connections.discard(self)
            self.counters.clients -= 1
