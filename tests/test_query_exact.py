"""Exact results: every query shape against a naive per-line model, native and fallback.

The model matches each line on its own (``k in line``, RE2 ``search`` of the
user's pattern on the line's bytes, ``level_of``); the engine scans whole
regions of blocks. They must agree on every line, whatever the block size
(lines at block boundaries), with empty-matching patterns and invalid UTF-8,
through the C/C++ scanners and through the pure-Python fallbacks alike.
"""

from __future__ import annotations

from unittest.mock import patch

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st
from support import parse_found, start_server

from logcaster.query import casefold, filters
from logcaster.query import matcher as matcher_module
from logcaster.query.engine import search_views
from logcaster.query.levels import level_of
from logcaster.query.matcher import Matcher
from logcaster.query.matches import lines_of
from logcaster.query.spec import QuerySpec
from logcaster.storage.ring import Ring

T0 = 1_750_000_000 * 1_000_000_000

TOKENS = [
    b"a",
    b"b",
    b" ",
    b"ERROR",
    b"WARN",
    b"info",
    b"[error]",
    b"level=warn",
    b'"level":"debug"',
    b'"log.level":"Error"',
    b'"PRIORITY":"crit"',
    b'"severity" : "WARN"',
    b'"level":"nope"',
    *(b"{", b" {", b"\t{", b"}"),  # a JSON object line: its level member decides
    b'"log.',
    b'level":"',
    b"<11>",
    b"<0>",
    b"<191>",
    b"<192>",
    b"OOMKilled",
    b"GET",
    b"\xff",
    b"\xc3\xa9",
    b"\xc3\x89",
    b"x",
    b"=",
    b"ab",
    b"TimeOut",
    b"meout",
    b"\xc4\xb1",  # dotless i
    b"\xe2\x84\xaa",  # Kelvin sign: (?i)k matches it
    b"\xc5\xbf",  # long s: (?i)s matches it
    "ошибка".encode(),
    "ОШИБКА".encode(),
    "оШиБкА".encode(),
    "\u1c82\u0448\u0438\u0431\u043a\u0430".encode(),  # narrow o: (?i) Cyrillic o matches it
]
line_st = (
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8)
    .map(b"".join)
    .filter(lambda ln: not ln.endswith(b"\r"))
)
KEYWORDS = [b"a", b"b", b"ab", b"ERROR", b"GET", b"OOMKilled", b"\xff", b"\xc3\xa9", b"x="]
REGEXES = [
    "^$",
    "^$|OOMKilled",
    "$",
    "^",
    "x*",
    "(?:)",
    "^a",
    "b$",
    r"\Aa",
    r"b\z",
    "a|GET",
    "(?i)é",
    "(?i)ERROR",
    "[0-9]{2}",
    r"<1\d>",
    r"\bERROR\b",
    "OOMKilled|^GET",
    "ERROR|info|<11>",
    "a.b",
    r"\C",
    "(?i)timeout",
    "(?i)TIMEOUT",
    "(?i)meout",
    "(?i)ошибка",
    "(?i)ОШИБКА",
    "(?i)\u1c82ш",
    "(?i)kis",
    "(?i)\u212ais",
    "^<1[0-9]>",
    "^<1[0-9]>|GET",
    "^ERROR ?(a|b)",
    "^(ERROR|WARN)",
    "level=(warn|debug)",
    "^a[bx]",
    "^$|ab",
    "ab|^$",
    "[ab]GET|x=",
    "^x=?ab",
    "[[:alpha:]]ab",
    "[[:upper:]]RROR",
    "GET[ab]*x=",
    r"ERROR.*\bab",
    "OOMKilled$",
]
LEVELS = ["ERROR", "WARN", "INFO", "DEBUG", "EMERG", "CRITICAL"]


@st.composite
def spec_st(draw: st.DrawFn) -> QuerySpec:
    return QuerySpec(
        keywords=tuple(draw(st.lists(st.sampled_from(KEYWORDS), max_size=4, unique=True))),
        any_keyword=draw(st.booleans()),
        regex=draw(st.none() | st.sampled_from(REGEXES)),
        levels=frozenset(draw(st.lists(st.sampled_from(LEVELS), max_size=3))),
    )


def model(lines: list[bytes], qs: QuerySpec) -> list[bytes]:
    """The lines matching ``qs``, one line at a time, the obvious way."""
    rx = re2.compile(qs.regex.encode("utf-8", "surrogateescape")) if qs.regex else None
    out = []
    for line in lines:
        if qs.keywords:
            combine = any if qs.any_keyword else all
            if not combine(k in line for k in qs.keywords):
                continue
        if rx is not None and rx.search(line) is None:
            continue
        if qs.levels and level_of(line) not in qs.levels:
            continue
        out.append(line)
    return out


def found_lines(ring: Ring, matcher: Matcher) -> tuple[int, list[bytes]]:
    found = search_views(ring.snapshot().views, matcher)
    lines = [
        bytes(view.buf[s : e - 1])
        for view, spans in found.ranges
        for s, e in lines_of(view, spans, False)
    ]
    return found.count, lines


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line_st, min_size=0, max_size=40),
    block_size=st.integers(16, 512),
    chunk=st.integers(1, 7),
    specs=st.lists(spec_st(), min_size=1, max_size=5),
)
def test_every_shape_matches_the_per_line_model(
    lines: list[bytes], block_size: int, chunk: int, specs: list[QuerySpec]
) -> None:
    lines = [ln for ln in lines if len(ln) < block_size]
    ring = Ring(10_000, 1 << 26, block_size)
    for i in range(0, len(lines), chunk):
        ring.append(b"".join(ln + b"\n" for ln in lines[i : i + chunk]), T0 + i)
    for qs in specs:
        expected = model(lines, qs)
        for native in (True, False):
            # the fallbacks: google-re2 for the regex, Python for the filter pass
            scanner = filters.filter_lines if native else filters.py_filter_lines
            icase = casefold.find_lines_icase if native else casefold.py_find_lines_icase
            prefix = filters.prefix_lines if native else filters.py_prefix_lines
            spelled = casefold.find_lines_spelled if native else casefold.py_find_lines_spelled
            with (
                patch.object(matcher_module, "filter_lines", scanner),
                patch.object(matcher_module, "prefix_lines", prefix),
                patch.object(casefold, "find_lines_spelled", spelled),
                patch.object(casefold, "find_lines_icase", icase),
            ):
                count, got = found_lines(ring, Matcher(qs, native=native))
            assert got == expected, (qs, native)
            assert count == len(got), (qs, native)  # FOUND equals the lines sent


def exact_block(lines: list[bytes]) -> Ring:
    """A ring whose only block is exactly full: the scanned region ends at its end."""
    data = b"".join(ln + b"\n" for ln in lines)
    ring = Ring(10_000, 1 << 26, len(data))
    ring.append(data, T0)
    view = ring.snapshot().views[0]
    assert view.end == len(view.buf)
    return ring


@pytest.mark.parametrize("native", [True, False])
def test_empty_match_at_the_end_of_a_full_block_is_no_line(native: bool) -> None:
    ring = exact_block([b"a", b"pod OOMKilled", b"b"])
    assert found_lines(ring, Matcher(QuerySpec(regex="^$"), native=native)) == (0, [])
    assert found_lines(ring, Matcher(QuerySpec(regex="^$|OOMKilled"), native=native)) == (
        1,
        [b"pod OOMKilled"],
    )
    assert found_lines(ring, Matcher(QuerySpec(regex="$"), native=native))[0] == 3


def test_found_equals_lines_sent_over_the_query_port(tmp_path) -> None:
    """Through a real server: enough lines to fill blocks, empty-matching patterns."""
    srv = start_server(tmp_path)
    try:
        lines = [
            b"line %06d %s" % (i, b"OOMKilled" if i % 997 == 0 else b"ok" * 40)
            for i in range(40_000)
        ]
        srv.send(b"".join(ln + b"\n" for ln in lines))
        srv.wait_total(len(lines))
        expected = sum(1 for ln in lines if b"OOMKilled" in ln)
        for pattern, want in (("^$", 0), ("^$|OOMKilled", expected), ("OOMKilled|^$", expected)):
            count, got = parse_found(srv.query(f"QUERY regex={pattern}"))
            assert count == len(got) == want, pattern
    finally:
        srv.reap()
