"""The query adapter in process: ``QueryProtocol`` / ``LineConnections`` driven through a
fake transport, over the real handler, engine, worker pool, ring, taps and registry.

The ingest adapter's tests are in ``test_adapters.py``; the rig is ``adapters.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from adapters import FakeTransport, Rig, build, eof, run, spin, until
from hypothesis import given
from hypothesis import strategies as st

from logcaster.frontends.line import handler as handler_module
from logcaster.frontends.line.reader import AUTH_REQUIRED, TOO_LONG
from logcaster.query.matches import Matches

BUSY = b"ERROR: Too many query connections, try again later\n"
LINES = b"INFO boot ok\nERROR disk full on /var\nWARN disk 91%\n"


def stamp(ns: int) -> bytes:
    return time.strftime("[%Y-%m-%d %H:%M:%S] ", time.localtime(ns // 1_000_000_000)).encode()


def receive_times(rig: Rig) -> list[int]:
    """The receive time of every chunk (one per ingest read) the ring holds, oldest first."""
    return [ts for view in rig.ring.snapshot().views for _, _, ts in view.chunk_spans()]


def feed_bytewise(proto: object, transport: FakeTransport, data: bytes) -> None:
    for i in range(len(data)):
        assert transport.writes == [], f"a reply before byte {i} of {data!r}"
        proto.data_received(data[i : i + 1])  # type: ignore[attr-defined]


# ------------------------------------------------------------------ commands and replies
@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"STATS\n", b"STATS: Total=3, Dropped=0, Current=3, Clients=0\n"),
        (b"COUNT\r\n", b"COUNT: 3\n"),
        (b"QUERY keyword=disk\n", b"FOUND: 2 matches\nERROR disk full on /var\nWARN disk 91%\n"),
        (b"QUERY keyword=nothing\n", b"FOUND: 0 matches\n"),
        (b"BOGUS\n", b"ERROR: Unknown command. Use HELP for usage.\n"),
        (b"QUERY foo=1\n", b"ERROR: Unknown parameter 'foo'. Use HELP for usage.\n"),
    ],
)
def test_a_command_split_byte_at_a_time(command: bytes, reply: bytes) -> None:
    async def main() -> None:
        rig = build()
        rig.send(LINES)
        proto, transport = rig.query_conn()
        feed_bytewise(proto, transport, command)
        await until(lambda: transport.lost, "the reply")
        assert transport.data == reply
        assert transport.closed and not transport.aborted
        assert proto not in rig.line.open
        rig.close()

    run(main())


REQUEST = b"AUTH tok\r\nQUERY keyword=disk\r\n"


@given(st.lists(st.integers(min_value=0, max_value=len(REQUEST)), max_size=6))
def test_any_cutting_of_a_request_gets_the_same_reply(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(REQUEST)]

    async def main() -> bytes:
        rig = build(token="tok")
        rig.send(LINES)
        proto, transport = rig.query_conn()
        for s, e in itertools.pairwise(bounds):
            proto.data_received(REQUEST[s:e])
        await until(lambda: transport.lost, "the reply")
        rig.close()
        return transport.data

    assert run(main()) == b"FOUND: 2 matches\nERROR disk full on /var\nWARN disk 91%\n"


def test_replies_are_byte_exact() -> None:
    async def main() -> None:
        rig = build(capacity=2)
        rig.send(b"INFO one\n")
        rig.send(b"ERROR disk full\nINFO three\n")
        rig.ingest_conn()  # one sender still connected
        assert await rig.ask(b"STATS\n") == b"STATS: Total=3, Dropped=1, Current=2, Clients=1\n"
        assert await rig.ask(b"COUNT\n") == b"COUNT: 2\n"
        assert await rig.ask(b"QUERY keyword=one\n") == b"FOUND: 0 matches\n"  # evicted
        assert await rig.ask(b"QUERY keyword=disk\n") == b"FOUND: 1 matches\nERROR disk full\n"
        (ts,) = receive_times(rig)
        assert await rig.ask(b"QUERY keywords=disk,three operator=OR order=desc\n") == (
            b"FOUND: 2 matches\n" + stamp(ts) + b"INFO three\n" + stamp(ts) + b"ERROR disk full\n"
        )
        assert await rig.ask(b"TAIL 1\n") == stamp(ts) + b"INFO three\n"
        rig.close()

    run(main())


def test_a_command_ended_by_eof_is_answered() -> None:
    async def main() -> None:
        rig = build()
        rig.send(LINES)
        proto, transport = rig.query_conn()
        proto.data_received(b"COUNT")
        assert transport.writes == []
        assert eof(proto, transport) is True  # a reply is under way: keep writing it
        await until(lambda: transport.lost, "the reply")
        assert transport.data == b"COUNT: 3\n"
        rig.close()

    run(main())


# ------------------------------------------------------------------ timeout, AUTH, limits
def test_the_command_timeout_aborts_silent_and_trickling_clients() -> None:
    async def main() -> None:
        rig = build(query_timeout=0.1)
        _, silent = rig.query_conn()
        slow, trickle = rig.query_conn()
        slow.data_received(b"STA")
        prompt = await rig.ask(b"COUNT\n")
        await until(lambda: silent.lost and trickle.lost, "the timeout to cut both")
        assert silent.aborted and trickle.aborted
        assert silent.writes == trickle.writes == []
        assert prompt == b"COUNT: 0\n"
        assert rig.line.open == set()
        rig.close()

    run(main())


def test_auth_required_ok_and_wrong() -> None:
    async def main() -> None:
        rig = build(token="s3cret")
        rig.send(LINES)
        assert await rig.ask(b"COUNT\n") == AUTH_REQUIRED
        assert await rig.ask(b"AUTH wrong\nCOUNT\n") == AUTH_REQUIRED
        assert rig.line.stats.auth_failures == 2
        proto, transport = rig.query_conn()
        feed_bytewise(proto, transport, b"AUTH s3cret\r\nCOUNT\n")
        await until(lambda: transport.lost, "the authenticated reply")
        assert transport.data == b"COUNT: 3\n"
        proto, transport = rig.query_conn()  # AUTH, then the client goes away
        proto.data_received(b"AUTH s3cret\n")
        assert eof(proto, transport) is False
        await until(lambda: transport.lost, "the connection to close")
        assert transport.writes == []
        proto, transport = rig.query_conn()  # EOF before AUTH
        assert eof(proto, transport) is False
        assert transport.data == AUTH_REQUIRED
        assert rig.registry.values()["AuthFailures"] == 3
        rig.close()

    run(main())


@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_a_too_long_command_line_is_refused(newline: bytes) -> None:
    async def main() -> None:
        rig = build()
        proto, transport = rig.query_conn()
        line = b"QUERY keyword=" + b"x" * 65536
        for i in range(0, len(line), 4096):
            proto.data_received(line[i : i + 4096])
        proto.data_received(newline)
        await until(lambda: transport.lost, "the refusal")
        assert transport.data == TOO_LONG
        assert transport.closed
        rig.close()

    run(main())


def test_max_clients_evicts_the_oldest_waiting_client_then_refuses() -> None:
    async def main() -> None:
        rig = build(max_query_clients=3)
        _, first = rig.query_conn()
        _, second = rig.query_conn()
        follower, following = rig.query_conn()
        follower.data_received(b"FOLLOW\n")
        await until(lambda: following.data == b"FOLLOWING\n", "FOLLOWING")
        newcomer, fresh = rig.query_conn()  # at the cap: the oldest waiting one goes
        assert first.aborted and not second.is_closing() and not fresh.is_closing()
        assert rig.line.stats.evicted == 1
        newcomer.data_received(b"FOLLOW\n")
        await until(lambda: fresh.data == b"FOLLOWING\n", "FOLLOWING")
        _, third = rig.query_conn()  # `second` waits: it goes too
        assert second.aborted and rig.line.stats.evicted == 2
        third.protocol.data_received(b"FOLLOW\n")  # type: ignore[attr-defined]
        await until(lambda: third.data == b"FOLLOWING\n", "FOLLOWING")
        _, refused = rig.query_conn()  # every slot is being answered: refused
        assert refused.data == BUSY and refused.closed and not refused.aborted
        assert rig.line.stats.rejected == 1
        await until(lambda: first.lost and second.lost and refused.lost, "the losers lost")
        assert len(rig.line.open) == 3
        values = rig.registry.values()
        assert (values["QueryEvicted"], values["QueryRejected"]) == (2, 1)
        rig.close()

    run(main())


# ------------------------------------------------------------------ write flow control
def test_pause_writing_holds_the_reply_and_resume_writing_continues_it() -> None:
    async def main() -> None:
        rig = build(capacity=100_000)
        lines = b"".join(b"payload %06d %s\n" % (i, b"." * 80) for i in range(8000))
        rig.send(lines)
        proto, transport = rig.query_conn()
        transport.set_write_buffer_limits(high=1000, low=0)
        proto.data_received(b"QUERY keyword=payload\n")
        writes = 0
        while True:
            await until(lambda: transport.writing_paused or transport.lost, "a pause or the end")
            if transport.lost:
                break
            assert len(transport.writes) == writes + 1  # one chunk, then it waits
            writes += 1
            await spin()
            assert len(transport.writes) == writes, "written while paused"
            assert rig.pool.waiting == 0, "the next chunk was rendered while paused"
            assert proto._task is not None and not proto._task.done()
            transport.drain()
        assert writes >= 3  # the reply took several chunks, each held by a pause
        assert transport.write_pauses == writes
        assert transport.data == b"FOUND: 8000 matches\n" + lines
        rig.close()

    run(main())


def test_a_client_lost_while_its_reply_is_paused_stops_the_reply() -> None:
    async def main() -> None:
        rig = build(capacity=100_000)
        rig.send(b"".join(b"payload %06d %s\n" % (i, b"." * 80) for i in range(8000)))
        proto, transport = rig.query_conn()
        transport.set_write_buffer_limits(high=1000, low=0)
        proto.data_received(b"QUERY keyword=payload\n")
        await until(lambda: transport.writing_paused, "the first pause")
        task = proto._task
        proto.connection_lost(ConnectionResetError())
        await until(lambda: task is not None and task.done(), "the reply task to end")
        assert task is not None and task.cancelled()
        assert len(transport.writes) == 1
        assert rig.pool.waiting == 0 and proto not in rig.line.open
        assert await rig.ask(b"COUNT\n") == b"COUNT: 8000\n"
        rig.close()

    run(main())


# ------------------------------------------------------------------ FOLLOW
def test_follow_gets_new_lines_and_ends_on_eof() -> None:
    async def main() -> None:
        rig = build()
        rig.send(b"ERROR old, before the follow\n")
        proto, transport = rig.query_conn()
        proto.data_received(b"FOLLOW level=ERROR\n")
        await until(lambda: transport.data == b"FOLLOWING\n", "FOLLOWING")
        assert rig.registry.values()["Followers"] == 1
        rig.send(b"INFO fine\nERROR disk full\nWARN meh\nERROR again\n")
        rig.send(b"INFO nothing to see\n")
        rig.send(b"ERROR third\n")
        _, t1, _, t3 = receive_times(rig)
        assert transport.data == (
            b"FOLLOWING\n"
            + stamp(t1)
            + b"ERROR disk full\n"
            + stamp(t1)
            + b"ERROR again\n"
            + stamp(t3)
            + b"ERROR third\n"
        )
        assert eof(proto, transport) is True  # the FOLLOW ends, then closes the connection
        await until(lambda: transport.lost, "the follow to end")
        assert transport.closed and not transport.aborted
        assert rig.registry.values()["Followers"] == 0
        before = transport.data
        rig.send(b"ERROR after the end\n")
        assert transport.data == before
        rig.close()

    run(main())


def test_a_follower_that_disconnects_leaves_no_tap() -> None:
    async def main() -> None:
        rig = build()
        proto, transport = rig.query_conn()
        proto.data_received(b"FOLLOW\n")
        await until(lambda: transport.data == b"FOLLOWING\n", "FOLLOWING")
        proto.connection_lost(ConnectionResetError())
        await until(lambda: not rig.taps, "the tap to go")
        assert proto._task is not None and proto._task.cancelled()
        rig.send(b"INFO after\n")
        assert transport.data == b"FOLLOWING\n"
        rig.close()

    run(main())


# ------------------------------------------------------------------ a bug in a command
def test_an_exception_before_the_reply_costs_one_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        rig = build()
        rig.send(LINES)

        async def broken(count: int) -> Matches:
            raise RuntimeError("a bug")

        monkeypatch.setattr(rig.line.handler.engine, "tail", broken)
        proto, transport = rig.query_conn()
        proto.data_received(b"TAIL 5\n")
        await until(lambda: transport.lost, "the error reply")
        assert transport.data == b"ERROR: Internal error: RuntimeError\n"
        task = proto._task
        assert task is not None and task.done() and not task.cancelled()
        assert task.exception() is None  # handled: nothing escapes to the loop
        assert await rig.ask(b"COUNT\n") == b"COUNT: 3\n"
        rig.close()

    run(main())


def test_an_exception_on_a_worker_mid_reply_ends_it_with_one_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def half_rendered(
        matches: Matches, descending: bool = False, reuse: bool = False
    ) -> Iterator[bytes]:
        yield b"a first chunk\n"
        raise ValueError("a bug in rendering")

    monkeypatch.setattr(handler_module, "render_stamped", half_rendered)

    async def main() -> None:
        rig = build()
        rig.send(LINES)
        reply = await rig.ask(b"TAIL 2\n")
        assert reply == b"a first chunk\nERROR: Internal error: ValueError\n"
        assert await rig.ask(b"STATS\n") == b"STATS: Total=3, Dropped=0, Current=3, Clients=0\n"
        rig.close()

    run(main())


def test_a_follower_that_does_not_read_is_told_what_it_missed_then_cut() -> None:
    async def main() -> None:
        rig = build(follow_backlog=200, query_timeout=0.3)
        proto, transport = rig.query_conn()
        transport.set_write_buffer_limits(high=1 << 30)  # buffers all, never pauses
        proto.data_received(b"FOLLOW\n")
        await until(lambda: transport.data == b"FOLLOWING\n", "FOLLOWING")
        delivered = 0
        while transport.get_write_buffer_size() <= 200:  # the reader reads nothing
            rig.send(b"line %d\n" % delivered)
            delivered += 1
        for i in range(5):  # over the backlog: counted, not delivered
            rig.send(b"missed %d\n" % i)
        assert b"missed" not in transport.data
        assert rig.registry.values()["FollowSkipped"] == 5
        transport.drain()  # the reader caught up
        rig.send(b"back\n")
        ts = receive_times(rig)[-1]
        assert transport.data.endswith(b"\n... 5 lines skipped\n" + stamp(ts) + b"back\n")
        assert transport.data.count(b"] line ") == delivered

        def still_stalled() -> bool:
            rig.send(b"more\n")  # lines keep coming while the reader stays stalled
            return transport.lost

        await until(still_stalled, "the stalled follower to be cut")
        assert transport.aborted
        assert rig.registry.values()["FollowCut"] == 1
        assert not rig.taps and proto not in rig.line.open
        rig.close()

    run(main())
