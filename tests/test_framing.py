"""Sans-IO line framing: LineFramer against a simple reference implementation."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcaster.inputs.framing import LineFramer, Scratch

# --------------------------------------------------------------- reference


def ref_line(line: bytes, max_line: int) -> tuple[bytes | None, bool]:
    """One line without its newline -> (stored line or None, truncated?)."""
    line = line.rstrip(b"\r")
    if not line:
        return None, False
    if len(line) > max_line:
        return line[:max_line] + b"...", True
    return line, False


def reference(data: bytes, max_line: int) -> tuple[bytes, int]:
    """The whole stream (closed at the end) -> (stored lines, each + b"\\n"; truncated count).

    A NUL byte ends a line just as a newline does."""
    *complete, last = data.replace(b"\0", b"\n").split(b"\n")
    out, truncated = [], 0
    for raw in [*complete, last]:
        line, cut = ref_line(raw, max_line)
        truncated += cut
        if line is not None:
            out.append(line + b"\n")
    return b"".join(out), truncated


# ------------------------------------------------------------------ driver


def run_framer(framer: LineFramer, chunks: list[bytes]) -> bytes:
    """Feed ``chunks`` as separate reads through get_buffer/commit, then close.

    Checks after every commit that ``lines`` counts the lines of the block.
    """
    out = bytearray()
    for chunk in chunks:
        view = memoryview(chunk)
        while True:
            space = framer.get_buffer()
            assert len(space) > 0, "get_buffer() offered no room for the next read"
            n = min(len(space), len(view))
            space[:n] = view[:n]
            block = bytes(framer.commit(n))
            assert framer.lines == block.count(b"\n")
            assert block == b"" or block.endswith(b"\n")
            out += block
            view = view[n:]
            if not view:
                break
    tail = framer.close()
    assert tail == b"" or (tail.endswith(b"\n") and tail.count(b"\n") == 1)
    out += tail
    return bytes(out)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


# Runs of 3+ '\r' are cut to 2 here; long runs are exercised separately below.
CR_RUNS = re.compile(rb"\r{3,}")

atoms = st.sampled_from(
    [
        b"a",
        b"b",
        b"Z",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\x00",
        b"\xff",
        b"\xc3\x28",
        b"\xe2\x82",
        b" ",
        b"hello world ",
        b"x" * 7,
        b"y" * 33,
        b"\x80\x81\x82",
    ]
)
streams = st.one_of(
    st.lists(atoms, max_size=60).map(b"".join),
    st.binary(max_size=300),
).map(lambda d: CR_RUNS.sub(b"\r\r", d))
max_lines = st.integers(min_value=1, max_value=64)


@given(data=streams, max_line=max_lines, cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_random_splits_match_reference(data: bytes, max_line: int, cuts: list[int]) -> None:
    framer = LineFramer(max_line)
    expected, truncated = reference(data, max_line)
    assert run_framer(framer, split_at(data, cuts)) == expected
    assert framer.truncated == truncated


@given(data=streams, max_line=max_lines)
def test_byte_at_a_time_matches_reference(data: bytes, max_line: int) -> None:
    framer = LineFramer(max_line)
    expected, truncated = reference(data, max_line)
    assert run_framer(framer, [data[i : i + 1] for i in range(len(data))]) == expected
    assert framer.truncated == truncated


@given(data=streams, max_line=max_lines)
def test_whole_stream_in_one_read(data: bytes, max_line: int) -> None:
    framer = LineFramer(max_line)
    assert run_framer(framer, [data]) == reference(data, max_line)[0]


@given(
    a=streams,
    b=streams,
    max_line=max_lines,
    order=st.lists(st.booleans(), max_size=80),
    read_size=st.integers(1, 40),
)
def test_framers_sharing_one_scratch_buffer(
    a: bytes, b: bytes, max_line: int, order: list[bool], read_size: int
) -> None:
    """Two connections interleaving reads through one shared (small) receive buffer."""
    scratch = Scratch(max_line, read_size=read_size)
    framers = [LineFramer(max_line, scratch), LineFramer(max_line, scratch)]
    pending = [memoryview(a), memoryview(b)]
    outs = [bytearray(), bytearray()]
    picks = iter(order)
    while pending[0] or pending[1]:
        i = int(next(picks, False)) if pending[0] and pending[1] else int(not pending[0])
        space = framers[i].get_buffer()
        assert len(space) > 0
        n = min(len(space), len(pending[i]), read_size)
        space[:n] = pending[i][:n]
        pending[i] = pending[i][n:]
        block = framers[i].commit(n)
        assert framers[i].lines == bytes(block).count(b"\n")
        outs[i] += block  # copy before the other framer reuses the buffer
    for i in (0, 1):
        outs[i] += framers[i].close()
    assert bytes(outs[0]) == reference(a, max_line)[0]
    assert bytes(outs[1]) == reference(b, max_line)[0]


@given(data=streams, max_line=max_lines)
def test_feed_convenience_matches_reference(data: bytes, max_line: int) -> None:
    framer = LineFramer(max_line)
    assert framer.feed(data) + framer.close() == reference(data, max_line)[0]


# ------------------------------------------------------------ examples


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"one\ntwo\n", b"one\ntwo\n"),
        (b"crlf\r\nline\r\n", b"crlf\nline\n"),
        (b"lone\rcr\n", b"lone\rcr\n"),
        (b"\n\n\r\n\nx\n\n", b"x\n"),
        (b"nul\x00byte\n", b"nul\nbyte\n"),
        (b"perl one\n\x00perl two\n\x00", b"perl one\nperl two\n"),
        (b"<14>python\x00<11>handler\x00", b"<14>python\n<11>handler\n"),
        (b"\x00\x00\n\x00", b""),
        (b"bad \xff\xfe utf8\n", b"bad \xff\xfe utf8\n"),
        (b"no newline at end", b"no newline at end\n"),
        (b"no newline at end\r", b"no newline at end\n"),
        (b"\r", b""),
    ],
)
def test_examples(data: bytes, expected: bytes) -> None:
    framer = LineFramer(64)
    assert run_framer(framer, [data]) == expected
    framer = LineFramer(64)
    assert run_framer(framer, [data[i : i + 1] for i in range(len(data))]) == expected


def test_long_line_truncated_and_rest_discarded() -> None:
    framer = LineFramer(8)
    data = b"short\n" + b"0123456789abcdefXYZ" * 10 + b"\nnext\n"
    out = run_framer(framer, [data[i : i + 5] for i in range(0, len(data), 5)])
    assert out == b"short\n01234567...\nnext\n"
    assert framer.truncated == 1


def test_line_of_exactly_max_bytes_is_not_truncated() -> None:
    framer = LineFramer(8)
    assert run_framer(framer, [b"12345678\n", b"123456789\n"]) == b"12345678\n12345678...\n"
    assert framer.truncated == 1


def test_split_line_is_reassembled_and_pending_reported() -> None:
    framer = LineFramer(64)
    assert bytes(framer.feed(b"hel")) == b""
    assert framer.pending == 3
    assert bytes(framer.feed(b"lo\nwor")) == b"hello\n"
    assert framer.lines == 1
    assert framer.close() == b"wor\n"


def test_invalid_max_line_bytes() -> None:
    with pytest.raises(ValueError):
        LineFramer(0)


def test_trailing_crs_do_not_count_towards_max_line_bytes() -> None:
    data = b"abcdefgh\r\r\n"
    whole = LineFramer(8)
    assert run_framer(whole, [data]) == b"abcdefgh\n"
    bytewise = LineFramer(8)
    assert run_framer(bytewise, [data[i : i + 1] for i in range(len(data))]) == b"abcdefgh\n"
    assert bytewise.truncated == 0


@pytest.mark.parametrize("split", [1, 7, 1000])
def test_trailing_crs_of_a_max_length_line_stripped_whatever_the_reads(split: int) -> None:
    data = b"abcdefgh\r\r\r\r\nnext\n"
    framer = LineFramer(8)
    chunks = [data[i : i + split] for i in range(0, len(data), split)]
    assert run_framer(framer, chunks) == b"abcdefgh\nnext\n"
    assert framer.truncated == 0


def test_long_run_of_trailing_crs_does_not_exhaust_the_receive_buffer() -> None:
    framer = LineFramer(8, Scratch(8, read_size=16))
    data = b"abcdefgh" + b"\r" * 100 + b"\nnext\n"
    chunks = [data[i : i + 16] for i in range(0, len(data), 16)]
    assert run_framer(framer, chunks) == b"abcdefgh\nnext\n"
