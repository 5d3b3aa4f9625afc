"""In-process rig for the asyncio adapters: a fake transport, a coroutine runner, async
polling, and the real subsystems wired as ``logcaster.app`` wires them.

Only the transport is fake. It behaves like an asyncio socket transport: ``close`` and
``abort`` end in one ``connection_lost`` call on the next loop iteration, writes after
the transport started closing are dropped, and with write-buffer limits set, written
bytes stay buffered until :meth:`FakeTransport.drain`, calling ``pause_writing`` above
the high-water mark and ``resume_writing`` once at or below the low-water mark.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from logcaster.frontends.line.handler import LineHandler
from logcaster.frontends.line.protocol import LineConnections, QueryProtocol
from logcaster.inputs.framing import Scratch
from logcaster.inputs.guard import ConnectionGuard
from logcaster.inputs.tcp import IngestConnections, IngestProtocol
from logcaster.net import new_event_loop
from logcaster.pipeline.intake import Intake
from logcaster.pipeline.taps import LiveTaps
from logcaster.query.engine import Engine
from logcaster.query.pool import WorkerPool
from logcaster.stats import Registry
from logcaster.storage.ring import Ring

T = TypeVar("T")
POLL_TIMEOUT = 10.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine on the event loop the server uses (uvloop when installed)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)


async def until(predicate: Callable[[], object], what: str, timeout: float = POLL_TIMEOUT) -> None:
    """Poll ``predicate`` (letting the loop and the workers run) until it is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.002)


async def spin(rounds: int = 50) -> None:
    """Let the loop run ``rounds`` iterations (callbacks, ready tasks) without waiting."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeTransport(asyncio.Transport):
    """A socket transport without a socket: records what the protocol asked of it."""

    def __init__(
        self, protocol: asyncio.BaseProtocol, peername: object = ("127.0.0.1", 40000)
    ) -> None:
        super().__init__()
        self.protocol = protocol
        self.peername = peername
        self.writes: list[bytes] = []  # every write accepted, in order
        self.closed = False  # close() was called
        self.aborted = False  # abort() was called
        self.lost = False  # connection_lost() has been delivered
        self._losing = False
        self.reading = True
        self.pauses = self.resumes = 0  # pause_reading / resume_reading calls
        self.resumed_at = self.closed_at = 0.0  # time.monotonic() of the last of each
        self.write_pauses = 0  # pause_writing calls made on the protocol
        self.buffer = 0  # bytes written and not yet drained (with limits set)
        self.high: int | None = None
        self.low = 0
        self.writing_paused = False

    # ------------------------------------------------------------- Transport
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.is_closing():
            return
        self.writes.append(bytes(data))
        if self.high is None:
            return
        self.buffer += len(data)
        if self.buffer > self.high and not self.writing_paused:
            self.writing_paused = True
            self.write_pauses += 1
            assert isinstance(self.protocol, asyncio.Protocol)
            self.protocol.pause_writing()

    def close(self) -> None:
        """Close once the buffered bytes are sent (at once if there are none)."""
        if not self.is_closing():
            self.closed = True
            self.closed_at = time.monotonic()
            if not self.buffer:
                self._lose()

    def abort(self) -> None:
        """Close now, dropping anything buffered."""
        if not self.aborted:
            self.aborted = True
            self.buffer = 0
            self._lose()

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def pause_reading(self) -> None:
        assert self.reading, "pause_reading on a transport that is not reading"
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        assert not self.reading, "resume_reading on a transport that is reading"
        self.reading = True
        self.resumes += 1
        self.resumed_at = time.monotonic()

    def is_reading(self) -> bool:
        return self.reading

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peername if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return self.buffer

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = 64 * 1024 if high is None else high
        self.low = self.high // 4 if low is None else low

    # ---------------------------------------------------------------- test side
    @property
    def data(self) -> bytes:
        return b"".join(self.writes)

    def drain(self) -> None:
        """The peer read everything buffered: resume writing if it was paused."""
        self.buffer = 0
        if self.is_closing():
            self._lose()
        elif self.writing_paused:
            self.writing_paused = False
            assert isinstance(self.protocol, asyncio.Protocol)
            self.protocol.resume_writing()

    def _lose(self) -> None:
        if not self._losing:
            self._losing = True
            asyncio.get_running_loop().call_soon(self._deliver_lost)

    def _deliver_lost(self) -> None:
        assert not self.lost, "connection_lost delivered twice"
        self.lost = True
        self.protocol.connection_lost(None)


def connect(proto: asyncio.BaseProtocol, peername: object = ("127.0.0.1", 40000)) -> FakeTransport:
    transport = FakeTransport(proto, peername)
    proto.connection_made(transport)
    return transport


def eof(proto: asyncio.Protocol, transport: FakeTransport) -> bool:
    """The peer half-closed: as a transport does, close unless the protocol keeps it open."""
    keep = bool(proto.eof_received())
    if not keep:
        transport.close()
    return keep


def feed(proto: IngestProtocol, transport: FakeTransport, data: bytes) -> None:
    """Deliver ``data`` as one read (several if it exceeds the buffer), as uvloop does."""
    view = memoryview(data)
    while view:
        assert transport.reading, "data delivered while reading is paused"
        buf = proto.get_buffer(-1)
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        view = view[n:]
        proto.buffer_updated(n)


def ring_bytes(ring: Ring) -> bytes:
    """Every line the ring holds, oldest first, as stored."""
    return b"".join(bytes(v.buf[v.start : v.end]) for v in ring.snapshot().views)


@dataclass
class Rig:
    """One server's subsystems, as ``App._build`` wires them, minus the listeners."""

    ring: Ring
    taps: LiveTaps
    intake: Intake
    pool: WorkerPool
    registry: Registry
    ingest: IngestConnections
    line: LineConnections
    transports: list[FakeTransport] = field(default_factory=list)

    def ingest_conn(
        self, peername: object = ("127.0.0.1", 40000)
    ) -> tuple[IngestProtocol, FakeTransport]:
        proto = self.ingest.protocol()
        transport = connect(proto, peername)
        self.transports.append(transport)
        return proto, transport

    def send(self, data: bytes) -> None:
        """One ingest connection sends ``data`` and closes (EOF, then connection lost)."""
        proto, transport = self.ingest_conn()
        feed(proto, transport, data)
        assert eof(proto, transport) is False

    def query_conn(self) -> tuple[QueryProtocol, FakeTransport]:
        proto = self.line.protocol()
        transport = connect(proto)
        self.transports.append(transport)
        return proto, transport

    async def ask(self, command: bytes) -> bytes:
        """One query connection sends ``command``; the whole reply once it closed."""
        proto, transport = self.query_conn()
        proto.data_received(command)
        await until(lambda: transport.lost, f"the reply to {command!r}")
        return transport.data

    def close(self) -> None:
        self.ingest.close_all()
        self.line.close_all()
        self.pool.shutdown()


def build(
    *,
    capacity: int = 1000,
    max_memory: int = 1 << 24,
    block_size: int = 1 << 16,
    max_line_bytes: int = 1024,
    max_clients: int = 100,
    allow: str = "",
    idle_timeout: float = 0.0,
    query_timeout: float = 10.0,
    max_query_clients: int = 64,
    token: str = "",
    workers: int = 2,
    follow_backlog: int = 1 << 20,
) -> Rig:
    """The real subsystems, small; call inside the running loop (the adapters need it)."""
    ring = Ring(capacity, max_memory, block_size)
    taps = LiveTaps(follow_backlog, stall_timeout=query_timeout)
    intake = Intake(ring, taps)
    registry = Registry()
    pool = WorkerPool(workers, 8)
    engine = Engine(ring, pool)
    ingest = IngestConnections(
        intake,
        Scratch(max_line_bytes, read_size=4096),
        ConnectionGuard(max_clients, allow),
        idle_timeout,
    )
    handler = LineHandler(engine, ring, taps, registry, lambda: ingest.stats.clients)
    line = LineConnections(handler, query_timeout, max_query_clients, token)
    for collector in (ring, ingest, line, pool, taps, intake):
        registry.register(collector)
    return Rig(ring, taps, intake, pool, registry, ingest, line)
