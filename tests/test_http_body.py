"""Large ``/api/v1/query`` bodies sent straight from their buffers (``frontends.http.body``):
the chunked framing read by hand (and the connection still good for the next request),
HTTP/1.0's body to the close, a slow reader, and a client leaving mid-reply: every
record whole and in order, the same bytes every way."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from support import Server, start_server, wait_for

from logcaster.frontends.http.jobs import BYTES_AHEAD, JOBS_QUEUED, jobs_in_flight
from logcaster.frontends.http.render import FIRST_SIZE, Buffers

LINES = [b"line %06d k=v%d %s" % (i, i % 7, b"x" * (i % 150)) for i in range(60_000)]  # ~6 MB
PATH = "/api/v1/query?keywords=line&limit=100000"
RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close() resets


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("http_body"))
    try:
        srv.send(b"".join(line + b"\n" for line in LINES))
        wait_for(lambda: srv.query("COUNT") == b"COUNT: %d\n" % len(LINES), what="the lines")
        yield srv
    finally:
        srv.stop()


def request(version: str = "1.1", extra: str = "", path: str = PATH) -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: x\r\n{extra}\r\n".encode()


class Reader:
    """Reads an HTTP/1.x response off a socket, a little at a time when ``slow``."""

    def __init__(self, sock: socket.socket, slow: bool = False) -> None:
        self.sock, self.slow, self.buf, self.reads = sock, slow, b"", 0

    def _more(self) -> bytes:
        chunk = self.sock.recv(1 << 14 if self.slow else 1 << 20)
        self.reads += 1
        if self.slow and self.reads % 64 == 0:
            time.sleep(0.01)  # the server's sends find the socket full
        return chunk

    def until(self, mark: bytes) -> bytes:
        while mark not in self.buf:
            chunk = self._more()
            assert chunk, "closed early"
            self.buf += chunk
        out, self.buf = self.buf.split(mark, 1)
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self._more()
            assert chunk, "closed early"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while chunk := self._more():
            self.buf += chunk
        out, self.buf = self.buf, b""
        return out

    def response(self) -> tuple[dict[str, str], bytes]:
        """One response: its headers and its body (de-chunked)."""
        head = self.until(b"\r\n\r\n").decode().split("\r\n")
        assert head[0].split()[1] == "200", head
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:])}
        if headers.get("transfer-encoding") == "chunked":
            body = []
            while size := int(self.until(b"\r\n"), 16):
                body.append(self.exactly(size))
                assert self.exactly(2) == b"\r\n"
            assert self.exactly(2) == b"\r\n"
            return headers, b"".join(body)
        if "content-length" in headers:
            return headers, self.exactly(int(headers["content-length"]))
        return headers, self.rest()


def check_records(body: bytes) -> None:
    records = [json.loads(x) for x in body.splitlines()]
    assert [r["line"].encode() for r in records] == LINES
    assert all(r["fields"]["k"] == f"v{i % 7}" for i, r in enumerate(records))


def test_chunked_body_and_the_connection_after_it(big: Server) -> None:
    with socket.create_connection(("127.0.0.1", big.http_port), timeout=60) as sock:
        reader = Reader(sock)
        sock.sendall(request())
        headers, body = reader.response()
        assert headers["content-type"].startswith("application/x-ndjson")
        check_records(body)
        # the framing ended where the server thinks it did: the next request works
        sock.sendall(request(path="/healthz", extra="Connection: close\r\n"))
        _, health = reader.response()
        assert json.loads(health) == {"status": "ok"}


def test_http_1_0_slow_and_fast_readers_get_the_same_bytes(big: Server) -> None:
    bodies = []
    for version, slow in (("1.1", False), ("1.0", False), ("1.1", True), ("1.0", True)):
        with socket.create_connection(("127.0.0.1", big.http_port), timeout=60) as sock:
            if slow:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 14)
            sock.sendall(request(version, "Connection: close\r\n"))
            headers, body = Reader(sock, slow).response()
            assert ("transfer-encoding" in headers) == (version == "1.1")
            bodies.append(body)
    check_records(bodies[0])
    assert all(b == bodies[0] for b in bodies)


def test_a_client_leaving_mid_reply_costs_only_its_reply(big: Server) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", big.http_port), timeout=60) as sock:
            sock.sendall(request())
            assert sock.recv(1 << 16)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)  # gone: a reset
    with socket.create_connection(("127.0.0.1", big.http_port), timeout=60) as sock:
        sock.sendall(request(extra="Connection: close\r\n"))
        check_records(Reader(sock).response()[1])


def test_output_buffers_are_reused_within_bounds() -> None:
    pool = Buffers(keep=2, keep_bytes=3 * FIRST_SIZE)
    a, b = pool.take(), pool.take(FIRST_SIZE + 5)
    assert a is not b and len(a) == FIRST_SIZE and len(b) == FIRST_SIZE + 5
    pool.give(a)
    pool.give(b)
    assert pool.take(1) is b and pool.take(1) is a  # the largest first, whatever asked
    grown = bytearray(2 * FIRST_SIZE)
    pool.give(grown)  # as the encoder grew it: kept at its size
    pool.give(bytearray(FIRST_SIZE + 1))  # past the bytes kept: dropped
    pool.give(a)
    pool.give(b)  # past the count kept: dropped
    assert pool.take() is grown and pool.take() is a
    fresh = pool.take()  # none left: a fresh one
    assert all(fresh is not old for old in (a, b, grown))


def test_jobsjobs_in_flight_follow_the_size_of_their_output() -> None:
    assert jobs_in_flight(2, 0) == 2 + JOBS_QUEUED  # rare matches: every spare job
    assert jobs_in_flight(2, 2_400_000) == 2 + JOBS_QUEUED  # 250 k records of 104 MB
    assert jobs_in_flight(2, BYTES_AHEAD // 4) == 4  # four such outputs fit
    assert jobs_in_flight(2, 9_000_000) == 3  # every line: one spare job, as before
    assert jobs_in_flight(8, BYTES_AHEAD) == 9  # never fewer than one spare
