"""Limit queries scanned back in windows (``query.newest``), queries without filters
counted from the ring's line numbers, and the cut to the newest ``limit`` lines: each
against the naive reference of ``test_search``, with windows and pieces small enough
that a few lines span many of them."""

from __future__ import annotations

import asyncio
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_search import chunks_st, reference, spec_st

from logcaster.frontends.line.render import render
from logcaster.query import newest as newest_module
from logcaster.query.engine import Engine, search_views
from logcaster.query.matcher import Matcher
from logcaster.query.matches import Matches, whole
from logcaster.query.newest import Cursor, Newest, everything, newest, sub_view
from logcaster.query.pool import WorkerPool
from logcaster.query.postfilter import Scanner
from logcaster.query.spec import QuerySpec
from logcaster.storage.ring import BlockView, Ring

T0 = 1_750_000_000 * 1_000_000_000


def fill(chunks: list[tuple[list[bytes], int, bool]], ring: Ring) -> list[tuple[bytes, int]]:
    model: list[tuple[bytes, int]] = []
    ts = T0
    for lines, delta, _ in chunks:
        ts += delta
        ring.append(b"".join(line + b"\n" for line in lines), ts)
        model.extend((line, ts) for line in lines)
    return model


async def offload(fn: Callable[..., object], *args: object) -> object:
    return fn(*args)


def share(pieces: Sequence[BlockView], matcher: Scanner, stop: threading.Event) -> list[Matches]:
    return [search_views((p,), matcher, stop) for p in pieces]


def limited(views: Sequence[BlockView], qs: QuerySpec) -> Matches:
    assert qs.limit is not None
    found = asyncio.run(newest(views, Matcher(qs), qs.limit, offload, share, search_views))
    return found.keep_newest(qs.limit)


@pytest.fixture
def tiny_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(newest_module, "FIRST_MIN", 16)
    monkeypatch.setattr(newest_module, "FIRST_BYTES_PER_LIMIT", 4)
    monkeypatch.setattr(newest_module, "INLINE_MAX", 40)
    monkeypatch.setattr(newest_module, "PIECE", 32)
    monkeypatch.setattr(newest_module, "FIRST_MAX", 24)  # binds for limits over 6
    monkeypatch.setattr(newest_module, "PIECES", 2)  # windows over 64 bytes: larger pieces


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chunks=chunks_st,
    capacity=st.integers(1, 60),
    block_size=st.integers(256, 2048),
    data=st.data(),
)
def test_windows_find_the_newest_matches(
    tiny_windows: None,
    chunks: list[tuple[list[bytes], int, bool]],
    capacity: int,
    block_size: int,
    data: st.DataObject,
) -> None:
    ring = Ring(capacity, 1 << 20, block_size)
    live = fill(chunks, ring)
    snap = ring.snapshot()
    live = live[snap.dropped :]
    times = sorted({t for _, t in live})
    for qs in data.draw(st.lists(spec_st(times), min_size=1, max_size=4), label="specs"):
        qs = replace(qs, limit=qs.limit or data.draw(st.integers(1, 12), label="limit"))
        expected_count, expected_out = reference(live, qs)
        found = limited(snap.views, qs)
        assert found.count == expected_count, qs
        assert b"".join(render(found, qs)) == expected_out, qs


@settings(max_examples=100, deadline=None)
@given(chunks=chunks_st, capacity=st.integers(1, 60), block_size=st.integers(256, 2048))
def test_a_query_without_filters_counts_every_line(
    chunks: list[tuple[list[bytes], int, bool]], capacity: int, block_size: int
) -> None:
    ring = Ring(capacity, 1 << 20, block_size)
    live = fill(chunks, ring)[ring.dropped :]
    found = whole(ring.snapshot())
    qs = QuerySpec()
    assert everything(qs)
    assert (found.count, b"".join(render(found, qs))) == reference(live, qs)
    for limit in (1, 3, 50):
        qs = QuerySpec(limit=limit, descending=True)
        assert (found.keep_newest(limit).count, b"".join(render(found.keep_newest(limit), qs))) == (
            reference(live, qs)
        )


def test_only_a_spec_without_filters_is_everything() -> None:
    assert everything(QuerySpec(limit=5, descending=True, raw=True))
    for qs in (
        QuerySpec(keywords=(b"a",)),
        QuerySpec(regex="a"),
        QuerySpec(levels=frozenset({"ERROR"})),
        QuerySpec(time_from=1),
        QuerySpec(time_to=1),
    ):
        assert not everything(qs)


def test_windows_are_whole_lines_back_to_the_first() -> None:
    ring = Ring(10_000, 1 << 26, 1024)
    for i in range(40):
        ring.append(b"".join(b"line %d-%d\n" % (i, j) for j in range(5)), T0 + i)
    views = ring.snapshot().views
    cursor = Cursor(views)
    seen: list[bytes] = []
    while not cursor.done:
        pieces = cursor.take(100)
        assert pieces and sum(p.end - p.start for p in pieces) >= 1
        text = b"".join(bytes(p.buf[p.start : p.end]) for p in pieces)
        assert text.endswith(b"\n")
        for p in pieces:  # each piece starts at a line start, within its chunk range
            assert p.start == 0 or p.buf[p.start - 1] == 0x0A
            offs = p.block.chunk_off
            assert offs[p.chunk_lo] <= p.start
            assert p.chunk_hi == len(offs) or offs[p.chunk_hi] >= p.end
        seen[:0] = [text]
    assert b"".join(seen) == b"".join(bytes(v.buf[v.start : v.end]) for v in views)


def test_large_windows_come_in_a_few_large_pieces() -> None:
    """A window of many blocks is cut into about PIECES pieces, not into PIECE-sized
    ones (each a worker hand-off and a sub-view made in Python)."""
    ring = Ring(1_000_000, 1 << 26, 512 << 10)
    line = b"x" * 99 + b"\n"
    for _ in range(80):
        ring.append(line * 1000, T0)  # 100 kB a chunk: 8 MB in 16 blocks
    cursor = Cursor(ring.snapshot().views)
    pieces = cursor.take(4 << 20)
    size = sum(p.end - p.start for p in pieces)
    assert 4 << 20 <= size < (4 << 20) + 2 * len(line)
    assert newest_module.PIECES <= len(pieces) <= newest_module.PIECES + 2
    assert max(p.end - p.start for p in pieces) <= (4 << 20) // newest_module.PIECES + len(line)


def test_the_first_window_is_capped_then_sized_from_what_it_found() -> None:
    ring = Ring(1_000_000, 1 << 26)
    ring.append(b"match\n" * 100_000, T0)
    search = Newest(ring.snapshot().views, 250_000)
    assert search.size == newest_module.FIRST_MAX  # not 250 000 x 512 bytes
    small = Newest(ring.snapshot().views, 10)
    assert small.size == newest_module.FIRST_MIN


def test_sub_view_keeps_receive_times() -> None:
    ring = Ring(10_000, 1 << 26, 1 << 20)
    for i in range(5):
        ring.append(b"a\nb\n", T0 + i)
    view = ring.snapshot().views[0]
    part = sub_view(view, 6, 14)  # from the second line of the second chunk on
    assert (part.chunk_lo, part.chunk_hi) == (1, 4)
    assert part.time_of(6) == T0 + 1 and part.time_of(12) == T0 + 3


def test_one_line_longer_than_a_window_is_taken_whole(tiny_windows: None) -> None:
    ring = Ring(10_000, 1 << 26, 1 << 20)
    ring.append(b"short\n" + b"x" * 500 + b"\nshort\n", T0)
    cursor = Cursor(ring.snapshot().views)
    # the window ends inside the long line: it is taken from its start
    assert [bytes(p.buf[p.start : p.end]) for p in cursor.take(10)] == [b"x" * 500 + b"\nshort\n"]
    assert [bytes(p.buf[p.start : p.end]) for p in cursor.take(3)] == [b"short\n"]
    assert cursor.done


def test_keep_newest_cuts_inside_a_run_of_lines() -> None:
    ring = Ring(10_000, 1 << 26, 1 << 20)
    ring.append(b"".join(b"%d\n" % i for i in range(10)), T0)
    view = ring.snapshot().views[0]
    found = Matches()
    found.add(view, array("q", (0, 6, 8, 20)), 9)  # lines 0-2 and 4-9
    kept = found.keep_newest(7)
    assert kept.count == 7
    assert b"".join(render(kept, QuerySpec(raw=True))) == b"2\n4\n5\n6\n7\n8\n9\n"


def test_engine_limit_search_on_the_pool() -> None:
    async def main() -> tuple[int, bytes]:
        ring = Ring(100_000, 1 << 26, 4096)
        for i in range(300):
            ring.append(b"".join(b"GET %d %d\nPOST %d\n" % (i, j, j) for j in range(10)), T0)
        pool = WorkerPool(2, 8)
        try:
            found = await Engine(ring, pool).search(QuerySpec(keywords=(b"GET",), limit=1500))
        finally:
            pool.shutdown()
        return found.count, b"".join(render(found, QuerySpec(raw=True)))

    count, out = asyncio.run(main())
    assert count == 1500 and out.count(b"\n") == 1500
    assert out.startswith(b"GET 150 0\n") and out.endswith(b"GET 299 9\n")


def test_engine_limit_search_shared_out_on_the_pool(tiny_windows: None) -> None:
    """Windows past INLINE_MAX run in one worker job that shares their pieces out."""
    ring = Ring(100_000, 1 << 26, 512)
    live: list[tuple[bytes, int]] = []
    for i in range(200):
        lines = [b"%s %d %d" % (b"GET" if (i * 7 + j) % 5 else b"POST", i, j) for j in range(6)]
        ring.append(b"".join(line + b"\n" for line in lines), T0 + i)
        live.extend((line, T0 + i) for line in lines)
    specs = [
        QuerySpec(keywords=(b"GET",), limit=limit, raw=True) for limit in (1, 7, 150, 5000)
    ] + [
        QuerySpec(keywords=(b"POST",), limit=90, descending=True),
        QuerySpec(regex="^POST 1", limit=3),
    ]

    async def main() -> list[tuple[int, bytes]]:
        pool = WorkerPool(3, 8)
        try:
            engine = Engine(ring, pool)
            return [
                (found.count, b"".join(render(found, qs)))
                for qs in specs
                for found in [await engine.search(qs)]
            ]
        finally:
            pool.shutdown()

    assert asyncio.run(main()) == [reference(live, qs) for qs in specs]
