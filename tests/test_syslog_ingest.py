"""Syslog framing on a running server: octet counting, NUL-terminated messages, UDP, GELF."""

from __future__ import annotations

import re

from support import Server, parse_found


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
