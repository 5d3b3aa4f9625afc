"""A ``(?i)`` plain literal is searched exactly, without RE2: the lines found are the
lines RE2 matches (orbits with members of other lengths, the Kelvin sign, the long
s, the narrow Cyrillic o, invalid UTF-8, region ends), in C and in the Python
reference alike."""

# ruff: noqa: RUF001  (Cyrillic, Latin and look-alike letters side by side on purpose)
from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcaster.query import casefold
from logcaster.query.matcher import Matcher
from logcaster.query.regex import compile_regex, py_regex_lines
from logcaster.query.spec import QuerySpec

native = pytest.importorskip("logcaster._speedups", reason="C accelerator not built")

PATTERNS = [
    "(?i)timeout to db",
    "(?i)ошибка подключения",
    "(?i)fehlgeschlagen für",
    "(?i)kiss",
    "(?i)Session",
    "(?i)ok",
    "(?i)база данных",
    "(?i)oшибка",  # a Latin o, then Cyrillic
    "(?i)ᲂшибка",  # the narrow o itself
    "(?i)STRAßE",
]
PIECES = [
    "timeout",
    "TIMEOUT",
    " to ",
    " To DB",
    "db",
    "ошибка",
    "ОШИБКА",
    "ᲂШИБКА",
    " подключения",
    " ПОДКЛЮЧЕНИЯ",
    "подᲁключения",
    "ᲂ",
    "о",
    "шибка",
    "ШИБКА П",
    "одключения",
    "agen für",
    "kiss",
    "\u212aISS",  # Kelvin sign
    "ki\u017fs",  # long s
    "session",
    "SESSION",
    "ſession",
    "fehlgeschlagen für",
    "FEHLGESCHLAGEN FÜR",
    "база ДАННЫХ",
    "straße",
    "STRASSE",
    "ok",
    "OK",
    "x",
    " ",
    "\n",
]
BYTES = [b"\xff", b"\xd0", b"\xe1\xb2", b"\xc3"]
text_st = st.lists(
    st.one_of(st.sampled_from(PIECES).map(str.encode), st.sampled_from(BYTES)), max_size=40
).map(b"".join)


def reference(pattern: str, data: bytes) -> tuple[int, array[int]]:
    """RE2's lines, through the google-re2 bindings over the whole region."""
    out: array[int] = array("q")
    count = py_regex_lines(
        compile_regex(pattern, native=False).rx, data, array("q", (0, len(data))), out
    )
    return count, out


@settings(max_examples=300, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=text_st)
def test_exact_search_finds_the_lines_re2_matches(pattern: str, text: bytes) -> None:
    data = text + b"\n"
    want_n, want = reference(pattern, data)
    for use_c in (True, False):
        matcher = Matcher(QuerySpec(regex=pattern))
        folded = matcher.folded
        spans: array[int] = array("q")
        if folded is None or not folded.exact:
            continue
        if use_c:
            n = matcher.scan(data, 0, len(data), spans)
        elif folded.ascii:
            n = casefold.py_find_lines_icase(data, 0, len(data), folded.ascii, spans)
        else:
            n = casefold.py_find_lines_spelled(
                data, 0, len(data), folded.variants, spans, folded.before, folded.after
            )
        assert (n, spans) == (want_n, want), (pattern, use_c)


def test_typical_literals_are_exact() -> None:
    for pattern in ("(?i)timeout to db", "(?i)ошибка подключения", "(?i)fehlgeschlagen für"):
        folded = casefold.fold_prefilter(pattern)
        assert folded is not None and folded.exact, pattern
    for pattern in ("(?i)timeout.", "(?i)a|b", "timeout", "(?i)x\\d", "(?i)ab\ncd"):
        folded = casefold.fold_prefilter(pattern)
        assert folded is None or not folded.exact, pattern


@settings(max_examples=300, deadline=None)
@given(text=text_st, pattern=st.sampled_from(PATTERNS), pad=st.integers(0, 3))
def test_c_and_python_agree_around_the_piece(text: bytes, pattern: str, pad: int) -> None:
    folded = casefold.fold_prefilter(pattern)
    if folded is None or not folded.variants:
        return
    data = b"x" * pad + text
    got: array[int] = array("q", (7, 8))
    want: array[int] = array("q", (7, 8))
    args = (folded.variants, got, folded.before, folded.after)
    n = native.find_lines_spelled(data, pad, len(data), *args)
    want_args = (folded.variants, want, folded.before, folded.after)
    assert n == casefold.py_find_lines_spelled(data, pad, len(data), *want_args)
    assert got == want


def test_orbits_outside_the_checked_ranges_are_not_trusted() -> None:
    assert casefold.re2_orbit("\u0531") is None  # Armenian capital ayb: cased, unchecked
    assert casefold.re2_orbit("タ") == ("タ".encode(),)  # no case: matches itself
    folded = casefold.fold_prefilter("(?i)\u0561\u0562\u0563 error")
    assert folded is not None and not folded.exact  # a prefilter only: RE2 decides
