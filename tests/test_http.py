"""The HTTP frontend against a running server: the query API (NDJSON and text), errors,
the live tail (NDJSON and Server-Sent Events), stats, /metrics, health and the token."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
from array import array
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support import Server, parse_found, parse_info, recv_all, wait_for

from logcaster.frontends.http.render import (
    NDJSON,
    SSE,
    live_records,
    render_records,
    rfc3339,
    scan_record_jobs,
)
from logcaster.query.engine import search
from logcaster.query.levels import level_of
from logcaster.query.postfilter import compile_spec
from logcaster.query.spec import QuerySpec
from logcaster.records import py_fields_piece
from logcaster.storage.ring import Ring

RFC3339_NS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
TOKEN = "http-token-5d1e"


def get(
    srv: Server, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def records(body: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in body.splitlines()]


LINES = [
    b"2026-12-01 INFO boot ok",
    b'2026-12-01 ERROR disk "full" on /var \\ back\tslash',
    b"2026-12-01 WARN caf\xc3\xa9 na\xc3\xafve",
    b"2026-12-01 ERROR bad byte \xff here",
    b"2026-12-01 DEBUG ERRORS are not errors",
]


@pytest.fixture
def loaded(server: Server) -> Server:
    server.send(b"\n".join(LINES) + b"\n")
    wait_for(lambda: server.query("COUNT") == b"COUNT: 5\n", what="5 lines")
    return server


def test_query_ndjson_matches_the_line_port(loaded: Server) -> None:
    status, headers, body = get(loaded, "/api/v1/query?keywords=ERROR")
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    got = records(body)
    count, lines = parse_found(loaded.query("QUERY keyword=ERROR"))
    assert len(got) == count == 3
    assert [r["line"] for r in got] == [x.decode("utf-8", "replace") for x in lines]
    assert all(RFC3339_NS.fullmatch(str(r["time"])) for r in got)
    assert got[0]["line"] == '2026-12-01 ERROR disk "full" on /var \\ back\tslash'
    assert got[1]["line"] == "2026-12-01 ERROR bad byte \ufffd here"
    assert [r["level"] for r in got] == ["ERROR", "ERROR", "DEBUG"]  # "DEBUG ERRORS ..."
    everything = records(get(loaded, "/api/v1/query")[2])
    assert [r.get("level") for r in everything] == ["INFO", "ERROR", "WARN", "ERROR", "DEBUG"]


def test_a_records_level_is_the_one_level_selects(server: Server) -> None:
    """A JSON line whose "level" is a number (GELF, as graypy sends it) has that
    syslog severity as its level for level=, and its record says so, whatever words
    its text holds; a float level too (left to the Python reader)."""
    gelf = [
        b'{"version":"1.1","host":"vm","short_message":"INFO only in words","level":3}',
        b'{"short_message":"x","level":4.0}',
        b'{"short_message":"DEBUG","level":9}',
    ]
    server.send(b"\n".join(gelf) + b"\n")
    wait_for(lambda: server.query("COUNT") == b"COUNT: 3\n", what="3 lines")
    got = records(get(server, "/api/v1/query")[2])
    assert [r.get("level") for r in got] == ["ERROR", "WARN", "DEBUG"]
    assert [r["line"] for r in records(get(server, "/api/v1/query?level=ERROR")[2])] == [
        gelf[0].decode()
    ]
    assert records(get(server, "/api/v1/query?level=WARN")[2])[0]["level"] == "WARN"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("keywords=ERROR,disk", [1]),
        ("keywords=boot,caf%C3%A9&operator=OR", [0, 2]),
        ("keywords=boot&keywords=caf%C3%A9&operator=OR", [0, 2]),
        ("regex=%5E2026-12-01%20(INFO%7CWARN)", [0, 2]),
        ("regex=x%7B0%2C1%7Dok", [0]),  # a comma inside a regex is not a separator
        ("level=ERROR,warn", [1, 2, 3]),
        ("level=error&order=desc", [3, 1]),
        ("limit=2", [3, 4]),
        ("time_from=-1h&time_to=%2B0", []),  # '+0' is Unix second 0: nothing before it
        ("", [0, 1, 2, 3, 4]),
    ],
)
def test_query_parameters_are_the_query_keys(
    loaded: Server, params: str, expected: list[int]
) -> None:
    status, _, body = get(loaded, "/api/v1/query?" + params)
    if params.startswith("time_from=-1h&time_to"):
        assert status == 200 and body == b""
        return
    assert status == 200, body
    want = [LINES[i].decode("utf-8", "replace") for i in expected]
    assert [r["line"] for r in records(body)] == want


def test_a_records_own_time_is_an_inclusive_bound_on_both_ports(server: Server) -> None:
    n = 20
    for i in range(n):  # one connection each: each line its own receive time
        server.send(b"bound line %02d\n" % i)
    got = records(get(server, "/api/v1/query?keywords=bound")[2])
    assert [r["line"] for r in got] == [f"bound line {i:02d}" for i in range(n)]
    stamp = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ")
    for r in got:
        t, line = str(r["time"]), str(r["line"])
        assert RFC3339_NS.fullmatch(t)
        for bounds in (f"time_from={t}", f"time_to={t}", f"time_from={t} time_to={t}"):
            _, lines = parse_found(server.query(f"QUERY keywords=bound {bounds}"))
            assert line.encode() in [stamp.sub(b"", x) for x in lines], bounds
            path = "/api/v1/query?keywords=bound&" + bounds.replace(" ", "&").replace("+", "%2B")
            assert line in [x["line"] for x in records(get(server, path)[2])], bounds
        both = records(get(server, f"/api/v1/query?time_from={t}&time_to={t}")[2])
        assert [x["time"] for x in both] == [t] * len(both) and line in [x["line"] for x in both]


def test_text_plain_returns_the_lines_as_stored(loaded: Server) -> None:
    status, headers, body = get(loaded, "/api/v1/query?level=ERROR", {"Accept": "text/plain"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert body == LINES[1] + b"\n" + LINES[3] + b"\n"
    newest = get(loaded, "/api/v1/query?level=ERROR&order=desc", {"Accept": "text/plain"})[2]
    assert newest == LINES[3] + b"\n" + LINES[1] + b"\n"


@pytest.mark.parametrize(
    "params",
    ["level=bogus", "regex=%5Bunclosed", "limit=0", "operator=XOR", "time_from=yesterday", "foo=1"],
)
def test_bad_parameters_are_400_with_the_line_ports_message(loaded: Server, params: str) -> None:
    status, headers, body = get(loaded, "/api/v1/query?" + params)
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    line_reply = loaded.query("QUERY " + params.replace("%5B", "["))
    assert line_reply.startswith(b"ERROR: ")
    assert json.loads(body) == {"error": line_reply[len(b"ERROR: ") :].decode().rstrip("\n")}


def test_a_query_as_long_as_a_line_port_command_is_taken(loaded: Server) -> None:
    words = [f"nomatch{i:05d}" for i in range(2000)] + ["boot", "caf\u00e9"]
    path = "/api/v1/query?operator=OR&keywords=" + ",".join(words).replace("\u00e9", "%C3%A9")
    assert len(path) > 8190  # aiohttp's default limit
    status, _, body = get(loaded, path)
    assert status == 200, body
    _, lines = parse_found(loaded.query("QUERY operator=OR keywords=" + ",".join(words)))
    assert [r["line"] for r in records(body)] == [LINES[0].decode(), LINES[2].decode()]
    assert len(lines) == 2
    # up to the command limit, 65536 bytes: taken on both ports
    pad = "x" * (65536 - len("/api/v1/query?keywords=boot,") - 8)
    status, _, body = get(loaded, f"/api/v1/query?keywords=boot,{pad}")
    assert status == 200 and body == b""
    assert loaded.query(f"QUERY keywords=boot,{pad}") == b"FOUND: 0 matches\n"


def test_a_longer_request_target_or_header_is_a_json_error(loaded: Server) -> None:
    status, headers, body = get(loaded, "/api/v1/query?keywords=" + "x" * 65536)
    assert status == 414 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {
        "error": "Request target too long (limit 65536 bytes, as a query command)"
    }
    status, headers, body = get(loaded, "/api/v1/query", {"X-Long": "y" * 9000})
    assert status == 431 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"error": "Header field too long (limit 8190 bytes)"}
    assert get(loaded, "/api/v1/query?keywords=boot")[0] == 200  # the server still answers


def test_a_request_the_server_cannot_read_is_a_json_400(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        reply = recv_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", head) and b"application/json" in head
    assert json.loads(body)["error"]
    # logged as one line, no traceback: garbage must not fill the log
    wait_for(lambda: "Bad HTTP request from 127.0.0.1" in server.stderr(), what="the log line")
    assert "Traceback" not in server.stderr()


def test_unknown_path_is_a_json_404(server: Server) -> None:
    status, _, body = get(server, "/nope")
    assert status == 404 and "error" in json.loads(body)


def test_large_reply_is_complete_and_streamed(server: Server) -> None:
    n = 60_000
    server.send(b"".join(b"line %06d payload\n" % i for i in range(n)))
    wait_for(lambda: server.query("COUNT") == f"COUNT: {n}\n".encode(), what="all lines")
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    conn.request("GET", "/api/v1/query?keywords=payload")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"  # streamed, not one body
    got = records(resp.read())
    conn.close()
    assert len(got) == n
    assert (
        got[0]["line"] == "line 000000 payload" and got[-1]["line"] == f"line {n - 1:06d} payload"
    )


@contextmanager
def stream(srv: Server, path: str, accept: str = "") -> Iterator[http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=15)
    conn.request("GET", path, headers={"Accept": accept} if accept else {})
    resp = conn.getresponse()
    try:
        yield resp
    finally:
        conn.close()


def test_tail_backfills_then_streams_new_matches(loaded: Server) -> None:
    with stream(loaded, "/api/v1/tail?level=ERROR&since=-1h") as resp:
        assert resp.status == 200
        first = [json.loads(resp.readline()) for _ in range(2)]
        assert [r["line"] for r in first] == [
            LINES[1].decode(),
            LINES[3].decode("utf-8", "replace"),
        ]
        wait_for(lambda: parse_info(loaded.query("INFO"))["Followers"] == "1", what="the tap")
        loaded.send(b"INFO not this one\nERROR live one\n")
        live = json.loads(resp.readline())
        assert live["line"] == "ERROR live one" and RFC3339_NS.fullmatch(live["time"])
        assert live["level"] == "ERROR" and first[0]["level"] == "ERROR"
    wait_for(lambda: parse_info(loaded.query("INFO"))["Followers"] == "0", what="tap removed")


def test_tail_as_server_sent_events(server: Server) -> None:
    with stream(server, "/api/v1/tail?keywords=boom", "text/event-stream") as resp:
        assert resp.getheader("Content-Type").startswith("text/event-stream")
        assert resp.readline() == b": tailing\n" and resp.readline() == b"\n"
        wait_for(lambda: parse_info(server.query("INFO"))["Followers"] == "1", what="the tap")
        server.send(b"a boom line\nquiet\n")
        event = resp.readline()
        assert event.startswith(b"data: ") and resp.readline() == b"\n"
        assert json.loads(event[len(b"data: ") :]) == {
            "time": json.loads(event[len(b"data: ") :])["time"],
            "line": "a boom line",
        }  # no level in the line: no "level" key


def test_tail_bad_parameters_are_400(server: Server) -> None:
    status, _, body = get(server, "/api/v1/tail?since=soon")
    assert status == 400 and json.loads(body) == {"error": "Invalid time value 'soon' for since"}


def test_stats_is_the_registry_info_renders(loaded: Server) -> None:
    status, _, body = get(loaded, "/api/v1/stats")
    stats = json.loads(body)
    info = parse_info(loaded.query("INFO"))
    assert status == 200 and list(stats) == list(info)
    assert stats["Total"] == 5 and stats["Persist"] == "off"


def test_metrics_parse_and_follow_conventions(loaded: Server) -> None:
    status, headers, body = get(loaded, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    received = families["logcaster_lines_received"]
    assert received.type == "counter" and received.samples[0].value == 5
    assert families["logcaster_lines_held"].samples[0].value == 5
    assert families["logcaster_persist_info"].samples[0].labels == {"value": "off"}
    assert "process_resident_memory_bytes" in families
    for name, family in families.items():
        assert re.fullmatch(r"[a-z_]+", name), name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples if s.name != name)


def test_health_and_readiness(server: Server) -> None:
    assert get(server, "/healthz")[0] == 200
    for path in ("/readyz", "/ready"):  # /ready: Loki's path
        status, _, body = get(server, path)
        assert status == 200 and json.loads(body) == {"status": "ready"}


def test_token_required_except_healthz(server_factory) -> None:
    srv = server_factory("--auth-token", TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
        status, hdrs, body = get(srv, "/api/v1/query", headers)
        assert status == 401 and json.loads(body) == {"error": "Authentication required"}
        assert "Bearer" in hdrs["WWW-Authenticate"]
    assert get(srv, "/metrics")[0] == 401
    assert get(srv, "/healthz")[0] == 200
    ok = get(srv, "/api/v1/query", {"Authorization": f"Bearer {TOKEN}"})
    assert ok[0] == 200 and ok[2] == b""


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_auth_scheme_is_case_insensitive(server_factory, scheme: str) -> None:
    srv = server_factory("--auth-token", TOKEN)
    for path in ("/api/v1/query", "/api/v1/stats", "/api/v1/top?field=level"):
        status, _, body = get(srv, path, {"Authorization": f"{scheme} {TOKEN}"})
        assert status == 200, body
        status, _, body = get(srv, path, {"Authorization": f"{scheme} {TOKEN}x"})
        assert status == 401 and json.loads(body) == {"error": "Authentication required"}
    # the token keeps its case; another scheme is refused even with the token
    for value in (f"{scheme} {TOKEN.upper()}", f"Basic {TOKEN}", f"{scheme}{TOKEN}", TOKEN):
        assert get(srv, "/api/v1/query", {"Authorization": value})[0] == 401, value


def test_http_off(server_factory) -> None:
    srv = server_factory("--http-port", "off")
    assert ", http" not in srv.banner and srv.http_port == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl(loaded: Server) -> None:
    url = f"http://127.0.0.1:{loaded.http_port}/api/v1/query?keywords=boot"
    out = subprocess.run(["curl", "-sf", url], capture_output=True, timeout=15, check=True)
    assert [r["line"] for r in records(out.stdout)] == [LINES[0].decode()]


# ----------------------------------------------------------- the encoder, in-process
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.sampled_from([NDJSON, SSE]),
)
def test_live_records_are_one_valid_record_per_line(
    lines: list[bytes], framing: tuple[bytes, bytes]
) -> None:
    ts = 1_764_615_659_917_121_123
    block = b"".join(x + b"\n" for x in lines)
    spans = array("q", (0, len(block)) if block else ())
    out = live_records(block, spans, ts, framing)
    head, tail = framing
    pieces = out.split(tail)
    assert pieces.pop() == b""
    assert len(pieces) == len(lines)
    for piece, line in zip(pieces, lines, strict=True):
        assert piece.startswith(head)
        record = json.loads(piece[len(head) :])
        want = {"time": rfc3339(ts), "line": line.decode("utf-8", "replace")}
        if (level := level_of(line)) is not None:
            want["level"] = level
        piece = py_fields_piece(line).decode()  # the parsed fields (test_records.py)
        assert record == want | (json.loads("{" + piece[1:] + "}") if piece else {})
    assert rfc3339(ts) == "2025-12-01T19:00:59.917121123Z"


LINE_BYTES = st.binary(min_size=1, max_size=30).map(lambda b: b.replace(b"\n", b"x"))


@given(
    st.lists(st.lists(LINE_BYTES, min_size=1, max_size=6), min_size=1, max_size=12),
    st.sampled_from([b"", b"a", b'"', b"\\", b"\xff", b"\t"]),
    st.booleans(),
)
def test_records_of_a_search_match_a_per_line_reference(
    chunks: list[list[bytes]], keyword: bytes, newest_first: bool
) -> None:
    """Every match, its receive time and text, whatever the bytes, across chunks and blocks."""
    ring = Ring(10_000, 1 << 20, block_size=64)
    expected = []
    for i, lines in enumerate(chunks):
        ts = 1_764_615_659_000_000_000 + i * 1_000_000_007
        ring.append(b"".join(x + b"\n" for x in lines), ts)
        expected += [
            (rfc3339(ts), x.decode("utf-8", "replace"), level_of(x)) for x in lines if keyword in x
        ]
    spec = QuerySpec(keywords=(keyword,) if keyword else ())
    matches = search(ring.snapshot(), spec)
    out = b"".join(render_records(matches, newest_first=newest_first))
    got = [(r["time"], r["line"], r.get("level")) for r in records(out)]
    assert got == (expected[::-1] if newest_first else expected)
    # Scanned and rendered a run of blocks at a time, as the query API streams: the same.
    views, matcher = ring.snapshot().views, compile_spec(spec)
    jobs = scan_record_jobs(views, matcher, newest_first=newest_first, run_bytes=100)
    streamed = b"".join(bytes(p.buf[: p.end]) for job in jobs for p in job())
    assert streamed == out
