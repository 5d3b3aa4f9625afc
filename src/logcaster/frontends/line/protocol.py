"""The line port's asyncio adapter: one command line in, one streamed reply out, close.

:class:`QueryProtocol` owns the transport, the command timeout and write flow
control; what a command means is the :class:`~.handler.LineHandler`'s business.
:class:`LineConnections` owns one listener's connections: the cap, eviction of
waiting clients, counters, shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from ...direct import DirectWriter
from ...stats import Metric
from .handler import LineHandler
from .reader import AUTH_REQUIRED, CommandLine, Outcome, Refuse, RequestReader


@dataclass(slots=True)
class LineStats:
    rejected: int = 0  # connections refused: --max-query-clients reached
    evicted: int = 0  # waiting connections closed to make room for a new one
    auth_failures: int = 0  # connections without the right AUTH line


class LineConnections:
    """The connections of one query listener, and the factory of new ones."""

    def __init__(
        self, handler: LineHandler, timeout: float, max_clients: int = 64, token: str = ""
    ) -> None:
        self.handler = handler
        self.timeout = timeout
        self.max_clients = max_clients
        self.token = token
        self.stats = LineStats()
        self.open: set[QueryProtocol] = set()

    def protocol(self) -> QueryProtocol:
        return QueryProtocol(self)

    def close_all(self) -> None:
        for conn in list(self.open):
            conn.abort()

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        yield Metric(
            "QueryRejected",
            s.rejected,
            "refused: --max-query-clients",
            "counter",
            "query_rejected_connections",
        )
        yield Metric(
            "QueryEvicted",
            s.evicted,
            "waiting clients closed for room",
            "counter",
            "query_evicted_connections",
        )
        yield Metric(
            "AuthFailures",
            s.auth_failures,
            "clients without the right AUTH",
            "counter",
            "query_auth_failures",
        )


class QueryProtocol(asyncio.Protocol):
    def __init__(self, owner: LineConnections) -> None:
        self.owner = owner
        self.handler = owner.handler
        self.timeout = owner.timeout
        self.connections = owner.open
        self.max_clients = owner.max_clients
        self.transport: asyncio.Transport | None = None
        self._reader = RequestReader(owner.token)
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._resumed = asyncio.Event()  # writing resumed after a pause (FOLLOW's hook)
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opened = time.monotonic()

    # --------------------------------------------------------------- events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if len(self.connections) >= self.max_clients and not self._evict_slowest():
            self.owner.stats.rejected += 1
            self._refuse(b"ERROR: Too many query connections, try again later\n")
            return
        self.connections.add(self)
        self._timer = asyncio.get_running_loop().call_later(self.timeout, self._expire)

    def data_received(self, data: bytes) -> None:
        self._take(self._reader.feed(data))

    def eof_received(self) -> bool:
        """The client half-closed: answer a command sent without a newline, keep
        writing a reply in progress (``nc -q1`` and scripts do this); a FOLLOW
        ends, since a follower that has gone would otherwise hold its slot."""
        self._take(self._reader.eof())
        if not self._closed.done():
            self._closed.set_result(None)  # ends a FOLLOW: the client is done
        return self._task is not None and not self._task.done()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()
        self._resumed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if not self._closed.done():
            self._closed.set_result(None)
        self._can_write.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _evict_slowest(self) -> bool:
        """At the cap, make room by closing the oldest connection that has still not
        sent its command (a slow or idle client), so trickling clients cannot lock
        the port; connections being answered are never closed. True if one was."""
        waiting = [c for c in self.connections if c._task is None]
        if not waiting:
            return False
        victim = min(waiting, key=lambda c: c.opened)
        self.owner.stats.evicted += 1
        victim.abort()
        self.connections.discard(victim)
        return True

    # ----------------------------------------------------------------- peer
    def push(self, data: bytes) -> bool:
        """Queue ``data`` unless the connection is closing (FOLLOW's pushes)."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        """Until the client closes the connection or its sending side."""
        await self._closed

    async def wait_drained(self) -> bool:
        """Until the transport resumes writing after a pause (True: the reader has
        caught up) or the connection closes (False)."""
        if not self._closed.done() and not self._resumed.is_set():
            resumed = asyncio.ensure_future(self._resumed.wait())
            try:
                await asyncio.wait((resumed, self._closed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                resumed.cancel()
        if self._closed.done():
            return False
        self._resumed.clear()
        return True

    # ------------------------------------------------------------ internals
    def _take(self, outcome: Outcome) -> None:
        if isinstance(outcome, CommandLine):
            self._start(outcome.line)
        elif isinstance(outcome, Refuse):
            if outcome.reply == AUTH_REQUIRED:
                self.owner.stats.auth_failures += 1
            self._refuse(outcome.reply)

    def _expire(self) -> None:
        if self._task is None and self.transport is not None:
            self.transport.abort()

    def _refuse(self, line: bytes) -> None:
        assert self.transport is not None
        if self._timer is not None:
            self._timer.cancel()
        self.transport.write(line)
        self.transport.close()

    def _start(self, line: bytes) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._task = asyncio.get_running_loop().create_task(self._answer(line))

    async def _answer(self, line: bytes) -> None:
        transport = self.transport
        assert transport is not None
        direct = DirectWriter(transport)
        sender = direct if direct.usable else None
        try:
            async for chunk in self.handler.execute(line, self, sender):
                if transport.is_closing():
                    return
                # A view of a reused buffer: the transport may keep what it
                # cannot send at once, so it gets a copy.
                transport.write(bytes(chunk) if isinstance(chunk, memoryview) else chunk)
                await self._can_write.wait()
            if direct.failed:
                transport.abort()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must cost one reply, never the server
            with contextlib.suppress(Exception):
                transport.write(f"ERROR: Internal error: {type(exc).__name__}\n".encode())
        finally:
            direct.close()
            transport.close()
