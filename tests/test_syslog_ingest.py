"""Syslog framing on a running server: octet counting, NUL-terminated messages, UDP, GELF."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import zlib
from collections.abc import Callable

from support import Server, parse_found, wait_for


def frame(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


def entries(srv: Server) -> list[bytes]:
    """Every stored entry, oldest first, without the receive-time stamps."""
    _, lines = parse_found(srv.query("QUERY"))
    return [re.sub(rb"^\[[^]]*\] ", b"", line) for line in lines]


def test_octet_counted_connection_stores_one_entry_per_frame(server: Server) -> None:
    msgs = [
        b"<13>1 2026-12-01T19:00:59.917121+00:00 vm rcapp - - - first",
        b'<11>1 2026-12-01T19:01:00Z vm rcapp 42 ID7 [x@1 a="b"] two\nlines',
        b"<14>Dec  1 19:01:01 vm app: 100 ok\n",
    ]
    server.send(frame(msgs[0]) + frame(msgs[1]) + b"\n" + frame(msgs[2]))
    assert entries(server) == [msgs[0], msgs[1].replace(b"\n", b"#012"), msgs[2][:-1]]
    assert server.info()["Malformed"] == "0"


def test_octet_counted_bad_count_is_kept_as_text_and_counted(server: Server) -> None:
    server.send(frame(b"<13>ok") + b"oops not a frame\n" + frame(b"<13>after"))
    assert entries(server) == [b"<13>ok", b"oops not a frame", b"<13>after"]
    assert server.info()["Malformed"] == "1"


def test_frame_cut_by_the_peer_is_kept_and_counted(server: Server) -> None:
    server.send(frame(b"<13>whole") + b"50 <13>cut")
    assert entries(server) == [b"<13>whole", b"<13>cut"]
    assert server.info()["Malformed"] == "1"


def test_plain_lines_that_start_with_digits_are_not_counts(server: Server) -> None:
    lines = [b"2026-11-26T17:00:00Z INFO boot", b"200 <html> ok", b"12 apples"]
    server.send(b"\n".join(lines) + b"\n")
    assert entries(server) == lines
    assert server.info()["Malformed"] == "0"


def test_nul_terminated_and_perl_style_messages(server: Server) -> None:
    server.send(b"<14>python one\x00<14>python two\x00")
    server.send(b"<13>perl one\n\x00<13>perl two\n\x00")
    assert entries(server) == [
        b"<14>python one",
        b"<14>python two",
        b"<13>perl one",
        b"<13>perl two",
    ]


# ------------------------------------------------------------------ UDP


def udp_port_of(srv: Server) -> int:
    m = re.search(r"udp \S+:(\d+)", srv.stdout())
    assert m, srv.stdout()
    return int(m.group(1))


def send_udp(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for d in datagrams:
            sock.sendto(d, ("127.0.0.1", port))


def wait_entries(srv: Server, n: int) -> list[bytes]:
    wait_for(lambda: srv.stats()["Total"] >= n, what=f"{n} entries")
    got = entries(srv)
    assert len(got) == n, got
    return got


def test_udp_on_the_tcp_port_number_by_default(server: Server) -> None:
    assert server.banner.startswith("LogCaster listening: ingest 127.0.0.1:")
    assert udp_port_of(server) == server.ingest_port
    send_udp(
        server.ingest_port,
        b"<11>plain datagram\n",
        b"<13>crlf and nul\r\n\x00",
        b"<14>two\nlines",
        b"\n",
        b"",
    )
    assert sorted(wait_entries(server, 3)) == [
        b"<11>plain datagram",
        b"<13>crlf and nul",
        b"<14>two#012lines",
    ]
    info = server.info()
    assert info["UdpDatagrams"] == "5"
    assert info["UdpDropped"] == "0"
    assert int(info["UdpRcvbuf"]) >= 1 << 20


def test_udp_port_flag_and_off(server_factory: Callable[..., Server]) -> None:
    # 0: a free UDP port of its own, not the ingest port's number; the kernel may
    # pick that same number by chance (TCP and UDP ports are apart), so a server
    # that coincides is started again: twice in a row would be the flag ignored
    for _ in range(3):
        srv = server_factory("--udp-port", "0", "--max-line-bytes", "1000")
        port = udp_port_of(srv)
        if port != srv.ingest_port:
            break
    assert port != srv.ingest_port
    send_udp(port, b"B" * 5000)
    assert wait_entries(srv, 1) == [b"B" * 1000 + b"..."]
    assert srv.info()["Truncated"] == "1"
    off = server_factory("--udp-port", "off")
    assert "udp" not in off.stdout()
    assert off.info()["Udp"] == "off"


def test_udp_respects_ingest_allow(server_factory: Callable[..., Server]) -> None:
    srv = server_factory("--ingest-allow", "10.0.0.0/8")
    send_udp(srv.ingest_port, b"from loopback")
    wait_for(lambda: srv.info()["UdpDenied"] == "1", what="UdpDenied=1")
    assert srv.stats()["Total"] == 0


def test_gelf_datagrams_compressed_and_chunked(server: Server) -> None:
    text = os.urandom(1500).hex()  # does not compress: several chunks
    doc = json.dumps({"version": "1.1", "host": "web1", "short_message": text, "level": 3})
    body = zlib.compress(doc.encode())
    parts = [body[i : i + 200] for i in range(0, len(body), 200)]
    assert len(parts) > 1
    chunked = [b"\x1e\x0f" + b"ABCDEFGH" + bytes([i, len(parts)]) + p for i, p in enumerate(parts)]
    send_udp(server.ingest_port, gzip.compress(b'{"short_message":"gz"}'), *reversed(chunked))
    assert sorted(wait_entries(server, 2)) == sorted([b'{"short_message":"gz"}', doc.encode()])
    assert server.info()["GelfReassembled"] == "1"
