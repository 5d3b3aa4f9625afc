"""The ingest adapter in process: ``IngestProtocol`` / ``IngestConnections`` driven through a
fake transport, over the real ring, intake, taps and a real ``BatchWriter`` store.

The query adapter's tests are in ``test_adapters_query.py``; the rig is ``adapters.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest
from adapters import Rig, build, feed, ring_bytes, run, until
from hypothesis import given
from hypothesis import strategies as st

from logcaster.storage import batch
from logcaster.storage.batch import BatchWriter, Item

PAYLOAD = b"alpha one\nbeta two\r\n\ngamma\r\r\n\r\ndelta four\nend-no-newline"
STORED = b"alpha one\nbeta two\ngamma\ndelta four\nend-no-newline\n"


def send_in_pieces(rig: Rig, pieces: list[bytes]) -> None:
    """One connection: each piece is one read, then EOF and connection lost."""
    proto, transport = rig.ingest_conn()
    for piece in pieces:
        feed(proto, transport, piece)
    assert proto.eof_received() is False  # the transport then closes
    transport.close()


async def settle(rig: Rig) -> None:
    """Until every fake connection has been told it is lost."""
    await until(lambda: all(t.lost for t in rig.transports), "connection_lost everywhere")


# ------------------------------------------------------------------ framing through reads
def test_a_split_at_every_byte_offset_is_reassembled() -> None:
    async def main() -> None:
        for cut in range(len(PAYLOAD) + 1):
            rig = build()
            send_in_pieces(rig, [PAYLOAD[:cut], PAYLOAD[cut:]])
            await settle(rig)
            assert ring_bytes(rig.ring) == STORED, f"split at {cut}"
            assert rig.ring.total == 5
            assert rig.ingest.stats.clients == 0
            rig.close()

    run(main())


def test_byte_at_a_time_with_interleaved_connections() -> None:
    """Two connections share one receive buffer; each keeps its own partial line."""

    async def main() -> None:
        rig = build()
        a, ta = rig.ingest_conn()
        b, tb = rig.ingest_conn()
        other = PAYLOAD.upper()
        for i in range(max(len(PAYLOAD), len(other))):
            feed(a, ta, PAYLOAD[i : i + 1])
            feed(b, tb, other[i : i + 1])
        assert rig.ingest.stats.clients == 2
        ta.close()
        tb.close()
        await settle(rig)
        lines = ring_bytes(rig.ring).splitlines()
        assert [x for x in lines if x == x.lower()] == STORED.splitlines()
        assert [x for x in lines if x == x.upper()] == STORED.upper().splitlines()
        assert rig.ingest.stats.clients == 0
        rig.close()

    run(main())


@given(st.lists(st.integers(min_value=0, max_value=len(PAYLOAD)), max_size=8))
def test_any_cutting_of_the_stream_stores_the_same_lines(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(PAYLOAD)]
    pieces = [PAYLOAD[s:e] for s, e in itertools.pairwise(bounds)]

    async def main() -> bytes:
        rig = build()
        send_in_pieces(rig, pieces)
        await settle(rig)
        rig.close()
        return ring_bytes(rig.ring)

    assert run(main()) == STORED


def test_crlf_lines_are_stored_without_cr() -> None:
    async def main() -> None:
        rig = build()
        rig.send(b"one\r\ntwo\r\n\r\nthree\r\n")
        await settle(rig)
        assert ring_bytes(rig.ring) == b"one\ntwo\nthree\n"
        rig.close()

    run(main())


# ------------------------------------------------------------------ the last line
def test_last_line_without_newline_is_stored_once_on_eof() -> None:
    async def main() -> None:
        rig = build()
        proto, transport = rig.ingest_conn()
        feed(proto, transport, b"first\nlast")
        assert ring_bytes(rig.ring) == b"first\n"  # "last" may still go on
        assert proto.eof_received() is False  # False: let the transport close
        assert ring_bytes(rig.ring) == b"first\nlast\n"
        transport.close()
        await settle(rig)
        assert ring_bytes(rig.ring) == b"first\nlast\n"  # not stored again on connection_lost
        assert rig.ring.total == 2
        rig.close()

    run(main())


def test_last_line_without_newline_is_stored_on_connection_lost() -> None:
    async def main() -> None:
        rig = build()
        proto, transport = rig.ingest_conn()
        feed(proto, transport, b"first\nlast\r")
        proto.connection_lost(ConnectionResetError())  # no EOF: the peer reset
        assert ring_bytes(rig.ring) == b"first\nlast\n"
        assert rig.ingest.stats.clients == 0
        assert proto not in rig.ingest.open
        rig.close()

    run(main())


def test_shutdown_stores_every_unterminated_line() -> None:
    async def main() -> None:
        rig = build()
        conns = [rig.ingest_conn() for _ in range(3)]
        for i, (proto, transport) in enumerate(conns):
            feed(proto, transport, b"done %d\npartial %d" % (i, i))
        rig.ingest.close_all()
        assert all(t.aborted for _, t in conns)
        await settle(rig)
        assert sorted(ring_bytes(rig.ring).splitlines()) == sorted(
            [b"done %d" % i for i in range(3)] + [b"partial %d" % i for i in range(3)]
        )
        assert rig.ingest.stats.clients == 0
        rig.close()

    run(main())


# ------------------------------------------------------------------ limits
def test_over_long_lines_are_cut_and_counted() -> None:
    async def main() -> None:
        rig = build(max_line_bytes=16)
        long = b"x" * 40
        proto, transport = rig.ingest_conn()
        for i in range(0, len(long), 7):  # the long line arrives over several reads
            feed(proto, transport, long[i : i + 7])
        feed(proto, transport, b"\nshort\n" + b"y" * 20 + b"\n" + b"z" * 30)
        proto.eof_received()
        transport.close()
        await settle(rig)
        cut = [b"x" * 16 + b"...", b"short", b"y" * 16 + b"...", b"z" * 16 + b"..."]
        assert ring_bytes(rig.ring).splitlines() == cut
        assert rig.ingest.stats.truncated == 3
        assert rig.registry.values()["Truncated"] == 3
        rig.close()

    run(main())


@pytest.mark.parametrize(
    ("allow", "peer", "admitted"),
    [
        ("10.0.0.0/8", ("10.1.2.3", 5000), True),
        ("10.0.0.0/8", ("192.168.0.1", 5000), False),
        ("10.0.0.0/8", ("::ffff:10.9.9.9", 5000, 0, 0), True),
        ("10.0.0.0/8,fd00::/8", ("fd00::1", 5000, 0, 0), True),
        ("10.0.0.0/8", ("2001:db8::1", 5000, 0, 0), False),
        ("10.0.0.0/8", None, False),
    ],
)
def test_allow_list(allow: str, peer: object, admitted: bool) -> None:
    async def main() -> None:
        rig = build(allow=allow)
        proto, transport = rig.ingest_conn(peer)
        assert transport.aborted is not admitted
        assert rig.ingest.stats.clients == int(admitted)
        assert rig.ingest.stats.denied == int(not admitted)
        if admitted:
            feed(proto, transport, b"hello\n")
            transport.close()
        await settle(rig)
        assert rig.ring.total == int(admitted)
        assert rig.ingest.stats.clients == 0  # a denied connection never counted
        assert rig.registry.values()["Denied"] == int(not admitted)
        rig.close()

    run(main())


def test_max_clients_rejects_and_frees_a_slot_on_close() -> None:
    async def main() -> None:
        rig = build(max_clients=2)
        (_, t1), (p2, t2) = rig.ingest_conn(), rig.ingest_conn()
        _, t3 = rig.ingest_conn()
        assert (t1.aborted, t2.aborted, t3.aborted) == (False, False, True)
        assert rig.ingest.stats.rejected == 1
        assert rig.ingest.stats.clients == 2
        t1.close()
        await until(lambda: t1.lost and t3.lost, "both connections lost")
        assert rig.ingest.stats.clients == 1  # the rejected one never counted
        _, t4 = rig.ingest_conn()
        assert not t4.aborted
        feed(p2, t2, b"still here\n")
        assert rig.registry.values()["Rejected"] == 1
        assert ring_bytes(rig.ring) == b"still here\n"
        rig.close()

    run(main())


def test_idle_timeout_closes_only_the_silent_connection() -> None:
    async def main() -> None:
        rig = build(idle_timeout=0.2)
        _, silent = rig.ingest_conn()
        talker, busy = rig.ingest_conn()
        sent = 0

        def poll() -> bool:
            nonlocal sent
            feed(talker, busy, b"tick\n")  # keeps it active at every poll
            sent += 1
            return silent.lost

        await until(poll, "the idle connection to be closed")
        assert silent.closed and not busy.is_closing()
        assert rig.ingest.stats.idle_closed == 1
        assert rig.ingest.stats.clients == 1
        assert rig.ring.total == sent
        assert rig.registry.values()["IdleClosed"] == 1
        rig.close()

    run(main())


# ------------------------------------------------------------------ backpressure
class GatedStore(BatchWriter):
    """A real store whose writes wait for ``gate``: a disk that has stalled."""

    def __init__(self, on_drained: object) -> None:
        super().__init__("gated-store", on_drained)  # type: ignore[arg-type]
        self.gate = threading.Event()
        self.written = bytearray()
        self.batches = 0

    def write_batch(self, batch: list[Item]) -> None:
        self.gate.wait()
        self.batches += 1
        for data, _ in batch:
            self.written += data


def test_a_stalled_store_pauses_reading_and_draining_resumes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch, "HIGH_WATER", 2000)
    monkeypatch.setattr(batch, "LOW_WATER", 500)

    async def main() -> None:
        rig = build()
        loop = asyncio.get_running_loop()
        store = GatedStore(lambda: loop.call_soon_threadsafe(rig.intake.resume_all))
        store.start()
        rig.intake.stores.append(store)
        (a, ta), (b, tb) = rig.ingest_conn(), rig.ingest_conn()
        sent = bytearray()
        n = 0
        while ta.reading:  # the store falls behind: reading stops at high water
            line = b"line %05d from a\n" % n
            feed(a, ta, line)
            sent += line
            n += 1
        assert ta.pauses == 1 and ta.resumes == 0
        assert len(sent) > 2000 and n < 200
        feed(b, tb, b"from b, over high water\n")  # b is paused by its own read
        assert (tb.pauses, tb.reading) == (1, False)
        assert rig.intake.paused == 2
        assert rig.registry.values()["IngestPauses"] == 2
        assert ring_bytes(rig.ring) == bytes(sent) + b"from b, over high water\n"

        store.gate.set()  # the disk recovers: the queue drains below low water
        await until(lambda: ta.reading and tb.reading, "reading to resume")
        assert (ta.pauses, ta.resumes, tb.pauses, tb.resumes) == (1, 1, 1, 1)
        feed(a, ta, b"after resume\n")
        ta.close()
        tb.close()
        await settle(rig)
        assert store.flush(5.0)
        everything = bytes(sent) + b"from b, over high water\nafter resume\n"
        assert bytes(store.written) == everything  # in order, nothing lost
        assert ring_bytes(rig.ring) == everything
        assert store.backlog == 0
        store.close()
        rig.close()

    run(main())


def test_a_connection_closed_while_paused_is_not_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "HIGH_WATER", 100)
    monkeypatch.setattr(batch, "LOW_WATER", 10)

    async def main() -> None:
        rig = build()
        loop = asyncio.get_running_loop()
        store = GatedStore(lambda: loop.call_soon_threadsafe(rig.intake.resume_all))
        store.start()
        rig.intake.stores.append(store)
        (a, ta), (b, tb) = rig.ingest_conn(), rig.ingest_conn()
        feed(a, ta, b"a" * 200 + b"\n")
        feed(b, tb, b"b" * 20 + b"\n")
        assert not ta.reading and not tb.reading
        ta.abort()  # a goes away while paused
        await until(lambda: ta.lost, "a lost")
        assert a not in rig.intake._paused  # forgotten: a closed connection is not held
        store.gate.set()
        await until(lambda: tb.reading, "b to resume")
        assert ta.resumes == 0 and tb.resumes == 1
        assert store.flush(5.0)
        assert bytes(store.written) == b"a" * 200 + b"\n" + b"b" * 20 + b"\n"
        store.close()
        rig.close()

    run(main())


def test_a_connection_paused_for_a_store_is_not_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its sender is not silent: the server stopped reading it."""
    monkeypatch.setattr(batch, "HIGH_WATER", 100)
    monkeypatch.setattr(batch, "LOW_WATER", 10)

    async def main() -> None:
        rig = build(idle_timeout=0.2)
        loop = asyncio.get_running_loop()
        store = GatedStore(lambda: loop.call_soon_threadsafe(rig.intake.resume_all))
        store.start()
        rig.intake.stores.append(store)
        paused, tp = rig.ingest_conn()
        feed(paused, tp, b"p" * 200 + b"\n")
        assert not tp.reading
        _, clock = rig.ingest_conn()  # silent, and younger than the paused one's last read
        await until(lambda: clock.lost, "the silent connection to be closed")
        assert not tp.is_closing(), "closed as idle while the server was not reading it"
        store.gate.set()
        await until(lambda: tp.reading, "reading to resume")
        await until(lambda: tp.lost, "the resumed connection, now silent, to be closed")
        assert tp.closed_at - tp.resumed_at >= 0.2 * 0.95, "the idle clock ran while paused"
        assert rig.ingest.stats.idle_closed == 2
        assert store.flush(5.0)
        assert bytes(store.written) == b"p" * 200 + b"\n"
        store.close()
        rig.close()

    run(main())
