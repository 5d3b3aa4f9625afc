"""What a regex's matches must hold (query/literals.py): never a literal a match could
lack, checked against RE2 on random patterns and lines; the C and Python prefix scans
agree."""

from __future__ import annotations

from array import array

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from logcaster.query import filters
from logcaster.query.literals import Needs, literal_needs

PIECES = [
    "a", "b", "ab", "ERROR", "level=", "<1", "[0-9]", "[ab]", "[^ ]+", ".", "x?", "(a|b)",
    "(ERROR|WARN)", "(?:ab|ba)", "\\b", "$", " ", "[a-c]", "(a|b+)", "[[:digit:]]", "=",
    "(?i:ab)", "\\d", "a{2}", "(ab)*",
]  # fmt: skip
patterns = st.builds(
    lambda anchor, parts, alt: ("^" if anchor else "") + "".join(parts) + alt,
    st.booleans(),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=6),
    st.sampled_from(["", "|ERROR", "|^$", "|<1[0-9]>", "|b.a"]),
)
TOKENS = [b"a", b"b", b"ERROR", b"WARN", b"level=", b"<1", b"<17>", b"0", b"7", b" ", b"=", b"x"]
lines = st.lists(st.lists(st.sampled_from(TOKENS), max_size=8).map(b"".join), max_size=30)


def holds(needs: Needs, line: bytes) -> bool:
    if needs.or_empty and line == b"":
        return True
    if needs.any_of and not any(k in line for k in needs.any_of):
        return False
    return not needs.prefixes or any(line.startswith(p) for p in needs.prefixes)


@settings(max_examples=400, deadline=None)
@given(patterns, lines)
def test_every_matching_line_has_what_the_pattern_needs(pattern: str, sample: list[bytes]) -> None:
    try:
        rx = re2.compile(pattern.encode())
    except re2.error:
        return
    needs = literal_needs(pattern)
    for line in sample:
        if rx.search(line) is not None:
            assert holds(needs, line), (pattern, needs, line)


def test_needs_of_typical_patterns() -> None:
    assert literal_needs("^ts=[^ ]+ level=(error|warn) ") == Needs(
        any_of=(b"level=error", b"level=warn"), prefixes=(b"ts=",)
    )
    pri = literal_needs("^<1[0-9]>")
    assert pri.prefixes == tuple(b"<1%d>" % d for d in range(10))
    assert literal_needs("^$|OOMKilled") == Needs(any_of=(b"OOMKilled",), or_empty=True)
    assert literal_needs("timeout|refused") == Needs(any_of=(b"refused", b"timeout"))
    assert literal_needs("[[:alpha:]]abc") == Needs()  # RE2's POSIX class, not a set
    assert literal_needs("(?i)abc") == Needs()
    assert literal_needs("a|.") == Needs()  # a branch with no literal


@given(
    st.lists(st.sampled_from([b"ab", b"a", b"", b"<17>", b"x", b"\xff"]), max_size=12),
    st.lists(st.sampled_from([b"a", b"ab", b"<1", b"\xff", b""]), min_size=1, max_size=3),
    st.booleans(),
)
def test_prefix_lines_matches_its_reference(
    sample: list[bytes], prefixes: list[bytes], cut_last: bool
) -> None:
    native = pytest.importorskip("logcaster._speedups")
    data = b"".join(ln + b"\n" for ln in sample)
    if cut_last and data:
        data = data[:-1]  # a last line without its newline
    got: array[int] = array("q", [1, 2])
    want: array[int] = array("q", [1, 2])
    n = native.prefix_lines(data, 0, len(data), tuple(prefixes), got)
    assert n == filters.py_prefix_lines(data, 0, len(data), tuple(prefixes), want)
    assert got == want
