"""The store's Native encoding of ring blocks: the C column encoders equal their
pure-Python fallbacks on any bytes and on generated lines of every format (the
computed level, host, app, facility and fuzzy columns included), and an encoded
block reads back as its lines and the engine's values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fields import LINES
from test_fields_native import any_line

from logcaster.query.fields import app_of, facility_of, host_of
from logcaster.query.levels import LEVEL_CODES, level_of
from logcaster.storage.clickhouse import columns, native
from logcaster.storage.clickhouse.columns import field_columns, py_native_columns
from logcaster.storage.clickhouse.native import encode, py_native_strings, varint

speedups = pytest.importorskip("logcaster._speedups")
c_native = speedups.native_strings


def read_strings(data: bytes) -> list[bytes]:
    """Native String column bytes -> the strings (a reader written for the test)."""
    out, pos = [], 0
    while pos < len(data):
        n = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        out.append(data[pos : pos + n])
        pos += n
    return out


@given(st.binary(max_size=2000))
def test_c_equals_fallback_on_any_bytes(data: bytes) -> None:
    assert c_native(data) == py_native_strings(data)
    assert c_native(bytearray(data)) == py_native_strings(data)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, 2_100_000])
def test_lengths_across_varint_widths(size: int) -> None:
    line = b"x" * size
    data = line + b"\nnext\ntail without newline"
    encoded, count = c_native(data)
    assert count == 2 and encoded == varint(size) + line + b"\x04next"
    assert read_strings(encoded) == [line, b"next"]


def test_encode_builds_every_column() -> None:
    items = [(b"a\nbb\n", 10), (b"", 11), (b"ccc\n", 12)]
    block = encode(items, b"node-1", b"batch-7", fields=False)
    assert block.rows == 3
    cols = {name: (kind, data) for name, kind, data in block.columns}
    assert list(cols) == ["ts", "node", "batch", "seq", "line"]
    assert np.frombuffer(cols["ts"][1], "<u8").tolist() == [10, 10, 12]
    assert np.frombuffer(cols["seq"][1], "<u4").tolist() == [0, 1, 2]
    assert read_strings(cols["node"][1]) == [b"node-1"] * 3
    assert read_strings(cols["batch"][1]) == [b"batch-7"] * 3
    assert read_strings(cols["line"][1]) == [b"a", b"bb", b"ccc"]
    assert native.native_strings is c_native  # the C encoder is the one used


def read_nullable(data: bytes, rows: int) -> list[bytes | None]:
    values = read_strings(data[rows:])
    return [None if null else v for null, v in zip(data[:rows], values, strict=True)]


def as_bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


def check_columns(bufs: list[bytes]) -> None:
    """C (with its Python fixes) equals the pure-Python fallback, and both are the
    engine's values."""
    got = field_columns(bufs)
    assert got == py_native_columns(bufs)
    lines = [x for buf in bufs for x in buf.split(b"\n")[:-1]]
    rows = len(lines)
    assert np.frombuffer(got[6], np.int64).tolist() == [b.count(b"\n") for b in bufs]
    assert read_strings(got[0]) == lines
    assert read_strings(got[1]) == [(level_of(x) or "").encode() for x in lines]
    unstorable = [0] * rows
    for k, reader in enumerate((host_of, app_of, facility_of)):
        for i, (line, value) in enumerate(zip(lines, read_nullable(got[2 + k], rows), strict=True)):
            try:
                assert value == as_bytes(reader(line)), line
            except UnicodeEncodeError:  # a lone surrogate: NULL, the row verified on the node
                assert value is None, line
                unstorable[i] = 1
    assert list(got[5]) == unstorable


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(any_line, max_size=6).map(lambda xs: b"".join(x + b"\n" for x in xs))))
def test_columns_c_equals_fallback_on_generated_lines(bufs: list[bytes]) -> None:
    check_columns(bufs)


@given(st.lists(st.binary(max_size=300), max_size=4))
def test_columns_c_equals_fallback_on_any_bytes(bufs: list[bytes]) -> None:
    check_columns(bufs)


def test_columns_on_real_senders_and_undecided_lines() -> None:
    undecided = [
        b'{"host":"\\ud800","app":1.5,"facility":" local7\\u001c"}',  # lone surrogate, float
        b'{"host":"h","app":[1],"facility":"\xd9\xa3"}',
        b'{"host":"\xed\xa0\x80"}',
    ]
    bufs = [b"".join(x + b"\n" for x in LINES), b"".join(x + b"\n" for x in undecided) + b"tail"]
    check_columns(bufs)
    assert speedups.native_columns(bufs)[7]  # C left some to the reference
    got = field_columns(bufs)
    assert got[5][len(LINES) :] == b"\x01\x00\x01"  # the lone surrogates only


def test_columns_levels_are_the_level_codes() -> None:
    assert columns.native_columns is speedups.native_columns
    line = b"".join(f"x {name}\n".encode() for name in LEVEL_CODES if name)
    assert read_strings(field_columns([line])[1]) == [n.encode() for n in LEVEL_CODES if n]


def test_encode_sends_the_computed_columns() -> None:
    items = [(b"<13>Dec  1 19:00:00 vm1 app[1]: ERROR x\nplain\n", 10)]
    block = encode(items, b"n", b"b")
    cols = {name: (kind, data) for name, kind, data in block.columns}
    assert list(cols)[5:] == ["level", "host", "app", "facility", "fuzzy"]
    assert read_strings(cols["level"][1]) == [b"NOTICE", b""]
    assert cols["host"] == ("Nullable(String)", b"\x00\x01\x03vm1\x00")
    assert cols["fuzzy"] == ("UInt8", b"\x00\x00")


def test_fixes_must_be_in_row_order() -> None:
    with pytest.raises(ValueError):
        speedups.native_columns([b"a\nb\n"], [(1, None, None, None, 0), (0, None, None, None, 0)])
    with pytest.raises(TypeError):
        speedups.native_columns([b"a\n"], [(0, "text", None, None, 0)])


@pytest.mark.parametrize("sizes", [[], [5], [3, 70_000, 9, 1], [native.FRAME_BYTES * 2 + 7, 4]])
def test_compressed_frames_are_what_the_driver_reads(sizes: list[int]) -> None:
    """The frames decode (checksums checked) with the driver's own reader to the
    pieces' bytes, each at most FRAME_BYTES uncompressed."""
    from io import BytesIO

    from clickhouse_driver.compression.lz4 import Compressor
    from clickhouse_driver.streams.compressed import CompressedBlockInputStream

    pieces = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    frames = list(native.compressed_frames(Compressor(), pieces))
    sent = b"".join(checksum + body for checksum, body in frames)
    stream = CompressedBlockInputStream(BytesIO(sent), None)
    got = b"".join(stream.read_block() for _ in frames)
    assert got == b"".join(pieces)
    assert all(len(body) < native.FRAME_BYTES + 64 for _, body in frames)


@given(st.lists(st.lists(any_line, max_size=5), max_size=4), st.booleans())
def test_encode_of_ring_views_equals_of_bytes(reads: list[list[bytes]], fields: bool) -> None:
    """The store is handed read-only views of the ring's blocks: the same columns."""
    from logcaster.storage.ring import Ring

    ring = Ring(capacity=1000, max_bytes=1 << 20, block_size=64)
    items: list[tuple[bytes | memoryview, int]] = []
    for ts, lines in enumerate(reads):
        data = b"".join(x.replace(b"\n", b" ") + b"\n" for x in lines)
        if data:
            views: list[memoryview] = []
            ring.append(data, ts, None, views)
            items += [(v, ts) for v in views]
    copied = [(bytes(d), ts) for d, ts in items]
    assert encode(items, b"n", b"b", fields) == encode(copied, b"n", b"b", fields)
