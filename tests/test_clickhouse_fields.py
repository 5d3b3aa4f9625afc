"""Host, app, facility and field filters on ``scope=cluster``, against real ClickHouse:
the columns' DEFAULT expressions agree with the engine's readers, and the same lines
in the ring and in ClickHouse give the same answers for many filter shapes, whether
the node sent the columns it computes or ClickHouse computed them (rows from a node
of an earlier version); tables of earlier versions are upgraded, or written to as
they are."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_pair import AVAILABLE, Pair
from hypothesis import given, settings
from hypothesis import strategies as st
from support import parse_found, parse_info, wait_for
from test_fields import LINES, T0

from logcaster.query import aggregate
from logcaster.query.engine import search
from logcaster.query.fields import app_of, facility_of, host_of
from logcaster.query.matches import lines_of
from logcaster.query.postfilter import compile_spec
from logcaster.query.spec import QuerySpec, build_spec
from logcaster.storage.clickhouse.fieldsql import (
    app_expression,
    facility_expression,
    fuzzy_expression,
    host_expression,
)
from logcaster.storage.clickhouse.native import encode, insert_encoded
from logcaster.storage.clickhouse.reader import ClusterReader
from logcaster.storage.clickhouse.schema import (
    computed,
    distributed_table_ddl,
    level_expression,
    local_table_ddl,
    upgrade,
)
from logcaster.storage.clickhouse.url import StoreURL, parse_store_url
from logcaster.storage.ring import Ring

S = 1_000_000_000
INJECTION = "it's'); DROP TABLE x; --"
FRAGMENTS = [
    b"<13>", b"<191>", b"<0>", b"<192>", b"<013>", b"1 ", b"Dec  1 19:00:00 ",
    b"Jan 12 01:02:03", b"2026-12-01T10:00:00Z ", b"2026-12-01 10:00:00.1+01:00", b"host",
    b"app", b"=", b'"', b"\\", b" ", b"  ", b"\t", b"\x0b", b":", b"[", b"]", b"[12]", b"-",
    b"x", b"tag", b"host=", b"app=", b'"a b"', b"{", b"}", b'{"host":"h1"}', b"\xc3\xa9",
    b"\xff", b"a" * 70, b"web1", b"ERROR", b"user=u1 ",
]  # fmt: skip
lines_strategy = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map(b"".join)
EXTRA = [
    b"<13>Dec  1 19:00:00 hostonly",
    b"<13>Dec  1 19:00:00  double space",
    b"<13>2026-12-01T10:00:00Z web1 tag: rfc3339 stamp",
    b"<13>1 - - - - - - all nil",
    b"x host= empty value",
    b'host="web 1" app="quoted \\"app\\"" user=u1 ERROR',
    b"\x0bhost=vtab app=vt",
    b'{"host":{"name":"nested"},"app":7,"level":"error","facility":"local3"}',
    b'{"host":"web1","facility":4}',
    b'{"host":"web1", bad json',
    b"caf\xc3\xa9 host=web1 app=caf\xc3\xa9",
    b"\xff host=web1",
    f'host="{INJECTION}" app=evil user="{INJECTION}"'.encode(),
    b'<165>1 2026-12-01T19:00:00Z web9 app - - [meta@1 user="u9" k="v"] sd line',
]


def columns(pair: Pair, lines: list[bytes]) -> list[tuple[bytes | None, ...]]:
    from clickhouse_driver import Client

    client = Client("127.0.0.1", port=pair.shards[0].tcp, settings={"strings_as_bytes": True})
    exprs = ", ".join(e("x") for e in (host_expression, app_expression, facility_expression))
    sql = (
        f"SELECT {exprs}, {fuzzy_expression('x')} "
        "FROM (SELECT arrayJoin(arrayMap(h -> unhex(h), %(xs)s)) AS x)"
    )
    return client.execute(sql, {"xs": [x.hex() for x in lines]})  # type: ignore[no-any-return]


def disagreements(pair: Pair, lines: list[bytes]) -> list[tuple[bytes, object, object]]:
    """Lines whose columns are exact (fuzzy = 0) but differ from the engine."""
    out = []
    for line, (host, app, facility, fuzzy) in zip(lines, columns(pair, lines), strict=True):
        got = tuple(
            None if v is None else v.decode("utf-8", "surrogateescape")
            for v in (host, app, facility)
        )
        want = (host_of(line), app_of(line), facility_of(line))
        if not fuzzy and got != want:
            out.append((line, got, want))
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not AVAILABLE:
        pytest.skip("clickhouse-server not installed")
    started = Pair.start(tmp_path_factory.mktemp("clickhouse-fields"))
    yield started
    started.stop()


def test_columns_agree_on_real_senders(pair: Pair) -> None:
    lines = LINES + EXTRA
    assert disagreements(pair, lines) == []
    fuzzy = {line for line, row in zip(lines, columns(pair, lines), strict=True) if row[3]}
    syslog = [x for x in lines if x.startswith(b"<") and x.isascii()]
    assert syslog and not fuzzy & set(syslog)  # syslog lines are decided by ClickHouse
    assert b"\xff host=web1" in fuzzy and LINES[9] in fuzzy  # non-ASCII, JSON: the node


@settings(max_examples=40, deadline=None)
@given(st.lists(lines_strategy, min_size=1, max_size=40))
def test_columns_agree_on_generated_lines(pair: Pair, lines: list[bytes]) -> None:
    assert disagreements(pair, lines) == []


# ------------------------------------------------------------ differential
def corpus() -> list[bytes]:
    rng = random.Random(16)
    made = [b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))) for _ in range(300)]
    return [x for x in LINES + EXTRA + made if x and b"\n" not in x]


@pytest.fixture(scope="module", params=["node", "sql"])
def both(pair: Pair, request: pytest.FixtureRequest) -> tuple[Ring, StoreURL]:
    """The corpus in a ring and in ClickHouse (both shards), line i received at T0 + i s:
    with the columns the node computes (``node``, as the store sends them) or without
    (``sql``: ClickHouse computes them by their DEFAULT expressions)."""
    from clickhouse_driver import Client

    lines = corpus()
    ring = Ring(100_000, 1 << 26, 1 << 20)
    for i, line in enumerate(lines):
        ring.append(line + b"\n", T0 + i * S)
    url = parse_store_url(pair.url(f"difflogs_{request.param}"))
    clients = [Client("127.0.0.1", port=s.tcp) for s in pair.shards]
    for client in clients:
        client.execute(local_table_ddl(url))
    clients[0].execute(distributed_table_ddl(url))
    for n, client in enumerate(clients):
        mine = [(line + b"\n", T0 + i * S) for i, line in enumerate(lines) if i % 2 == n]
        block = encode(mine, b"n", b"b", fields=request.param == "node")
        insert_encoded(client, url.local_table, block)
    return ring, url


def spec_of(*params: tuple[str, str]) -> QuerySpec:
    return build_spec(
        [(k, v, v.split(",") if k in ("level", "keywords") else [v]) for k, v in params], T0
    )


SHAPES: list[tuple[tuple[str, str], ...]] = [
    (("host", "web1"),),
    (("host", "web*"),),
    (("host", "vm"), ("app", "app")),
    (("app", "rcapp"),),
    (("app", "caf*"),),
    (("facility", "user"),),
    (("facility", "local3"),),
    (("facility", "4"),),
    (("host", "web1"), ("level", "ERROR")),
    (("level", "ERROR,WARN"),),
    (("level", "INFO"), ("keywords", "web1")),
    (("field.user", "u1"),),
    (("field.user", "u*"),),
    (("field.req.id", "r-1"),),
    (("field.x@1.a", 'b"q]'),),
    (("field.meta@1.user", "u9"),),
    (("field.msg", "gelf boom"),),
    (("field.severity", "3"),),
    (("host", INJECTION),),
    (("app", INJECTION),),
    (("field.user", INJECTION),),
    (("host", "web1"), ("limit", "2")),
    (("field.user", "u1"), ("limit", "1")),
    (("host", "*"),),
]


def ring_lines(ring: Ring, spec: QuerySpec) -> list[bytes]:
    matches = search(ring.snapshot(), spec)
    if spec.limit is not None:
        matches = matches.keep_newest(spec.limit)
    return [bytes(v.buf[s : e - 1]) for v, sp in matches.ranges for s, e in lines_of(v, sp, False)]


def cluster_lines(url: StoreURL, spec: QuerySpec) -> list[bytes]:
    matches = ClusterReader(url).search(spec)
    out = [bytes(v.buf[s : e - 1]) for v, sp in matches.ranges for s, e in lines_of(v, sp, False)]
    assert matches.count == len(out)
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: " ".join(f"{k}={v}" for k, v in s))
def test_cluster_search_equals_the_ring(both: tuple[Ring, StoreURL], shape: tuple) -> None:
    ring, url = both
    spec = spec_of(*shape)
    want = ring_lines(ring, spec)
    assert cluster_lines(url, spec) == want
    if shape[0][0] in ("host", "app") and shape[0][1] != "*" and INJECTION not in shape[0][1]:
        assert want  # each shape finds something, so equality means something


@pytest.mark.parametrize(
    "field", ["host", "app", "facility", "level", "field.user", "field.req.id"]
)
@pytest.mark.parametrize("shape", [(), (("host", "web*"),), (("level", "ERROR"),)])
def test_cluster_top_and_hits_equal_the_ring(
    both: tuple[Ring, StoreURL], field: str, shape: tuple
) -> None:
    ring, url = both
    spec = spec_of(*shape)
    views = ring.snapshot().views
    want = aggregate.count_values(views, compile_spec(spec), field)
    reader = ClusterReader(url)
    assert reader.values(spec, field) == want
    step = 60 * S
    assert reader.counts(spec, step, field) == aggregate.count_buckets(
        views, compile_spec(spec), step, field
    )


def test_old_tables_get_the_new_columns(server_factory, pair: Pair, tmp_path: Path) -> None:
    """Tables made by the previous version (level the only MATERIALIZED column) get
    host, app, facility and fuzzy when a node starts with --store-init."""
    from clickhouse_driver import Client

    clients = [
        Client("127.0.0.1", port=s.tcp, settings={"strings_as_bytes": True}) for s in pair.shards
    ]
    for n, client in enumerate(clients):
        client.execute(
            "CREATE TABLE old_local (ts UInt64, node String, batch String, seq UInt32, "
            f"line String, level String MATERIALIZED {level_expression()}) "
            "ENGINE = MergeTree() ORDER BY ts"
        )
        client.execute(
            "INSERT INTO old_local (ts, node, batch, seq, line) VALUES",
            [(n, b"n", b"b", 0, b"<13>Dec  1 19:00:00 vm%d app[1]: old" % n)],
        )
    clients[0].execute(
        "CREATE TABLE old AS old_local ENGINE = Distributed(logs, default, old_local)"
    )
    srv = server_factory(
        "--store", pair.url("old"), "--store-init", "--store-batch-ms", "50",
        "--store-spool-dir", str(tmp_path / "spool"),
    )  # fmt: skip
    srv.send(b"<165>1 2026-12-01T19:00:00Z web9 api - - - new\n")
    wait_for(lambda: parse_info(srv.query("INFO"))["StoreRowsSent"] == "1", 30, 0.05, "sent")
    got = clients[0].execute("SELECT host, app, facility, fuzzy FROM old ORDER BY ts")
    assert sorted(got) == [
        (b"vm0", b"app", b"user", 0),
        (b"vm1", b"app", b"user", 0),
        (b"web9", b"api", b"local4", 0),
    ]
    for client, table in (
        (clients[0], "old"),
        (clients[0], "old_local"),
        (clients[1], "old_local"),
    ):
        names = [
            r[0]
            for r in client.execute(
                "SELECT name FROM system.columns WHERE database = 'default' AND table = %(t)s",
                {"t": table},
            )
        ]
        assert names[-5:] == [b"level", b"host", b"app", b"facility", b"fuzzy"], table
    upgrade(clients[1], "default", "old_local")  # a second start adds nothing
    count, lines = parse_found(srv.query("QUERY scope=cluster host=vm1"))
    assert count == 1 and lines[0].endswith(b"vm1 app[1]: old")


def kinds_of(client: object, table: str) -> dict[bytes, bytes]:
    rows = client.execute(  # type: ignore[attr-defined]
        "SELECT name, default_kind FROM system.columns WHERE database = 'default' "
        "AND table = %(t)s",
        {"t": table},
    )
    return dict(rows)


def test_materialized_tables_keep_working_then_migrate(
    server_factory, pair: Pair, tmp_path: Path
) -> None:
    """Tables of the previous version (the five columns MATERIALIZED, computed by
    ClickHouse on every insert) take a node's lines as they are without
    --store-init (the node sends no computed column: no INSERT may name a
    MATERIALIZED one); --store-init makes them DEFAULT columns, the values stored
    so far stay, and the node then sends its own."""
    from clickhouse_driver import Client

    clients = [
        Client("127.0.0.1", port=s.tcp, settings={"strings_as_bytes": True}) for s in pair.shards
    ]
    old = ", ".join(
        f"{n} {d.replace(' DEFAULT ', ' MATERIALIZED ', 1)}" for n, d in computed().items()
    )
    for client in clients:
        client.execute(
            "CREATE TABLE prev_local (ts UInt64, node String, batch String, seq UInt32, "
            f"line String, {old}) ENGINE = MergeTree() ORDER BY ts"
        )
    clients[0].execute(
        "CREATE TABLE prev AS prev_local ENGINE = Distributed(logs, default, prev_local)"
    )
    lines = [b"<13>Dec  1 19:00:00 vm1 app[1]: first", b'{"host":"j1","app":"a1","msg":"second"}']
    spool = str(tmp_path / "spool")
    for n, init in enumerate(([], ["--store-init"])):
        srv = server_factory(
            "--store", pair.url("prev"), *init, "--store-batch-ms", "50",
            "--store-spool-dir", spool,
        )  # fmt: skip
        srv.send(lines[n] + b"\n")
        wait_for(lambda s=srv: parse_info(s.query("INFO"))["StoreRowsSent"] == "1", 30, 0.05, "")
        if not init:
            srv.stop()
    for client, table in (
        (clients[0], "prev"),
        (clients[0], "prev_local"),
        (clients[1], "prev_local"),
    ):
        kinds = kinds_of(client, table)
        assert [kinds[n.encode()] for n in computed()] == [b"DEFAULT"] * 5, table
    got = clients[0].execute("SELECT line, level, host, app, facility, fuzzy FROM prev ORDER BY ts")
    assert got == [
        (lines[0], b"NOTICE", b"vm1", b"app", b"user", 0),  # computed by ClickHouse, kept
        (lines[1], b"", b"j1", b"a1", None, 0),  # sent by the node: JSON decided exactly
    ]
    count, found = parse_found(srv.query("QUERY scope=cluster host=j1"))
    assert count == 1 and found[0].endswith(lines[1])
