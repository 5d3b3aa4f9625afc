"""Integration: `python -m logcaster serve` as a subprocess, driven over TCP."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import struct
import threading
import time

import pytest
from support import Server, parse_found, parse_stats, query, recv_all, wait_for

# ------------------------------------------------------------------ startup


def test_banner_reports_real_bound_ports(server_factory) -> None:
    srv = server_factory(ingest_host=None)  # default --host 0.0.0.0
    assert re.fullmatch(
        r"LogCaster listening: ingest 0\.0\.0\.0:\d+, query 127\.0\.0\.1:\d+"
        r", udp 0\.0\.0\.0:\d+, http 127\.0\.0\.1:\d+",
        srv.banner,
    )
    assert srv.ingest_port != 0 and srv.query_port != 0 and srv.ingest_port != srv.query_port
    assert srv.query("COUNT") == b"COUNT: 0\n"
    srv.send(b"hello\n")
    assert srv.query("COUNT") == b"COUNT: 1\n"


def test_initial_stats(server: Server) -> None:
    assert server.query("STATS") == b"STATS: Total=0, Dropped=0, Current=0, Clients=0\n"


# ------------------------------------------------------------------- ingest


def test_many_concurrent_clients_all_lines_counted(server: Server) -> None:
    clients, per_client = 200, 100
    connected = threading.Barrier(clients + 1)
    go = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def client(c: int) -> None:
        try:
            payload = b"".join(b"client-%03d line-%04d\n" % (c, i) for i in range(per_client))
            with server.connect_ingest() as sock:
                connected.wait(timeout=30)
                go.wait(timeout=30)
                # Odd-sized writes: lines are split across reads.
                for pos in range(0, len(payload), 997):
                    sock.sendall(payload[pos : pos + 997])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    try:
        connected.wait(timeout=30)
        server.wait_stats(Clients=clients)  # all 200 connected at once
        go.wait(timeout=30)
    finally:
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[:3]
    stats = server.wait_stats(timeout=20, Total=clients * per_client)
    assert stats["Dropped"] == 0 and stats["Current"] == clients * per_client
    assert server.query("COUNT") == b"COUNT: 20000\n"
    n, lines = server.found("client-123 ")
    assert n == 100
    assert lines == [b"client-123 line-%04d" % i for i in range(100)]  # order kept
    assert server.found("line-0042")[0] == clients
    server.wait_stats(Clients=0)


def test_partial_last_line_stored_on_close(server: Server) -> None:
    server.send(b"complete line\npartial last line")
    assert server.found("line") == (2, [b"complete line", b"partial last line"])


def test_line_split_across_writes_is_reassembled(server: Server) -> None:
    with server.connect_ingest() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"first ha")
        assert server.found("first ha") == (0, [])  # a round trip: likely a separate read
        sock.sendall(b"lf|second half\n")
        wait_for(lambda: server.found("first half|second half")[0] == 1, what="joined line")
        sock.sendall(b"\n\n\r\n")  # empty lines are skipped
    server.wait_stats(Clients=0)
    assert server.stats()["Total"] == 1


def test_crlf_lines_stored_without_cr(server: Server) -> None:
    server.send(b"crlf-one\r\ncrlf-two\r\n\r\nlone\rcr crlf-three\n")
    reply = server.query("QUERY keyword=crlf-")
    assert reply == b"FOUND: 3 matches\ncrlf-one\ncrlf-two\nlone\rcr crlf-three\n"
    assert server.query(b"QUERY keyword=lone\rcr") == b"FOUND: 1 matches\nlone\rcr crlf-three\n"


def test_invalid_utf8_rendered_with_replacement_characters(server: Server) -> None:
    server.send(b"bad-utf8 \xff\xfe end\nok-utf8 \xc3\xa9\n")
    reply = server.query("QUERY keyword=-utf8")
    assert reply == (
        b"FOUND: 2 matches\n" + "bad-utf8 \ufffd\ufffd end\n".encode() + "ok-utf8 é\n".encode()
    )
    reply.decode("utf-8")  # the whole reply is valid UTF-8
    # Bytes are stored as received: a raw invalid byte in the keyword still matches.
    assert parse_found(server.query(b"QUERY keyword=\xff\xfe"))[0] == 1


def test_nul_byte_ends_a_message(server: Server) -> None:
    """NUL-terminated senders (SysLogHandler, GELF over TCP, Perl's \\n\\0) store cleanly."""
    server.send(b"nul\x00inside\n\x00<14>py one\x00<14>py two\x00")
    assert server.query("COUNT") == b"COUNT: 4\n"
    assert server.found("nul") == (1, [b"nul"])
    assert server.found("inside") == (1, [b"inside"])
    assert server.found("<14>py") == (2, [b"<14>py one", b"<14>py two"])


def test_200kb_line_truncated_to_max_line_bytes(server: Server) -> None:
    line = b"LONGLINE" + b"x" * 100_000 + b"TAILMARK" + b"y" * 99_984
    assert len(line) == 200_000
    server.send(line + b"\nafter the long line\n")
    n, lines = server.found("LONGLINE")
    assert n == 1
    assert len(lines[0]) == 65536 + 3
    assert lines[0] == line[:65536] + b"..."
    assert server.found("TAILMARK") == (0, [])  # the rest of the line was discarded
    assert server.found("after the long") == (1, [b"after the long line"])
    assert server.query("COUNT") == b"COUNT: 2\n"


def test_small_max_line_bytes(server_factory) -> None:
    srv = server_factory("--max-line-bytes", "16")
    srv.send(b"0123456789abcdefOVERFLOW\nshort\n0123456789abcdef\n")
    assert srv.found("0123") == (2, [b"0123456789abcdef...", b"0123456789abcdef"])
    assert srv.found("OVERFLOW") == (0, [])
    assert srv.query("COUNT") == b"COUNT: 3\n"


def test_random_bytes_then_normal_line(server: Server) -> None:
    noise = random.Random(1234).randbytes(100_000)
    server.send(noise + b"\nNORMAL-LINE-after-noise\n")
    assert server.query("QUERY keyword=NORMAL-LINE-after-noise") == (
        b"FOUND: 1 matches\nNORMAL-LINE-after-noise\n"
    )
    stats = server.stats()
    assert stats["Total"] >= 2 and stats["Clients"] == 0
    assert stats["Total"] == stats["Current"]
    assert server.query("COUNT") == b"COUNT: %d\n" % stats["Current"]


# ----------------------------------------------------------------- queries


def test_5000_match_result_is_complete(server: Server) -> None:
    data = b"".join(
        b"row %05d %s\n" % (i, b"MATCHME" if i % 2 == 0 else b"other") for i in range(10_000)
    )
    server.send(data)
    n, lines = server.found("MATCHME")
    assert n == 5000
    assert lines == [b"row %05d MATCHME" % i for i in range(0, 10_000, 2)]
    # Same with a client that half-closes right after its command.
    n, lines = parse_found(server.query("QUERY keyword=MATCHME", shut_wr=True))
    assert (n, len(lines)) == (5000, 5000)


def test_queries_during_ingest_and_eviction_see_consistent_snapshots(server_factory) -> None:
    """Blocks are recycled under a running query only when no snapshot holds them."""
    srv = server_factory("-c", "1000")
    total = 400_000  # ~4.8 MB: the 1 MiB blocks are evicted and reused several times
    payload = b"".join(b"seq-%07d\n" % i for i in range(total))
    done = threading.Event()
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            with srv.connect_ingest() as sock:
                for pos in range(0, len(payload), 65536):
                    sock.sendall(payload[pos : pos + 65536])
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=sender)
    thread.start()
    replies = 0
    try:
        while not done.is_set() or replies == 0:
            n, lines = parse_found(srv.query("QUERY keyword=seq-"))
            assert n == len(lines) <= 1000
            nums = [int(line[4:]) for line in lines]
            if n:
                assert nums == list(range(nums[0], nums[0] + n))
            replies += 1
    finally:
        thread.join()
    assert not errors
    srv.wait_stats(Total=total, Current=1000, Dropped=total - 1000)
    n, lines = srv.found("seq-")
    assert lines == [b"seq-%07d" % i for i in range(total - 1000, total)]


def test_keyword_is_rest_of_line_case_sensitive_substring(server: Server) -> None:
    server.send(b"say hello world now\nhello  world\nHello World\nhello world\n")
    assert server.found("hello world") == (2, [b"say hello world now", b"hello world"])
    assert server.found("Hello World") == (1, [b"Hello World"])
    assert server.found("HELLO") == (0, [])
    assert server.found("world now") == (1, [b"say hello world now"])
    assert server.found("hello world ") == (1, [b"say hello world now"])  # trailing space kept
    server.send(b"x=1 y=2\nx=1\n")
    assert server.found("x=1 y=2") == (1, [b"x=1 y=2"])


def test_query_with_crlf_terminator(server: Server) -> None:
    server.send(b"terminator test\n")
    assert query(server.query_port, "QUERY keyword=terminator", terminator=b"\r\n") == (
        b"FOUND: 1 matches\nterminator test\n"
    )
    assert parse_stats(query(server.query_port, "STATS", terminator=b"\r\n"))["Total"] == 1
    assert query(server.query_port, "COUNT", terminator=b"\r\n") == b"COUNT: 1\n"


def test_command_without_newline_then_shutdown_write_is_answered(server: Server) -> None:
    server.send(b"eof command\n")
    assert query(server.query_port, "COUNT", terminator=b"", shut_wr=True) == b"COUNT: 1\n"
    assert query(server.query_port, "QUERY keyword=eof", terminator=b"", shut_wr=True) == (
        b"FOUND: 1 matches\neof command\n"
    )


@pytest.mark.parametrize(
    "command", [b"", b"HELLO", b"STAT", b"DROP TABLE logs", b"QUERYkeyword=x", b"\xff\xfe"]
)
def test_unknown_commands(server: Server, command: bytes) -> None:
    reply = server.query(command)
    assert reply.startswith(b"ERROR: Unknown command")
    assert reply.endswith(b"\n") and reply.count(b"\n") == 1


def test_one_command_per_connection(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.query_port), timeout=10) as sock:
        sock.sendall(b"COUNT\nSTATS\n")
        assert recv_all(sock) == b"COUNT: 0\n"


def test_silent_query_client_does_not_delay_others(server_factory) -> None:
    srv = server_factory("--query-timeout", "30")
    srv.send(b"find me please\n")
    silent = [socket.create_connection(("127.0.0.1", srv.query_port)) for _ in range(20)]
    try:
        t0 = time.monotonic()
        assert srv.query("QUERY keyword=find me") == b"FOUND: 1 matches\nfind me please\n"
        assert parse_stats(srv.query("STATS"))["Total"] == 1
        assert time.monotonic() - t0 < 3.0
        for sock in silent:  # still open: no data and no EOF
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in silent:
            sock.close()


def test_query_timeout_closes_silent_client(server_factory) -> None:
    srv = server_factory("--query-timeout", "0.5")
    with socket.create_connection(("127.0.0.1", srv.query_port)) as sock:
        sock.settimeout(10)
        t0 = time.monotonic()
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - t0
    assert data == b""
    assert 0.3 <= elapsed < 5.0
    assert srv.query("COUNT") == b"COUNT: 0\n"  # and the server still answers


# ----------------------------------------------------------------- gauges


def test_clients_gauge_follows_idle_connections(server: Server) -> None:
    base = server.stats()["Clients"]
    idle = [server.connect_ingest() for _ in range(7)]
    try:
        server.wait_stats(Clients=base + 7)
    finally:
        for sock in idle[:3]:
            sock.close()
    server.wait_stats(Clients=base + 4)
    for sock in idle[3:5]:  # abortive close (RST) counts as a disconnect too
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    server.wait_stats(Clients=base + 2)
    for sock in idle[5:]:
        sock.close()
    stats = server.wait_stats(Clients=base)
    assert stats["Total"] == 0


def test_capacity_eviction(server_factory) -> None:
    srv = server_factory("-c", "10")
    srv.send(b"".join(b"cap-line-%02d\n" % i for i in range(15)))
    assert srv.query("STATS") == b"STATS: Total=15, Dropped=5, Current=10, Clients=0\n"
    assert srv.query("COUNT") == b"COUNT: 10\n"
    assert srv.found("cap-line-") == (10, [b"cap-line-%02d" % i for i in range(5, 15)])
    for i in range(5):
        assert srv.found(f"cap-line-{i:02d}") == (0, [])


def test_max_memory_bounds_held_lines(server_factory) -> None:
    srv = server_factory("--max-memory", "4M")
    line = b"m" * 1000 + b"\n"
    for _ in range(3):
        srv.send(line * 3000)  # ~9 MB in total
    stats = srv.stats()
    assert stats["Total"] == 9000
    assert stats["Total"] == stats["Current"] + stats["Dropped"]
    assert 0 < stats["Current"] * len(line) <= 4 << 20
    assert stats["Dropped"] > 0


# --------------------------------------------------------------- lifecycle


def test_sigterm_with_idle_clients_exits_0_quickly(server: Server) -> None:
    idle = [server.connect_ingest() for _ in range(5)]
    try:
        server.wait_stats(Clients=5)
        t0 = time.monotonic()
        assert server.stop(signal.SIGTERM, timeout=5) == 0
        assert time.monotonic() - t0 < 5
        for sock in idle:  # the server closed them
            sock.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()
    # Both ports stopped accepting.
    for port in (server.ingest_port, server.query_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_sigint_stores_partial_line_of_connected_client(server: Server) -> None:
    sock = server.connect_ingest()
    silent = socket.create_connection(("127.0.0.1", server.query_port))
    try:
        sock.sendall(b"whole line\nunterminated tail")
        server.wait_stats(Total=1, Clients=1)
        assert server.stop(signal.SIGINT, timeout=5) == 0
    finally:
        sock.close()
        silent.close()
    assert re.search(r"LogCaster stopped: Total=2, Dropped=0, Current=2", server.stderr())


def test_cr_flood_after_max_length_line(server_factory) -> None:
    srv = server_factory("--max-line-bytes", "16")
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        srv.send(b"x" * 16 + b"\r" * 600_000 + b"\nafter the flood\n")
    assert srv.found("x" * 16) == (1, [b"x" * 16])
    assert srv.found("after the flood") == (1, [b"after the flood"])
