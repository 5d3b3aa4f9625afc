"""Client side of the LogCaster query protocol (shared by run.py and loadgen.py).

One command per connection: send ``COMMAND\\n`` and read until the server closes.
"""

from __future__ import annotations

import re
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

HOST = "127.0.0.1"
RECV_SIZE = 1 << 20

_STATS_RE = re.compile(rb"STATS: Total=(\d+), Dropped=(\d+), Current=(\d+), Clients=(\d+)")
_FOUND_RE = re.compile(rb"FOUND: (\d+) matches")


@dataclass(frozen=True)
class Stats:
    total: int
    dropped: int
    current: int
    clients: int


@dataclass(frozen=True)
class Reply:
    """A whole query reply: first line, number of lines after it, and size."""

    head: bytes
    body_lines: int
    nbytes: int
    newlines: int = 0  # every newline, the first line's included


def request(port: int, command: str, timeout: float = 10.0) -> bytes:
    """Send one command and return the whole reply (read until close)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(command.encode() + b"\n")
        chunks: list[bytes] = []
        while chunk := sock.recv(RECV_SIZE):
            chunks.append(chunk)
    return b"".join(chunks)


def count_stream(readinto: Callable[[bytearray], int | None], count: bool = True) -> Reply:
    """Read a stream to its end through ``readinto`` into one reused buffer, keeping
    the first line, the number of lines after it (when ``count``; 0 otherwise) and
    the size. Without ``count`` the client does nothing per byte, so what is timed
    is the server (or tool) that writes the stream, whichever side is read this way."""
    buf = bytearray(RECV_SIZE)
    head = bytearray()
    newlines = 0
    nbytes = 0
    while n := readinto(buf):
        if len(head) < 256:
            head += buf[: min(n, 256)]
        if count:
            newlines += buf.count(b"\n", 0, n)
        nbytes += n
    first = bytes(head).split(b"\n", 1)[0]
    return Reply(first, max(newlines - 1, 0), nbytes, newlines)


def request_counted(port: int, command: str, timeout: float = 60.0, count: bool = True) -> Reply:
    """Like :func:`request` but only keeps the first line and (with ``count``) a
    line count."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(command.encode() + b"\n")
        return count_stream(sock.recv_into, count)


def parse_stats(reply: bytes) -> Stats:
    match = _STATS_RE.search(reply)
    if match is None:
        raise ValueError(f"unexpected STATS reply: {reply[:120]!r}")
    total, dropped, current, clients = (int(g) for g in match.groups())
    return Stats(total, dropped, current, clients)


def stats(port: int, timeout: float = 10.0) -> Stats:
    return parse_stats(request(port, "STATS", timeout))


def found_count(head: bytes) -> int | None:
    """Number from a ``FOUND: n matches`` line, or None (e.g. an ERROR reply)."""
    match = _FOUND_RE.match(head)
    return int(match.group(1)) if match else None


def wait_stats(port: int, deadline: float) -> Stats:
    """Poll STATS until the server answers or the monotonic deadline passes."""
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return stats(port, timeout=2.0)
        except (OSError, ValueError) as exc:
            last_error = exc
            time.sleep(0.01)
    raise TimeoutError(f"query port {port} did not answer STATS: {last_error}")


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
