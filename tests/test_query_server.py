"""The query language over the wire: a ``logcaster serve -p 0 -q 0`` subprocess."""

from __future__ import annotations

import calendar
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import SERIES, Server, parse_found, start_server, wait_for

STAMP_RE = re.compile(rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] ")


def read_until(
    sock: socket.socket,
    buf: bytearray,
    predicate: Callable[[bytearray], bool],
    timeout: float,
    what: str,
) -> None:
    """Receive into ``buf`` until ``predicate(buf)`` holds; fail at the deadline or on EOF.

    ``predicate`` sees the growing buffer itself (no copy): keep it cheap.
    """
    deadline = time.monotonic() + timeout
    while not predicate(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what}; got {bytes(buf[-300:])!r}")
        sock.settimeout(min(left, 1.0))
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            continue
        if not chunk:
            raise AssertionError(f"connection closed before {what}; got {bytes(buf[-300:])!r}")
        buf += chunk


# Query and send timeouts here are longer than the defaults (20 s and 30 s, not 15 s).
QSERVER_TIMEOUTS = {"query_timeout": 20.0, "send_timeout": 30.0}


@pytest.fixture(scope="module")
def qserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, float, float]]:
    """A server holding the series' six lines; yields (server, time before, time after)."""
    srv = start_server(tmp_path_factory.mktemp("qserver"), **QSERVER_TIMEOUTS)
    try:
        before = time.time()
        srv.send(b"".join(line + b"\n" for line in SERIES))
        after = time.time()
        srv.wait_total(len(SERIES))
        yield srv, before, after
    finally:
        srv.reap()


@pytest.fixture
def fresh_qserver(server_factory: Callable[..., Server]) -> Server:
    return server_factory(**QSERVER_TIMEOUTS)


def unstamp(line: bytes, before: float | None = None, after: float | None = None) -> bytes:
    m = STAMP_RE.match(line)
    assert m, f"not a stamped line: {line[:100]!r}"
    if before is not None and after is not None:
        when = time.mktime(time.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S"))
        assert int(before) - 1 <= when <= after + 1, (m.group(1), before, after)
    return line[m.end() :]


# ------------------------------------------------------------------ the series over the wire
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("QUERY keywords=timeout", [2, 3]),
        ("QUERY regex=user_id=[0-9]+", [3]),
        ("QUERY keywords=Failed,timeout operator=AND", [3]),
        ("QUERY keywords=startup,failure operator=OR", [0, 5]),
        ("QUERY regex=deprecate keywords=WARNING", [2]),
        ("QUERY level=ERROR", [3, 5]),
        ("QUERY", [0, 1, 2, 3, 4, 5]),
        ('QUERY keywords="reason: timeout",nothing operator=or', [3]),
        ("QUERY KEYWORDS=INFO LIMIT=1", [4]),
        ("QUERY keywords=o order=desc limit=2", [5, 4]),
        ("QUERY keywords=error limit=5", []),  # keywords are case-sensitive
        ("QUERY limit=1 keyword=reason: timeout", [3]),  # keyword= last: the rest, stamped
    ],
)
def test_series_over_the_wire(
    qserver: tuple[Server, float, float], command: str, expected: list[int]
) -> None:
    srv, before, after = qserver
    count, lines = parse_found(srv.query(command))
    assert count == len(expected) == len(lines)
    for line in lines:
        assert re.match(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ", line)
    assert [unstamp(line, before, after) for line in lines] == [SERIES[i] for i in expected]


def test_seed_form_replies_raw_lines(qserver: tuple[Server, float, float]) -> None:
    srv = qserver[0]
    assert srv.query("QUERY keyword=reason: timeout") == b"FOUND: 1 matches\n" + SERIES[3] + b"\n"
    assert srv.query("QUERY keyword=INFO") == (
        b"FOUND: 2 matches\n" + SERIES[0] + b"\n" + SERIES[4] + b"\n"
    )
    assert srv.query("QUERY keyword=user_id=123") == b"FOUND: 1 matches\n" + SERIES[3] + b"\n"
    assert srv.query("QUERY keyword=logged admin") == b"FOUND: 0 matches\n"
    # Words that look like parameters are part of the literal, never parameters.
    assert srv.query("QUERY keyword=ERROR limit=1") == b"FOUND: 0 matches\n"
    assert srv.query("QUERY keyword=INFO order=desc") == b"FOUND: 0 matches\n"


def test_seed_form_literal_holds_anything(fresh_qserver: Server) -> None:
    srv = fresh_qserver
    lines = [
        b"2026-12-01 ERROR payment failed order=123 user=7",
        b"2026-12-01 WARN disk limit=1 reached",
        b'{"level":"error","msg":"say \\"hi\\" now"}',
        b'msg="quoted" value',
        b"disk ok",
    ]
    srv.send(b"".join(line + b"\n" for line in lines))
    srv.wait_total(len(lines))
    for command, expected in [
        ("QUERY keyword=payment failed order=123", [0]),
        ("QUERY keyword=disk limit=1", [1]),
        ("QUERY keyword=disk", [1, 4]),
        ('QUERY keyword="quoted" value', [3]),
        ('QUERY keyword={"level":"error"', [2]),
        ('QUERY keyword=say \\"hi', [2]),
    ]:
        assert srv.query(command) == b"FOUND: %d matches\n" % len(expected) + b"".join(
            lines[i] + b"\n" for i in expected
        ), command
    # A quote inside an unquoted value is part of it (and the JSON regex keeps its quotes).
    count, found = parse_found(srv.query('QUERY regex=^\\{"level":"error"'))
    assert count == 1 and unstamp(found[0]) == lines[2]
    count, found = parse_found(srv.query('QUERY keywords=msg="quoted"'))
    assert count == 1 and unstamp(found[0]) == lines[3]


def test_top_and_hits_values_stay_one_line_each(fresh_qserver: Server) -> None:
    srv = fresh_qserver
    lines = [
        b'{"msg":"line\\nbreak","user":"d"}',  # a JSON \n escape: a newline in the value
        b'msg="has space" user=a',
        b'msg="eq=sign" user=b',
        b'msg="say \\"hi\\"" user=c',
        b"msg=plain user=e",
        b"msg=plain user=f",
    ]
    srv.send(b"".join(line + b"\n" for line in lines))
    srv.wait_total(len(lines))
    reply = srv.query("TOP field.msg")
    assert reply.splitlines() == [
        b"TOP: 5",
        b"plain 2",
        b'"eq=sign" 1',
        b'"has space" 1',
        b'"line\\nbreak" 1',
        b'"say \\"hi\\"" 1',
    ]
    reply = srv.query("HITS step=1d by=field.msg")
    head, row = reply.splitlines()
    assert head == b"HITS: 1"
    assert row.split(b" ", 2)[2] == (
        b'"eq=sign"=1 "has space"=1 "line\\nbreak"=1 plain=2 "say \\"hi\\""=1'
    )


@pytest.mark.parametrize(
    "command",
    [
        "QUERY keyword=",
        "QUERY keywords=",
        'QUERY keywords=""',
        "QUERY keywords=a,,b",
        "FOLLOW keywords=",
    ],
)
def test_empty_keyword_is_an_error_line(qserver: tuple[Server, float, float], command: str) -> None:
    reply = qserver[0].query(command)
    assert reply.startswith(b"ERROR: Empty keyword") and reply.count(b"\n") == 1


def test_help(qserver: tuple[Server, float, float]) -> None:
    reply = qserver[0].query("HELP")
    lines = reply.decode().splitlines()
    assert lines[0] == "LogCaster Query Interface"
    for word in (
        "STATS",
        "COUNT",
        "QUERY",
        "TAIL",
        "FOLLOW",
        "HELP",
        "keywords=",
        "operator=",
        "regex=",
        "time_from=",
        "time_to=",
        "level=",
        "limit=",
        "order=",
    ):
        assert word in reply.decode(), word


def test_tail(qserver: tuple[Server, float, float]) -> None:
    srv, before, after = qserver
    reply = srv.query("TAIL 2")
    lines = reply.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    assert [unstamp(ln, before, after) for ln in lines[:-1]] == [SERIES[4], SERIES[5]]
    default = srv.query("TAIL").split(b"\n")[:-1]
    assert [unstamp(ln) for ln in default] == SERIES  # default 10 > 6 held
    assert [unstamp(ln) for ln in srv.query("TAIL 1").split(b"\n")[:-1]] == [SERIES[5]]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("QUERY time_from=yesterday", b"ERROR: Invalid time value 'yesterday' for time_from\n"),
        ("QUERY time_to=-5q", b"ERROR: Invalid time value '-5q' for time_to\n"),
        ("QUERY foo=bar", b"ERROR: Unknown parameter 'foo'. Use HELP for usage.\n"),
        (
            "QUERY keywords=a Colour=red",
            b"ERROR: Unknown parameter 'Colour'. Use HELP for usage.\n",
        ),
        ("FROB", b"ERROR: Unknown command. Use HELP for usage.\n"),
        ("FOLLOW foo=1", b"ERROR: Unknown parameter 'foo'. Use HELP for usage.\n"),
    ],
)
def test_error_replies_exact(
    qserver: tuple[Server, float, float], command: str, reply: bytes
) -> None:
    assert qserver[0].query(command) == reply


@pytest.mark.parametrize(
    "command",
    ["QUERY regex=(", "QUERY regex=a{2,1}", "FOLLOW regex=[z-a]", "QUERY keywords=a regex=(?P<x"],
)
def test_invalid_regex_reply(qserver: tuple[Server, float, float], command: str) -> None:
    reply = qserver[0].query(command)
    assert reply.startswith(b"ERROR: Invalid regex pattern: ") and reply.endswith(b"\n")
    assert reply.count(b"\n") == 1


@pytest.mark.parametrize(
    "command",
    [
        "TAIL 0",
        "TAIL x",
        "QUERY limit=0",
        "QUERY order=up",
        "QUERY operator=XOR",
        "QUERY level=LOUD",
        'QUERY keywords="open',
    ],
)
def test_other_errors_are_one_line(qserver: tuple[Server, float, float], command: str) -> None:
    reply = qserver[0].query(command)
    assert reply.startswith(b"ERROR: ") and reply.count(b"\n") == 1 and reply.endswith(b"\n")
    assert b"Internal error" not in reply


def test_tail_non_decimal_digit_reply(qserver: tuple[Server, float, float]) -> None:
    reply = qserver[0].query("TAIL \u00b2".encode())
    assert reply.startswith(b"ERROR: Invalid line count")


def test_or_with_non_utf8_keyword_reply(qserver: tuple[Server, float, float]) -> None:
    reply = qserver[0].query(b"QUERY keywords=\xff,zzz operator=OR")
    assert reply == b"FOUND: 0 matches\n"


def test_time_bounds_over_the_wire(qserver: tuple[Server, float, float]) -> None:
    srv = qserver[0]
    assert parse_found(srv.query("QUERY time_from=-1m"))[0] == 6
    assert parse_found(srv.query("QUERY time_to=-1m")) == (0, [])
    soon = int(time.time()) + 3600
    iso_soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon))
    assert parse_found(srv.query(f"QUERY time_from={iso_soon}")) == (0, [])
    assert parse_found(srv.query(f"QUERY time_to={soon}"))[0] == 6
    assert parse_found(srv.query(f"QUERY time_from=-1h time_to={iso_soon} level=ERROR"))[0] == 2


# ------------------------------------------------------------------ HITS and TOP
ISO_RE = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\d+)((?: [A-Z]+=\d+)*)$")


def parse_hits(reply: bytes) -> list[tuple[int, int, dict[str, int]]]:
    """``HITS: <n>`` + bucket lines -> [(start, count, {value: n})]; checks the framing."""
    head, _, body = reply.partition(b"\n")
    m = re.fullmatch(rb"HITS: (\d+)", head)
    assert m, reply[:200]
    assert body == b"" or body.endswith(b"\n")
    out = []
    for line in body.split(b"\n")[:-1]:
        b = ISO_RE.match(line)
        assert b, line
        start = calendar.timegm(time.strptime(b.group(1).decode(), "%Y-%m-%dT%H:%M:%SZ"))
        values = dict(pair.split("=") for pair in b.group(3).decode().split())
        out.append((start, int(b.group(2)), {k: int(v) for k, v in values.items()}))
    assert len(out) == int(m.group(1))
    return out


def test_hits_over_the_wire(qserver: tuple[Server, float, float]) -> None:
    srv, before, after = qserver
    buckets = parse_hits(srv.query("HITS step=1m"))
    minutes = list(range(int(before) // 60 * 60, int(after) // 60 * 60 + 1, 60))
    assert [b[0] for b in buckets] == minutes[: len(buckets)] and sum(b[1] for b in buckets) == 6
    by_level = parse_hits(srv.query("HITS step=1h by=level"))
    assert sum(b[1] for b in by_level) == 6
    total: dict[str, int] = {}
    for _, count, values in by_level:
        assert sum(values.values()) == count
        for k, v in values.items():
            total[k] = total.get(k, 0) + v
    assert total == {"ERROR": 2, "WARN": 1, "INFO": 2, "DEBUG": 1}
    reply = srv.query("HITS step=1h by=level").decode()
    assert all(
        line.index("ERROR") < line.index("WARN") < line.index("INFO") < line.index("DEBUG")
        for line in reply.splitlines()[1:]
        if "DEBUG" in line and "ERROR" in line
    )


def test_hits_closed_range_lists_empty_buckets(qserver: tuple[Server, float, float]) -> None:
    srv, before, _ = qserver
    hour = int(before) // 3600 * 3600
    reply = srv.query(f"HITS step=1h level=ERROR time_from={hour - 7200} time_to={hour + 3599}")
    buckets = parse_hits(reply)
    assert [b[0] for b in buckets] == [hour - 7200, hour - 3600, hour]
    assert [b[1] for b in buckets][:2] == [0, 0]
    assert parse_hits(srv.query("HITS step=1m keywords=absent")) == []


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("HITS step=1s time_from=-30d", b"ERROR: HITS would return "),
        ("HITS step=1s time_from=0 time_to=2000000000", b"ERROR: HITS would return "),
        ("HITS step=7x", b"ERROR: Invalid step '7x'"),
        ("HITS", b"ERROR: HITS needs step="),
        ("HITS step=1m regex=(", b"ERROR: Invalid regex pattern: "),
        ("TOP", b"ERROR: TOP needs a field first"),
        ("TOP colour", b"ERROR: Unknown field 'colour' for TOP"),
        ("TOP level limit=x", b"ERROR: Invalid limit 'x'"),
    ],
)
def test_aggregation_errors_are_one_line(
    qserver: tuple[Server, float, float], command: str, needle: bytes
) -> None:
    reply = qserver[0].query(command)
    assert reply.startswith(needle) and reply.count(b"\n") == 1, reply


def test_top_over_the_wire(qserver: tuple[Server, float, float]) -> None:
    srv = qserver[0]
    assert srv.query("TOP level") == b"TOP: 4\nERROR 2\nINFO 2\nDEBUG 1\nWARN 1\n"
    assert srv.query("TOP level limit=1 keywords=timeout") == b"TOP: 1\nERROR 1\n"
    assert srv.query("TOP level keywords=absent") == b"TOP: 0\n"
    assert srv.query("TOP level level=info,debug") == b"TOP: 2\nINFO 2\nDEBUG 1\n"


def test_top_counts_lines_without_a_level(fresh_qserver: Server) -> None:
    srv = fresh_qserver
    srv.send(b"no level here\nnor here\nERROR one\n")
    srv.wait_total(3)
    assert srv.query("TOP level") == b"TOP: 2\nNONE 2\nERROR 1\n"


def test_aggregations_over_the_files_with_scope_all(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    srv = server_factory("-P", "-d", str(tmp_path / "logs"), "-c", "3", **QSERVER_TIMEOUTS)
    srv.send(b"ERROR early one\nERROR early two\n")
    srv.send(b"".join(b"INFO filler %d\n" % i for i in range(5)))
    srv.wait_total(7)
    assert srv.query("TOP level") == b"TOP: 1\nINFO 3\n"  # memory holds the newest 3
    assert srv.query("TOP level scope=all") == b"TOP: 2\nINFO 5\nERROR 2\n"
    buckets = parse_hits(srv.query("HITS step=1d by=level scope=all"))
    assert sum(b[1] for b in buckets) == 7
    assert {k: sum(b[2].get(k, 0) for b in buckets) for k in ("ERROR", "INFO")} == {
        "ERROR": 2,
        "INFO": 5,
    }


# ------------------------------------------------------------------ FOLLOW
def _follow(
    srv: Server, command: bytes, rcvbuf: int | None = None
) -> tuple[socket.socket, bytearray]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", srv.query_port))
    sock.sendall(command + b"\n")
    buf = bytearray()
    read_until(sock, buf, lambda b: b"\n" in b, 10, "FOLLOWING")
    assert bytes(buf).startswith(b"FOLLOWING\n")
    del buf[: len(b"FOLLOWING\n")]
    return sock, buf


def test_follow_streams_new_matching_lines_only(fresh_qserver: Server) -> None:
    srv = fresh_qserver
    srv.send(b"needle before follow\n")
    srv.wait_total(1)
    needles, nbuf = _follow(srv, b"FOLLOW keywords=needle")
    errors, ebuf = _follow(srv, b"FOLLOW level=ERROR regex=[0-9]{3}")
    try:
        before = time.time()
        srv.send(b"hay 1\nneedle one\nhay 2 ERROR 123\n")
        srv.send(b"ERROR 999 needle two\nhaystack\nERROR no digits\n")
        srv.send(b"needle END\nERROR END 000\n")
        after = time.time()
        read_until(needles, nbuf, lambda b: b.endswith(b"needle END\n"), 10, "needle END")
        read_until(errors, ebuf, lambda b: b.endswith(b"ERROR END 000\n"), 10, "ERROR END")
        got = [unstamp(ln, before, after) for ln in bytes(nbuf).split(b"\n")[:-1]]
        assert got == [b"needle one", b"ERROR 999 needle two", b"needle END"]
        got = [unstamp(ln, before, after) for ln in bytes(ebuf).split(b"\n")[:-1]]
        assert got == [b"hay 2 ERROR 123", b"ERROR 999 needle two", b"ERROR END 000"]
        # nothing else arrives later either
        srv.send(b"needle LAST\n")
        read_until(needles, nbuf, lambda b: b.endswith(b"needle LAST\n"), 10, "needle LAST")
        assert b"hay" not in bytes(nbuf).replace(b"haystack", b"") and b"haystack" not in nbuf
        assert b"before follow" not in nbuf
    finally:
        needles.close()
        errors.close()
    assert srv.stats()["Total"] == 10


def test_stalled_follower_never_slows_ingest(fresh_qserver: Server) -> None:
    srv = fresh_qserver
    stalled, buf = _follow(srv, b"FOLLOW", rcvbuf=4096)
    n = 200_000
    pad = b"x" * 40
    try:
        blob = b"".join(b"stall %06d %s\n" % (i, pad) for i in range(n))
        started = time.monotonic()
        srv.send(blob, timeout=60)
        srv.wait_total(n, timeout=30)
        ingest_s = time.monotonic() - started
        assert ingest_s < 30

        # Now read; new lines trickle in so the follower is told what it missed.
        stop = threading.Event()
        trickled = [0]

        def trickle() -> None:
            while not stop.is_set():
                srv.send(b"after %d\n" % trickled[0])
                trickled[0] += 1
                stop.wait(0.02)

        scanned = [0]

        def notice_seen(b: bytearray) -> bool:
            """A complete '... <n> lines skipped' line; scans only what is new."""
            start = scanned[0]
            scanned[0] = max(0, len(b) - 40)
            at = b.find(b"... ", start)
            while at >= 0:
                if (at == 0 or b[at - 1] == 0x0A) and re.match(
                    rb"\.\.\. \d+ lines skipped\n", b[at : at + 40]
                ):
                    return True
                at = b.find(b"... ", at + 1)
            return False

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            read_until(stalled, buf, notice_seen, 30, "the '... <n> lines skipped' notice")
        finally:
            stop.set()
            thread.join(10)
        srv.send(b"FINAL MARKER\n")
        read_until(stalled, buf, lambda b: b.endswith(b"FINAL MARKER\n"), 30, "FINAL MARKER")
    finally:
        stalled.close()

    lines = bytes(buf).split(b"\n")[:-1]
    skipped = 0
    delivered = []
    for line in lines:
        m = re.fullmatch(rb"\.\.\. (\d+) lines skipped", line)
        if m:
            skipped += int(m.group(1))
        else:
            delivered.append(unstamp(line))
    assert skipped > 0
    stall_idx = [int(d.split()[1]) for d in delivered if d.startswith(b"stall ")]
    assert stall_idx == sorted(stall_idx) and len(set(stall_idx)) == len(stall_idx)
    assert all(d == b"stall %06d %s" % (i, pad) for i, d in zip(stall_idx, delivered, strict=False))
    # every line published while following was either delivered or counted as skipped
    assert len(delivered) + skipped == n + trickled[0] + 1
    assert delivered[-1] == b"FINAL MARKER"
    assert srv.stats()["Total"] == n + trickled[0] + 1


def test_follower_hears_of_skipped_lines_once_caught_up(fresh_qserver: Server) -> None:
    """After a burst, a follower that reads its backlog is told what went by at once,
    with no further line arriving to carry the notice."""
    srv = fresh_qserver
    stalled, buf = _follow(srv, b"FOLLOW keywords=burst", rcvbuf=4096)
    n = 100_000
    try:
        srv.send(b"".join(b"burst %06d %s\n" % (i, b"y" * 60) for i in range(n)), timeout=60)
        srv.wait_total(n, timeout=30)
        assert int(srv.info()["FollowSkipped"]) > 0  # the follower did fall behind
        read_until(
            stalled,
            buf,
            lambda b: re.search(rb"(^|\n)\.\.\. \d+ lines skipped\n$", b[-60:]) is not None,
            30,
            "the skipped-lines notice, with no new line sent",
        )
    finally:
        stalled.close()
    lines = bytes(buf).split(b"\n")[:-1]
    notice = re.fullmatch(rb"\.\.\. (\d+) lines skipped", lines[-1])
    assert notice is not None
    delivered = [unstamp(line) for line in lines[:-1] if not line.startswith(b"... ")]
    skipped = sum(
        int(m.group(1))
        for line in lines
        if (m := re.fullmatch(rb"\.\.\. (\d+) lines skipped", line))
    )
    assert skipped > 0 and len(delivered) + skipped == n
    idx = [int(d.split()[1]) for d in delivered]
    assert idx == sorted(set(idx)) and idx[0] == 0


# ------------------------------------------------------------------ regex that backtracks elsewhere
def test_catastrophic_regex_answers_while_ingest_continues(fresh_qserver: Server) -> None:
    srv = fresh_qserver
    srv.send((b"a" * 10_000 + b"b\n") * 1000)
    srv.wait_total(1000)

    stop = threading.Event()
    sent = [0]

    def ingest() -> None:
        with socket.create_connection(("127.0.0.1", srv.ingest_port), timeout=30) as sock:
            while not stop.is_set():
                sock.sendall(b"".join(b"zzz %d\n" % (sent[0] + i) for i in range(100)))
                sent[0] += 100
                stop.wait(0.005)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1)

    thread = threading.Thread(target=ingest, daemon=True)
    thread.start()
    try:
        wait_for(lambda: srv.stats()["Total"] > 1000, 10, what="concurrent ingest to start")
        result: dict[str, object] = {}

        def run_query() -> None:
            t = time.monotonic()
            result["reply"] = srv.query("QUERY regex=(a+)+$", timeout=30)
            result["elapsed"] = time.monotonic() - t

        qthread = threading.Thread(target=run_query, daemon=True)
        qthread.start()
        totals = [srv.stats()["Total"]]  # a second client is answered meanwhile
        qthread.join(30)
        assert not qthread.is_alive(), "QUERY regex=(a+)+$ did not answer"
        totals.append(srv.stats()["Total"])
        wait_for(lambda: srv.stats()["Total"] > totals[-1], 10, what="ingest to go on")
    finally:
        stop.set()
        thread.join(10)
    assert result["reply"] == b"FOUND: 0 matches\n"
    assert float(result["elapsed"]) < 10  # type: ignore[arg-type]
    assert totals[0] > 1000
    count, lines = parse_found(srv.query("QUERY regex=(a+)+b$ limit=2"))
    assert count == 2 and all(unstamp(ln) == b"a" * 10_000 + b"b" for ln in lines)
