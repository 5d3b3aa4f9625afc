"""The JSON record encoder (``logcaster.ndjson``): the C version against the Python
reference on arbitrary bytes, and the reference against json's own reading."""

from __future__ import annotations

import json
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcaster import ndjson
from logcaster.ndjson import py_encode_records, rfc3339
from logcaster.query.fields import structured_level
from logcaster.query.levels import level_of

NATIVE = pytest.mark.skipif(not ndjson.HAVE_NATIVE, reason="C accelerator not built")
FRAMINGS = [(b"", b"\n"), (b"data: ", b"\n\n")]
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)

# Bytes that stress the escaping and the UTF-8 repair: quotes, backslashes, every
# control character, U+2028/U+2029, DEL, truncated and overlong sequences,
# surrogates, and level words so that "level" is there or not.
PIECES = st.sampled_from(
    [
        b'"', b"\\", b"\x00", b"\x1f", b"\t", b"\r", b"\x08", b"\x0c", b"\x7f",
        "\u2028\u2029".encode(), "caf\u00e9".encode(), "\U0001f600".encode(),
        b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf0\x90\x80",
        b"\xf4\x90\x80\x80", b"\xf5", b"\x80", b" ERROR ", b"[warn]", b"<11>", b"level=info",
        b"a" * 17, b"x",
    ]
)  # fmt: skip
# JSON lines whose "level" is a number: syslog severities 0-7 when whole (GELF),
# 10-69 by tens (pino, bunyan), floats among them, words in the text that a level
# token would read otherwise.
NUMERIC_LEVELS = st.builds(
    lambda level, text, spacing: json.dumps(
        {"msg": text, "level": level} if spacing else {"level": level, "msg": text},
        separators=(", ", ": ") if spacing else (",", ":"),
    ).encode(),
    st.one_of(
        st.integers(-2, 9),
        st.integers(9, 71),
        st.sampled_from([0.0, -0.0, 3.0, 3.5, 7.0, 8.0, 30.0, 45.5, 70.0, 1e100]),
    ),
    st.sampled_from(["", "INFO up", "[warn] x", 'a"q', "caf\u00e9"]),
    st.booleans(),
)
LINE = st.one_of(
    st.binary(max_size=60),
    st.lists(st.one_of(PIECES, st.binary(max_size=4)), max_size=12),
    NUMERIC_LEVELS,
).map(lambda x: (x if isinstance(x, bytes) else b"".join(x)).replace(b"\n", b" "))


@st.composite
def blocks(
    draw: st.DrawFn, many: bool = False
) -> tuple[bytes, array[int], array[int], array[int], list[bytes]]:
    """A buffer of lines, match spans over some of them (adjacent ones joined, a last
    one maybe unterminated), chunk offsets and receive times. ``many``: a few hundred
    lines (a few drawn ones repeated), more than the encoder finds at a time."""
    if many:
        lines = draw(st.lists(LINE, min_size=1, max_size=6)) * draw(st.integers(40, 120))
    else:
        lines = draw(st.lists(LINE, max_size=25))
    buf = b"".join(x + b"\n" for x in lines)
    if lines and lines[-1] and draw(st.booleans()):
        buf = buf[:-1]  # the last line is unterminated
    starts, pos = [], 0
    for x in lines:
        starts.append(pos)
        pos += len(x) + 1
    keep = [draw(st.booleans()) for _ in lines]
    if many and draw(st.booleans()):
        keep = [True] * len(lines)  # one span of every line
    spans: list[int] = []
    chosen = []
    for i, (x, s) in enumerate(zip(lines, starts, strict=True)):
        if not keep[i]:
            continue
        chosen.append(x)
        e = min(s + len(x) + 1, len(buf))
        if spans and spans[-1] == s:
            spans[-1] = e
        else:
            spans += [s, e]
    cuts = sorted({0, *draw(st.lists(st.sampled_from(starts or [0]), max_size=5))})
    if draw(st.booleans()) and cuts[0] == 0 and len(cuts) > 1:
        cuts[0] = cuts[1]  # the first chunk starts after the first line: clamps to 0
    stamps = [draw(INT64) for _ in cuts]
    return buf, array("q", spans), array("q", cuts), array("q", stamps), chosen


@NATIVE
@settings(max_examples=400)
@given(blocks(), st.sampled_from(FRAMINGS), st.booleans())
def test_c_and_python_write_the_same_bytes(block, framing, descending) -> None:  # type: ignore[no-untyped-def]
    buf, spans, offs, stamps, _ = block
    head, tail = framing
    want = py_encode_records(buf, spans, offs, stamps, head, tail, descending)
    got = ndjson.records(buf, spans, offs, stamps, head, tail, descending)
    assert got == want


@NATIVE
@pytest.mark.parametrize("descending", [False, True])
def test_many_spans_some_empty(descending: bool) -> None:
    """Hundreds of spans, a run of more than a hundred empty ones among them (no
    line): the same bytes either way."""
    lines = [b"k%d=v%d line %d" % (i, i, i) for i in range(400)]
    buf = b"".join(x + b"\n" for x in lines)
    spans: list[int] = []
    pos = 0
    for i, x in enumerate(lines):
        if 100 <= i < 330:
            spans += [pos, pos]  # an empty span: no line
        elif i % 3:
            spans += [pos, pos + len(x) + 1]
        pos += len(x) + 1
    args = (buf, array("q", spans), array("q", (0,)), array("q", (5,)), b"", b"\n", descending)
    assert ndjson.records(*args) == py_encode_records(*args)


@NATIVE
@pytest.mark.parametrize("count", [1, 2, 64, 65, 127, 128, 129, 193])
@pytest.mark.parametrize("descending", [False, True])
def test_nothing_past_the_last_record_whatever_batch_it_is_in(count: int, descending: bool) -> None:
    """The last record may be alone in the last batch of lines found (oldest
    first, a batch at a time): still nothing past it, either way."""
    lines = [b"k=v%d a=%d" % (i, i) for i in range(count)]
    buf = b"".join(x + b"\n" for x in lines) + b"more=bytes after the lines" * 4
    starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(count)]
    for spans in (
        [v for s, x in zip(starts, lines, strict=True) for v in (s, s + len(x) + 1)],
        [0, starts[-1] + len(lines[-1]) + 1],  # one span of every line
    ):
        args = (buf, array("q", spans), array("q", (0,)), array("q", (5,)), b"", b"\n", descending)
        out = bytearray(b"~" * 100_000)
        end = ndjson.encode_records(out, 0, *args)
        assert bytes(out[:end]) == py_encode_records(*args)
        assert out[end:] == b"~" * (len(out) - end)


@NATIVE
@settings(max_examples=60)
@given(blocks(many=True), st.sampled_from(FRAMINGS), st.booleans(), st.integers(0, 5000))
def test_many_lines_and_long_spans(block, framing, descending, size) -> None:  # type: ignore[no-untyped-def]
    """Spans of hundreds of lines, found a batch at a time, into a buffer that grows
    part-way: the same bytes as the reference."""
    buf, spans, offs, stamps, _ = block
    head, tail = framing
    want = py_encode_records(buf, spans, offs, stamps, head, tail, descending)
    out = bytearray(size)
    end = ndjson.encode_records(out, 0, buf, spans, offs, stamps, head, tail, descending)
    assert bytes(out[:end]) == want


@NATIVE
@settings(max_examples=200)
@given(blocks(), st.booleans(), st.integers(0, 40), st.integers(0, 300))
def test_records_go_into_a_reused_buffer_from_an_offset(block, descending, at, size) -> None:  # type: ignore[no-untyped-def]
    """The bytes before ``at`` and past the end stay; a buffer that may be too small
    grows."""
    buf, spans, offs, stamps, _ = block
    want = py_encode_records(buf, spans, offs, stamps, b"", b"\n", descending)
    out = bytearray(b"#" * max(at, size))
    end = ndjson.encode_records(out, at, buf, spans, offs, stamps, b"", b"\n", descending)
    assert end == at + len(want)
    assert out[:at] == b"#" * at and out[at:end] == want
    if len(out) == max(at, size):  # not grown: nothing past the end is touched
        assert out[end:] == b"#" * (size - end)
    again = ndjson.encode_records(out, end, buf, spans, offs, stamps, b"", b"\n", descending)
    assert out[at:again] == want + want


@given(blocks(), st.sampled_from(FRAMINGS), st.booleans())
def test_records_read_back_as_the_lines(block, framing, descending) -> None:  # type: ignore[no-untyped-def]
    """One record per line: its text as decoded with U+FFFD, its level as the engine
    reads it (a JSON line's numeric level first), its chunk's time."""
    buf, spans, offs, stamps, chosen = block
    head, tail = framing
    for encode in (py_encode_records, ndjson.records):
        out = encode(buf, spans, offs, stamps, head, tail, descending)
        pieces = out.split(tail)
        assert pieces.pop() == b""
        assert len(pieces) == len(chosen)
        want = chosen[::-1] if descending else chosen
        for piece, line in zip(pieces, want, strict=True):
            assert piece.startswith(head)
            record = json.loads(piece[len(head) :])
            assert record["line"] == line.decode("utf-8", "replace")
            assert record.get("level") == (structured_level(line) or level_of(line))
            assert record["time"] in {rfc3339(t) for t in stamps}
            assert set(record) <= {"time", "line", "level", "host", "app", "facility", "fields"}


def test_time_per_chunk() -> None:
    buf = b"first ERROR\nsecond\nthird\n"
    spans = array("q", (0, len(buf)))
    offs, stamps = array("q", (0, 10)), array("q", (1_764_615_659_917_121_123, 5))
    for encode in (py_encode_records, ndjson.records):
        out = encode(buf, spans, offs, stamps, b"", b"\n", False)
        assert [json.loads(x) for x in out.splitlines()] == [
            {"time": "2025-12-01T19:00:59.917121123Z", "line": "first ERROR", "level": "ERROR"},
            {"time": "1970-01-01T00:00:00.000000005Z", "line": "second"},
            {"time": "1970-01-01T00:00:00.000000005Z", "line": "third"},
        ]


@pytest.mark.parametrize("encode", [py_encode_records, ndjson.records])
def test_bad_arguments_are_value_errors(encode) -> None:  # type: ignore[no-untyped-def]
    buf, one, zero = b"a\nb\n", array("q", (0,)), array("q")
    with pytest.raises(ValueError, match="span"):
        encode(buf, array("q", (0, 9)), one, one, b"", b"\n")
    with pytest.raises(ValueError, match="span"):
        encode(buf, array("q", (2, 4, 0, 2)), one, one, b"", b"\n")
    with pytest.raises(ValueError, match="chunk"):
        encode(buf, array("q", (0, 4)), zero, zero, b"", b"\n")
    assert encode(buf, zero, one, one, b"", b"\n") == b""


@NATIVE
def test_bad_output_buffers_are_errors() -> None:
    buf, one, spans = b"a\nb\n", array("q", (0,)), array("q", (0, 4))
    with pytest.raises(TypeError, match="bytearray"):
        ndjson.encode_records(bytes(9), 0, buf, spans, one, one, b"", b"\n")  # type: ignore[arg-type]
    for at in (-1, 10):
        with pytest.raises(ValueError, match="at outside"):
            ndjson.encode_records(bytearray(9), at, buf, spans, one, one, b"", b"\n")
    out = bytearray(4)
    with memoryview(out), pytest.raises(BufferError):  # held elsewhere: it cannot grow
        ndjson.encode_records(out, 0, buf, spans, one, one, b"", b"\n")


@NATIVE
@pytest.mark.parametrize("special", [b'"', b"\\", b"\x01", b"\x7f", "\u00e9".encode(), b"\xff"])
def test_a_byte_to_escape_at_every_offset_of_the_line_scan(special: bytes) -> None:
    """The line scan reads 16 or 32 bytes a step: a byte to escape just before, at and
    after each step's end, in lines ending just before, at and after it, gives the
    Python reference's bytes."""
    lines = [
        b"a" * at + special + b"b" * (size - at)
        for size in (15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 96, 97)
        for at in range(size + 1)
    ]
    buf = b"".join(x + b"\n" for x in lines)
    spans, offs, stamps = array("q", (0, len(buf))), array("q", (0,)), array("q", (7,))
    for descending in (False, True):
        assert ndjson.records(buf, spans, offs, stamps, b"", b"\n", descending) == (
            py_encode_records(buf, spans, offs, stamps, b"", b"\n", descending)
        )


@NATIVE
def test_spans_cut_inside_a_line_end_its_line_there() -> None:
    """A span may end inside a line: its line ends there, though the bytes after it
    (read as a whole block by the line scan) hold a newline or a byte to escape."""
    lines = [b"k=v " * 20, b'x="q" ' * 12, b"<14>Nov 26 17:00:00 h a[1]: m=1 n=2" * 3]
    buf = b"".join(x + b"\n" for x in lines)
    offs, stamps = array("q", (0,)), array("q", (7,))
    for start in (0, len(lines[0]) + 1):
        for end in range(start, min(start + 160, len(buf)) + 1):
            spans = array("q", (start, end))
            for descending in (False, True):
                args = (buf, spans, offs, stamps, b"", b"\n", descending)
                assert ndjson.records(*args) == py_encode_records(*args), (start, end)
