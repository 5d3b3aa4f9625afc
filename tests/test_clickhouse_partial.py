"""``scope=cluster`` with a shard down or hung, against real ClickHouse: the reply is an
error that says so (never a partial result given as a whole one), a hung shard holds
a query only for the query timeout, and other clients are served meanwhile."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_pair import AVAILABLE, Pair
from support import Server, parse_found, parse_info, wait_for
from test_http import get

needs_clickhouse = pytest.mark.skipif(not AVAILABLE, reason="clickhouse-server not installed")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not AVAILABLE:
        pytest.skip("clickhouse-server not installed")
    started = Pair.start(tmp_path_factory.mktemp("clickhouse-partial"))
    yield started
    started.stop()


@pytest.fixture
def node(server_factory, pair: Pair, tmp_path: Path) -> Server:  # type: ignore[no-untyped-def]
    srv: Server = server_factory(
        "--store", pair.url("partial"), "--store-init", "--store-batch-ms", "50",
        "--store-spool-dir", str(tmp_path / "spool"), "--store-query-timeout-ms", "1500",
    )  # fmt: skip
    srv.send(b"".join(b"ERROR line %03d\n" % i for i in range(19)))
    srv.send(b"<13>Dec  1 19:00:00 web7 shop[9]: ERROR line 019\n")
    wait_for(lambda: parse_info(srv.query("INFO"))["StoreRowsSent"] == "20", 30, 0.05, "sent")
    return srv


def cluster_reply(srv: Server) -> bytes:
    return srv.query("QUERY scope=cluster keywords=ERROR", timeout=60)


@needs_clickhouse
def test_all_shards_up_answers_in_full(node: Server) -> None:
    count, _ = parse_found(cluster_reply(node))
    assert count >= 20  # the table is shared by this module's tests
    count, lines = parse_found(node.query("QUERY scope=cluster host=web7 app=shop"))
    assert count >= 1 and all(b"web7 shop[9]" in x for x in lines)
    top = node.query("TOP app scope=cluster facility=user").decode().splitlines()
    assert top[0].startswith("TOP: ") and top[1].startswith("shop ")


@needs_clickhouse
def test_killed_shard_is_a_clear_error(node: Server, pair: Pair) -> None:
    pair.shards[1].kill()
    try:
        reply = cluster_reply(node)
        assert reply.startswith(b"ERROR: ClickHouse query failed (scope=cluster)")
        assert reply.rstrip().endswith(b"no result given")
        status, _, body = get(node, "/api/v1/query?scope=cluster&keywords=ERROR")
        assert status == 400 and b"ClickHouse query failed" in body
        top = node.query("TOP host scope=cluster", timeout=60)
        assert top.startswith(b"ERROR: ClickHouse query failed")
    finally:
        pair.shards[1].start()
    assert parse_found(cluster_reply(node))[0] >= 20  # whole again


@needs_clickhouse
def test_hung_shard_times_out_and_blocks_no_one(node: Server, pair: Pair) -> None:
    proc = pair.shards[1].proc
    assert proc is not None
    replies: list[bytes] = []
    proc.send_signal(signal.SIGSTOP)
    try:
        hung = threading.Thread(target=lambda: replies.append(cluster_reply(node)))
        hung.start()
        # Meanwhile the node serves others: its own ring, at once.
        assert node.query("COUNT").startswith(b"COUNT: ")
        assert parse_found(node.query("QUERY keywords=ERROR"))[0] == 20
        hung.join(60)
        assert not hung.is_alive() and len(replies) == 1
        assert replies[0].startswith(b"ERROR: ClickHouse query failed (scope=cluster)")
        assert b"no reply within the query timeout" in replies[0]
        status, _, body = get(node, "/api/v1/hits?scope=cluster&keywords=ERROR&step=1d")
        assert status == 400 and b"a shard may be hung" in body
    finally:
        proc.send_signal(signal.SIGCONT)
    assert parse_found(cluster_reply(node))[0] >= 20
