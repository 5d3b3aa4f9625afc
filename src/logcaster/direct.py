"""Large reply chunks written straight to a connection's socket, not through the
transport's buffer (the line port's replies and the HTTP API's query bodies).

``asyncio``'s transport sends what the socket takes at once and copies the rest
into its own buffer, which it then drains below its low-water mark before the
writer may go on: a large reply is copied twice on the event loop and reaches the
kernel in bursts, so the client's reads come back small. :class:`DirectWriter`
sends each chunk from the caller's buffers as the socket frees room (one
``sendmsg`` per wake-up, the GIL released while the kernel copies; several buffers
go as one, so an HTTP chunk's framing needs no copy of its body), through a
duplicate of the connection's descriptor so the event loop can watch it for
room without touching the transport's registrations. It is only used while
the transport's own buffer is empty, so bytes go out in order.

:meth:`DirectWriter.pump` sends from a worker thread: one job renders a chunk,
sends it, renders the next (into the buffer just sent, when buffers are reused),
and so on while the socket takes them (the GIL released while the kernel
copies); only when the socket is full does the job hand back to the event loop,
which waits for room and starts the next job. A large reply then costs a worker
hand-off per socket-full, not two thread hops per chunk, and the event loop and
the renderer do not take the GIL from each other at every chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator

Chunk = bytes | bytearray | memoryview  # a piece of a reply, sent whole
Runner = Callable[..., Awaitable[object]]  # runs a blocking call on a worker thread

# A chunk this large or larger is sent directly (smaller ones via the transport).
DIRECT_MIN = 1 << 18
# The kernel's send buffer for a direct reply (it doubles the value, up to its limit).
SEND_BUFFER = 4 << 20


class DirectWriter:
    """Direct writes to one connection; :meth:`close` when the reply is done."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._sock: socket.socket | None = None
        self.failed = False  # a send failed: the connection is gone
        raw = transport.get_extra_info("socket")
        if raw is None:  # not a socket transport (TLS keeps the transport path)
            return
        if any(transport.get_extra_info(k) is not None for k in ("sslcontext", "ssl_object")):
            return
        try:
            fd = os.dup(raw.fileno())  # out of descriptors: the transport path
        except OSError:
            return
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            return
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self._sock = sock

    @property
    def usable(self) -> bool:
        return self._sock is not None

    async def send(self, *data: bytes | bytearray | memoryview) -> bool:
        """Send all of ``data``, in order; False if the connection failed (the caller
        closes it)."""
        sock = self._sock
        assert sock is not None
        views = [v for v in (memoryview(d).cast("B") for d in data) if v]
        while views:
            try:
                sent = sock.sendmsg(views)
            except (BlockingIOError, InterruptedError):
                await self._writable(sock.fileno())
                continue
            except OSError:
                return False
            while sent:
                if sent >= len(views[0]):
                    sent -= len(views.pop(0))
                else:
                    views[0] = views[0][sent:]
                    sent = 0
        return True

    async def pump(self, chunks: Iterator[Chunk], run: Runner) -> bool:
        """Pull ``chunks`` and send each, on worker threads (``run``), waiting here
        for room whenever the socket is full; False if the connection failed.

        Each chunk is wholly sent before the next is pulled, so the chunks may be
        views of buffers the iterator reuses. If this is cancelled, the job that
        is running finishes (it stops at the next full socket) before the caller
        can close the socket under it."""
        sock = self._sock
        assert sock is not None
        rest = memoryview(b"")
        stop = threading.Event()
        while True:
            job = asyncio.ensure_future(run(_drain, sock, chunks, rest, stop))
            try:
                outcome = await asyncio.shield(job)
            except asyncio.CancelledError:
                stop.set()
                while not job.done():  # however often cancelled, the job ends first
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait({job})
                raise
            if outcome is None:
                self.failed = True
                return False
            if outcome is True:
                return True
            assert isinstance(outcome, memoryview)
            rest = outcome
            await self._writable(sock.fileno())

    @staticmethod
    async def _writable(fd: int) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(fd, wake)
        try:
            await ready
        finally:
            loop.remove_writer(fd)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _drain(
    sock: socket.socket, chunks: Iterator[Chunk], rest: memoryview, stop: threading.Event
) -> memoryview | bool | None:
    """On a worker: send ``rest``, then each chunk of ``chunks`` in turn, until the
    socket is full (the unsent part of a chunk is returned), the chunks run out
    (True), the connection fails or ``stop`` is set (None)."""
    while True:
        while rest:
            if stop.is_set():
                return None
            try:
                sent = sock.send(rest)
            except (BlockingIOError, InterruptedError):
                return rest
            except OSError:
                return None
            rest = rest[sent:]
        if stop.is_set():
            return None
        chunk = next(chunks, None)
        if chunk is None:
            return True
        rest = memoryview(chunk).cast("B")
