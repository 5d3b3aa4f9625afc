"""The octet-counting frame loop: the C split_frames against the pure-Python reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import cut

from logcaster.inputs.framing import Scratch
from logcaster.inputs.octet import OctetFramer
from logcaster.inputs.octet_split import (
    DISCARD,
    HAVE_NATIVE,
    TEXT,
    SplitFrames,
    out_size,
    py_split_frames,
    split_frames,
)

pytestmark = pytest.mark.skipif(not HAVE_NATIVE, reason="C accelerator not built")


def frame(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


def framed(data: bytes, chunks: list[bytes], max_line: int, split: SplitFrames) -> tuple:
    """Entries, counters and per-read line counts of ``chunks`` through one framer."""
    framer = OctetFramer(max_line, Scratch(max_line, read_size=64), split=split)
    out = bytearray()
    reads: list[int] = []
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            space = framer.get_buffer()
            n = min(len(space), len(view))
            space[:n] = view[:n]
            view = view[n:]
            out += framer.commit(n)
            reads.append(framer.lines)
            reads.append(framer.pending)
    out += framer.close()
    return bytes(out), framer.truncated, framer.malformed, reads


atoms = st.sampled_from(
    [
        b"a",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\0",
        b"<13>",
        b"<",
        b"1",
        b"0",
        b"9",
        b"12 ",
        b"999999999 ",
        b"1234567890 ",
        b"\xff",
        b"x" * 20,
    ]
)
messages = st.lists(atoms, max_size=12).map(b"".join)
long_frames = st.tuples(st.integers(1, 200), st.binary(max_size=10)).map(
    lambda t: frame(b"<13>" + b"L\n" * t[0] + t[1])
)
streams = st.lists(
    st.one_of(
        messages.map(frame),  # valid frames
        long_frames,  # frames over max_line, inner newlines
        messages,  # garbage where a count is due
        st.binary(max_size=30),
        st.sampled_from([b"\n", b"\r\n", b"\0", b"0 ", b"12", b"5 <1>"]),
    ),
    max_size=14,
).map(b"".join)
max_lines = st.integers(1, 64)


@settings(max_examples=400)
@given(data=streams, max_line=max_lines, cuts=st.lists(st.integers(0, 2000), max_size=25))
def test_c_and_python_agree_on_any_stream_cut_anywhere(
    data: bytes, max_line: int, cuts: list[int]
) -> None:
    chunks = cut(data, cuts) or [b""]
    native = framed(data, chunks, max_line, split_frames)
    assert native == framed(data, chunks, max_line, py_split_frames)
    whole = framed(data, [data], max_line, split_frames)
    assert native[:3] == whole[:3]  # the cuts change nothing stored or counted


@given(data=streams, max_line=max_lines)
def test_c_and_python_agree_byte_at_a_time(data: bytes, max_line: int) -> None:
    chunks = [data[i : i + 1] for i in range(len(data))] or [b""]
    native = framed(data, chunks, max_line, split_frames)
    assert native == framed(data, chunks, max_line, py_split_frames)
    assert native[:3] == framed(data, [data], max_line, py_split_frames)[:3]


@given(
    data=st.binary(max_size=300),
    max_line=max_lines,
    skip=st.one_of(st.just(0), st.integers(1, 400)),
    state=st.sampled_from([0, TEXT, TEXT | DISCARD]),
)
def test_one_call_from_any_state(data: bytes, max_line: int, skip: int, state: int) -> None:
    """Every field of the result agrees, whatever state the previous read left."""
    buf = bytearray(data)
    out_c, out_py = bytearray(out_size(len(buf))), bytearray(out_size(len(buf)))
    got = split_frames(buf, len(buf), max_line, skip, state, out_c)
    assert got == py_split_frames(buf, len(buf), max_line, skip, state, out_py)
    assert out_c[: got[0]] == out_py[: got[0]]
    assert got[4] == out_c[: got[0]].count(b"\n")


def test_common_frames_are_copied_clean() -> None:
    msgs = [b"<13>1 2026-12-01T19:00:59Z vm app - - - hello %d" % i for i in range(100)]
    data = bytearray(b"".join(frame(m) for m in msgs) + b"12 <13>partia")
    out = bytearray(out_size(len(data)))
    n, pos, skip, state, lines, truncated, malformed = split_frames(
        data, len(data), 1024, 0, 0, out
    )
    assert out[:n] == b"".join(m + b"\n" for m in msgs)
    assert (pos, skip, state, lines, truncated, malformed) == (len(data) - 13, 0, 0, 100, 0, 0)


def test_worst_case_output_fits() -> None:
    """Every byte of a frame a newline: four bytes out per byte in, no more."""
    data = bytearray(b"".join(frame(b"\n" * 8 + b"x") for _ in range(50)))
    out = bytearray(out_size(len(data)))
    n = split_frames(data, len(data), 64, 0, 0, out)[0]
    assert out[:n] == (b"#012" * 8 + b"x\n") * 50


@pytest.mark.parametrize("split", [split_frames, py_split_frames])
def test_bad_arguments_are_refused(split: SplitFrames) -> None:
    buf = bytearray(b"5 <1>x")
    with pytest.raises(ValueError):
        split(buf, len(buf), 64, 0, 0, bytearray(8))  # output too small
    if split is split_frames:
        with pytest.raises(ValueError):
            split(buf, len(buf) + 1, 64, 0, 0, bytearray(out_size(16)))
        with pytest.raises(ValueError):
            split(buf, len(buf), 64, -1, 0, bytearray(out_size(16)))
