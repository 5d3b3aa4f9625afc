"""The HTTP API's parameters are read as the line port reads the same command: a
repeated key's last value wins, and a bad set gets the line port's message, checked
in the line port's order (/api/v1/hits as HITS, /api/v1/top as TOP, /api/v1/tail as
FOLLOW), against a running server."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from support import Server, parse_info, wait_for

LINES = [
    b"2026-12-01 INFO boot ok host=web1",
    b"2026-12-01 ERROR disk full host=web2",
    b"2026-12-01 WARN disk 91% full host=web2",
    b"2026-12-01 DEBUG cache warm host=web3",
    b"2026-12-01 ERROR again host=web2",
]
FAR_FUTURE = "4000000000"  # Unix seconds in 2096


def get_json(srv: Server, path: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=15)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.getheader("Content-Type", "").startswith("application/json")
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@contextmanager
def stream(srv: Server, path: str) -> Iterator[http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=15)
    conn.request("GET", path)
    resp = conn.getresponse()
    try:
        yield resp
    finally:
        conn.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from support import start_server

    srv = start_server(tmp_path_factory.mktemp("params"))
    try:
        srv.send(b"\n".join(LINES) + b"\n")
        wait_for(lambda: srv.query("COUNT") == b"COUNT: 5\n", what="5 lines")
        yield srv
    finally:
        srv.reap()


# ------------------------------------------------------------------ the last one wins
def test_hits_takes_the_last_step_and_by(loaded: Server) -> None:
    status, body = get_json(loaded, "/api/v1/hits?step=1m&step=1h&by=level&by=host")
    assert status == 200, body
    assert body["step_ns"] == 3600 * 10**9 and body["by"] == "host"
    line = loaded.query("HITS step=1m step=1h by=level by=host").decode().splitlines()
    assert line[0].startswith("HITS: ")
    assert line[1].split(" ", 1)[0].endswith(":00:00Z")  # 1h buckets on the line port too
    # a bad first value is forgotten as the line port forgets it
    assert get_json(loaded, "/api/v1/hits?step=bogus&step=1h")[0] == 200
    assert loaded.query("HITS step=bogus step=1h").startswith(b"HITS: ")


def test_top_takes_the_last_field_and_limit(loaded: Server) -> None:
    status, body = get_json(loaded, "/api/v1/top?field=level&field=host&limit=1&limit=5")
    assert status == 200, body
    assert body["field"] == "host"
    assert body["values"] == [
        {"value": "web2", "count": 3},
        {"value": "web1", "count": 1},
        {"value": "web3", "count": 1},
    ]
    reply = loaded.query("TOP host limit=1 limit=5").decode().splitlines()
    assert reply[1:] == [f"{v['value']} {v['count']}" for v in body["values"]]  # type: ignore[index, union-attr]


def test_tail_takes_the_last_since(loaded: Server) -> None:
    with stream(loaded, f"/api/v1/tail?level=ERROR&since={FAR_FUTURE}&since=-1h") as resp:
        assert resp.status == 200
        assert json.loads(resp.readline())["line"] == LINES[1].decode()
    wait_for(lambda: parse_info(loaded.query("INFO"))["Followers"] == "0", what="tap removed")
    with stream(loaded, f"/api/v1/tail?keywords=fresh&since=-1h&since={FAR_FUTURE}") as resp:
        assert resp.status == 200
        wait_for(lambda: parse_info(loaded.query("INFO"))["Followers"] == "1", what="the tap")
        loaded.send(b"a fresh line\n")
        # no backfill of the hour before: the first record is the live line
        assert json.loads(resp.readline())["line"] == "a fresh line"
    wait_for(lambda: parse_info(loaded.query("INFO"))["Followers"] == "0", what="tap removed")


# ------------------------------------------------------------------ one message
@pytest.mark.parametrize(
    ("path", "command"),
    [
        ("/api/v1/hits?step=1m&limit=0", "HITS step=1m limit=0"),
        ("/api/v1/hits?step=1m&limit=abc", "HITS step=1m limit=abc"),
        ("/api/v1/hits?step=1m&order=up", "HITS step=1m order=up"),
        ("/api/v1/hits?step=1m&order=desc", "HITS step=1m order=desc"),
        ("/api/v1/hits?step=1m&by=", "HITS step=1m by="),
        ("/api/v1/hits?step=", "HITS step="),
        ("/api/v1/hits?step=0m", "HITS step=0m"),
        ("/api/v1/hits?step=1x&by=bogus", "HITS step=1x by=bogus"),
        ("/api/v1/hits?by=bogus&step=1m&limit=3", "HITS by=bogus step=1m limit=3"),
        ("/api/v1/hits?level=LOUD&step=1m&limit=3", "HITS level=LOUD step=1m limit=3"),
        ("/api/v1/hits?step=1m&by=field.", "HITS step=1m by=field."),
        ("/api/v1/hits?step=1m&field=level", "HITS step=1m field=level"),
        ("/api/v1/top?field=level&limit=0&order=up", "TOP level limit=0 order=up"),
        ("/api/v1/top?field=level&order=up", "TOP level order=up"),
        ("/api/v1/top?field=level&limit=abc", "TOP level limit=abc"),
        ("/api/v1/top?field=bogus&limit=0", "TOP bogus limit=0"),
        ("/api/v1/top?field=level&level=LOUD&order=up", "TOP level level=LOUD order=up"),
        ("/api/v1/top?field=level&step=1m", "TOP level step=1m"),
        ("/api/v1/top?field=level&by=host", "TOP level by=host"),
        ("/api/v1/top?field=field.&limit=3", "TOP field. limit=3"),
        ("/api/v1/tail?level=LOUD", "FOLLOW level=LOUD"),
        ("/api/v1/tail?time_from=", "FOLLOW time_from="),
        ("/api/v1/tail?limit=0&level=LOUD", "FOLLOW limit=0 level=LOUD"),
        ("/api/v1/tail?step=1m", "FOLLOW step=1m"),
    ],
)
def test_a_bad_set_gets_the_line_ports_message(loaded: Server, path: str, command: str) -> None:
    status, body = get_json(loaded, path)
    line = loaded.query(command).decode()
    assert line.startswith("ERROR: ") and line.endswith("\n") and line.count("\n") == 1
    assert status == 400 and body == {"error": line.removeprefix("ERROR: ").rstrip("\n")}


@pytest.mark.parametrize("value", ["", "soon", "1e9"])
def test_tail_since_is_refused_as_time_from_is(loaded: Server, value: str) -> None:
    status, body = get_json(loaded, f"/api/v1/tail?since={value}")
    line = loaded.query(f"QUERY time_from={value}").decode()
    assert line == f"ERROR: Invalid time value '{value}' for time_from\n"
    assert status == 400 and body == {"error": f"Invalid time value '{value}' for since"}
