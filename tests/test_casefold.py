"""The (?i) prefilter: orbits hold RE2's case folding, the ASCII case-insensitive
search agrees with its Python reference, and the prefilter keeps every match."""

from __future__ import annotations

from array import array

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from logcaster.query import casefold
from logcaster.query.casefold import Folded, fold_prefilter, orbit
from logcaster.query.matcher import Matcher
from logcaster.query.spec import QuerySpec

native = pytest.importorskip("logcaster._speedups", reason="C accelerator not built")

# Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee, Glagolitic, letterlike
# symbols, Deseret, Adlam: the scripts with case, and the odd members of orbits.
SAMPLED = [cp for lo, hi in casefold.CHECKED for cp in range(lo, hi)]


def test_orbits_hold_every_character_re2_folds_together() -> None:
    cased = [chr(cp) for lo, hi in casefold._CASED for cp in range(lo, hi) if cp != 0x0A]
    text = "\n".join(cased).encode()
    for cp in SAMPLED:
        ch = chr(cp)
        rx = re2.compile(b"(?im)^" + re2.escape(ch.encode()) + b"$")
        matched = {m.decode() for m in rx.findall(text)}
        assert matched <= orbit(ch), (hex(cp), matched - orbit(ch))
        # what the exact (?i) literal search takes as RE2's set is RE2's set
        assert casefold.re2_orbit(ch) == tuple(sorted(m.encode() for m in matched)), hex(cp)


def test_prefilters_of_typical_patterns() -> None:
    assert fold_prefilter("(?i)timeout to db") == Folded(ascii=b"timeout to db", exact=True)
    assert fold_prefilter("(?i)timeout to db.") == Folded(ascii=b"meout to db")
    cyrillic = fold_prefilter("(?i)ошибка подключения")
    assert cyrillic is not None and 2 <= len(cyrillic.variants) <= casefold.MAX_VARIANTS
    assert all(len(v) >= casefold.MIN_BYTES for v in cyrillic.variants)
    assert fold_prefilter("timeout") is None  # not case-insensitive
    assert fold_prefilter("(?i)a|b") is None  # no literal every match holds
    assert fold_prefilter("(?i)kiss") is None  # k and s have three spellings each


haystack = st.lists(
    st.sampled_from([b"a", b"A", b"b", b"TimeOut", b"timeout", b"\n", b" ", b"\xff", b"@", b"`"]),
    max_size=40,
).map(b"".join)
needles = st.sampled_from([b"timeout", b"TIMEOUT", b"a", b"ab", b"e o", b"@a", b"`", b"\xff"])


@given(haystack, needles, st.integers(0, 5))
def test_find_lines_icase_matches_its_reference(data: bytes, needle: bytes, pad: int) -> None:
    data = b"x" * pad + data
    got: array[int] = array("q", [7, 8])
    want: array[int] = array("q", [7, 8])
    n = native.find_lines_icase(data, pad, len(data), needle, got)
    assert n == casefold.py_find_lines_icase(data, pad, len(data), needle, want)
    assert got == want


spelled_haystack = st.lists(
    st.sampled_from(["бка ", "БКА ", "бКа ", "б ", "ка", "x", "\n", "a", "Бк"]),  # noqa: RUF001
    max_size=30,
).map(lambda parts: "".join(parts).encode())
spellings = st.lists(
    st.sampled_from(["бка ", "БКА ", "бКа ", "бКА ", "xyzq"]),  # noqa: RUF001
    min_size=1,
    max_size=4,
    unique=True,
).map(lambda s: tuple(x.encode() for x in s))


@given(spelled_haystack, spellings, st.integers(0, 20))
def test_find_lines_spelled_matches_its_reference(
    data: bytes, spelled: tuple[bytes, ...], pad: int
) -> None:
    spelled = tuple(s for s in spelled if len(s) == len(spelled[0]))
    data = b"x" * pad + data
    got: array[int] = array("q", [7, 8])
    want: array[int] = array("q", [7, 8])
    n = native.find_lines_spelled(data, pad, len(data), spelled, got)
    assert n == casefold.py_find_lines_spelled(data, pad, len(data), spelled, want)
    assert got == want


def test_find_lines_spelled_needs_one_length() -> None:
    with pytest.raises(ValueError):
        native.find_lines_spelled(b"ab\n", 0, 3, (b"ab", b"abc"), array("q"))


def test_find_lines_icase_rejects_a_needle_with_a_newline() -> None:
    with pytest.raises(ValueError):
        native.find_lines_icase(b"a\n", 0, 2, b"a\n", array("q"))


def test_no_character_outside_the_cased_ranges_has_a_case_mapping() -> None:
    inside = {cp for lo, hi in casefold._CASED for cp in range(lo, hi)}
    for cp in range(0x110000):
        if cp not in inside and not 0xD800 <= cp < 0xE000:
            ch = chr(cp)
            assert ch.lower() == ch.upper() == ch.casefold() == ch, hex(cp)


@pytest.mark.parametrize(
    "pattern", ["(?i)timeout to db", "(?i)ошибка подключения", "(?i)TIMEOUT TO DB"]
)
def test_a_folded_prefilter_keeps_every_match(pattern: str) -> None:
    lines = [
        b"TimeOut To DB here",
        b"timeout to db",
        "ОШИБКА ПОДКЛЮЧЕНИЯ".encode(),
        "\u1c82\u0448\u0438\u0431\u043a\u0430 подключения".encode(),
        "ошибка подКЛЮЧЕНИЯ x".encode(),
        b"nothing",
        "ошибка".encode(),
    ] * 50
    data = b"".join(ln + b"\n" for ln in lines)
    matcher = Matcher(QuerySpec(regex=pattern))
    assert matcher.folded is not None
    spans: array[int] = array("q")
    count = matcher.scan(data, 0, len(data), spans)
    rx = re2.compile(pattern.encode())
    assert count == sum(1 for ln in lines if rx.search(ln))


@pytest.mark.parametrize(
    "pattern", ["(?i)abcd\\nefgh", "(?i)жжж\\nжжж", "^ab\\ncd", "x(a\\n|b\\n)y"]
)
def test_a_newline_in_a_literal_is_no_error(pattern: str) -> None:
    """A match would span two lines: no line matches, and no prefilter chokes on it."""
    data = b"abcd\nefgh\nab\ncd\nxa\ny\n"
    assert Matcher(QuerySpec(regex=pattern)).scan(data, 0, len(data), array("q")) == 0
