"""The C scanner (_speedups) and the pure-Python fallbacks in scan.py agree."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcaster import scan

native = pytest.importorskip("logcaster._speedups", reason="C accelerator not built")

pieces = st.sampled_from(
    [b"a", b"ab", b"error", b"err", b"\n", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b" ", b"x" * 9]
)
buffers = st.one_of(st.lists(pieces, max_size=40).map(b"".join), st.binary(max_size=200))
needles = st.one_of(
    st.sampled_from([b"", b"a", b"err", b"error", b"\x00", b"\xff", b"\r", b" a", b"xxx"]),
    st.binary(min_size=1, max_size=4).filter(lambda b: b"\n" not in b),
)
kinds = st.sampled_from([bytes, bytearray, lambda b: memoryview(bytearray(b))])


@st.composite
def ranges(draw: st.DrawFn, line_aligned: bool = False) -> tuple[bytes, int, int]:
    data = draw(buffers)
    if line_aligned:
        data = data if data.endswith(b"\n") or not data else data + b"\n"
        cuts = [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A]
        start = draw(st.sampled_from(cuts))
        end = draw(st.sampled_from([c for c in cuts if c >= start]))
    else:
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, len(data)))
    return data, start, end


def ref_clean_lines(data: bytes, max_line: int) -> int:
    if not data:
        return 0
    if not data.endswith(b"\n"):
        return -1
    lines = data.split(b"\n")[:-1]
    ok = all(0 < len(line) <= max_line and not line.endswith(b"\r") for line in lines)
    return len(lines) if ok else -1


@given(r=ranges(), max_line=st.integers(0, 12), kind=kinds)
def test_clean_lines_agree(r: tuple[bytes, int, int], max_line: int, kind) -> None:
    data, start, end = r
    buf = kind(data)
    expected = ref_clean_lines(data[start:end], max_line)
    assert scan.py_clean_lines(buf, start, end, max_line) == expected
    assert native.clean_lines(buf, start, end, max_line) == expected


@given(r=ranges(line_aligned=True), max_line=st.integers(1, 12))
def test_clean_lines_agree_on_line_aligned_ranges(r: tuple[bytes, int, int], max_line: int) -> None:
    data, start, end = r
    expected = ref_clean_lines(data[start:end], max_line)
    assert scan.py_clean_lines(data, start, end, max_line) == expected
    assert native.clean_lines(data, start, end, max_line) == expected


def spans_to_lines(data: bytes, spans: array[int]) -> list[bytes]:
    out = []
    for i in range(0, len(spans), 2):
        chunk = data[spans[i] : spans[i + 1]]
        parts = chunk.split(b"\n")
        out += [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return out


def ref_find_lines(data: bytes, start: int, end: int, needle: bytes) -> list[bytes]:
    piece = data[start:end]
    lines = piece.split(b"\n")
    out = [line + b"\n" for line in lines[:-1] if needle in line]
    if lines[-1] and needle in lines[-1]:
        out.append(lines[-1])
    return out


@given(r=ranges(), needle=needles, kind=kinds)
def test_find_lines_agree(r: tuple[bytes, int, int], needle: bytes, kind) -> None:
    data, start, end = r
    buf = kind(data)
    py_out: array[int] = array("q")
    c_out: array[int] = array("q")
    py_n = scan.py_find_lines(buf, start, end, needle, py_out)
    c_n = native.find_lines(buf, start, end, needle, c_out)
    assert (py_n, list(py_out)) == (c_n, list(c_out))
    expected = ref_find_lines(data, start, end, needle)
    assert c_n == len(expected)
    assert spans_to_lines(data, c_out) == expected
    # Spans are ordered, disjoint, inside the range, and adjacent ones coalesced.
    flat = list(c_out)
    assert flat == sorted(flat)
    assert all(start <= x <= end for x in flat)
    assert all(flat[i] < flat[i + 1] for i in range(1, len(flat) - 1, 2))


@given(r=ranges(), kind=kinds)
def test_count_lines_agree(r: tuple[bytes, int, int], kind) -> None:
    if not hasattr(native, "count_lines"):
        pytest.skip("no count_lines in this build")
    data, start, end = r
    expected = data[start:end].count(b"\n")
    assert scan.py_count_lines(kind(data), start, end) == expected
    assert native.count_lines(kind(data), start, end) == expected


@given(data=buffers, cuts=st.lists(st.integers(0, 10_000), max_size=12), kind=kinds)
def test_gather_agree(data: bytes, cuts: list[int], kind) -> None:
    if not hasattr(native, "gather"):
        pytest.skip("no gather in this build")
    points = sorted(c % (len(data) + 1) for c in cuts)
    spans: array[int] = array("q", points[: len(points) // 2 * 2])
    expected = b"".join(data[spans[i] : spans[i + 1]] for i in range(0, len(spans), 2))
    assert scan.py_gather(kind(data), spans) == expected
    assert native.gather(kind(data), spans) == expected


@given(cuts=st.lists(st.integers(0, 1 << 40), max_size=40))
def test_covered_agree(cuts: list[int]) -> None:
    points = sorted(cuts)
    spans: array[int] = array("q", points[: len(points) // 2 * 2])
    expected = sum(spans[i + 1] - spans[i] for i in range(0, len(spans), 2))
    assert scan.py_covered(spans) == expected
    assert native.covered(spans) == expected


@given(data=st.binary(max_size=20_000))
def test_prefault_agree(data: bytes) -> None:
    if not hasattr(native, "prefault"):
        pytest.skip("no prefault in this build")
    a, b = bytearray(data), bytearray(data)
    scan.py_prefault(a)
    native.prefault(b)
    assert a == b and len(a) == len(data)
    expected = bytearray(data)
    expected[::4096] = bytes(len(expected[::4096]))
    assert a == expected


def test_find_lines_example() -> None:
    data = b"an error\nok\nerror again\nerror 3\nfine"
    for fn in (scan.py_find_lines, native.find_lines):
        out: array[int] = array("q")
        assert fn(data, 0, len(data), b"error", out) == 3
        assert list(out) == [0, 9, 12, len(data) - 4]


def test_native_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        native.clean_lines(b"abc\n", 0, 10, 5)
    with pytest.raises(ValueError):
        native.find_lines(b"abc\n", 3, 2, b"a", array("q"))


def test_module_uses_native_when_built() -> None:
    assert scan.clean_lines is native.clean_lines
    assert scan.find_lines is native.find_lines


def test_find_lines_agree_when_out_already_holds_spans() -> None:
    data = b"x1\nx2\n"
    py_out: array[int] = array("q")
    c_out: array[int] = array("q")
    for lo, hi in ((0, 3), (3, 6)):  # two adjacent ranges, one output array
        scan.py_find_lines(data, lo, hi, b"x", py_out)
        native.find_lines(data, lo, hi, b"x", c_out)
    assert list(py_out) == list(c_out)


@given(r=ranges(line_aligned=True), data=st.data(), descending=st.booleans())
def test_gather_stamped_agree(r: tuple[bytes, int, int], data, descending: bool) -> None:
    """Both orders, native and fallback; newest first is oldest first, line-reversed."""
    buf, start, end = r
    cuts = [start] + [i + 1 for i in range(start, end) if buf[i] == 0x0A]
    picks = sorted(set(data.draw(st.lists(st.sampled_from(cuts), max_size=6))))
    spans = array("q", picks[: len(picks) // 2 * 2])
    offs = array("q", sorted(set(data.draw(st.lists(st.sampled_from(cuts), min_size=1)))))
    width = 3
    prefixes = b"".join(b"<%d>" % (i % 10) for i in range(len(offs)))
    args = (spans, offs, 0, len(offs), prefixes, width)
    asc = scan.py_gather_stamped(buf, *args)
    desc = scan.py_gather_stamped(buf, *args, True)
    assert native.gather_stamped(buf, *args) == asc
    assert native.gather_stamped(buf, *args, descending) == (desc if descending else asc)
    assert lines_of(desc) == lines_of(asc)[::-1]


def lines_of(data: bytes) -> list[bytes]:
    """``data`` cut after each newline (the last piece may lack one)."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    return [*out, parts[-1]] if parts[-1] else out


utf8_pieces = st.sampled_from(
    [
        b"a" * 40,
        b"plain ascii line\n",
        "ошибка".encode(),
        "für".encode(),
        "€".encode(),
        "😀".encode(),
        b"\xc0\xaf",  # overlong
        b"\xe0\x80\xaf",  # overlong
        b"\xed\xa0\x80",  # surrogate
        b"\xf4\x90\x80\x80",  # above U+10FFFF
        b"\xf5\x80\x80\x80",
        b"\xe2\x82",  # truncated
        b"\x80",
        b"\xff",
        b"\n",
    ]
)


@given(st.one_of(st.lists(utf8_pieces, max_size=30).map(b"".join), st.binary(max_size=300)))
def test_utf8_valid_matches_a_strict_decode(data: bytes) -> None:
    assert native.utf8_valid(data) == scan.py_utf8_valid(data)
    # Every alignment of the SIMD ASCII skip, and a large input (GIL released).
    for cut in range(min(len(data), 33)):
        assert native.utf8_valid(data[cut:]) == scan.py_utf8_valid(data[cut:])
    assert native.utf8_valid(b"x" * 5000 + data) == scan.py_utf8_valid(data)


def test_as_utf8_replaces_only_invalid_bytes() -> None:
    good = "naïve ошибка\n".encode() * 1000
    assert scan.as_utf8(good) is good
    assert scan.as_utf8(good + b"\xff\n") == good + "\ufffd\n".encode()


@given(r=ranges(line_aligned=True), data=st.data(), descending=st.booleans())
def test_stamp_into_agree(r: tuple[bytes, int, int], data, descending: bool) -> None:
    """Rendering into buffers of any size, each resumed where the last stopped, gives
    gather_stamped's bytes, with the same stopping points native and fallback."""
    buf, start, end = r
    cuts = [start] + [i + 1 for i in range(start, end) if buf[i] == 0x0A]
    picks = sorted(set(data.draw(st.lists(st.sampled_from(cuts), max_size=6))))
    spans = array("q", picks[: len(picks) // 2 * 2])
    offs = array("q", sorted(set(data.draw(st.lists(st.sampled_from(cuts), min_size=1)))))
    width = data.draw(st.sampled_from((0, 3)))  # 0: lines as stored
    prefixes = b"".join(b"<%d>" % (i % 10) for i in range(len(offs)))[: width * len(offs)]
    args = (offs, 0, len(offs), prefixes, width, descending)
    first = data.draw(st.integers(1, 256))
    whole = scan.py_gather_stamped(buf, spans, *args)
    runs = []
    for stamp_into in (scan.py_stamp_into, native.stamp_into):
        got, stops, size = bytearray(), [], first
        index, at = 0, -1
        while index < len(spans) // 2:
            out = bytearray(size)
            pos, index, at = stamp_into(out, 1, buf, spans, index, at, *args)
            stops.append((pos, index, at))
            got += out[1:pos]
            if pos == 1:  # the next line is longer than the buffer: a larger one
                size *= 2
        assert bytes(got) == whole
        assert at == -1
        runs.append(stops)
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "odd", [b"\xc3\xa9", b"\xff", b"\xe2\x82", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80"]
)
def test_utf8_valid_finds_a_sequence_at_every_place_of_a_line(odd: bytes) -> None:
    """Lengths around the 16- and 32-byte steps, the sequence at every offset: the
    last step of a line is the full-width block that ends it."""
    for n in (*range(40), 47, 48, 49, 63, 64, 65, 95, 96, 97, 104):
        for j in range(n + 1):
            data = b"a" * j + odd + b"b" * (n - j)
            assert native.utf8_valid(data) == scan.py_utf8_valid(data), (n, j)
