"""Aggregations (``logcaster.query.aggregate``, ``Engine.hits``/``Engine.top``) against a
naive per-line reference, over rings whose lines cross chunks and blocks, and the line
port's HITS/TOP replies (always framed, or one ERROR line)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcaster.frontends.line.handler import LineHandler
from logcaster.pipeline.taps import LiveTaps
from logcaster.query import aggregate
from logcaster.query.aggregate import NONE, Bucket, count_buckets, count_values, histogram, top
from logcaster.query.engine import Engine, split_views
from logcaster.query.errors import QueryError
from logcaster.query.levels import level_of
from logcaster.query.matcher import Matcher
from logcaster.query.pool import WorkerPool
from logcaster.query.regions import bucket_regions, time_regions
from logcaster.query.spec import QuerySpec
from logcaster.stats import Registry
from logcaster.storage.ring import Ring

S = 1_000_000_000
M = 60 * S
T0 = 1_796_000_040 * S  # a receive time (ns), a whole minute


def ring_of(chunks: list[tuple[int, list[bytes]]], block_size: int = 1 << 20) -> Ring:
    ring = Ring(100_000, 1 << 26, block_size)
    for ts, lines in chunks:
        ring.append(b"".join(line + b"\n" for line in lines), ts)
    return ring


def reference_lines(
    chunks: list[tuple[int, list[bytes]]], spec: QuerySpec
) -> list[tuple[int, bytes]]:
    """(receive time, line) of every line the spec selects, checked one line at a time."""
    out = []
    for ts, lines in chunks:
        for line in lines:
            if spec.time_from is not None and ts < spec.time_from:
                continue
            if spec.time_to is not None and ts > spec.time_to:
                continue
            if spec.keywords and not (any if spec.any_keyword else all)(
                k in line for k in spec.keywords
            ):
                continue
            if spec.levels and level_of(line) not in spec.levels:
                continue
            out.append((ts, line))
    return out


def hist_of(ring: Ring, spec: QuerySpec, step: int, by: str | None = None, parts: int = 3):
    matcher = Matcher(spec)
    views = ring.snapshot().views
    counted = [count_buckets(p, matcher, step, by) for p in split_views(views, parts)]
    return histogram(spec, step, by, counted)


def reference_hist(
    picked: list[tuple[int, bytes]], spec: QuerySpec, step: int, by: str | None
) -> tuple[Bucket, ...]:
    counts: Counter[int] = Counter(ts // step for ts, _ in picked)
    values: dict[int, Counter[str]] = {}
    for ts, line in picked:
        values.setdefault(ts // step, Counter())[level_of(line) or NONE] += 1
    first = spec.time_from // step if spec.time_from is not None else min(counts, default=None)
    last = spec.time_to // step if spec.time_to is not None else max(counts, default=None)
    if first is None or last is None:
        return ()
    order = aggregate.SEVERITY
    return tuple(
        Bucket(
            b * step,
            counts[b],
            tuple(sorted(values.get(b, Counter()).items(), key=lambda kv: order.index(kv[0])))
            if by
            else (),
        )
        for b in range(first, last + 1)
    )


SAMPLE = [
    (T0 + 5 * S, [b"INFO boot ok", b"ERROR disk full", b"plain line"]),
    (T0 + 70 * S, [b"WARN slow disk", b"[error] disk again"]),
    (T0 + 200 * S, [b"level=info done", b"ERROR disk full again"]),
]


# ------------------------------------------------------------------ examples
def test_hits_per_minute_with_empty_buckets_oldest_first() -> None:
    hist = hist_of(ring_of(SAMPLE), QuerySpec(), M)
    assert [(b.start, b.count) for b in hist.buckets] == [
        (T0, 3),
        (T0 + M, 2),
        (T0 + 2 * M, 0),  # empty buckets between matches are listed
        (T0 + 3 * M, 2),
    ]
    assert all(b.values == () for b in hist.buckets)


def test_hits_by_level_most_severe_first_and_sums_to_count() -> None:
    hist = hist_of(ring_of(SAMPLE), QuerySpec(keywords=(b"disk",)), M, "level")
    assert [(b.count, b.values) for b in hist.buckets] == [
        (1, (("ERROR", 1),)),
        (2, (("ERROR", 1), ("WARN", 1))),
        (0, ()),
        (1, (("ERROR", 1),)),
    ]


def test_hits_range_follows_time_bounds_when_given() -> None:
    spec = QuerySpec(time_from=T0 - 2 * M + 1, time_to=T0 + 5 * M)
    hist = hist_of(ring_of(SAMPLE), spec, M)
    assert [b.start for b in hist.buckets] == [T0 + i * M for i in range(-2, 6)]
    assert [b.count for b in hist.buckets] == [0, 0, 3, 2, 0, 2, 0, 0]


def test_hits_no_match_open_range_is_empty_closed_range_all_zero() -> None:
    ring = ring_of(SAMPLE)
    assert hist_of(ring, QuerySpec(keywords=(b"absent",)), M).buckets == ()
    closed = QuerySpec(keywords=(b"absent",), time_from=T0, time_to=T0 + 2 * M)
    assert [b.count for b in hist_of(ring, closed, M).buckets] == [0, 0, 0]


def test_hits_single_level_filter_needs_no_per_line_work() -> None:
    spec = QuerySpec(levels=frozenset({"ERROR"}))
    hist = hist_of(ring_of(SAMPLE), spec, M, "level")
    assert [b.values for b in hist.buckets] == [
        (("ERROR", 1),),
        (("ERROR", 1),),
        (),
        (("ERROR", 1),),
    ]


def test_extreme_steps_and_times_give_buckets_not_overflow() -> None:
    assert aggregate.parse_step("36500d") == aggregate.MAX_STEP
    ring = ring_of(SAMPLE)
    spec = QuerySpec(time_from=-(10**20), time_to=10**20)  # the widest times parse_time gives
    hist = hist_of(ring, spec, aggregate.MAX_STEP)
    assert sum(b.count for b in hist.buckets) == 7 and len(hist.buckets) == 64


def test_too_many_buckets_is_an_error() -> None:
    with pytest.raises(QueryError, match="buckets"):
        aggregate.check_range(QuerySpec(time_from=0, time_to=T0), S)
    far = [(T0, [b"a"]), (T0 + 200_000 * S, [b"b"])]
    with pytest.raises(QueryError, match="use a larger step"):
        hist_of(ring_of(far), QuerySpec(), S)
    assert len(hist_of(ring_of(far), QuerySpec(), M).buckets) == 3334


def test_top_levels_most_frequent_first_ties_by_value() -> None:
    ring = ring_of(SAMPLE)
    counted = [
        count_values(p, Matcher(QuerySpec()), "level")
        for p in split_views(ring.snapshot().views, 2)
    ]
    result = top("level", 10, counted)
    assert result.values == (("ERROR", 3), ("INFO", 2), ("NONE", 1), ("WARN", 1))
    assert result.matched == 7
    assert top("level", 2, counted).values == (("ERROR", 3), ("INFO", 2))


@pytest.mark.parametrize(
    ("text", "ns"),
    [("1s", S), ("10s", 10 * S), ("5m", 5 * M), ("1h", 3600 * S), ("2d", 2 * 86400 * S), ("1M", M)],
)
def test_parse_step(text: str, ns: int) -> None:
    assert aggregate.parse_step(text) == ns


@pytest.mark.parametrize(
    "text",
    ["", "0m", "1", "m", "1.5m", "-1m", "1w", "1 m", "01m", "9999999999s", "36501d", "999999999d"],
)
def test_parse_step_rejects(text: str) -> None:
    with pytest.raises(QueryError, match="Invalid step"):
        aggregate.parse_step(text)


# ------------------------------------------------------------------ regions
def test_bucket_regions_cover_exactly_the_selected_chunks() -> None:
    chunks = [(T0 + i * 7 * S, [b"line %d" % i]) for i in range(40)]
    ring = ring_of(chunks, block_size=64)
    spec = QuerySpec(time_from=T0 + 30 * S, time_to=T0 + 200 * S)
    got = []
    for view in ring.snapshot().views:
        for s, e, bucket in bucket_regions(view, spec, M):
            for line in bytes(view.buf[s:e]).splitlines():
                got.append((bucket, line))
    expected = [
        (ts // M, line)
        for ts, lines in chunks
        for line in lines
        if spec.time_from <= ts <= spec.time_to
    ]
    assert got == expected
    plain = [
        line
        for view in ring.snapshot().views
        for s, e in time_regions(view, spec)
        for line in bytes(view.buf[s:e]).splitlines()
    ]
    assert plain == [line for _, line in expected]


def test_bucket_regions_do_not_pin_the_blocks_columns() -> None:
    ring = ring_of([(T0 + i * S, [b"x %d" % i]) for i in range(10)])
    view = ring.snapshot().views[0]
    assert len(bucket_regions(view, QuerySpec(time_to=T0 + 5 * S), S)) == 6
    regions = bucket_regions(view, QuerySpec(time_to=T0 + 5 * S), S)
    ring.append(b"more\n", T0 + 11 * S)  # no BufferError: the columns can still grow
    assert ring.total == 11 and regions[0] == (view.start, view.start + 4, T0 // S)


# ------------------------------------------------------------------ against the reference
WORDS = [b"disk", b"net", b"ok", b"ERROR", b"WARN", b"INFO", b"[debug]", b"level=fatal", b"\xff"]
line_st = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(b" ".join)
chunks_st = st.lists(
    st.tuples(st.integers(0, 600), st.lists(line_st, min_size=1, max_size=6)),
    min_size=1,
    max_size=25,
)


@given(
    chunks=chunks_st,
    block_size=st.sampled_from([48, 128, 1 << 20]),
    step=st.sampled_from([S, 7 * S, M, 5 * M]),
    keywords=st.lists(st.sampled_from([b"disk", b"net", b"\xff"]), max_size=2).map(tuple),
    any_keyword=st.booleans(),
    levels=st.sets(st.sampled_from(["ERROR", "WARN", "INFO", "FATAL"]), max_size=2).map(frozenset),
    time_from=st.none() | st.integers(-60, 600),
    time_to=st.none() | st.integers(0, 700),
    by=st.none() | st.just("level"),
    parts=st.integers(1, 4),
)
def test_hits_and_top_match_reference(
    chunks, block_size, step, keywords, any_keyword, levels, time_from, time_to, by, parts
) -> None:
    # Receive times in any order: a clock stepped back must not confuse the buckets.
    timed = [(T0 + dt * S, lines) for dt, lines in chunks]
    ring = ring_of(timed, block_size)
    spec = QuerySpec(
        keywords=keywords,
        any_keyword=any_keyword,
        levels=levels,
        time_from=None if time_from is None else T0 + time_from * S,
        time_to=None if time_to is None else T0 + time_to * S,
    )
    picked = reference_lines(timed, spec)
    hist = hist_of(ring, spec, step, by, parts)
    assert hist.buckets == reference_hist(picked, spec, step, by)
    views = ring.snapshot().views
    counted = [count_values(p, Matcher(spec), "level") for p in split_views(views, parts)]
    expected = Counter(level_of(line) or NONE for _, line in picked)
    assert top("level", 100, counted).values == tuple(
        sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    )


# ------------------------------------------------------------------ through the engine
def test_engine_hits_and_top_on_the_worker_pool() -> None:
    async def main() -> None:
        ring = ring_of(SAMPLE, block_size=40)
        pool = WorkerPool(3, 8)
        try:
            engine = Engine(ring, pool)
            hist = await engine.hits(QuerySpec(), M, "level")
            assert [b.count for b in hist.buckets] == [3, 2, 0, 2]
            assert sum(n for b in hist.buckets for _, n in b.values) == 7
            result = await engine.top(QuerySpec(keywords=(b"disk",)), "level", 1)
            assert result.values == (("ERROR", 3),) and result.matched == 4
            with pytest.raises(QueryError, match="Invalid regex"):
                await engine.top(replace(QuerySpec(), regex="("), "level", 3)
            with pytest.raises(QueryError, match="buckets"):
                await engine.hits(QuerySpec(time_from=0, time_to=T0), S)
        finally:
            pool.shutdown()

    asyncio.run(main())


# ------------------------------------------------------------------ the line port's replies
_piece = st.sampled_from(
    [
        "step=1s",
        "step=1m",
        "step=36500d",
        "step=0s",
        "by=level",
        "by=host",
        "limit=2",
        "limit=0",
        "order=desc",
        "keywords=disk",
        "keywords=",
        "level=ERROR",
        "level=error,warn",
        "regex=(",
        "regex=d.sk",
        "time_from=-99999999999",
        "time_to=99999999999",
        "time_from=1796000040",
        "time_to=1796000300",
        "scope=all",
        'keywords="a b"',
        "keyword=disk full",
        "stray",
    ]
)


@given(
    st.sampled_from(["HITS", "TOP level", "TOP", "QUERY"]),
    st.lists(_piece, max_size=5),
)
def test_every_aggregation_line_gets_a_framed_reply_or_one_error(
    verb: str, pieces: list[str]
) -> None:
    line = " ".join([verb, *pieces]).encode()

    async def main() -> bytes:
        pool = WorkerPool(2, 4)
        try:
            ring = ring_of(SAMPLE, block_size=64)
            handler = LineHandler(Engine(ring, pool), ring, LiveTaps(), Registry(), lambda: 0)
            return b"".join([chunk async for chunk in handler.execute(line)])
        finally:
            pool.shutdown()

    reply = asyncio.run(main())
    head, _, body = reply.partition(b"\n")
    if head.startswith(b"ERROR: "):
        assert body == b"" and b"Internal" not in head, reply
        return
    m = re.fullmatch(rb"(HITS|TOP|FOUND): (\d+)(?: matches)?", head)
    assert m, reply[:200]
    assert body.count(b"\n") == int(m.group(2)) and (body == b"" or body.endswith(b"\n"))
