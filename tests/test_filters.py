"""The C filter pass and C++ regex scanner agree with their Python references.

``_speedups.filter_lines``/``line_level`` against ``query/filters.py`` and
``levels.level_of``; ``_re2scan.scan`` against ``regex.py_regex_lines``. Each
part is skipped only where its accelerator was not built.
"""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_query_exact import KEYWORDS, REGEXES, line_st

from logcaster.query import filters, regex
from logcaster.query.levels import level_of

try:
    from logcaster import _speedups as native
except ImportError:  # pragma: no cover - depends on the install
    native = None  # type: ignore[assignment]
try:
    from logcaster import _re2scan as re2scan
except ImportError:  # pragma: no cover - depends on the install
    re2scan = None  # type: ignore[assignment]

needs_c = pytest.mark.skipif(native is None, reason="C accelerator not built")
needs_re2 = pytest.mark.skipif(re2scan is None, reason="RE2 C++ scanner not built")


@needs_c
@settings(max_examples=500, deadline=None)
@given(
    line=st.one_of(
        line_st,
        st.binary(max_size=40).filter(lambda b: b"\n" not in b),
        # JSON object lines: a level member decides over the other tokens
        st.tuples(st.sampled_from([b"{", b" {", b"\r{", b"x{"]), line_st).map(b"".join),
    )
)
def test_c_level_equals_the_reference(line: bytes) -> None:
    assert native.line_level(line) == filters.py_line_level(line)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line_st, max_size=30),
    all_of=st.lists(st.sampled_from(KEYWORDS), max_size=3, unique=True),
    any_of=st.lists(st.sampled_from(KEYWORDS), max_size=4, unique=True),
    levels=st.integers(0, (1 << 11) - 1),
    cut=st.data(),
)
def test_filter_lines_agree(
    lines: list[bytes], all_of: list[bytes], any_of: list[bytes], levels: int, cut: st.DataObject
) -> None:
    data = b"".join(ln + b"\n" for ln in lines)
    starts = [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A]
    start = cut.draw(st.sampled_from(starts))
    end = cut.draw(st.sampled_from([s for s in starts if s >= start]))
    a: array[int] = array("q", (7, 7))  # earlier spans are never extended
    b: array[int] = array("q", (7, 7))
    args = (tuple(all_of), tuple(any_of), levels)
    n = native.filter_lines(bytearray(data), start, end, *args, a)
    assert n == filters.py_filter_lines(data, start, end, *args, b)
    assert a == b


@needs_re2
@settings(max_examples=300, deadline=None)
@given(lines=st.lists(line_st, max_size=30), pattern=st.sampled_from(REGEXES), data=st.data())
def test_regex_lines_agree(lines: list[bytes], pattern: str, data: st.DataObject) -> None:
    buf = bytearray(b"".join(ln + b"\n" for ln in lines))
    starts = [0] + [i + 1 for i, c in enumerate(buf) if c == 0x0A]
    picks = sorted(data.draw(st.lists(st.sampled_from(starts), max_size=6)))
    spans: array[int] = array("q", picks[: len(picks) // 2 * 2])
    rx = regex.compile_regex(pattern)
    assert rx.native is not None
    a: array[int] = array("q")
    b: array[int] = array("q")
    assert re2scan.scan(rx.native, buf, spans, a) == regex.py_regex_lines(rx.rx, buf, spans, b)
    assert a == b
    # One line per region (a prefilter's usual output): RE2 is asked only whether it matches.
    ends = [*starts[1:], len(buf)] if buf and buf[-1] != 0x0A else starts[1:]
    lines: array[int] = array("q", [x for s, e in zip(starts, ends, strict=False) for x in (s, e)])
    a, b = array("q"), array("q")
    assert re2scan.scan(rx.native, buf, lines, a) == regex.py_regex_lines(rx.rx, buf, lines, b)
    assert a == b


@pytest.mark.parametrize(
    ("line", "level"),
    [
        (b"<11>Nov 26 17:00:01 host app: disk full", "ERROR"),
        (b"<0>kernel: panic", "EMERG"),
        (b"<14>INFO but PRI says", "INFO"),
        (b"<12>ERROR token, PRI wins", "WARN"),
        (b"<191>x", "DEBUG"),
        (b"<192>x ERROR", "ERROR"),  # no PRI above 191: the token counts
        (b"<011>x", None),  # leading zeros: no PRI
        (b" <11>x", None),  # only at the line's start
        (b"<1>x", "ALERT"),
        (b"<2>x", "CRITICAL"),
        (b"<5>x", "NOTICE"),
        (b"<>x", None),
        (b'{"@timestamp":"2026-12-05T04:00:00Z","log.level":"warn","message":"m"}', "WARN"),
        (b'{"LOG.LEVEL" : "Err"}', "ERROR"),
        (b'{"log.levels":"error"}', None),  # another key
        (b'{"xlog.level":"error"}', None),
        (b'{"PROGRAM":"pay","PRIORITY":"err","MESSAGE":"card declined"}', "ERROR"),
        (b'{"priority":"high","msg":"x"}', None),  # no level word
        # A JSON object's level member decides over the words of its other members
        # (Loki labels, OTLP severities and ECS fields are stored after the message).
        (b'{"_msg":"retry after ERROR","level":"info"}', "INFO"),
        (b'{"_msg":"[warn] x","severity":"error"}', "ERROR"),
        (b' {"message":"ERROR 500","log":{"level":"info"}}', "INFO"),  # nested too
        (b'{"msg":"ERROR","level":"nope"}', "ERROR"),  # no level word: the tokens
        (b'{"msg":"ERROR level=warn"}', "ERROR"),  # only a JSON member decides
        (b'{"a":"WARN","level":"debug","severity":"error"}', "DEBUG"),  # the first member
        (b'x {"msg":"ERROR","level":"info"}', "ERROR"),  # not an object line
        (b'<11>{"level":"info"}', "ERROR"),  # a PRI first, as ever
    ],
)
def test_syslog_pri(line: bytes, level: str | None) -> None:
    assert level_of(line) == level
    assert filters.line_level(line) == filters.py_line_level(line)


def test_case_folding_is_ascii_only() -> None:
    """``(?i)`` in UTF-8 folds ``s`` with U+017F; level matching folds ASCII only."""
    assert level_of(b'"\xc5\xbfeverity":"error"') is None
    assert level_of(b'"SEVERITY":"Error"') == "ERROR"
    assert filters.line_level(b'"\xc5\xbfeverity":"error"') == 0
