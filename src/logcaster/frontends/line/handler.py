"""What the line port's commands do: each parsed command line becomes a reply,
yielded in chunks of whole lines, from the engine, the stats registry and the
live taps. Transport-free: the protocol adapter writes what this yields.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

from ...direct import Chunk
from ...pipeline.taps import LiveTaps
from ...query.engine import Engine
from ...query.errors import QueryError
from ...query.matches import Matches
from ...query.spec import QuerySpec
from ...stats import Registry
from ...storage.ring import Ring
from . import grammar as cmd
from .help import HELP_TEXT
from .render import (
    count_line,
    error_line,
    found_line,
    hits_lines,
    info_block,
    live_lines,
    render,
    render_stamped,
    stats_line,
    top_lines,
)

NODE_LOCAL = "FOLLOW is node-local: scope=cluster applies to QUERY, HITS and TOP"
COMMANDS: dict[type, str] = {
    cmd.Query: "QUERY",
    cmd.Tail: "TAIL",
    cmd.Follow: "FOLLOW",
    cmd.Hits: "HITS",
    cmd.Top: "TOP",
    cmd.Stats: "STATS",
    cmd.Count: "COUNT",
    cmd.Info: "INFO",
    cmd.Help: "HELP",
}


class Sender(Protocol):
    """Sends a large reply straight to the connection (see :mod:`.direct`)."""

    async def pump(self, chunks: Iterator[Chunk], run: Callable[..., Awaitable[object]]) -> bool:
        """Pull every chunk (on the pool, through ``run``) and send it; False if the
        connection failed. Each chunk is sent before the next is pulled."""
        ...


class Peer(Protocol):
    """The query connection a command came from (what FOLLOW needs of it)."""

    def push(self, data: bytes) -> bool: ...

    def buffered(self) -> int: ...

    def abort(self) -> None: ...

    async def wait_closed(self) -> None: ...

    async def wait_drained(self) -> bool:
        """Until writing resumes after a pause (True) or the connection is gone (False)."""
        ...


SMALL_REPLY = 1 << 18  # bytes of matching lines rendered on the event loop


def small(matches: Matches) -> bool:
    """Whether the lines of ``matches`` hold at most :data:`SMALL_REPLY` bytes."""
    return matches.line_bytes(SMALL_REPLY) <= SMALL_REPLY


class FollowSink:
    """A FOLLOW's end of a live tap: stamped lines pushed to its connection."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def buffered(self) -> int:
        return self.peer.buffered()

    def deliver(self, block: bytes, spans: array[int], ts_ns: int, skipped: int) -> None:
        self.peer.push(live_lines(block, spans, ts_ns, skipped))

    def abort(self) -> None:
        self.peer.abort()


class LineHandler:
    def __init__(
        self,
        engine: Engine,
        ring: Ring,
        taps: LiveTaps,
        registry: Registry,
        clients: Callable[[], int],
    ) -> None:
        self.engine = engine
        self.ring = ring
        self.taps = taps
        self.registry = registry
        self.clients = clients  # ingest connections open now (STATS' Clients)
        engine.metrics.declare("line", COMMANDS.values())

    async def execute(
        self, line: bytes, peer: Peer | None = None, sender: Sender | None = None
    ) -> AsyncIterator[Chunk]:
        """Yield the reply to one command line, in chunks of whole lines; count the
        command and its time (to the reply's end; FOLLOW: to its first line).

        ``sender``: large replies (QUERY, TAIL) are handed to it whole, rendered
        into reused buffers, and not yielded."""
        command = cmd.parse_command(line)
        # A command refused by the parser counts as the command it was.
        name = command.verb if isinstance(command, cmd.Error) else COMMANDS.get(type(command))
        start = time.perf_counter()
        try:
            async for chunk in self._execute(command, peer, sender):
                yield chunk
                if name == "FOLLOW":
                    self.engine.metrics.observe("line", name, time.perf_counter() - start)
                    name = None
        finally:
            if name is not None:
                self.engine.metrics.observe("line", name, time.perf_counter() - start)

    async def _execute(
        self, command: cmd.Command, peer: Peer | None, sender: Sender | None
    ) -> AsyncIterator[Chunk]:
        match command:
            case cmd.Stats():
                ring = self.ring
                yield stats_line(ring.total, ring.dropped, ring.current, self.clients())
            case cmd.Count():
                yield count_line(self.ring.current)
            case cmd.Help():
                yield HELP_TEXT.encode()
            case cmd.Info():
                yield info_block(self.registry)
            case cmd.Query(spec=spec):
                async for chunk in self._query(spec, sender):
                    yield chunk
            case cmd.Tail(count=count):
                matches = await self.engine.tail(count)
                reuse = sender is not None
                async for chunk in self._stream(render_stamped(matches, reuse=reuse), sender):
                    yield chunk
            case cmd.Follow(spec=spec):
                async for chunk in self._follow(spec, peer):
                    yield chunk
            case cmd.Hits(spec=spec, step=step, by=by):
                try:
                    hist = await self.engine.hits(spec, step, by)
                    yield await self.engine.pool.run(hits_lines, hist)
                except QueryError as exc:
                    yield error_line(str(exc))
            case cmd.Top(spec=spec, field=field, limit=limit):
                try:
                    yield top_lines(await self.engine.top(spec, field, limit))
                except QueryError as exc:
                    yield error_line(str(exc))
            case cmd.Error():
                yield command.reply()

    async def _query(self, spec: QuerySpec, sender: Sender | None) -> AsyncIterator[Chunk]:
        try:
            matches = await self.engine.search(spec)
        except QueryError as exc:
            yield error_line(str(exc))
            return
        # The header goes out with the first lines, in one write: clients that
        # read the reply with a single recv() (the seed's test client) see both.
        head = found_line(matches.count)
        if small(matches):  # rendered here: two worker hand-offs would cost more
            parts = list(render(matches, spec, head))  # fresh buffers, not reused
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            return
        chunks = render(matches, spec, head, reuse=sender is not None)
        async for chunk in self._stream(chunks, sender):
            yield chunk

    async def _stream(self, chunks: Iterator[Chunk], sender: Sender | None) -> AsyncIterator[Chunk]:
        """Render chunks on the pool: with a ``sender``, it sends them all (and
        nothing is yielded); else each is yielded once rendered, so a paused reply
        holds no chunk but the one being written."""
        pool = self.engine.pool
        if sender is not None:
            await sender.pump(chunks, pool.run)
            return
        while (chunk := await pool.run(next, chunks, None)) is not None:
            yield chunk

    async def _follow(self, spec: QuerySpec, peer: Peer | None) -> AsyncIterator[bytes]:
        if peer is None:
            yield error_line("FOLLOW needs a connection")
            return
        if spec.cluster:
            yield error_line(NODE_LOCAL)
            return
        try:
            matcher = await self.engine.compile(spec)
        except QueryError as exc:
            yield error_line(str(exc))
            return
        yield b"FOLLOWING\n"
        tap = self.taps.add(matcher, FollowSink(peer))
        try:
            # Each time the follower has read its backlog, it hears at once what
            # went by meanwhile, not only with the next matching line.
            while await peer.wait_drained():
                self.taps.caught_up(tap)
        finally:
            self.taps.remove(tap)
