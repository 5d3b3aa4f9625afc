"""The search engine (``logcaster.search``) against the series' examples and a naive reference."""

from __future__ import annotations

import re
import threading
import time
from array import array
from datetime import datetime

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st
from support import SERIES

from logcaster.frontends.line.grammar import Query, parse_command
from logcaster.frontends.line.render import render, render_raw, render_stamped
from logcaster.query.engine import search, search_views, split_views
from logcaster.query.errors import QueryError
from logcaster.query.levels import level_of
from logcaster.query.matcher import Matcher
from logcaster.query.matches import Matches, tail
from logcaster.query.spec import QuerySpec
from logcaster.storage.ring import Ring, Snapshot

S = 1_000_000_000
T0 = 1_750_000_000 * S + 123  # a receive time (ns)


def ring_of(lines: list[bytes], ts: int = T0, block_size: int = 1 << 20) -> Ring:
    ring = Ring(10_000, 1 << 26, block_size)
    ring.append(b"".join(line + b"\n" for line in lines), ts)
    return ring


def spec(params: str) -> QuerySpec:
    command = parse_command(params.encode(), T0)
    assert isinstance(command, Query), command
    return command.spec


def run(snapshot: Snapshot, qs: QuerySpec) -> tuple[int, bytes]:
    """What the query port does: search, keep the newest ``limit``, render."""
    found = search(snapshot, qs)
    if qs.limit is not None:
        found = found.keep_newest(qs.limit)
    return found.count, b"".join(render(found, qs))


def stamp_ref(ts_ns: int) -> bytes:
    return datetime.fromtimestamp(ts_ns // S).strftime("[%Y-%m-%d %H:%M:%S] ").encode()


# ------------------------------------------------------------------ the series' examples
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("QUERY keywords=timeout", [2, 3]),
        ("QUERY regex=user_id=[0-9]+", [3]),
        ("QUERY keywords=Failed,timeout operator=AND", [3]),
        ("QUERY keywords=startup,failure operator=OR", [0, 5]),
        ("QUERY regex=deprecate keywords=WARNING", [2]),
        ("QUERY", [0, 1, 2, 3, 4, 5]),
        ("QUERY level=ERROR", [3, 5]),
        ("QUERY level=warn", [2]),
        ("QUERY level=info,debug", [0, 1, 4]),
        ("QUERY keywords=timeout,Failed operator=or", [2, 3]),
        ("QUERY regex=(?i)USER", [3, 4]),
        ("QUERY regex=USER", []),
        ("QUERY keywords=user", [3]),  # keywords are case-sensitive
        ("QUERY level=ERROR limit=1", [5]),
        ("QUERY keywords=in limit=2", [4, 5]),
        ("QUERY keywords=o order=desc limit=3", [5, 4, 3]),
    ],
)
def test_series_examples(params: str, expected: list[int]) -> None:
    snap = ring_of(SERIES).snapshot()
    qs = spec(params)
    count, out = run(snap, qs)
    assert count == len(expected)
    assert out == b"".join(stamp_ref(T0) + SERIES[i] + b"\n" for i in expected)


def test_seed_form_renders_raw_lines() -> None:
    snap = ring_of(SERIES).snapshot()
    qs = spec("QUERY keyword=reason: timeout")
    assert qs.raw
    count, out = run(snap, qs)
    assert count == 1 and out == SERIES[3] + b"\n"


def test_seed_form_keyword_with_spaces_is_one_literal() -> None:
    snap = ring_of(SERIES).snapshot()
    assert run(snap, spec("QUERY keyword=User logged in"))[0] == 1
    assert run(snap, spec("QUERY keyword=logged User"))[0] == 0


# ------------------------------------------------------------------ rendering
def test_raw_and_stamped_rendering_across_chunks_and_blocks() -> None:
    ring = Ring(1000, 1 << 20, 64)
    expected_raw, expected_stamped = [], []
    for i in range(40):
        line = b"line %02d payload" % i
        ts = T0 + i * 3 * S
        ring.append(line + b"\n", ts)
        expected_raw.append(line + b"\n")
        expected_stamped.append(stamp_ref(ts) + line + b"\n")
    found = search(ring.snapshot(), QuerySpec(keywords=(b"line",)))
    assert found.count == 40
    assert b"".join(render_raw(found)) == b"".join(expected_raw)
    assert b"".join(render_stamped(found)) == b"".join(expected_stamped)
    assert b"".join(render_stamped(found, descending=True)) == b"".join(reversed(expected_stamped))
    # small render chunks still cut at line boundaries
    chunks = list(render_stamped(found, chunk=50))
    assert len(chunks) > 1 and all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks) == b"".join(expected_stamped)
    # reused buffers: each chunk is read before the next but one is rendered
    for descending in (False, True):
        want = expected_stamped[::-1] if descending else expected_stamped
        views = [bytes(c) for c in render_stamped(found, descending, 50, b"HEAD\n", True)]
        assert len(views) > 1 and all(v.endswith(b"\n") for v in views)
        assert b"".join(views) == b"HEAD\n" + b"".join(want)


def test_stamped_lines_longer_than_a_render_buffer() -> None:
    lines = [b"short", b"L" * 300, b"mid line", b"M" * 120]
    found = search(ring_of(lines).snapshot(), QuerySpec())
    for descending in (False, True):
        want = b"".join(stamp_ref(T0) + x + b"\n" for x in lines[:: -1 if descending else 1])
        for reuse in (False, True):
            chunks = [bytes(c) for c in render_stamped(found, descending, 64, b"", reuse)]
            assert b"".join(chunks) == want
            assert all(c.endswith(b"\n") for c in chunks)
    for reuse in (False, True):
        chunks = [bytes(c) for c in render_raw(found, b"H\n", 64, reuse)]
        assert b"".join(chunks) == b"H\n" + b"".join(x + b"\n" for x in lines)
        assert all(c.endswith(b"\n") for c in chunks)


def test_stamp_format() -> None:
    found = search(ring_of([b"x"]).snapshot(), QuerySpec())
    out = b"".join(render_stamped(found))
    assert re.fullmatch(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] x\n", out)


def test_invalid_utf8_rendered_with_replacement_char() -> None:
    lines = [b"bad \xff byte", b"cut \xe2\x82", b"good caf\xc3\xa9"]
    snap = ring_of(lines).snapshot()
    raw = b"".join(render(search(snap, QuerySpec(raw=True, keywords=(b" ",))), QuerySpec(raw=True)))
    assert raw == "bad \ufffd byte\ncut \ufffd\ngood caf\u00e9\n".encode()
    stamped = b"".join(render_stamped(search(snap, QuerySpec())))
    assert stamped == (
        stamp_ref(T0)
        + "bad \ufffd byte\n".encode()
        + stamp_ref(T0)
        + "cut \ufffd\n".encode()
        + stamp_ref(T0)
        + "good caf\u00e9\n".encode()
    )
    raw.decode("utf-8")
    stamped.decode("utf-8")


def test_keyword_matches_invalid_utf8_bytes_and() -> None:
    snap = ring_of([b"bad \xff byte", b"fine"]).snapshot()
    assert search(snap, QuerySpec(keywords=(b"\xff",))).count == 1
    assert search(snap, QuerySpec(keywords=(b"\xff", b"bad"))).count == 1


def test_or_keywords_with_invalid_utf8_bytes() -> None:
    snap = ring_of([b"bad \xff byte", b"fine", b"other"]).snapshot()
    assert search(snap, QuerySpec(keywords=(b"\xff", b"other"), any_keyword=True)).count == 2


# ------------------------------------------------------------------ regex details
def test_invalid_regex_is_a_query_error() -> None:
    with pytest.raises(QueryError, match=r"^Invalid regex pattern: "):
        Matcher(QuerySpec(regex="("))
    with pytest.raises(QueryError, match=r"^Invalid regex pattern: "):
        Matcher(QuerySpec(regex="a{2,1}"))


def test_invalid_regex_message_shows_users_pattern() -> None:
    with pytest.raises(QueryError) as info:
        Matcher(QuerySpec(regex="("))
    assert "(?m)" not in str(info.value)


def test_regex_is_per_line_with_anchors() -> None:
    snap = ring_of([b"abc", b"xc", b"yyc", b"zzz", b"abc"]).snapshot()
    assert search(snap, QuerySpec(regex="^a")).count == 2
    assert search(snap, QuerySpec(regex="c$")).count == 4
    assert search(snap, QuerySpec(regex="c\\nx")).count == 0  # never spans lines
    assert search(snap, QuerySpec(regex="(?s)c.x")).count == 0


def test_text_anchors_are_per_line() -> None:
    snap = ring_of([b"abc", b"xc", b"yyc", b"zzz", b"abc"]).snapshot()
    # With a keyword present the regex runs per line: both 'abc' lines match.
    assert search(snap, QuerySpec(regex="\\Aab", keywords=(b"b",))).count == 2
    assert search(snap, QuerySpec(regex="\\Aab")).count == 2
    assert search(snap, QuerySpec(regex="c\\z")).count == 4


def test_any_byte_escape_never_spans_lines() -> None:
    snap = ring_of([b"xa", b"bx", b"qq"]).snapshot()
    assert search(snap, QuerySpec(regex="a\\Cb")).count == 0  # no single line holds a?b


def test_catastrophic_regex_is_linear() -> None:
    line = b"a" * 10_000 + b"b\n"
    ring = Ring(10_000, 1 << 26)
    for _ in range(10):
        ring.append(line * 100, T0)
    snap = ring.snapshot()
    assert snap.current == 1000
    started = time.perf_counter()
    found = search(snap, QuerySpec(regex="(a+)+$"))
    elapsed = time.perf_counter() - started
    assert found.count == 0
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert search(snap, QuerySpec(regex="(a+)+b$")).count == 1000


# ------------------------------------------------------------------ limit / order / tail
def test_limit_keeps_newest_and_order_desc() -> None:
    ring = Ring(1000, 1 << 20, 64)
    for i in range(30):
        ring.append(b"n%02d %s\n" % (i, b"even" if i % 2 == 0 else b"odd"), T0 + i * S)
    snap = ring.snapshot()
    found = search(snap, QuerySpec(keywords=(b"even",))).keep_newest(4)
    assert found.count == 4
    assert b"".join(render_raw(found)) == b"n22 even\nn24 even\nn26 even\nn28 even\n"
    desc = b"".join(render_stamped(found, descending=True))
    assert [ln.split(b"] ")[1] for ln in desc.splitlines()] == [
        b"n28 even",
        b"n26 even",
        b"n24 even",
        b"n22 even",
    ]
    whole = search(snap, QuerySpec())
    assert whole.keep_newest(100) is whole  # fewer than the limit: unchanged
    assert whole.keep_newest(30).count == 30


def test_tail_newest_oldest_first() -> None:
    ring = Ring(1000, 1 << 20, 64)
    for i in range(25):
        ring.append(b"t%02d\n" % i, T0 + i * S)
    got = b"".join(render_stamped(tail(ring.snapshot(), 3)))
    assert got == b"".join(stamp_ref(T0 + i * S) + b"t%02d\n" % i for i in (22, 23, 24))
    assert tail(ring.snapshot(), 100).count == 25


def test_time_bounds_are_inclusive() -> None:
    ring = Ring(1000, 1 << 20)
    for i in range(5):
        ring.append(b"x%d\n" % i, T0 + i * S)
    snap = ring.snapshot()
    qs = QuerySpec(time_from=T0 + S, time_to=T0 + 3 * S)
    assert b"".join(render_raw(search(snap, qs))) == b"x1\nx2\nx3\n"
    qs = QuerySpec(time_from=T0 + S + 1, time_to=T0 + 3 * S - 1)
    assert b"".join(render_raw(search(snap, qs))) == b"x2\n"


# ------------------------------------------------------------------ differential property test
TOKENS = [
    b"a",
    b"b",
    b"c",
    b"x",
    b"aab",
    b"0",
    b"12",
    b"=",
    b"[",
    b"]",
    b" ",
    b"  ",
    b":",
    b"ERROR",
    b"error",
    b"[error]",
    b"[Warn]",
    b"WARN",
    b"WARNING",
    b"INFO",
    b"DEBUG",
    b"level=error",
    b'"level":"warn"',
    b"severity=info",
    b"\xff",
    b"\xc3\xa9",
    b"\xe2\x82",
    b"\r",
    b"\t",
]
KEYWORDS = [b"a", b"ab", b"ERROR", b"=", b"x", b"12", b"b c", b"\xc3\xa9", b"[e", b"\xff"]
REGEXES = [
    "a+b",
    "^x",
    "[0-9]{2}",
    "(?i)error",
    "c$",
    r"\bERROR\b",
    "=[a-z]",
    r"\]",
    # with required literals, so the prefiltered scan is exercised too
    "aab[0-9]",
    "^aab",
    "error[a-z]*$",
    "ERROR.*aab",
    "level=error|xx",
    "lev(el)=error",
]
LEVELS = ["ERROR", "WARN", "INFO", "DEBUG", "CRITICAL"]
DELTAS = [0, 0, 1, S - 1, S, 7 * S]

line_st = (
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=10)
    .map(b"".join)
    .filter(lambda ln: not ln.endswith(b"\r"))
)
chunks_st = st.lists(
    st.tuples(st.lists(line_st, min_size=1, max_size=8), st.sampled_from(DELTAS), st.booleans()),
    min_size=0,
    max_size=40,
)


@st.composite
def spec_st(draw: st.DrawFn, times: list[int]) -> QuerySpec:
    keywords = tuple(draw(st.lists(st.sampled_from(KEYWORDS), max_size=3, unique=True)))
    any_keyword = draw(st.booleans())
    bound = st.none() | (
        st.sampled_from(times or [T0]).flatmap(lambda t: st.sampled_from([t - 1, t, t + 1]))
    )
    return QuerySpec(
        keywords=keywords,
        any_keyword=any_keyword,
        regex=draw(st.none() | st.sampled_from(REGEXES)),
        time_from=draw(bound),
        time_to=draw(bound),
        levels=frozenset(draw(st.lists(st.sampled_from(LEVELS), max_size=2))),
        limit=draw(st.none() | st.integers(1, 12)),
        descending=draw(st.booleans()),
        raw=draw(st.booleans()),
    )


def reference(live: list[tuple[bytes, int]], qs: QuerySpec) -> tuple[int, bytes]:
    """Line by line, the obvious way."""
    # RE2 itself: it reads a line as UTF-8, so `.` never matches a byte that is not part
    # of a UTF-8 character (Python's `re` on bytes would match any byte).
    rx = re2.compile(qs.regex.encode()) if qs.regex else None
    hits = []
    for line, ts in live:
        if qs.keywords:
            combine = any if qs.any_keyword else all
            if not combine(k in line for k in qs.keywords):
                continue
        if rx is not None and rx.search(line) is None:
            continue
        if qs.levels and level_of(line) not in qs.levels:
            continue
        if qs.time_from is not None and ts < qs.time_from:
            continue
        if qs.time_to is not None and ts > qs.time_to:
            continue
        hits.append((line, ts))
    if qs.limit is not None:
        hits = hits[-qs.limit :]
    if qs.descending:
        hits.reverse()
    if qs.raw and not qs.descending:
        out = b"".join(line + b"\n" for line, _ in hits)
    else:
        out = b"".join(stamp_ref(ts) + line + b"\n" for line, ts in hits)
    return len(hits), out.decode("utf-8", "replace").encode("utf-8")


@settings(max_examples=250, deadline=None)
@given(
    chunks=chunks_st,
    capacity=st.integers(1, 60),
    max_bytes=st.sampled_from([200, 1000, 1 << 20]),
    block_size=st.integers(256, 4096),
    data=st.data(),
)
def test_engine_matches_reference(
    chunks: list[tuple[list[bytes], int, bool]],
    capacity: int,
    max_bytes: int,
    block_size: int,
    data: st.DataObject,
) -> None:
    ring = Ring(capacity, max_bytes, block_size)
    model: list[tuple[bytes, int]] = []
    ts = T0
    for lines, delta, pass_count in chunks:
        ts += delta
        blob = b"".join(line + b"\n" for line in lines)
        stored = ring.append(blob, ts, len(lines) if pass_count else None)
        assert stored == len(lines)
        model.extend((line, ts) for line in lines)
    snap = ring.snapshot()
    assert snap.total == len(model) and snap.current <= capacity
    live = model[snap.dropped :]
    # the snapshot holds exactly the model's live lines
    assert b"".join(bytes(v.buf[v.start : v.end]) for v in snap) == b"".join(
        line + b"\n" for line, _ in live
    )
    times = sorted({t for _, t in live})
    for qs in data.draw(st.lists(spec_st(times), min_size=1, max_size=4), label="specs"):
        expected_count, expected_out = reference(live, qs)
        count, out = run(snap, qs)
        assert count == expected_count, qs
        assert out == expected_out, qs
        # the service's parallel path: split views, search each part, merge
        parts = data.draw(st.integers(1, 4), label="parts")
        matcher = Matcher(qs)
        merged = Matches.merge(search_views(p, matcher) for p in split_views(snap.views, parts))
        if qs.limit is not None:
            merged = merged.keep_newest(qs.limit)
        assert merged.count == expected_count
        assert b"".join(render(merged, qs)) == expected_out
        # FOLLOW's per-line answer agrees with the scanners (time bounds aside)
        for line, _ in live[:20]:
            expected_line = reference(
                [(line, T0)],
                QuerySpec(
                    keywords=qs.keywords,
                    any_keyword=qs.any_keyword,
                    regex=qs.regex,
                    levels=qs.levels,
                ),
            )[0]
            spans: array[int] = array("q")
            assert matcher.scan(line + b"\n", 0, len(line) + 1, spans) == bool(expected_line)


def test_stamped_rendering_never_blocks_appends_to_the_same_block() -> None:
    """Rendering runs with the GIL released; the ingest thread keeps appending chunk
    offsets to the block being rendered, which must never fail (BufferError)."""
    ring = Ring(10_000_000, 1 << 30, block_size=64 << 20)
    line = b"2026-11-26T17:00:01Z INFO steady line with some words in it\n"
    ring.append(line * 200_000, T0)
    spec = QuerySpec(keywords=(b"INFO",))
    stop = threading.Event()
    rendered: list[int] = []

    def render_loop() -> None:
        while not stop.is_set():
            rendered.append(sum(len(c) for c in render(search(ring.snapshot(), spec), spec)))

    worker = threading.Thread(target=render_loop)
    worker.start()
    try:
        deadline = time.monotonic() + 2.0
        appended = 0
        while time.monotonic() < deadline:
            ring.append(line * 4, T0 + appended)  # one chunk offset appended per call
            appended += 1
    finally:
        stop.set()
        worker.join()
    assert rendered and appended > 100


def test_prefiltered_regex_matches_a_plain_scan() -> None:
    """Lines picked by the required literal, gathered and mapped back, equal a full scan,
    whether the literal narrows a block down or is on most lines."""
    rare = [
        b"req=%d status=%d latency_ms=%d" % (i, 500 + i % 3 if i % 97 == 0 else 200, i % 5000)
        for i in range(20_000)
    ]
    ring = Ring(100_000, 1 << 26, block_size=64 << 10)
    for i in range(0, len(rare), 500):  # many chunks, many blocks
        ring.append(b"".join(line + b"\n" for line in rare[i : i + 500]), T0 + i)
    regex = "status=5[0-9][0-9] latency_ms=[0-9]{4}"
    matcher = Matcher(QuerySpec(regex=regex))
    assert matcher.prefilters == (b" latency_ms=", b"status=5")
    found = search_views(ring.snapshot().views, matcher)
    expected = [line for line in rare if re.search(regex.encode(), line)]
    assert found.count == len(expected) > 0
    assert b"".join(render_raw(found)) == b"".join(line + b"\n" for line in expected)
    # The rarer literal drives the pass that narrowed blocks down (the other is
    # checked inside its lines).
    assert matcher.prefilters == (b"status=5", b" latency_ms=")
    assert matcher._misses == 0


def test_matcher_shared_by_worker_threads_while_it_adapts() -> None:
    """The service runs one Matcher on several threads; its prefilter state changes
    mid-search (dropped after blocks where no literal is rare) and must not break
    another thread's scan."""
    lines = [b"req=%05d status=%d latency_ms=%d" % (i, 500 + i % 7, 1000 + i) for i in range(8000)]
    ring = Ring(100_000, 1 << 26, block_size=16 << 10)
    for i in range(0, len(lines), 200):
        ring.append(b"".join(line + b"\n" for line in lines[i : i + 200]), T0 + i)
    views = ring.snapshot().views
    regex = "status=5[0-9][0-9] latency_ms=[0-9]{4}"
    expected = sum(1 for line in lines if re.search(regex.encode(), line))
    for _ in range(30):
        matcher = Matcher(QuerySpec(regex=regex))
        parts = split_views(views, 4)
        results: list[int] = []
        errors: list[BaseException] = []

        def run(
            part: tuple,
            m: Matcher = matcher,
            results: list[int] = results,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                results.append(search_views(part, m).count)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(p,)) for p in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and sum(results) == expected


def test_and_literals_are_scanned_rarest_first() -> None:
    """The AND literal on the fewest lines of the first region drives the C pass; the
    order changes no result."""
    lines = [b"status=200 svc-%d user=u%d" % (i % 50, i % 7) for i in range(5_000)]
    ring = Ring(100_000, 1 << 26, block_size=64 << 10)
    ring.append(b"".join(line + b"\n" for line in lines), T0)
    spec = QuerySpec(keywords=(b"status=200", b"svc-13 ", b"user=u3"))
    matcher = Matcher(spec)
    assert matcher.all_of[0] == b"status=200"  # longest first until a region is seen
    found = search_views(ring.snapshot().views, matcher)
    assert matcher.all_of[0] == b"svc-13 "
    expected = [ln for ln in lines if all(k in ln + b"\n" for k in spec.keywords)]
    assert found.count == len(expected) > 0
    assert b"".join(render_raw(found)) == b"".join(line + b"\n" for line in expected)
