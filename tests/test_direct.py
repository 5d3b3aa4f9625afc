"""Large replies sent straight from their buffers (``direct``): whole and
in order for a fast reader, a slow one and after a client that left mid-reply; and the
once-per-block UTF-8 check (``Block.utf8_through``) that lets them skip a second pass."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from array import array
from collections.abc import Callable, Iterator

import pytest
from support import Server, parse_found, start_server

from logcaster.direct import DirectWriter
from logcaster.frontends.line.render import render
from logcaster.query.matches import Matches
from logcaster.query.spec import QuerySpec
from logcaster.storage.ring import Block, Ring

LINES = [b"line %06d %s" % (i, b"x" * (i % 150)) for i in range(60_000)]  # ~6 MB


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("direct"))
    try:
        srv.send(b"".join(line + b"\n" for line in LINES))
        deadline = time.monotonic() + 30
        while b"Total=60000" not in srv.query("STATS") and time.monotonic() < deadline:
            time.sleep(0.05)
        yield srv
    finally:
        srv.stop()


def body_lines(reply: bytes) -> list[bytes]:
    count, lines = parse_found(reply)
    assert count == len(lines)
    return [line.split(b"] ", 1)[1] for line in lines]


def test_every_line_in_order(big: Server) -> None:
    assert body_lines(big.query("QUERY", timeout=60)) == LINES


def test_a_slow_reader_gets_every_line(big: Server) -> None:
    with socket.create_connection(("127.0.0.1", big.query_port), timeout=60) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 14)
        sock.sendall(b"QUERY keywords=line\n")
        parts = []
        while chunk := sock.recv(1 << 14):
            parts.append(chunk)
            if len(parts) % 64 == 0:
                time.sleep(0.01)  # the server's sends find the socket full
    assert body_lines(b"".join(parts)) == LINES


def test_a_client_leaving_mid_reply_costs_only_its_reply(big: Server) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", big.query_port), timeout=30) as sock:
            sock.sendall(b"QUERY\n")
            assert sock.recv(1 << 16)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    assert body_lines(big.query("QUERY limit=3")) == LINES[-3:]
    assert b"Total=60000" in big.query("STATS")


def test_utf8_checked_once_per_block_and_again_after_reuse() -> None:
    blk = Block(64)
    blk.buf[:12] = b"ok \xc3\xa9\nbad \xff\n"
    blk.used = 12
    assert blk.utf8_through(6) and blk.utf8_upto == 6
    assert not blk.utf8_through(12) and blk.utf8_upto == 6
    blk.reset()
    assert blk.utf8_upto == 0


def test_invalid_utf8_still_replaced_after_valid_lines_were_cached() -> None:
    ring = Ring(100, 1 << 20, 1 << 20)
    ring.append(b"caf\xc3\xa9\n", 1_750_000_000 * 10**9)
    view = ring.snapshot().views[0]
    found = Matches()
    found.add(view, array("q", (view.start, view.end)), 1)
    assert b"".join(render(found, QuerySpec(raw=True))) == "café\n".encode()
    ring.append(b"bad \xff\n", 1_750_000_000 * 10**9)
    view = ring.snapshot().views[0]
    found = Matches()
    found.add(view, array("q", (view.start, view.end)), 2)
    assert b"".join(render(found, QuerySpec(raw=True))) == "café\nbad \ufffd\n".encode()


def test_direct_writer_is_not_used_over_tls() -> None:
    # TLS replies go through the transport (the query port's TLS tests read them);
    # here: a transport with a TLS context never gets the raw socket written to.
    class FakeTLS:
        def get_extra_info(self, name: str) -> object:
            return object() if name in ("socket", "sslcontext") else None

    assert not DirectWriter(FakeTLS()).usable  # type: ignore[arg-type]


def test_no_descriptor_left_means_the_transport_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fd(fd: int) -> int:
        raise OSError(24, "Too many open files")

    with socket.socket() as sock:

        class Transport:
            def get_extra_info(self, name: str) -> object:
                return sock if name == "socket" else None

        monkeypatch.setattr("logcaster.direct.os.dup", no_fd)
        writer = DirectWriter(Transport())  # type: ignore[arg-type]
        assert not writer.usable
        writer.close()


def test_a_cancelled_pump_lets_its_job_end_before_the_socket_is_closed() -> None:
    """A reply cancelled while the socket is full (its client stopped reading): the
    worker job ends before pump returns, the chunks are not pulled again, and what
    the client got is a prefix of the reply."""
    pulled: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        for i in range(10_000):
            chunk = b"%06d" % i + b"." * (64 << 10)
            pulled.append(chunk)
            yield chunk

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()

        class Transport:
            def get_extra_info(self, name: str) -> object:
                return ours if name == "socket" else None

        writer = DirectWriter(Transport())  # type: ignore[arg-type]

        async def run(fn: Callable[..., object], *args: object) -> object:
            return await loop.run_in_executor(None, fn, *args)

        task = asyncio.ensure_future(writer.pump(chunks(), run))
        while len(pulled) < 3:  # polled: a job is running or the socket is full
            await asyncio.sleep(0.01)
        assert not task.done()  # 640 MB cannot fit: nobody reads
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        writer.close()
        count = len(pulled)
        ours.close()
        theirs.setblocking(False)
        got = bytearray()
        with contextlib.suppress(BlockingIOError):
            while part := theirs.recv(1 << 20):
                got += part
        theirs.close()
        assert len(pulled) == count < 10_000
        assert got == b"".join(pulled)[: len(got)]

    asyncio.run(main())
