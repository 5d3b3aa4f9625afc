"""The HTTP live tail behind a slow reader, against a running server: lines that go by
while it is over its backlog bound are counted, and ``{"skipped": N}`` comes as soon
as the reader has caught up, as FOLLOW's ``... N lines skipped`` does, not with the
next matching line."""

from __future__ import annotations

import json
import re
import socket

import pytest
from support import Server, parse_info, wait_for

N = 60_000
PAD = b"x" * 100


def open_tail(srv: Server, accept: str) -> socket.socket:
    """A tail request over HTTP/1.0 (the body is the stream, no chunks), read into a
    4 KiB receive buffer so that the server's sending side fills up."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(15)
    sock.connect(("127.0.0.1", srv.http_port))
    sock.sendall(f"GET /api/v1/tail?keywords=seq HTTP/1.0\r\nAccept: {accept}\r\n\r\n".encode())
    return sock


def read_records(sock: socket.socket, sse: bool, until: int) -> list[dict[str, object]]:
    """Records read until every one of ``until`` lines is seen or counted as skipped."""
    buf = b""
    records: list[dict[str, object]] = []
    seen = 0
    while seen < until:
        chunk = sock.recv(1 << 20)  # times out (fails) if the skipped record never comes
        assert chunk, "the server closed the tail"
        buf += chunk
        if not records and b"\r\n\r\n" in buf:
            head, _, buf = buf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
        *done, buf = buf.split(b"\n")
        for line in done:
            if sse:
                if not line.startswith(b"data: "):
                    continue
                line = line[len(b"data: ") :]
            if not line.strip():
                continue
            record = json.loads(line)
            records.append(record)
            seen += int(record.get("skipped", 1))  # type: ignore[call-overload]
    return records


@pytest.mark.parametrize("accept", ["application/x-ndjson", "text/event-stream"])
def test_a_lagging_tail_hears_of_skipped_lines_once_caught_up(server: Server, accept: str) -> None:
    sock = open_tail(server, accept)
    with sock:
        wait_for(lambda: parse_info(server.query("INFO"))["Followers"] == "1", what="the tap")
        server.send(b"".join(b"seq %06d %s\n" % (i, PAD) for i in range(N)))
        wait_for(lambda: server.query("COUNT") == f"COUNT: {N}\n".encode(), what="all lines")
        skipped_total = int(parse_info(server.query("INFO"))["FollowSkipped"])
        assert skipped_total > 0  # the reader did fall behind
        # No line is sent after these: the count must come by itself.
        records = read_records(sock, accept == "text/event-stream", N)
    lines = [r["line"] for r in records if "line" in r]
    skips = [r for r in records if "skipped" in r]
    assert skips and all(set(r) == {"skipped"} for r in skips)
    assert sum(int(r["skipped"]) for r in skips) == skipped_total  # type: ignore[call-overload]
    assert len(lines) + skipped_total == N
    numbers = [int(re.match(r"seq (\d+) ", str(x)).group(1)) for x in lines]  # type: ignore[union-attr]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
