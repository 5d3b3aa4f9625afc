"""A client that leaves in the middle of a large ``/api/v1/query`` reply: its jobs
end, the pool is free again, and the next client gets a whole reply."""

from __future__ import annotations

import http.client
import socket

from support import Server, parse_info, wait_for

LINES = 200_000


def test_a_client_that_leaves_frees_the_pool(server: Server) -> None:
    server.send(b"".join(b"line %07d ERROR payload of some length\n" % i for i in range(LINES)))
    wait_for(lambda: server.query("COUNT") == f"COUNT: {LINES}\n".encode(), what="all lines")
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=15) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /api/v1/query?keywords=payload HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        # closed after a few kilobytes of a ~20 MB reply
    wait_for(lambda: parse_info(server.query("INFO"))["QueryJobs"] == "0", what="jobs ended")
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    conn.request("GET", "/api/v1/query?keywords=payload&limit=5")
    body = conn.getresponse().read()
    conn.close()
    assert body.count(b"\n") == 5 and b'"level":"ERROR"' in body
