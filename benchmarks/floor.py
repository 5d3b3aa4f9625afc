"""The transport floor of a reply: how long the matrix's reader takes to read N bytes
of log lines over loopback TCP from a sender that does nothing else.

    python benchmarks/floor.py        # serve: prints "port N", then per connection
                                      # reads "<bytes>\\n" and sends that many bytes

The sender keeps one 1 MiB buffer of ~120-byte lines and sends it over and over
(``socket.send`` of a memoryview into a 4 MiB socket buffer, as LogCaster's replies
use: the kernel's copy only, no rendering, no scan),
then closes. A reply of N bytes from any server over TCP, read by the same loop
(:func:`proto.count_stream`), cannot take less than this. ``query_matrix.py`` runs
it beside each shape: a shape whose floor is above half of grep's time cannot meet
0.5x, whatever the server does.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import proto

BLOCK = (
    b"2026-11-26T17:00:00.000Z INFO [svc-1] req=0000000 user=u1 GET /api/v1/orders "
    b"status=200 latency_ms=42 request served\n"
)
SEND_BUFFER = 4 << 20  # as LogCaster sets on a reply's socket (fewer wake-ups)
BUFFER = (BLOCK * ((1 << 20) // len(BLOCK) + 1))[: 1 << 20]


def serve() -> None:
    """Accept forever; each connection: read the size line, send, close."""
    view = memoryview(BUFFER)
    with socket.create_server((proto.HOST, 0)) as listener:
        print(f"port {listener.getsockname()[1]}", flush=True)
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                size = int(conn.makefile("rb").readline() or b"0")
                while size > 0:
                    size -= conn.send(view[: min(size, len(view))])


class Floor:
    """A running floor sender (a subprocess, so that it never shares the reader's GIL)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())], stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def ms(self, nbytes: int, count: bool) -> float:
        """Milliseconds for the reader to receive ``nbytes`` (counting newlines or not)."""
        start = time.perf_counter()
        with socket.create_connection((proto.HOST, self.port), timeout=120) as sock:
            sock.sendall(b"%d\n" % nbytes)
            reply = proto.count_stream(sock.recv_into, count)
        assert reply.nbytes == nbytes, (reply.nbytes, nbytes)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
    serve()
