"""Ring properties: counters, order, byte bound, snapshot stability, block recycling."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcaster.storage import ring as ring_mod
from logcaster.storage.factory import BlockFactory
from logcaster.storage.ring import Ring, Snapshot


def snapshot_lines(snap: Snapshot) -> list[bytes]:
    data = b"".join(bytes(v.buf[v.start : v.end]) for v in snap)
    assert data == b"" or data.endswith(b"\n")
    return data.split(b"\n")[:-1]


def snapshot_times(snap: Snapshot) -> list[int]:
    """Receive time of every line, via both BlockView.time_of and chunk_spans."""
    times = []
    for view in snap:
        spans = list(view.chunk_spans())
        assert spans[0][0] == view.start and spans[-1][1] == view.end
        for (s, e, ts), nxt in zip(spans, [*spans[1:], None], strict=True):
            assert nxt is None or nxt[0] == e
            pos = s
            while pos < e:
                assert view.time_of(pos) == ts
                times.append(ts)
                pos = view.buf.index(b"\n", pos, e) + 1
    return times


# A framed line: non-empty, no newline, not ending in \r (LineFramer's output).
line_st = (
    st.binary(min_size=1, max_size=12)
    .map(lambda b: b.replace(b"\n", b"_"))
    .filter(lambda b: not b.endswith(b"\r"))
)
ops_st = st.lists(
    st.one_of(
        st.lists(line_st, min_size=1, max_size=6),  # one append (a read's worth of lines)
        st.just("snapshot"),
    ),
    min_size=1,
    max_size=60,
)


@given(
    ops=ops_st,
    capacity=st.integers(1, 12),
    max_bytes=st.integers(1, 120),
    block_size=st.integers(1, 48),
    pass_count=st.booleans(),
)
def test_ring_properties(
    ops: list, capacity: int, max_bytes: int, block_size: int, pass_count: bool
) -> None:
    ring = Ring(capacity, max_bytes, block_size=block_size)
    appended: list[bytes] = []
    stamps: list[int] = []
    held: list[tuple[Snapshot, list[bytes]]] = []
    for ts, op in enumerate(ops):
        if op == "snapshot":
            snap = ring.snapshot()
            held.append((snap, snapshot_lines(snap)))
            continue
        data = b"".join(line + b"\n" for line in op)
        n = ring.append(data, ts, len(op) if pass_count else None)
        assert n == len(op)
        appended += op
        stamps += [ts] * len(op)

        assert ring.total == len(appended)
        assert ring.total == ring.current + ring.dropped
        assert 1 <= ring.current <= capacity
        assert ring.held_bytes <= max(max_bytes, len(data))
        snap = ring.snapshot()
        assert (snap.total, snap.dropped, snap.current) == (ring.total, ring.dropped, ring.current)
        lines = snapshot_lines(snap)
        assert lines == appended[ring.dropped :]
        assert len(lines) == ring.current
        assert sum(v.end - v.start for v in snap) <= ring.held_bytes
        assert snapshot_times(snap) == stamps[ring.dropped :]
        # The views kept from the last snapshot are the ones a rebuild gives.
        ring._last = None
        assert ring.snapshot() == snap
        # Older snapshots still read exactly what they read when taken.
        for old, expected in held:
            assert snapshot_lines(old) == expected


@given(
    appends=st.lists(st.lists(line_st, min_size=1, max_size=6), min_size=1, max_size=60),
    capacity=st.integers(1, 12),
    block_size=st.integers(1, 48),
)
def test_line_eviction_is_exact_without_byte_pressure(
    appends: list[list[bytes]], capacity: int, block_size: int
) -> None:
    ring = Ring(capacity, 1 << 30, block_size=block_size)
    appended: list[bytes] = []
    for op in appends:
        ring.append(b"".join(line + b"\n" for line in op), 0, len(op))
        appended += op
        assert ring.dropped == max(0, len(appended) - capacity)
        assert ring.current == min(len(appended), capacity)
        assert snapshot_lines(ring.snapshot()) == appended[-capacity:]


def test_byte_limit_evicts_oldest() -> None:
    ring = Ring(capacity=1000, max_bytes=40, block_size=16)
    for i in range(100):
        ring.append(b"line-%03d\n" % i, i, 1)  # 9 bytes a line
        assert ring.held_bytes <= 40
    lines = snapshot_lines(ring.snapshot())
    assert lines == [b"line-%03d" % i for i in range(100 - len(lines), 100)]
    assert 1 <= len(lines) <= 4
    assert ring.total == 100 and ring.dropped == 100 - len(lines)


def test_chunk_larger_than_byte_limit_is_kept_alone() -> None:
    ring = Ring(capacity=1000, max_bytes=10, block_size=8)
    ring.append(b"a\nb\n", 1)
    ring.append(b"0123456789abcdef\n", 2)
    assert snapshot_lines(ring.snapshot()) == [b"0123456789abcdef"]
    assert (ring.total, ring.dropped, ring.current) == (3, 2, 1)


def test_empty_append_is_a_no_op() -> None:
    ring = Ring(5, 100)
    assert ring.append(b"", 0) == 0
    assert (ring.total, ring.current) == (0, 0)
    assert snapshot_lines(ring.snapshot()) == []


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        Ring(0, 100)
    with pytest.raises(ValueError):
        Ring(10, 0)


class CountingBlock(ring_mod.Block):
    __slots__ = ()
    created = 0

    def __init__(self, size: int) -> None:
        super().__init__(size)
        CountingBlock.created += 1


def test_blocks_recycled_only_when_no_snapshot_holds_them(monkeypatch) -> None:
    monkeypatch.setattr(ring_mod, "Block", CountingBlock)
    CountingBlock.created = 0
    ring = Ring(capacity=2, max_bytes=1 << 20, block_size=8)  # two 4-byte lines a block
    for i in range(2):
        ring.append(b"L%02d\n" % i, i, 1)
    snap = ring.snapshot()  # holds the first block; no other reference is kept
    assert snapshot_lines(snap) == [b"L00", b"L01"]

    for i in range(2, 200):
        ring.append(b"L%02d\n" % (i % 100), i, 1)
    # The first block was evicted long ago, yet the snapshot reads the same bytes:
    # the block was neither reset nor reused.
    assert snapshot_lines(snap) == [b"L00", b"L01"]
    assert all(b is not snap.views[0].block for b in ring._blocks)
    assert all(b is not snap.views[0].block for b in ring._spare)
    # ...while blocks no snapshot holds were recycled (not one new block per 8 bytes).
    assert CountingBlock.created <= 5

    # Take snapshots of every block while appending: nothing they hold is reused.
    snaps = []
    for i in range(200, 260):
        ring.append(b"M%02d\n" % (i % 100), i, 1)
        snaps.append((ring.snapshot(), snapshot_lines(ring.snapshot())))
    for s, expected in snaps:
        assert snapshot_lines(s) == expected
    assert CountingBlock.created >= 25  # held blocks could not be recycled
    del s, snaps
    before = CountingBlock.created
    for i in range(260, 400):
        ring.append(b"N%02d\n" % (i % 100), i, 1)
    assert CountingBlock.created - before <= 3  # released snapshots: recycling resumes


def test_ring_with_block_factory() -> None:
    ring = Ring(capacity=30, max_bytes=1 << 20, block_size=64, factory=BlockFactory(64))
    appended = []
    for i in range(500):
        line = b"f%05d" % i
        ring.append(line + b"\n", i, 1)
        appended.append(line)
        if i % 50 == 0:
            snap = ring.snapshot()
            held = snapshot_lines(snap)
    assert snapshot_lines(ring.snapshot()) == appended[-30:]
    assert snapshot_lines(snap) == held


def test_snapshots_are_consistent_under_a_concurrent_writer() -> None:
    ring = Ring(capacity=50, max_bytes=4000, block_size=64)
    total = 30_000
    done = threading.Event()

    def writer() -> None:
        i = 0
        while i < total:
            n = 1 + i % 3
            ring.append(b"".join(b"%08d\n" % (i + k) for k in range(n)), i, n)
            i += n
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    checked = []
    try:
        while not done.is_set() or not checked:
            snap = ring.snapshot()
            lines = snapshot_lines(snap)
            assert len(lines) == snap.current
            assert [int(x) for x in lines] == list(range(snap.dropped, snap.total))
            checked.append((snap, lines))
    finally:
        thread.join()
    for snap, lines in checked[-200:]:
        assert snapshot_lines(snap) == lines


def test_lines_ending_in_cr_are_counted_across_blocks() -> None:
    ring = Ring(capacity=100, max_bytes=1 << 20, block_size=10)
    counts = [ring.append(b"a\r\nb\r\n", 0) for _ in range(3)]
    assert counts == [2, 2, 2]
    assert ring.total == 6
    assert snapshot_lines(ring.snapshot()) == [b"a\r", b"b\r"] * 3


@given(ops=st.lists(st.lists(line_st, min_size=1, max_size=6), min_size=1, max_size=40))
def test_append_into_views_are_the_appended_lines_and_stay(ops: list[list[bytes]]) -> None:
    """``into`` gets views of exactly the appended bytes, and they keep those bytes
    however much is appended and evicted after (their blocks are not reused)."""
    ring = Ring(capacity=3, max_bytes=40, block_size=16)
    kept = []
    for lines in ops:
        data = b"".join(x + b"\n" for x in lines)
        views: list[memoryview] = []
        assert ring.append(data, 0, len(lines), views) == len(lines)
        assert 1 <= len(views) <= len(lines) + 1 and all(v.readonly for v in views)
        assert b"".join(views) == data
        kept.append((views, data))
    for views, data in kept:
        assert b"".join(views) == data


def test_blocks_recycled_only_when_no_view_holds_them() -> None:
    ring = Ring(capacity=2, max_bytes=1 << 20, block_size=8)
    views: list[memoryview] = []
    ring.append(b"A00\nA01\n", 0, 2, views)
    held = views[0].obj
    for i in range(2, 100):
        ring.append(b"L%02d\n" % i, i, 1)
    assert bytes(views[0]) == b"A00\nA01\n"
    assert all(b.buf is not held for b in [*ring._blocks, *ring._spare])
    del views
    for i in range(100, 200):  # recycling goes on once the view is gone
        ring.append(b"L%02d\n" % (i % 100), i, 1)
    assert len(ring._spare) + len(ring._blocks) <= 4


def test_a_large_append_fills_standard_blocks_cut_at_line_ends() -> None:
    """Lines larger than a block go into blocks of the usual size (reused, made ahead
    by the factory), not into one block of their own; only a line longer than a block
    gets a block its size."""
    ring = Ring(capacity=1000, max_bytes=1 << 20, block_size=16)
    ring.append(b"abcdefghij\n", 0)  # 5 bytes left in the first block
    data = b"".join(b"%05d\n" % i for i in range(10))  # 60 bytes: two lines a block
    views: list[memoryview] = []
    assert ring.append(data, 1, 10, views) == 10
    assert [len(b.buf) for b in ring._blocks] == [16] * 6
    assert [bytes(v) for v in views] == [data[i : i + 12] for i in range(0, 60, 12)]
    assert ring.append(b"x" * 40 + b"\nyy\n", 2) == 2  # a line longer than a block
    assert [len(b.buf) for b in ring._blocks][-1] == 44
    lines = snapshot_lines(ring.snapshot())
    assert lines == [b"abcdefghij", *(b"%05d" % i for i in range(10)), b"x" * 40, b"yy"]
    assert snapshot_times(ring.snapshot()) == [0] + [1] * 10 + [2, 2]
