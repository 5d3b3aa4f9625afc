"""The store's Native encoding of ring blocks: the C column encoder equals its
pure-Python fallback on any bytes, and an encoded block reads back as its lines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcaster.storage.clickhouse import native
from logcaster.storage.clickhouse.native import encode, py_native_strings, varint

c_native = pytest.importorskip("logcaster._speedups").native_strings


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
    block = encode(items, b"node-1", b"batch-7")
    assert block.rows == 3
    cols = {name: (kind, data) for name, kind, data in block.columns}
    assert list(cols) == ["ts", "node", "batch", "seq", "line"]
    assert np.frombuffer(cols["ts"][1], "<u8").tolist() == [10, 10, 12]
    assert np.frombuffer(cols["seq"][1], "<u4").tolist() == [0, 1, 2]
    assert read_strings(cols["node"][1]) == [b"node-1"] * 3
    assert read_strings(cols["batch"][1]) == [b"batch-7"] * 3
    assert read_strings(cols["line"][1]) == [b"a", b"bb", b"ccc"]
    assert native.native_strings is c_native  # the C encoder is the one used
