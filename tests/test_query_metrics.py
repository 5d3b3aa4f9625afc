"""Query counts and latency histograms by frontend and command (``/metrics``, INFO,
``/api/v1/stats``), and the received lines and bytes by input."""

from __future__ import annotations

import http.client
import json
import socket

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from support import Server, parse_info, wait_for

from logcaster.query.metrics import BOUNDS, QueryMetrics


def get(srv: Server, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=15)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        return resp.read()
    finally:
        conn.close()


def scrape(srv: Server) -> dict[str, list[Sample]]:
    text = get(srv, "/metrics").decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def sample(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels.items() >= labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def queries(families: dict[str, list[Sample]], frontend: str, command: str) -> float:
    return sample(
        families["logcaster_queries"],
        "logcaster_queries_total",
        frontend=frontend,
        command=command,
    )


def test_counts_and_histograms_move_with_the_queries_made(server: Server) -> None:
    payload = b"boot ok\nERROR disk full\nWARN slow\n"
    server.send(payload)
    wait_for(lambda: server.query("COUNT") == b"COUNT: 3\n", what="3 lines")
    before = scrape(server)
    for command in ("QUERY keywords=ERROR", "QUERY level=WARN", "HITS step=1m", "TOP level"):
        assert not server.query(command).startswith(b"ERROR")
    assert server.query("COUNT") == b"COUNT: 3\n"
    for path in ("/api/v1/query?keywords=disk", "/api/v1/hits?step=1m", "/api/v1/top?field=level"):
        get(server, path)
    after = scrape(server)
    made = {
        ("line", "QUERY"): 2,
        ("line", "HITS"): 1,
        ("line", "TOP"): 1,
        ("line", "COUNT"): 1,
        ("http", "QUERY"): 1,
        ("http", "HITS"): 1,
        ("http", "TOP"): 1,
        ("line", "FOLLOW"): 0,
        ("http", "TAIL"): 0,
    }
    hist = "logcaster_query_duration_seconds"
    for (frontend, command), n in made.items():
        moved = queries(after, frontend, command) - queries(before, frontend, command)
        assert moved == n, (frontend, command, moved)
        labels = {"frontend": frontend, "command": command}
        count = sample(after[hist], hist + "_count", **labels)
        assert count - sample(before[hist], hist + "_count", **labels) == n
        assert sample(after[hist], hist + "_bucket", le="+Inf", **labels) == count
        cumulative = [sample(after[hist], hist + "_bucket", le=str(le), **labels) for le in BOUNDS]
        assert cumulative == sorted(cumulative) and cumulative[-1] <= count
        assert (sample(after[hist], hist + "_sum", **labels) > 0) == (count > 0)
    # the same counts in INFO and /api/v1/stats
    info = parse_info(server.query("INFO"))
    stats = json.loads(get(server, "/api/v1/stats"))
    assert int(info["Queries.line.QUERY"]) == 2 and stats["Queries.http.QUERY"] == 1
    assert float(info["QuerySeconds.line.QUERY"]) > 0
    assert stats["Queries.line.INFO"] == 1  # the INFO just made


def test_a_tail_counts_once_it_has_started(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=15)
    conn.request("GET", "/api/v1/tail?keywords=x")
    assert conn.getresponse().status == 200
    wait_for(lambda: queries(scrape(server), "http", "TAIL") == 1, what="the tail counted")
    conn.close()
    with socket.create_connection(("127.0.0.1", server.query_port), timeout=15) as sock:
        sock.sendall(b"FOLLOW keywords=x\n")
        assert sock.recv(100).startswith(b"FOLLOWING")
        wait_for(lambda: queries(scrape(server), "line", "FOLLOW") == 1, what="FOLLOW counted")


def test_lines_and_bytes_by_input(server: Server) -> None:
    payload = b"one\ntwo\nthree\n"
    server.send(payload)
    wait_for(lambda: server.query("COUNT") == b"COUNT: 3\n", what="3 lines")
    families = scrape(server)
    assert sample(families["logcaster_tcp_lines"], "logcaster_tcp_lines_total") == 3
    received = families["logcaster_tcp_received_bytes"]
    assert sample(received, "logcaster_tcp_received_bytes_total") == len(payload)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"by udp", ("127.0.0.1", server.udp_port))
    wait_for(lambda: server.query("COUNT") == b"COUNT: 4\n", what="the datagram")
    families = scrape(server)
    assert sample(families["logcaster_udp_lines"], "logcaster_udp_lines_total") == 1
    udp_bytes = families["logcaster_udp_received_bytes"]
    assert sample(udp_bytes, "logcaster_udp_received_bytes_total") == len(b"by udp")


def test_histogram_buckets_in_process() -> None:
    metrics = QueryMetrics()
    metrics.declare("line", ["QUERY"])
    for seconds in (0.0005, 0.003, 0.003, 100.0):
        metrics.observe("line", "QUERY", seconds)
    count, hist = list(metrics.collect())
    assert (count.name, count.value, count.labels) == (
        "Queries.line.QUERY",
        4,
        (("frontend", "line"), ("command", "QUERY")),
    )
    assert hist.buckets is not None and hist.buckets.count == 4
    by_bound = dict(hist.buckets.cumulative)
    assert by_bound[0.001] == 1 and by_bound[0.0025] == 1 and by_bound[0.005] == 3
    assert by_bound[30.0] == 3  # 100 s is only in +Inf
    assert hist.value == round(0.0005 + 0.003 + 0.003 + 100.0, 6)


def line_total(families: dict[str, list[Sample]]) -> float:
    return sum(
        s.value
        for s in families["logcaster_queries"]
        if s.name == "logcaster_queries_total" and s.labels["frontend"] == "line"
    )


def test_a_failing_line_command_is_counted_as_its_command(server: Server) -> None:
    failing = [
        ("QUERY level=LOUD", "QUERY"),
        ("QUERY time_from=", "QUERY"),
        ('QUERY keywords="open', "QUERY"),
        ("FOLLOW foo=1", "FOLLOW"),
        ("FOLLOW scope=cluster", "FOLLOW"),
        ("HITS step=0m", "HITS"),
        ("HITS", "HITS"),
        ("TOP bogus", "TOP"),
        ("TOP", "TOP"),
        ("TAIL abc", "TAIL"),
    ]
    for command, verb in failing:
        before = scrape(server)
        assert server.query(command).startswith(b"ERROR: "), command
        after = scrape(server)
        assert queries(after, "line", verb) - queries(before, "line", verb) == 1, command
        assert line_total(after) - line_total(before) == 1, command  # only that one
        hist = "logcaster_query_duration_seconds"
        labels = {"frontend": "line", "command": verb}
        moved = sample(after[hist], hist + "_count", **labels)
        assert moved - sample(before[hist], hist + "_count", **labels) == 1, command
    info = parse_info(server.query("INFO"))
    assert int(info["Queries.line.QUERY"]) == 3 and int(info["Queries.line.TAIL"]) == 1
    # a command the port does not know has no series to count in
    before = line_total(scrape(server))
    assert server.query("BOGUS x").startswith(b"ERROR: Unknown command")
    assert line_total(scrape(server)) == before


def test_a_tail_closed_during_its_backfill_is_counted_once(server: Server) -> None:
    n = 100_000  # ~13 MB of records: more than the socket buffers hold
    server.send(b"".join(b"line %06d %s\n" % (i, b"x" * 100) for i in range(n)))
    wait_for(lambda: server.query("COUNT") == f"COUNT: {n}\n".encode(), what="all lines")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(15)
    with sock:
        sock.connect(("127.0.0.1", server.http_port))
        sock.sendall(b"GET /api/v1/tail?since=-1h HTTP/1.0\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "closed before the headers"
            head += chunk
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
    # closed unread: the backfill cannot have been written to the end
    wait_for(lambda: queries(scrape(server), "http", "TAIL") == 1, what="the tail counted")
    wait_for(lambda: parse_info(server.query("INFO"))["Followers"] == "0", what="tap removed")
    assert queries(scrape(server), "http", "TAIL") == 1
    # a tail that starts and then ends is counted once too
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=15)
    conn.request("GET", "/api/v1/tail?keywords=nomatch&since=-1h")
    assert conn.getresponse().status == 200
    wait_for(lambda: queries(scrape(server), "http", "TAIL") == 2, what="the second tail")
    conn.close()
    wait_for(lambda: parse_info(server.query("INFO"))["Followers"] == "0", what="tap removed")
    assert queries(scrape(server), "http", "TAIL") == 2
