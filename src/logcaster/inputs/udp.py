"""The UDP ingest adapter: one datagram is one message.

:class:`UdpInput` reads its socket on the event loop (``add_reader``), up to
:data:`BURST` datagrams per wake-up, and hands each burst to the intake as one
block. A datagram's trailing ``\\n``, ``\\r`` and NUL are dropped, a newline
inside it is stored as ``#012`` (as in octet-counted frames), and it is cut to
``--max-line-bytes`` like an over-long line. GELF datagrams (compressed or
chunked, :mod:`.gelf`) are reassembled and stored as their JSON text.

Datagrams from addresses outside ``--ingest-allow`` are dropped and counted.
When a store asks ingest to wait, reading stops and the kernel's receive
buffer (raised to 8 MiB) takes up the slack; what it drops when full is read
from the kernel and shown in INFO as ``UdpDropped``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable

from ..net import udp_drops
from ..pipeline.intake import Intake
from ..stats import Metric
from .framing import ELLIPSIS
from .gelf import GelfAssembler, is_gelf
from .guard import ConnectionGuard
from .octet import NEWLINE_ESCAPE
from .tcp import IngestStats

MAX_DATAGRAM = 65536
BURST = 512  # datagrams read per wake-up before other connections get a turn
_GELF_FIRST = frozenset(b"\x1e\x1f\x78")  # first bytes of GELF chunks, gzip and zlib
_TRAILING = frozenset(b"\r\n\0")


class UdpInput:
    """The reader of one UDP ingest socket; counts into the TCP listener's stats too."""

    def __init__(
        self, intake: Intake, max_line_bytes: int, guard: ConnectionGuard, stats: IngestStats
    ) -> None:
        self.intake = intake
        self.max_line_bytes = max_line_bytes
        self.guard = guard
        self.stats = stats  # Truncated and Malformed are shared with TCP ingest
        self.gelf = GelfAssembler(max_line_bytes)
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False
        self.datagrams = 0
        self.lines = 0  # messages stored
        self.bytes = 0  # bytes of the datagrams received
        self.denied = 0

    # ------------------------------------------------------------ lifecycle
    def start(self, sock: socket.socket) -> None:
        self.sock = sock
        self._loop = asyncio.get_running_loop()
        self._resume()

    def stop(self) -> None:
        if self._reading and self._loop is not None and self.sock is not None:
            self._loop.remove_reader(self.sock.fileno())
        self._reading = False
        self.intake.forget(self)

    def close_all(self) -> None:
        """Shutdown: every burst is stored as it is read, so nothing is held."""
        self.stop()

    def _resume(self) -> None:
        if not self._reading and self._loop is not None and self.sock is not None:
            if self.sock.fileno() < 0:
                return
            self._loop.add_reader(self.sock.fileno(), self._readable)
            self._reading = True

    def _pause(self) -> None:
        self.stop()
        self.intake.pause(self, self._resume)

    # -------------------------------------------------------------- reading
    def _readable(self) -> None:
        sock = self.sock
        assert sock is not None
        msgs = self._read_checked(sock) if self.guard.allow else self._read(sock)
        if msgs:
            self.lines += len(msgs)
            if self.intake.accept(b"\n".join(msgs) + b"\n", len(msgs)):
                self._pause()

    def _read(self, sock: socket.socket) -> list[bytes]:
        """A burst of datagrams as messages; the common kind costs a few C calls each."""
        recv, message, max_line = sock.recv, self.message, self.max_line_bytes
        msgs: list[bytes] = []
        append = msgs.append
        got = size = 0
        for _ in range(BURST):
            try:
                data = recv(MAX_DATAGRAM)
            except OSError:  # nothing more to read (or an ICMP error reported on the socket)
                break
            got += 1
            size += len(data)
            if (
                data
                and data[0] not in _GELF_FIRST
                and data[-1] not in _TRAILING
                and len(data) <= max_line
                and b"\n" not in data
            ) or (data := message(data)):
                append(data)
        self.datagrams += got
        self.bytes += size
        return msgs

    def _read_checked(self, sock: socket.socket) -> list[bytes]:
        """Like :meth:`_read`, for an ``--ingest-allow`` list: the sender is checked."""
        msgs: list[bytes] = []
        for _ in range(BURST):
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except OSError:
                break
            self.datagrams += 1
            self.bytes += len(data)
            if not self.guard.allowed(addr):
                self.denied += 1
            elif msg := self.message(data):
                msgs.append(msg)
        return msgs

    def message(self, data: bytes) -> bytes:
        """A datagram as stored (without its newline); empty: nothing to store."""
        if is_gelf(data):
            gelf = self.gelf
            malformed = gelf.malformed
            whole = gelf.feed(data, time.monotonic())
            self.stats.malformed += gelf.malformed - malformed
            if whole is None:
                return b""
            data = whole
        msg = data.rstrip(b"\r\n\0")
        if b"\n" in msg:
            msg = msg.replace(b"\r\n", NEWLINE_ESCAPE).replace(b"\n", NEWLINE_ESCAPE)
        if len(msg) > self.max_line_bytes:
            self.stats.truncated += 1
            msg = msg[: self.max_line_bytes] + ELLIPSIS
        return msg

    # ---------------------------------------------------------------- stats
    def rcvbuf(self) -> int:
        if self.sock is None or self.sock.fileno() < 0:
            return 0
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def collect(self) -> Iterable[Metric]:
        self.gelf.expire(time.monotonic())
        drops = udp_drops(self.sock) if self.sock is not None and self.sock.fileno() >= 0 else 0
        yield Metric("UdpDatagrams", self.datagrams, "UDP datagrams received", "counter")
        yield Metric("UdpLines", self.lines, "lines received over UDP", "counter", "udp_lines")
        yield Metric(
            "UdpBytes", self.bytes, "bytes of UDP datagrams", "counter", "udp_received_bytes"
        )
        yield Metric(
            "UdpDropped",
            drops if drops is not None else "unknown",
            "UDP datagrams the kernel dropped: receive buffer full",
            "counter",
        )
        yield Metric("UdpDenied", self.denied, "UDP datagrams dropped: --ingest-allow", "counter")
        yield Metric("UdpRcvbuf", self.rcvbuf(), "bytes the kernel may queue for the UDP port")
        g = self.gelf
        yield Metric("GelfReassembled", g.reassembled, "chunked GELF messages completed", "counter")
        yield Metric("GelfExpired", g.expired, "incomplete GELF messages given up", "counter")
        yield Metric("GelfPending", g.pending, "chunked GELF messages being reassembled")
