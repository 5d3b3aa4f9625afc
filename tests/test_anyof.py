"""The one-pass multi-literal search (``_anyof.c``) and what uses it agree with the
Python references: ``filter_lines`` with OR literals against ``py_filter_lines``, a
regex of plain literals (searched without RE2) against RE2, and ``level_lines``
(which skips, by that search, the lines that cannot have a wanted level) against
``fieldscan.py_select_levels``. Lines are long enough for the SIMD loops, and
literals sit at region ends and across 16/32-byte steps."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcaster.query import fieldscan, filters
from logcaster.query.levels import LEVEL_CODES
from logcaster.query.literals import plain_alternatives
from logcaster.query.matcher import Matcher
from logcaster.query.regex import compile_regex, py_regex_lines
from logcaster.query.spec import QuerySpec

native = pytest.importorskip("logcaster._speedups", reason="C accelerator not built")

PIECES = [
    b"GET",
    b"POST",
    b"ge",
    b"payment",
    b"session",
    b"s",
    b"n",
    b"x" * 20,
    b" ",
    b"=",
    b"session=x",
    b"session=GE",
    b"\xff",
    b"\xd0\xbe",
    b"OOMKilled",
    "ошибка".encode(),
    " подключения".encode(),
    b"\xd0",  # a UTF-8 character cut short
    b"\n",
]
LITERALS = [b"GET", b"POST", b"payment", b"session", b"s", b"sn", b"xx", b"\xff", b"OOM", b"e=g"]
LITERALS += [b"sessio", b"session=x", b"session=GET", b"paym"]  # shared starts


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=120),
    any_of=st.lists(st.sampled_from(LITERALS), min_size=2, max_size=10, unique=True),
    cut=st.data(),
)
def test_or_literals_in_one_pass_agree(
    pieces: list[bytes], any_of: list[bytes], cut: st.DataObject
) -> None:
    data = b"".join(pieces) + b"\n"
    starts = [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A]
    start = cut.draw(st.sampled_from(starts))
    end = cut.draw(st.sampled_from([s for s in starts if s >= start]))
    a: array[int] = array("q")
    b: array[int] = array("q")
    n = native.filter_lines(bytearray(data), start, end, (), tuple(any_of), 0, a)
    assert n == filters.py_filter_lines(data, start, end, (), tuple(any_of), 0, b)
    assert a == b


def test_more_or_literals_than_one_pass_takes() -> None:
    words = tuple(f"w{i:02d}".encode() for i in range(20))
    data = b"".join(b"pad " * (i % 9) + w + b" end\n" for i, w in enumerate(words)) * 3
    a: array[int] = array("q")
    b: array[int] = array("q")
    n = native.filter_lines(data, 0, len(data), (), words, 0, a)
    assert n == filters.py_filter_lines(data, 0, len(data), (), words, 0, b) == 60
    assert a == b


LEVEL_PIECES = [
    b"2026-11-26T17:00:00.003Z ",
    b"ERROR",
    b"Error",
    b"err",
    b"ERR",
    b"WARN",
    b"crit",
    b"CRITICAL",
    b"level=",
    b"lvl:",
    b'"level"',
    b'"level":',
    b'"level": 3',
    b'"level":"error"',
    b"{",
    b"}",
    b"\\",
    b"[",
    b"]",
    b"<11>",
    b"<",
    b"<3>",
    b"<13>",
    b"<191>",
    b"<192>",
    b"<03>",
    b"<1",
    b"\n<14>Nov 26 host app: ERROR x",
    b'"level" :\t-1',
    b'"LEVEL":3',
    b"dbg",
    b"NOTICE",
    b"[warning]",
    b"x",
    b" ",
    b'"',
    b"\n",
    b"padding text of a line " * 2,
    b'\n{"level":3,"msg":"disk"}\n',
    b'\n{"level": 2, "msg":"ERROR"}\n',
    b'\n {"level":"warn","msg":"x"}\t\n',
    b'\n{"msg":"\\u0041","level":4}\n',
    b'\n{"lev\\u0065l":3,"level":"x"}\n',
]
LEVEL_NAMES = [name for name in LEVEL_CODES if name]


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(LEVEL_PIECES), max_size=60),
    levels=st.frozensets(st.sampled_from(LEVEL_NAMES), min_size=1, max_size=3),
)
def test_level_lines_skip_only_lines_of_other_levels(
    pieces: list[bytes], levels: frozenset[str]
) -> None:
    buf = b"".join(pieces) + b"\n"
    mid = buf.find(b"\n", len(buf) // 2) + 1  # two regions, the second not at 0
    for spans in (array("q", (0, len(buf))), array("q", (0, mid, mid, len(buf)))):
        want: array[int] = array("q")
        got: array[int] = array("q")
        assert fieldscan.select_levels(buf, spans, levels, got) == fieldscan.py_select_levels(
            buf, spans, levels, want
        )
        assert got == want


def test_level_lines_switch_to_reading_every_line_when_most_are_candidates() -> None:
    lines = [b"2026 ERROR disk full", b"2026 INFO ok", b'{"level":"error"}', b"<11>x"] * 3000
    buf = b"".join(ln + b"\n" for ln in lines)
    spans = array("q", (0, len(buf)))
    want: array[int] = array("q")
    got: array[int] = array("q")
    levels = frozenset({"ERROR"})
    assert fieldscan.select_levels(buf, spans, levels, got) == 9000
    assert fieldscan.py_select_levels(buf, spans, levels, want) == 9000
    assert got == want


ALTERNATIONS = ["timeout|refused", "GET", "x=|GET|e=g", "POST|s", "a b|\xff|c", "session=x|session"]
ALTERNATIONS += ["ошибка подключения", "\u043e|GET", "ошибка|\xff", "\t"]
NOT_PLAIN = [
    "ошибка.подключения",
    "(?i)ошибка",
    "\u043e+",
    "^GET",
    "a\nb",
    "GET|",
    "\\x41",
    "\udcff",
]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=60), pattern=st.sampled_from(ALTERNATIONS))
def test_a_regex_of_plain_literals_needs_no_re2(pieces: list[bytes], pattern: str) -> None:
    data = b"".join(pieces) + b"timeout\n"
    matcher = Matcher(QuerySpec(regex=pattern))
    assert matcher.literals is not None
    got: array[int] = array("q")
    want: array[int] = array("q")
    n = matcher.scan(data, 0, len(data), got)
    rx = compile_regex(pattern, native=False).rx
    assert n == py_regex_lines(rx, data, array("q", (0, len(data))), want)
    assert got == want


def test_only_plain_characters_joined_by_bars_are_plain_literals() -> None:
    for pattern in NOT_PLAIN:
        assert plain_alternatives(pattern) is None, pattern
    assert plain_alternatives("ошибка подключения|GET|GET") == (
        "ошибка подключения".encode(),
        b"GET",
    )


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=60),
    pattern=st.sampled_from(ALTERNATIONS),
    keywords=st.lists(st.sampled_from([b"s", b"GET", "\u043e".encode()]), min_size=1, max_size=2),
    any_keyword=st.booleans(),
)
def test_a_plain_literal_regex_with_other_filters_needs_no_re2(
    pieces: list[bytes], pattern: str, keywords: list[bytes], any_keyword: bool
) -> None:
    data = b"".join(pieces) + b"timeout\n"
    spec = QuerySpec(regex=pattern, keywords=tuple(keywords), any_keyword=any_keyword)
    matcher = Matcher(spec)
    got: array[int] = array("q")
    n = matcher.scan(data, 0, len(data), got)
    rx = compile_regex(pattern, native=False).rx
    combine = any if any_keyword else all
    want: array[int] = array("q")
    pos = 0
    for line in data.split(b"\n")[:-1]:
        end = pos + len(line) + 1
        if combine(k in line for k in keywords) and rx.search(line) is not None:
            if want and want[-1] == pos:
                want[-1] = end
            else:
                want.extend((pos, end))
        pos = end
    assert (n, got) == (_lines(want, data), want)


def _lines(spans: array[int], data: bytes) -> int:
    return sum(data.count(b"\n", spans[i], spans[i + 1]) for i in range(0, len(spans), 2))
