"""Field filters end to end: real senders (util-linux logger, Perl Sys::Syslog, Python's
SysLogHandler, graypy) into a running server, then ``host=``, ``app=``, ``facility=``,
``field.NAME=``, ``level=`` (GELF's numeric level), ``TOP``/``HITS`` by a field, a live
``FOLLOW`` and the HTTP API with the same filters."""

from __future__ import annotations

import json
import logging
import logging.handlers
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from support import Server, parse_found, wait_for

HOST = socket.gethostname()
PERL = r"""
use Sys::Syslog qw(:standard :macros setlogsock);
setlogsock({type => "tcp", host => "127.0.0.1", port => $ARGV[0]}) or die "setlogsock";
openlog("perlapp", "pid", "user") or die "openlog";
syslog("err", "%s", "perl-err disk full");
syslog("info", "%s", "perl-info fine");
closelog();
"""


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def lines_of(reply: bytes) -> list[bytes]:
    count, lines = parse_found(reply)
    assert count == len(lines), reply[:200]
    return lines


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from support import start_server

    server = start_server(tmp_path_factory.mktemp("fields"))
    try:
        yield server
    finally:
        server.reap()


def wait_lines(srv: Server, query: str, n: int) -> list[bytes]:
    got: list[bytes] = []

    def enough() -> bool:
        nonlocal got
        got = lines_of(srv.query(query))
        return len(got) >= n

    wait_for(enough, timeout=20, interval=0.05, what=f"{n} lines for {query}")
    return got


def logger(srv: Server, *args: str) -> None:
    base = ["logger", "-n", "127.0.0.1", "-P", str(srv.ingest_port), "-T", "-t"]
    subprocess.run([*base, *args], check=True, timeout=30)


def test_logger_rfc5424_and_rfc3164(srv: Server) -> None:
    need("logger")
    logger(srv, "authapp", "-p", "auth.err", "lg5424-err denied")
    logger(srv, "authapp", "-p", "auth.info", "lg5424-info accepted")
    logger(srv, "l0app", "--rfc3164", "-p", "local0.warning", "lg3164-warn slow")
    both = wait_lines(srv, "QUERY keyword=lg", 3)
    assert len(both) == 3
    got = lines_of(srv.query(f"QUERY host={HOST} app=authapp"))
    assert len(got) == 2 and b"lg5424-err" in got[0] and b"lg5424-info" in got[1]
    assert len(lines_of(srv.query("QUERY facility=auth"))) == 2
    assert len(lines_of(srv.query("QUERY facility=local0 app=l0*"))) == 1
    assert len(lines_of(srv.query("QUERY facility=16"))) == 1
    assert len(lines_of(srv.query("QUERY field.timeQuality.tzKnown=1 app=authapp"))) == 2
    assert lines_of(srv.query("QUERY app=nosuchapp")) == []


def test_perl_and_python_without_host(srv: Server) -> None:
    need("perl")
    if subprocess.run(["perl", "-MSys::Syslog", "-e1"], capture_output=True).returncode:
        pytest.skip("Perl's Sys::Syslog is not installed")
    subprocess.run(["perl", "-e", PERL, str(srv.ingest_port)], check=True, timeout=30)
    handler = logging.handlers.SysLogHandler(
        ("127.0.0.1", srv.ingest_port), socktype=socket.SOCK_STREAM
    )
    handler.setFormatter(logging.Formatter("pyapp: %(message)s"))
    log = logging.getLogger("fields-py")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.error("py-err boom")
        log.warning("py-warn hmm")
    finally:
        log.removeHandler(handler)
        handler.close()
    wait_lines(srv, "QUERY keywords=py-", 2)
    wait_lines(srv, "QUERY keywords=perl-", 2)
    perl = lines_of(srv.query("QUERY app=perlapp"))
    assert len(perl) == 2 and all(b"]: perl-" in line for line in perl)
    py = lines_of(srv.query("QUERY app=pyapp facility=user"))
    assert len(py) == 2
    top = srv.query("TOP app keywords=py-,perl- operator=OR")
    assert top.startswith(b"TOP: 2\n") and b"perlapp 2\n" in top and b"pyapp 2\n" in top


def test_graypy_gelf_levels_host_and_follow(srv: Server) -> None:
    graypy = pytest.importorskip("graypy", reason="pip install graypy")
    sock = socket.create_connection(("127.0.0.1", srv.query_port), timeout=10)
    try:
        sock.sendall(b"FOLLOW app=gelfshop level=ERROR\n")
        buf = bytearray()
        while b"FOLLOWING\n" not in buf:
            buf += sock.recv(4096)
        handler = graypy.GELFTCPHandler("127.0.0.1", srv.ingest_port)
        log = logging.getLogger("gelfshop")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(handler)
        try:
            log.error("gelf-err card declined")
            log.info("gelf-info ERROR in text, level 6")
        finally:
            log.removeHandler(handler)
            handler.close()
        deadline = time.monotonic() + 20
        while b"gelf-err" not in buf and time.monotonic() < deadline:
            buf += sock.recv(65536)
        assert b"gelf-err" in buf
    finally:
        sock.close()
    assert b"gelf-info" not in buf  # its numeric level 6 is INFO, whatever its text says
    wait_lines(srv, "QUERY keywords=gelf-", 2)
    errors = lines_of(srv.query(f"QUERY host={HOST} level=ERROR keywords=gelf-"))
    assert len(errors) == 1 and json.loads(errors[0].split(b"] ", 1)[1])["level"] == 3
    info = lines_of(srv.query("QUERY level=INFO app=gelfshop"))
    assert len(info) == 1 and b"gelf-info" in info[0]
    hits = srv.query("HITS step=1d by=app keywords=gelf-")
    assert hits.startswith(b"HITS: 1\n") and b" 2 gelfshop=2\n" in hits


def test_errors_and_cluster_scope(srv: Server) -> None:
    assert srv.query("QUERY facility=nope").startswith(b"ERROR: Unknown facility 'nope'")
    assert srv.query("QUERY host=").startswith(b"ERROR: Empty value for host=")
    assert srv.query("QUERY scope=cluster app=x").startswith(  # no --store here
        b"ERROR: scope=cluster needs a shared store"
    )
    assert srv.query("TOP field. ").startswith(b"ERROR: Empty field name")


def test_http_api_takes_the_same_filters(srv: Server) -> None:
    line = b'{"host":"httpweb","app":"api","level":4,"msg":"http-fields slow"}\n'
    srv.send(line + b"ts=1 host=httpweb app=api level=error msg=http-fields\n")
    wait_lines(srv, "QUERY host=httpweb", 2)
    url = f"http://127.0.0.1:{srv.http_port}/api/v1/query?host=httpweb&level=WARN"
    with urllib.request.urlopen(url, timeout=10) as reply:
        rows = [json.loads(r) for r in reply.read().splitlines()]
    assert [r["line"] for r in rows] == [line[:-1].decode()]
    top = srv.query("TOP field.msg host=httpweb")
    assert top == b'TOP: 2\nhttp-fields 1\n"http-fields slow" 1\n'  # a space: quoted
