"""IRC flow control and timeouts: channels fan one delivery out to members, drop lines
for a member over its queue bound and tell it ``... N lines skipped`` once it drains,
cap what a channel renders each second; and, with the IRC listener run in process
with short timers, PING, ping timeout and registration timeout."""

from __future__ import annotations

import asyncio
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from irc_support import IrcClient

from logcaster.frontends.irc.channels import Channels
from logcaster.frontends.irc.protocol import IrcConnections
from logcaster.net import TCPListener
from logcaster.pipeline.intake import Intake
from logcaster.pipeline.taps import LiveTaps
from logcaster.query.engine import Engine
from logcaster.query.pool import WorkerPool
from logcaster.stats import Registry
from logcaster.storage.ring import Ring


@dataclass(eq=False)
class FakeMember:
    nick: str
    queued: int = 0  # what buffered() reports
    got: list[bytes] = field(default_factory=list)

    def buffered(self) -> int:
        return self.queued

    def send(self, data: bytes) -> None:
        self.got.append(data)

    def text(self) -> bytes:
        return b"".join(self.got)


def block_of(n: int, word: bytes = b"INFO") -> tuple[bytes, array[int]]:
    block = b"".join(word + b" line %d\n" % i for i in range(n))
    return block, array("q", [0, len(block)])


def test_one_tap_per_channel_and_it_closes_with_the_last_member() -> None:
    taps = LiveTaps()
    channels = Channels(taps)
    a, b = FakeMember("a"), FakeMember("b")
    chan = channels.open("#logs-all")
    assert chan is not None
    chan.add(a)
    chan.add(b)
    assert len(taps.taps) == 1
    custom = channels.open("#logs-Mine")
    assert custom is not None and custom.name == "#logs-mine" and not custom.builtin
    custom.add(a)
    assert len(taps.taps) == 2
    channels.leave(custom, a)
    assert channels.get("#logs-mine") is None and len(taps.taps) == 1
    channels.leave_all(a)
    channels.leave_all(b)
    assert not taps.taps
    assert channels.open("#general") is None and channels.open("#logs-") is None


def test_member_over_its_bound_misses_lines_then_gets_one_notice() -> None:
    taps = LiveTaps()
    channels = Channels(taps)
    fast, slow = FakeMember("fast"), FakeMember("slow")
    chan = channels.open("#logs-all")
    assert chan is not None
    chan.add(fast)
    chan.add(slow)
    slow.queued = chan.queue_bytes + 1
    block, _ = block_of(10)
    taps.publish(block, 0, 10)
    assert fast.text().count(b"PRIVMSG #logs-all") == 10 and slow.got == []
    chan.flush_notices()
    assert slow.got == []  # still full: no notice yet
    slow.queued = 0
    chan.flush_notices()
    assert (
        slow.text() == b":logcaster!logcaster@logcaster NOTICE #logs-all :... 10 lines skipped\r\n"
    )
    chan.flush_notices()
    assert len(slow.got) == 1  # told once
    taps.publish(b"INFO after\n", 0, 1)
    assert b"INFO after" in slow.got[-1]
    assert (chan.sent, chan.skipped) == (12, 10)


def test_skip_notice_comes_before_the_next_lines() -> None:
    taps = LiveTaps()
    chan = Channels(taps).open("#logs-error")
    assert chan is not None
    m = FakeMember("m", queued=1 << 30)
    chan.add(m)
    taps.publish(b"ERROR a\nINFO b\nERROR c\n", 0, 3)
    m.queued = 0
    taps.publish(b"ERROR d\n", 0, 1)
    assert m.got[0].endswith(b":... 2 lines skipped\r\n") and b"ERROR d" in m.got[1]


def test_a_channel_renders_at_most_its_rate_and_counts_the_rest() -> None:
    taps = LiveTaps()
    chan = Channels(taps).open("#logs-all")
    assert chan is not None
    m = FakeMember("m")
    chan.add(m)
    chan.rate = chan._budget = 100
    block, _ = block_of(250)
    taps.publish(block, 0, 250)
    assert m.text().count(b" PRIVMSG ") == 100
    assert chan.members[m].skipped == 150
    chan.flush_notices()
    assert m.got[-1].endswith(b":... 150 lines skipped\r\n")


def test_stream_off_stops_lines_and_closes_an_unused_tap() -> None:
    taps = LiveTaps()
    chan = Channels(taps).open("#logs-all")
    assert chan is not None
    m = FakeMember("m")
    chan.add(m)
    chan.set_streaming(m, False)
    assert not taps.taps
    taps.publish(b"INFO x\n", 0, 1)
    assert m.got == []
    chan.set_streaming(m, True)
    taps.publish(b"INFO y\n", 0, 1)
    assert b"INFO y" in m.text() and b"INFO x" not in m.text()


# ------------------------------------------------------------------ in process, short timers
@dataclass
class Running:
    port: int
    irc: IrcConnections
    intake: Intake


@pytest.fixture
def in_process() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ring = Ring(10_000, 1 << 24)
    pool = WorkerPool(2, 8)
    taps = LiveTaps()
    irc = IrcConnections(Engine(ring, pool), taps, Registry(), ping_interval=0.4, ping_timeout=0.4)
    listener = TCPListener("irc", "127.0.0.1", 0, irc)

    async def start() -> None:
        await listener.start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield Running(listener.address.port, irc, Intake(ring, taps))
    finally:

        async def stop() -> None:
            listener.close()
            irc.close_all()
            await listener.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        pool.shutdown()


def test_silent_client_is_pinged_then_cut(in_process: Running) -> None:
    with IrcClient(in_process.port) as c:
        c.register("quiet")
        assert c.expect(rb"^PING ")[-1] == b"PING logcaster"
        c.wait_closed(10)
        assert b"ERROR :Closing Link: 127.0.0.1 (Ping timeout: " in c.raw
    assert in_process.irc.hub.stats.ping_timeouts == 1
    assert in_process.irc.hub.find("quiet") is None


def test_client_that_answers_ping_stays(in_process: Running) -> None:
    with IrcClient(in_process.port) as c:
        c.register("alive")
        for _ in range(3):
            c.expect(rb"^PING ")
            c.send("PONG :logcaster")
        c.send("PING :still")
        c.expect(rb"still")
        assert not c.closed
    assert in_process.irc.hub.stats.ping_timeouts == 0


def test_unregistered_client_is_closed(in_process: Running) -> None:
    with IrcClient(in_process.port) as c:
        c.send("NICK halfway")
        c.wait_closed(10)
        assert b"Registration timed out" in c.raw
