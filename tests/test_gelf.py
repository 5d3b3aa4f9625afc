"""Sans-IO GELF datagrams: chunk reassembly in any order, decompression, bounds; and how
one UDP datagram is stored."""

from __future__ import annotations

import gzip
import json
import os
import struct
import zlib

from hypothesis import given
from hypothesis import strategies as st

from logcaster.inputs.gelf import GelfAssembler, compressed, is_gelf
from logcaster.inputs.guard import ConnectionGuard
from logcaster.inputs.tcp import IngestStats
from logcaster.inputs.udp import UdpInput
from logcaster.pipeline.intake import Intake
from logcaster.pipeline.taps import LiveTaps
from logcaster.storage.factory import BlockFactory
from logcaster.storage.ring import DEFAULT_BLOCK_SIZE, Ring


def chunks(payload: bytes, size: int, msg_id: bytes | None = None) -> list[bytes]:
    msg_id = msg_id or os.urandom(8)
    parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    return [
        b"\x1e\x0f" + msg_id + struct.pack("BB", seq, len(parts)) + part
        for seq, part in enumerate(parts)
    ]


GELF = json.dumps({"version": "1.1", "host": "web1", "short_message": "disk full", "level": 3})


def test_plain_zlib_and_gzip_messages() -> None:
    g = GelfAssembler(65536)
    text = GELF.encode()
    assert not is_gelf(text)
    assert g.feed(zlib.compress(text), 0.0) == text
    assert g.feed(gzip.compress(text), 0.0) == text
    assert compressed(zlib.compress(text)) and compressed(gzip.compress(text))


@given(
    payload=st.binary(min_size=1, max_size=2000),
    size=st.integers(1, 300),
    order=st.randoms(use_true_random=False),
    dup=st.booleans(),
)
def test_chunks_in_any_order_reassemble_once(
    payload: bytes, size: int, order: object, dup: bool
) -> None:
    body = zlib.compress(payload)
    parts = chunks(body, size)
    if len(parts) > 128:
        return
    order.shuffle(parts)  # type: ignore[attr-defined]
    if dup and len(parts) > 1:  # a duplicate while the message is incomplete is ignored
        parts.insert(len(parts) // 2, parts[0])
    g = GelfAssembler(1 << 20)
    results = [g.feed(p, 1.0) for p in parts]
    done = [r for r in results if r is not None]
    assert done == [payload]
    assert g.pending == 0


def test_interleaved_messages_and_expiry() -> None:
    g = GelfAssembler(65536, expiry=5.0)
    a, b = chunks(b'{"a":1}' * 10, 20), chunks(b'{"b":2}' * 10, 20)
    assert g.feed(a[0], 0.0) is None
    assert g.feed(b[0], 1.0) is None
    assert g.pending == 2
    for part in b[1:]:
        got = g.feed(part, 2.0)
    assert got == b'{"b":2}' * 10
    assert g.feed(a[1], 6.0) is None  # a expired at 5 s: this starts it afresh
    assert g.expired == 1 and g.reassembled == 1


def test_memory_is_bounded() -> None:
    g = GelfAssembler(65536, max_pending=3, max_pending_bytes=1000)
    for i in range(10):
        g.feed(chunks(b"x" * 600, 300, msg_id=b"%08d" % i)[0], 0.0)
    assert g.pending <= 3
    assert g.expired >= 7


def test_bad_chunks_are_counted_not_raised() -> None:
    g = GelfAssembler(65536)
    assert g.feed(b"\x1e\x0f" + b"12345678" + bytes([5, 3]) + b"x", 0.0) is None  # seq >= count
    assert g.feed(b"\x1e\x0f" + b"12345678" + bytes([0, 200]) + b"x", 0.0) is None  # > 128
    assert g.feed(b"\x1e\x0f" + b"short", 0.0) is None
    assert g.feed(b"\x1f\x8bnot gzip at all", 0.0) == b"\x1f\x8bnot gzip at all"
    assert g.malformed == 4


def test_decompression_is_bounded() -> None:
    g = GelfAssembler(1000)
    bomb = zlib.compress(b"A" * 50_000_000)
    assert len(g.feed(bomb, 0.0) or b"") == 1001  # the caller cuts it to 1000 + "..."


@given(st.binary(max_size=200))
def test_any_datagram_never_raises(data: bytes) -> None:
    g = GelfAssembler(100)
    for _ in range(2):
        got = g.feed(data, 0.0)
        assert got is None or isinstance(got, bytes)


# ------------------------------------------------------------------ UDP datagrams


def udp_input(max_line: int) -> UdpInput:
    ring = Ring(1000, 1 << 20, DEFAULT_BLOCK_SIZE, BlockFactory(DEFAULT_BLOCK_SIZE))
    return UdpInput(Intake(ring, LiveTaps()), max_line, ConnectionGuard(10), IngestStats())


@given(
    data=st.one_of(
        st.binary(max_size=100),
        st.lists(
            st.sampled_from([b"a", b" ", b"\n", b"\r", b"\0", b"\r\n", b"x"]), max_size=20
        ).map(b"".join),
    ),
    max_line=st.integers(1, 40),
)
def test_datagram_as_stored(data: bytes, max_line: int) -> None:
    udp = udp_input(max_line)
    if is_gelf(data):
        return
    cleaned = data.rstrip(b"\r\n\0").replace(b"\r\n", b"#012").replace(b"\n", b"#012")
    want = cleaned[:max_line] + b"..." if len(cleaned) > max_line else cleaned
    assert udp.message(data) == want
    assert udp.stats.truncated == int(len(cleaned) > max_line)
    fast = data and data[-1] not in b"\r\n\0" and b"\n" not in data and len(data) <= max_line
    if fast:  # what UdpInput._read stores without calling message()
        assert want == data
