"""The ClickHouse store against real servers: two local ClickHouse instances as the two
shards of cluster ``logs``, LogCaster nodes writing to them, outages and recovery."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_pair import AVAILABLE, Pair
from hypothesis import given
from hypothesis import strategies as st
from support import Server, parse_found, parse_info, wait_for
from test_http import get, records

from logcaster.frontends.line.grammar import parse_spec
from logcaster.query.errors import QueryError
from logcaster.query.levels import level_of
from logcaster.query.spec import QuerySpec
from logcaster.scan import gather
from logcaster.storage.clickhouse.reader import ClusterReader
from logcaster.storage.clickhouse.schema import level_expression
from logcaster.storage.clickhouse.spool import Spool
from logcaster.storage.clickhouse.url import StoreURL, parse_store_url

needs_clickhouse = pytest.mark.skipif(not AVAILABLE, reason="clickhouse-server not installed")
TABLES = itertools.count()


# ------------------------------------------------------------------ pure parts
def test_store_url() -> None:
    url = parse_store_url("clickhouse://a:9001,[::1]:9002/logsdb?table=t&cluster=c")
    assert url == StoreURL((("a", 9001), ("::1", 9002)), "logsdb", "t", "c")
    assert url.local_table == "t_local"
    assert parse_store_url("clickhouse://h").hosts == (("h", 9000),)
    assert parse_store_url("clickhouse://h/db").table == "logs"
    assert parse_store_url("clickhouse://h/db").compression == "lz4"
    assert parse_store_url("clickhouse://h/db?compression=none").compression is False


@pytest.mark.parametrize(
    "text",
    [
        "http://h/db",
        "clickhouse://h:x/db",
        "clickhouse://h:70000/db",
        "clickhouse://h/db?table=a;drop",
        "clickhouse://h/db?cluster=a-b",
        "clickhouse://h/db?tabel=x",
        "clickhouse://h/db?compression=zstd",
        "clickhouse:///db",
    ],
)
def test_store_url_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_store_url(text)


def test_bad_store_url_is_a_one_line_startup_error(server_factory, tmp_path: Path) -> None:
    srv = server_factory("--store", "clickhouse://h/db?table=x;y", banner=False)
    assert srv.proc.wait(15) == 2
    err = srv.stderr_path.read_text().strip().splitlines()
    assert len(err) == 1 and "--store" in err[0]


def test_spool_keeps_order_bound_and_survives_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=400)
    assert spool.add("b1", 2, [(b"one\ntwo\n", 10)])
    assert spool.add("b2", 1, [(b"three\n", 20), (b"four\n", 21)])
    assert not spool.add("big", 1, [(b"x" * 400 + b"\n", 30)])  # past the bound: refused
    (tmp_path / "s" / "000000000009.tmp").write_bytes(b"torn")  # a crash mid-write
    reopened = Spool(tmp_path / "s", max_bytes=400)
    assert len(reopened) == 2 and reopened.bytes == spool.bytes
    first = reopened.oldest()
    assert first is not None and (first.batch_id, first.rows) == ("b1", 2)
    assert first.items == [(b"one\ntwo\n", 10)]
    reopened.remove(first)
    second = reopened.oldest()
    assert second is not None and second.items == [(b"three\n", 20), (b"four\n", 21)]
    reopened.remove(second)
    assert reopened.oldest() is None and reopened.bytes == 0
    assert reopened.add("b3", 1, [(b"five\n", 40)])  # numbering goes on after the old ones


# ------------------------------------------------------------ real ClickHouse
@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not AVAILABLE:
        pytest.skip("clickhouse-server not installed")
    started = Pair.start(tmp_path_factory.mktemp("clickhouse"))
    yield started
    started.stop()


def client(pair: Pair, shard: int = 0):  # type: ignore[no-untyped-def]
    from clickhouse_driver import Client

    return Client("127.0.0.1", port=pair.shards[shard].tcp, settings={"strings_as_bytes": True})


def node(server_factory, pair: Pair, table: str, tmp_path: Path, name: str) -> Server:
    return server_factory(
        "--store", pair.url(table), "--store-init", "--store-batch-ms", "100",
        "--store-spool-dir", str(tmp_path / f"spool-{name}"), "--node-name", name,
    )  # fmt: skip


def sent_rows(srv: Server) -> int:
    return int(parse_info(srv.query("INFO"))["StoreRowsSent"])


def stored(pair: Pair, table: str) -> list[bytes]:
    rows = client(pair).execute(f"SELECT line FROM {table} ORDER BY line")
    return [r[0] for r in rows]


LEVEL_LINES = [
    "plain line",
    "2026-12-01 ERROR disk full",
    "[warn] low memory",
    'json {"level":"error","msg":"x"}',
    "level=debug x",
    "severity: CRITICAL y",
    "INFORMATIONAL first",
    "error lower-case word is no token",
    "ERRORS is not ERROR",
    "WARN then ERROR: the first wins",
    "[Fatal] mixed case in brackets",
    "<11>Dec  1 19:00:00 vm app[1]: a user.err message",
    "<165>1 2026-12-01T19:00:00Z vm app - - - INFO notice by PRI",
    "<191>x",
    "<192>ERROR past the PRI range: the token decides",
    "<011>ERROR a leading zero is no PRI",
    "x <3> a PRI not at the start",
]


@needs_clickhouse
@given(st.lists(st.sampled_from(["ERROR", "[info]", "level=warn", "x", "DBG", " ", "ERR:", "<13>"]),
                min_size=1, max_size=6).map(" ".join))  # fmt: skip
def test_level_column_agrees_with_the_engine(pair: Pair, line: str) -> None:
    c = client(pair)
    got = c.execute(f"SELECT {level_expression('x')} FROM (SELECT %(x)s AS x)", {"x": line})
    assert got[0][0].decode() == (level_of(line.encode()) or "")


@needs_clickhouse
def test_level_column_on_examples(pair: Pair) -> None:
    c = client(pair)
    for line in LEVEL_LINES:
        got = c.execute(f"SELECT {level_expression('x')} FROM (SELECT %(x)s AS x)", {"x": line})
        assert got[0][0].decode() == (level_of(line.encode()) or ""), line


@needs_clickhouse
def test_two_nodes_write_every_line_once(server_factory, pair: Pair, tmp_path: Path) -> None:
    table = f"logs{next(TABLES)}"
    a = node(server_factory, pair, table, tmp_path, "node-a")
    b = node(server_factory, pair, table, tmp_path, "node-b")
    sent = [b"a %05d ERROR" % i for i in range(3000)] + [b"b %05d info" % i for i in range(2000)]
    a.send(b"\n".join(sent[:3000]) + b"\n")
    b.send(b"\n".join(sent[3000:]) + b"\n")
    wait_for(lambda: len(stored(pair, table)) >= len(sent), 30, 0.1, "every line in ClickHouse")
    assert stored(pair, table) == sorted(sent)
    c = client(pair)
    by_node = dict(c.execute(f"SELECT node, count() FROM {table} GROUP BY node"))
    assert by_node == {b"node-a": 3000, b"node-b": 2000}
    levels = dict(c.execute(f"SELECT level, count() FROM {table} GROUP BY level"))
    assert levels == {b"ERROR": 3000, b"": 2000}
    # The rows are visible in ClickHouse a moment before its confirmation reaches the node,
    # which is when the node counts them as sent.
    for srv, want in ((a, "3000"), (b, "2000")):
        sent_now = lambda s=srv, w=want: parse_info(s.query("INFO"))["StoreRowsSent"] == w  # noqa: E731
        wait_for(sent_now, 30, 0.05, want)


@needs_clickhouse
def test_outage_spools_then_replays_exactly_once(
    server_factory, pair: Pair, tmp_path: Path
) -> None:
    table = f"logs{next(TABLES)}"
    srv = node(server_factory, pair, table, tmp_path, "n1")
    first = [b"before %04d" % i for i in range(500)]
    srv.send(b"\n".join(first) + b"\n")
    wait_for(lambda: len(stored(pair, table)) == 500, 30, 0.1, "the first lines")
    for shard in pair.shards:
        shard.kill()
    try:
        during = [b"during %04d" % i for i in range(700)]
        srv.send(b"\n".join(during) + b"\n")
        info = wait_for(
            lambda: (i := parse_info(srv.query("INFO")))["StoreRowsSpooled"] == "700" and i,
            30, 0.1, "the lines spooled",
        )  # fmt: skip
        assert int(info["StoreSpoolBatches"]) >= 1 and srv.query("COUNT") == b"COUNT: 1200\n"
    finally:
        for shard in pair.shards:
            shard.start()
    wait_for(lambda: parse_info(srv.query("INFO"))["StoreSpoolBatches"] == "0", 60, 0.2, "drain")
    assert stored(pair, table) == sorted(first + during)  # every line, exactly once
    assert parse_info(srv.query("INFO"))["StoreRowsReplayed"] == "700"


@needs_clickhouse
def test_one_shard_down_fails_over_to_the_other(server_factory, pair: Pair, tmp_path: Path) -> None:
    table = f"logs{next(TABLES)}"
    srv = node(server_factory, pair, table, tmp_path, "n2")
    srv.send(b"warm up\n")
    wait_for(lambda: len(stored(pair, table)) == 1, 30, 0.1, "the first line")
    pair.shards[1].kill()
    try:
        lines = [b"x %04d" % i for i in range(300)]
        for chunk in range(3):  # several batches: some would go to the dead shard
            srv.send(b"\n".join(lines[chunk * 100 : chunk * 100 + 100]) + b"\n")
            want = 101 + 100 * chunk
            wait_for(lambda w=want: sent_rows(srv) >= w, 30, 0.1, "a batch sent")
        assert parse_info(srv.query("INFO"))["StoreRowsSpooled"] == "0"
        local = client(pair, 0).execute(f"SELECT count() FROM {table}_local")[0][0]
        assert local >= 300
    finally:
        pair.shards[1].start()
    assert stored(pair, table) == sorted([b"warm up", *lines])


# ---------------------------------------------------------------- scope=cluster
SEARCH_LINES = [
    b"2026-12-01 ERROR payment failed order=1",
    b"2026-12-01 INFO user logged in",
    b"2026-12-01 WARN disk 91% full",
    b"2026-12-01 ERROR it's a '); DROP TABLE x; -- line",
    b'2026-12-01 DEBUG json {"level":"error"} text',
    b"2026-12-01 INFO caf\xc3\xa9 na\xc3\xafve",
    b"2026-12-01 INFO Payment retried",
    # a JSON object's level member decides over its other tokens (on the node)
    b'{"_msg":"ERROR from upstream, retried","level":"info"}',
    b'{"message":"[warn] x","Severity":"error"}',
]


def reference(spec: QuerySpec, lines: list[bytes]) -> list[bytes]:
    import re as stdlib_re

    out = []
    for line in lines:
        if spec.keywords:
            hits = [k in line for k in spec.keywords]
            if not (any(hits) if spec.any_keyword else all(hits)):
                continue
        if spec.regex and not stdlib_re.search(spec.regex.encode(), line):
            continue
        if spec.levels and level_of(line) not in spec.levels:
            continue
        out.append(line)
    if spec.limit is not None:
        out = out[-spec.limit :]
    return out  # Matches are oldest first; order=desc is applied when rendered


@pytest.fixture(scope="module")
def searchable(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> StoreURL:
    """A table holding SEARCH_LINES, written by a node (several batches, both shards)."""
    table = f"logs{next(TABLES)}"
    from support import start_server

    srv = start_server(
        tmp_path_factory.mktemp("node"), "--store", pair.url(table), "--store-init",
        "--store-batch-ms", "50",
    )  # fmt: skip
    try:
        for line in SEARCH_LINES:  # one batch each, round robin over the shards
            before = sent_rows(srv)
            srv.send(line + b"\n")
            wait_for(lambda b=before: sent_rows(srv) > b, 30, 0.05, "a batch sent")
    finally:
        srv.reap()
    return parse_store_url(pair.url(table))


@needs_clickhouse
@pytest.mark.parametrize(
    "params",
    [
        "keywords=ERROR",
        "keywords=ERROR,payment",
        "keywords=ERROR,Payment operator=OR",
        'keywords="\'); DROP TABLE x; --"',
        "keywords=%",
        'regex="[Pp]ayment (failed|retried)"',
        "regex=(?i)PAYMENT",
        'regex="^2026-12-01 INFO"',
        "level=ERROR",
        "level=ERROR,WARN order=desc",
        "level=INFO",
        "keywords=INFO limit=2",
        "keywords=INFO limit=2 order=desc",
        "keywords=café",
        "",
    ],
)
def test_cluster_search_matches_a_reference(searchable: StoreURL, params: str) -> None:
    spec = parse_spec(params, time.time_ns())
    assert isinstance(spec, QuerySpec), spec
    matches = ClusterReader(searchable).search(spec)
    got = b"".join(gather(v.buf, s) for v, s in matches.ranges).split(b"\n")[:-1]
    want = reference(spec, SEARCH_LINES)
    assert matches.count == len(want)
    assert got == want


@needs_clickhouse
def test_cluster_search_with_a_shard_down_says_so(searchable: StoreURL, pair: Pair) -> None:
    pair.shards[1].kill()
    try:
        with pytest.raises(QueryError, match="ClickHouse"):
            ClusterReader(searchable, timeout_s=5).search(QuerySpec(keywords=(b"ERROR",)))
    finally:
        pair.shards[1].start()


@needs_clickhouse
def test_scope_cluster_on_another_node(server_factory, pair: Pair, tmp_path: Path) -> None:
    """Lines sent to node A are found by node B with scope=cluster, on every frontend."""
    table = f"logs{next(TABLES)}"
    a = node(server_factory, pair, table, tmp_path, "node-a")
    b = node(server_factory, pair, table, tmp_path, "node-b")
    sent = [
        b"2026-12-01 %s request %04d" % (b"ERROR" if i % 4 == 0 else b"INFO", i) for i in range(400)
    ]
    a.send(b"\n".join(sent) + b"\n")
    wait_for(lambda: sent_rows(a) == 400, 30, 0.1, "node A's lines in ClickHouse")
    errors = [x for x in sent if b"ERROR" in x]
    count, lines = parse_found(b.query("QUERY scope=cluster keywords=ERROR"))
    assert count == len(errors) and [x.split(b"] ", 1)[1] for x in lines] == errors
    assert parse_found(b.query("QUERY keywords=ERROR"))[0] == 0  # B's own ring holds none
    count, lines = parse_found(b.query("QUERY scope=cluster level=ERROR limit=3 order=desc"))
    assert [x.split(b"] ", 1)[1] for x in lines] == errors[-3:][::-1]
    top = b.query("TOP level scope=cluster").decode().splitlines()
    assert top == ["TOP: 2", "INFO 300", "ERROR 100"]
    hits = b.query("HITS step=1d by=level scope=cluster").decode().splitlines()
    assert hits[0] == "HITS: 1" and hits[1].split()[1:] == ["400", "ERROR=100", "INFO=300"]
    status, _, body = get(b, "/api/v1/query?scope=cluster&keywords=request%200399")
    assert status == 200 and [r["line"] for r in records(body)] == [sent[-1].decode()]
    assert b.query("FOLLOW scope=cluster").startswith(b"ERROR: FOLLOW is node-local")
    status, _, body = get(b, "/api/v1/tail?scope=cluster")
    assert status == 400 and b"node-local" in body


def test_scope_cluster_without_a_store_is_an_error(server: Server) -> None:
    assert server.query("QUERY scope=cluster") == (
        b"ERROR: scope=cluster needs a shared store: start the server with --store\n"
    )
