"""The C field reader (``_fields.c``: ``field_lines``, ``field_values``) against the Python
reference (``logcaster.query.fields``): the same value of ``host``, ``app`` and ``facility``
for every line it decides, on generated lines of every format (syslog headers and their
variants, JSON, logfmt, invalid UTF-8, truncated headers) and on real senders' lines."""

from __future__ import annotations

import json
from array import array
from collections import Counter
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fields import LINES, ring_of, spec_of

from logcaster.query import aggregate, fieldscan, postfilter
from logcaster.query.engine import search_views
from logcaster.query.fields import app_of, facility_of, host_of
from logcaster.query.levels import LEVEL_CODES
from logcaster.query.matches import lines_of
from logcaster.query.postfilter import compile_spec
from logcaster.query.spec import FieldFilter

pytestmark = pytest.mark.skipif(not fieldscan.HAVE_NATIVE, reason="C accelerator not built")
NAMES = ["field.user", "field.msg", "field.host", "field.x", "field.a.b", "field.level", "field.é"]
REFERENCE = {"host": host_of, "app": app_of, "facility": facility_of}
REFERENCE |= {name: fieldscan.extractor(name) for name in NAMES}
ALWAYS = ("host", "app", "facility", "field.user", "field.x")  # decided on real lines


def native_value(line: bytes, field: str) -> tuple[bool, str | None]:
    """(decided, value) of one line as the C reader reads it."""
    buf = line + b"\n"
    unsure: array[int] = array("q")
    kind = fieldscan.native_kind(field)
    assert kind is not None
    got = fieldscan.field_values(buf, array("q", (0, len(buf))), kind[0], unsure, kind[1])
    if unsure:
        assert list(unsure) == [0, len(buf)] and got == {}
        return False, None
    ((value, n),) = got.items()
    assert n == 1
    return True, None if value is None else value.decode("utf-8", "surrogateescape")


def check(line: bytes) -> set[str]:
    """Assert the C reader agrees with the reference on ``line``; the fields it left
    to the reference."""
    assert b"\n" not in line
    left = set()
    for field, ref in REFERENCE.items():
        decided, value = native_value(line, field)
        if decided:
            assert value == ref(line), (field, line)
        else:
            left.add(field)
    return left


# ------------------------------------------------------------------ generators
_word = st.text(st.sampled_from('ab1-:[] ="\\{}é\t'), max_size=8).map(
    lambda s: s.encode("utf-8", "surrogateescape")
)
_pri = st.sampled_from([b"<11>", b"<191>", b"<0>", b"<192>", b"<011>", b"<1", b"<>", b"", b"<34>"])
_ts = st.sampled_from(
    [
        b"Dec  1 19:00:00 ",
        b"Dec 01 19:00:00",
        b"Dec  1 19:00:0",
        b"2026-12-01T19:00:00Z ",
        b"2026-12-01 19:00:00.123+01:00 ",
        b"2026-12-01T19:00:00\t",
        b"1 2026-12-01T19:00:00Z ",
        b"1 - ",
        b"1 ",
        b"",
    ]
)
_sep = st.sampled_from([b" ", b": ", b":", b"[42]: ", b"[4 2]: ", b"[]:", b"\t"])
syslog_lines = st.builds(
    lambda pri, ts, parts: pri + ts + b"".join(parts),
    _pri,
    _ts,
    st.lists(st.one_of(_word, _sep), max_size=8),
)

_keys = st.sampled_from(
    [
        *("host", "app", "_app", "appname", "application", "service", "facility", "level"),
        *("host.name", "hostname", "service.name", "HOST", "PROGRAM", "program", "programname"),
        *("_HOSTNAME", "SYSLOG_IDENTIFIER", "_hostname", "SYSLOG_IDENTIFIERS", "service_name"),
        *("x", "a.b", "user", "msg", "short_message", "a", "é", "name"),
    ]
)
_scalars = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["auth", "LOCAL3", " 4 ", "23", "24", "00", "clock", "Auth2", "", "web1"]),
    st.integers(-30, 30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)


def _nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3))


_json_values = st.recursive(_scalars, _nested, max_leaves=8)


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(_keys, _json_values), max_size=6))
    body = ", ".join(
        json.dumps(k, ensure_ascii=draw(st.booleans()))
        + draw(st.sampled_from([":", " : ", ":\t"]))
        + json.dumps(v, ensure_ascii=draw(st.booleans()))
        for k, v in pairs  # duplicate keys kept: the last one wins
    )
    text = ("{" + body + "}").encode("utf-8", "surrogatepass")
    cut = draw(st.integers(0, len(text)))
    mutate = draw(st.sampled_from(["", "", "", "cut", "insert", "pad", "escape"]))
    if mutate == "cut":
        text = text[:cut] + b"}"
    elif mutate == "insert":
        text = text[:cut] + draw(st.binary(min_size=1, max_size=3)) + text[cut:]
    elif mutate == "pad":
        text = draw(st.sampled_from([b" ", b"\t", b"\x0b", b"x"])) + text + b" "
    elif mutate == "escape":
        text = text.replace(b'"host"', b'"\\u0068ost"').replace(b'"app"', b'"a\\u0070p"')
    return text.replace(b"\n", b"\\n")


_logfmt_values = st.one_of(
    _word.map(lambda w: w.replace(b" ", b"").replace(b'"', b"")),
    st.text(max_size=6).map(lambda t: json.dumps(t).encode("utf-8", "surrogatepass")),
    st.sampled_from([b'"unterminated', b'"esc\\"aped"', b'"trail\\', b'""', b"a=b"]),
)
logfmt_lines = st.lists(
    st.tuples(
        st.sampled_from([b"host", b"app", b"xhost", b"_app", b"level", b"msg", b"user", b"x"])
        | st.sampled_from([b"a.b", b"x-y/z@w", b"9x", b"x", b"user"]),
        _logfmt_values,
        st.sampled_from([b" ", b"\t", b"", b"  "]),
    ),
    max_size=5,
).map(lambda kvs: b"".join(k + b"=" + v + sep for k, v, sep in kvs))

_sd = st.lists(
    st.sampled_from([b"[", b"]", b"x@1", b" ", b"a=", b'"v"', b'"q\\"', b"\\", b"=", b'"', b"-"]),
    max_size=10,
).map(b"".join)

any_line = st.one_of(
    syslog_lines,
    json_lines(),
    logfmt_lines,
    st.binary(max_size=60),
    syslog_lines.map(lambda s: s + b" " + b"host=h app=a"),
    syslog_lines.map(lambda s: s + b'{"host":"x"}'),
    st.tuples(syslog_lines, logfmt_lines).map(b" ".join),
    st.tuples(syslog_lines, st.sampled_from([b"", b"\xef\xbb\xbf", b" "]), json_lines()).map(
        b"".join
    ),
    st.tuples(st.sampled_from([b"<13>1 - h a - - ", b"<13>1 - h a - - - "]), _sd, logfmt_lines).map(
        b"".join
    ),
).map(lambda line: line.replace(b"\n", b" "))


# ------------------------------------------------------------------ one line
def test_real_senders_are_read_in_c() -> None:
    for line in LINES:
        assert not check(line) & set(ALWAYS), line


@pytest.mark.parametrize(
    "line",
    [
        b'{"host":"a\\u00e9b","app":"\\ud83d\\ude00","facility":4}',
        b'{"host":"\\ud800","app":1.5,"facility":" local7\\u001c"}',
        b'{"host":1,"host":2,"app":null,"service":true,"facility":"shop"}',
        b'{"hostname":"h","host.name":null,"service.name":"s","service":null}',
        b'{"host.name":{"x":1},"hostname":2,"service.name":["a"],"appname":"n"}',
        b'{"host":{"name":"web-1","ip":["10.0.0.1"]},"service":{"name":"pay"}}',
        b'{"host":{"name":null},"host.name":null,"hostname":"h","service":{"name":{"x":1}}}',
        b'{"host":{"name":"n","name":"\\u00e9"},"host.name":"flat","service":{"type":"go"}}',
        b'{"host":{"nam\\u0065":3},"service.name":["a"],"service":{"name":"s"}}',
        b'{"host":-0,"_app":-Infinity,"facility":"auth"}',
        b'{"host":"\xed\xa0\x80"}',
        b'{"host":"\xff"} host=raw',
        b'{\x00"a":1}',
        b'{"a":' + b"[" * 500 + b"]" * 500 + b"}",
        b'{"host":' + b"9" * 5000 + b"}",
        b'{"facility":"\xd9\xa3"}',
        b'{"app":"", "facility":"x"}',
        b'{"facility":"kern\\u0000"}',
        b'{"x":1,}',
        b'{"host":"h"}}',
        b'x host="a\\"b\\\\c" app=',
        b'host="open app=z',
        b"<13>1 2026-12-01T19:00:00Z - - - - msg",
        b"<13>1 2026-12-01T19:00:00Z h",
        b"<13>Dec  1 19:00:00 h " + b"t" * 65 + b": m",
        b"<13>Dec  1 19:00:00 " + b"t" * 64 + b"[1]: m",
        b"<13>Dec  1 19:00:00  t: m",
        b"<13>2026-12-01T19:00:00.1Z\th t: m",
        b"<13>Dec  1 19:00:00 h\xff t\xc3: m",
    ],
)
def test_edge_lines(line: bytes) -> None:
    check(line)


@settings(max_examples=1500, deadline=None)
@given(any_line)
def test_c_reader_agrees_with_the_reference(line: bytes) -> None:
    check(line)


@settings(max_examples=300, deadline=None)
@given(json_lines())
def test_valid_json_is_decided_in_c(line: bytes) -> None:
    try:
        obj = json.loads(line)
    except ValueError:
        return
    plain = all(not isinstance(v, float | list) for v in obj.values())
    left = check(line)
    if plain and line.isascii() and b"\\ud" not in line and b"\\uD" not in line:
        assert left <= {"field.a.b"}, line  # a nested name: left to Python


# ------------------------------------------------------------------ regions
_filters = st.lists(
    st.builds(
        FieldFilter,
        st.sampled_from(["host", "app", "facility", "field.x", "field.user", "field.a.b"]),
        st.sampled_from(["a", "ab", "h", "web1", "auth", "local0", "x", "é", "\udcff", "1"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(any_line, max_size=25), _filters, st.binary(max_size=3))
def test_select_and_tally_agree_with_the_reference(
    lines: list[bytes], filters: list[FieldFilter], lead: bytes
) -> None:
    lead = lead.replace(b"\n", b"")
    buf = bytearray(lead + b"".join(line + b"\n" for line in lines))
    spans = array("q", (len(lead), len(buf)))
    want: array[int] = array("q")
    got: array[int] = array("q", (0, len(lead)) if lead else ())
    n_want = fieldscan.py_select(buf, spans, tuple(filters), want)
    n_got = fieldscan.select(buf, spans, tuple(filters), got)
    assert n_got == n_want
    assert list(got) == (
        [0, *want[1:]]
        if lead and want and want[0] == len(lead)
        else [*((0, len(lead)) if lead else ()), *want]
    )
    for field in ("host", "app", "facility"):
        counted: Counter[str] = Counter()
        reference: Counter[str] = Counter()
        fieldscan.tally(buf, spans, field, "NONE", counted)
        fieldscan.py_tally(buf, spans, field, "NONE", reference)
        assert counted == reference


_levels = st.frozensets(st.sampled_from(LEVEL_CODES[1:]), min_size=1, max_size=4)
_gelf = st.builds(
    lambda level, text: json.dumps({"host": "h", "short_message": text, "level": level}),
    st.one_of(
        st.integers(-2, 9),
        st.sampled_from([2.0, 3.5, -0.0, 1e400, float("nan"), True, "3", None]),
    ),
    st.sampled_from(["ERROR boom", "[warn] x", "ok", "level=debug"]),
).map(lambda t: t.encode().replace(b"Infinity", b"1e400"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(any_line, _gelf, _gelf.map(lambda g: b" " + g + b"\t")), max_size=25),
    _levels,
)
def test_select_levels_agrees_with_the_reference(
    lines: list[bytes], levels: frozenset[str]
) -> None:
    buf = b"".join(line + b"\n" for line in lines)
    spans = array("q", (0, len(buf)))
    want: array[int] = array("q")
    got: array[int] = array("q")
    assert fieldscan.select_levels(buf, spans, levels, got) == fieldscan.py_select_levels(
        buf, spans, levels, want
    )
    assert got == want


def test_gelf_levels_are_read_in_c() -> None:
    line = b'{"host":"h","short_message":"ERROR but","level":6}\n'
    unsure: array[int] = array("q")
    kept: array[int] = array("q")
    n = fieldscan.level_lines(line * 3, array("q", (0, 3 * len(line))), 1 << 3, kept, unsure)
    assert (n, list(kept), list(unsure)) == (3, [0, 3 * len(line)], [])  # 3: INFO
    float_level = b'{"level":6.0}\n'
    n = fieldscan.level_lines(float_level, array("q", (0, len(float_level))), 8, kept, unsure)
    assert n == 0 and list(unsure) == [0, len(float_level)]  # left to Python


# ------------------------------------------------------------------ whole queries
QUERIES = [
    "host=web1",
    "host=web1 level=ERROR",
    "app=app level=INFO,WARN",
    "field.user=amy",
    "facility=user keywords=ERROR",
    "level=ERROR",
    "host=h* regex=d.sk",
    "keywords=a,b operator=OR host=web1",
    "field.x=1 level=ERROR",
    "field.level=ERROR app=a*",
]


def _search(lines: list[bytes], params: str) -> tuple[list[bytes], Counter[str]]:
    views = ring_of(lines).snapshot().views
    scanner = compile_spec(spec_of(params))
    matches = search_views(views, scanner)
    found = [
        bytes(v.buf[s : e - 1]) for v, spans in matches.ranges for s, e in lines_of(v, spans, False)
    ]
    assert matches.count == len(found)
    counts = aggregate.count_values(views, scanner, "host")
    counts.update(aggregate.count_values(views, scanner, "field.user"))
    return found, counts


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(any_line, st.sampled_from(LINES)), max_size=30), st.sampled_from(QUERIES))
def test_native_and_python_queries_agree(lines: list[bytes], params: str) -> None:
    native = _search(lines, params)
    with (
        mock.patch.object(postfilter, "HAVE_NATIVE", False),
        mock.patch.object(fieldscan, "HAVE_NATIVE", False),
    ):
        assert _search(lines, params) == native


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(any_line, st.sampled_from(LINES)), max_size=30), st.sampled_from(QUERIES))
def test_narrowed_and_wide_scans_agree(lines: list[bytes], params: str) -> None:
    # A value on most lines stops narrowing the scan: both ways find the same lines.
    buf = b"".join(line + b"\n" for line in lines)
    scanner = compile_spec(spec_of(params))
    first: array[int] = array("q")
    n = scanner.scan(buf, 0, len(buf), first)
    if isinstance(scanner, postfilter.FieldMatcher):
        scanner.common = not scanner.common
    second: array[int] = array("q")
    assert scanner.scan(buf, 0, len(buf), second) == n and second == first
