"""The IRC port's asyncio adapter: :class:`IrcProtocol` owns one transport, feeds the
sans-IO reader and session, runs ``!`` commands one at a time, and bounds what a
client may leave unread. :class:`IrcConnections` owns every connection of the
listener: the channels, the once-a-second tick (PING, ping timeout, registration
timeout, skip notices for drained members), shutdown and the IRC counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import cast

from ...pipeline.taps import LiveTaps
from ...query.engine import Engine
from ...stats import Metric, Registry
from .channels import Channels
from .chat import Chat
from .commands import BotCommands
from .message import MessageReader, encode
from .render import SERVER
from .session import Hub, Job

PING_INTERVAL = 90.0  # seconds of silence before the server sends PING
PING_TIMEOUT = 60.0  # further seconds without an answer before it disconnects
HARD_LIMIT = 4 << 20  # unread bytes (replies included) past which a client is cut
MAX_JOBS = 8  # ! commands that may wait for the one running
FLUSH_INTERVAL = 0.1  # seconds between a channel's first queued delivery and its flush


class IrcConnections:
    """The connections of the IRC listener, and the factory of new ones."""

    def __init__(
        self,
        engine: Engine,
        taps: LiveTaps,
        registry: Registry,
        max_reply: int = 20,
        password: str = "",
        ping_interval: float = PING_INTERVAL,
        ping_timeout: float = PING_TIMEOUT,
    ) -> None:
        self.channels = Channels(taps, self._later)
        commands = BotCommands(engine, registry, self.channels, max_reply)
        created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.hub = Hub(self.channels, commands, password, created)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open: set[IrcProtocol] = set()
        self.cut = 0  # clients cut for leaving HARD_LIMIT bytes unread
        self._tick: asyncio.TimerHandle | None = None

    @staticmethod
    def _later(fn: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(FLUSH_INTERVAL, fn)

    def protocol(self) -> IrcProtocol:
        if self._tick is None:
            self._schedule()
        return IrcProtocol(self)

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._tick = loop.call_later(min(1.0, self.ping_interval / 2), self.tick)

    def tick(self) -> None:
        now = time.monotonic()
        for conn in list(self.open):
            conn.check_alive(now)
        for channel in self.channels:
            channel.flush_notices()
        self._schedule()

    def close_all(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        for conn in list(self.open):
            conn.session.quit("Server shutting down")
            conn.abort()
        self.channels.close()

    def collect(self) -> Iterable[Metric]:
        s = self.hub.stats
        sent = sum(c.sent for c in self.channels) + self.channels.retired_sent
        skipped = sum(c.skipped for c in self.channels) + self.channels.retired_skipped
        yield Metric("IrcClients", len(self.open), "IRC connections open", prom="irc_clients")
        yield Metric(
            "IrcChannels",
            sum(1 for c in self.channels if c.members),
            "IRC channels with members",
            prom="irc_channels",
        )
        yield Metric(
            "IrcRegistered", s.registered, "IRC clients registered", "counter", "irc_registered"
        )
        yield Metric("IrcLinesSent", sent, "log lines sent to IRC members", "counter", "irc_lines")
        yield Metric(
            "IrcLinesSkipped",
            skipped,
            "log lines IRC members did not get (slow reader or channel rate)",
            "counter",
            "irc_skipped_lines",
        )
        yield Metric("IrcCommands", s.commands, "! commands run", "counter", "irc_commands")
        yield Metric(
            "IrcUnknownCommands", s.unknown, "IRC commands answered 421", "counter", "irc_unknown"
        )
        yield Metric(
            "IrcBadLines", s.bad_lines, "IRC lines dropped: too long", "counter", "irc_bad_lines"
        )
        yield Metric(
            "IrcPingTimeouts",
            s.ping_timeouts,
            "IRC clients closed for not answering PING",
            "counter",
            "irc_ping_timeouts",
        )
        yield Metric(
            "IrcPasswordFailures",
            s.password_failures,
            "IRC clients refused: wrong PASS",
            "counter",
            "irc_password_failures",
        )
        yield Metric(
            "IrcCut", self.cut, "IRC clients cut for not reading", "counter", "irc_cut_clients"
        )


class IrcProtocol(asyncio.Protocol):
    def __init__(self, owner: IrcConnections) -> None:
        self.owner = owner
        self.host = "unknown"
        self.transport: asyncio.Transport | None = None
        self.reader = MessageReader()
        self.session = Chat(owner.hub, self)
        self.opened = self.seen = time.monotonic()
        self.pinged = False
        self._jobs: deque[Job] = deque()
        self._runner: asyncio.Task[None] | None = None

    # --------------------------------------------------------------- events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.host = str(peer[0])
        self.owner.open.add(self)

    def data_received(self, data: bytes) -> None:
        self.seen = time.monotonic()
        self.pinged = False
        reader = self.reader
        dropped = reader.overlong + reader.malformed
        for msg in reader.feed(data):
            job = self.session.handle(msg)
            if job is not None:
                self._queue(job)
        self.owner.hub.stats.bad_lines += reader.overlong + reader.malformed - dropped

    def eof_received(self) -> bool:
        return False  # close our side too

    def resume_writing(self) -> None:
        for channel in self.owner.channels.of(self.session):
            channel.flush_notices()

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.open.discard(self)
        self.session.gone("Connection closed")
        for job in self._jobs:
            job.close()
        self._jobs.clear()
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()

    # --------------------------------------------------------------- client
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > HARD_LIMIT:
            self.owner.cut += 1
            self.session.gone("Send queue exceeded")
            transport.abort()

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------ internals
    def check_alive(self, now: float) -> None:
        """Registration and ping timeouts; PING after a silence."""
        silent = now - self.seen
        limit = self.owner.ping_interval + self.owner.ping_timeout
        if not self.session.registered and now - self.opened > limit:
            self.session.quit("Registration timed out")
        elif silent > limit:
            self.owner.hub.stats.ping_timeouts += 1
            self.session.quit(f"Ping timeout: {int(silent)} seconds")
        elif silent > self.owner.ping_interval and not self.pinged:
            self.pinged = True
            self.write(encode("PING", SERVER))

    def _queue(self, job: Job) -> None:
        if len(self._jobs) >= MAX_JOBS:
            job.close()
            self.session.reply("NOTICE", "Too many ! commands waiting; try again")
            return
        self._jobs.append(job)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._jobs:
            job = self._jobs.popleft()
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one reply, never the server
                with contextlib.suppress(Exception):
                    self.session.reply("NOTICE", f"ERROR: Internal error: {type(exc).__name__}")
