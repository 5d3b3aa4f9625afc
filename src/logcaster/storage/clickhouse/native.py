"""A batch of ring blocks as one ClickHouse Native block, encoded without Python work
per line: the ``line`` column, and with ``fields`` the ``level``, ``host``, ``app``,
``facility`` and ``fuzzy`` columns, by C in one pass with the GIL released
(:mod:`.columns`; pure-Python fallbacks give the same bytes), the receive times and
row numbers by NumPy, the constant ``node`` and ``batch`` by repeating one encoded
value.

:func:`insert_encoded` sends such a block over a clickhouse-driver connection in
place of the driver's own per-row column writers, compressed (when the connection
is) a frame at a time straight from the column bytes, without the driver's copies
of the whole block (the rest of the exchange is the driver's: query, sample block,
end of data, end of query).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np
from clickhouse_cityhash.cityhash import CityHash128
from clickhouse_driver import Client, defines
from clickhouse_driver.block import BlockInfo, ColumnOrientedBlock
from clickhouse_driver.protocol import ClientPacketTypes
from clickhouse_driver.varint import write_varint
from clickhouse_driver.writer import write_binary_str, write_binary_uint8, write_binary_uint128

from ..batch import Item
from .columns import NAMES, TYPES, field_columns, varint


def py_native_strings(buf: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """The fallback of the C ``native_strings``: same bytes, same count."""
    lines = bytes(buf).split(b"\n")
    lines.pop()  # bytes after the last newline are no line
    return b"".join(varint(len(x)) + x for x in lines), len(lines)


FRAME_BYTES = defines.DEFAULT_COMPRESS_BLOCK_SIZE  # uncompressed bytes per frame
SMALL_PIECE = 64 << 10  # pieces below this are joined into one frame
FRAME_HEAD = struct.Struct("<BII")  # method, compressed size with this head, raw size

try:
    from ..._speedups import native_strings
except ImportError:  # pragma: no cover - no compiler
    native_strings = py_native_strings


@dataclass(frozen=True, slots=True)
class Encoded:
    rows: int
    columns: list[tuple[str, str, bytes]]  # (name, type, Native bytes)


def encode(items: Sequence[Item], node: bytes, batch_id: bytes, fields: bool = True) -> Encoded:
    """The sent columns of ``items``' lines: ts, node, batch, seq, line, and with
    ``fields`` the columns the node computes (:mod:`.columns`)."""
    computed: list[tuple[str, str, bytes]] = []
    if fields:
        got = field_columns([data for data, _ in items])
        line = got[0]
        counts = np.frombuffer(got[6], dtype=np.int64)
        computed = list(zip(NAMES, TYPES, got[1:6], strict=True))
    else:
        parts = [native_strings(data) for data, _ in items]
        counts = np.fromiter((n for _, n in parts), dtype=np.int64, count=len(parts))
        line = b"".join(p for p, _ in parts)
    rows = int(counts.sum())
    stamps = np.fromiter((ts for _, ts in items), dtype="<u8", count=len(items))
    return Encoded(
        rows,
        [
            ("ts", "UInt64", np.repeat(stamps, counts).tobytes()),
            ("node", "String", (varint(len(node)) + node) * rows),
            ("batch", "String", (varint(len(batch_id)) + batch_id) * rows),
            ("seq", "UInt32", np.arange(rows, dtype="<u4").tobytes()),
            ("line", "String", line),
            *computed,
        ],
    )


def insert_encoded(client: Client, table: str, block: Encoded) -> None:
    """``INSERT INTO table`` one encoded block; raises as ``Client.execute`` does."""
    names = ", ".join(name for name, _, _ in block.columns)
    query = f"INSERT INTO {table} ({names}) VALUES"
    with client.disconnect_on_error(query, None):
        conn = client.connection
        conn.send_query(query)
        conn.send_external_tables(None)
        client.receive_sample_block()
        revision = conn.server_info.used_revision
        write_varint(ClientPacketTypes.DATA, conn.fout)
        if revision >= defines.DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES:
            write_binary_str("", conn.fout)
        pieces = _block_pieces(block, revision)
        if conn.compression:
            _send_compressed(conn.fout, conn.compressor_cls(), pieces)
        else:
            for piece in pieces:
                conn.fout.write(piece)
        conn.fout.flush()
        client.receive_profile_events()
        conn.send_data(ColumnOrientedBlock())  # an empty block ends the data
        client.receive_profile_events()
        client.receive_end_of_insert_query()


def _block_pieces(block: Encoded, revision: int) -> list[bytes]:
    """The Native block's bytes in order: small headers and the columns as they are."""
    head = BytesIO()
    if revision >= defines.DBMS_MIN_REVISION_WITH_BLOCK_INFO:
        BlockInfo().write(head)
    write_varint(len(block.columns), head)
    write_varint(block.rows, head)
    pieces: list[bytes] = []
    for name, kind, data in block.columns:
        write_binary_str(name, head)
        write_binary_str(kind, head)
        if revision >= defines.DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
            write_binary_uint8(0, head)
        pieces += [head.getvalue(), data]
        head = BytesIO()
    return pieces


def compressed_frames(compressor: Any, pieces: Sequence[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """ClickHouse compressed frames of the bytes of ``pieces``, one per ``FRAME_BYTES``
    or less, each as (CityHash128 of the body, body: method, sizes, compressed bytes):
    the columns are compressed in place, a frame at a time (the compressor releases
    the GIL), instead of being copied whole into the driver's buffers first."""
    for raw in _frames(pieces):
        packed = compressor.compress_data(raw)
        body = FRAME_HEAD.pack(compressor.method_byte, FRAME_HEAD.size + len(packed), len(raw))
        body += packed
        checksum = BytesIO()
        write_binary_uint128(CityHash128(body), checksum)
        yield checksum.getvalue(), body


def _send_compressed(out: Any, compressor: Any, pieces: Sequence[bytes]) -> None:
    for checksum, body in compressed_frames(compressor, pieces):
        out.write(checksum)
        out.write(body)


def _frames(pieces: Sequence[bytes]) -> Iterator[bytes | memoryview]:
    """The bytes of ``pieces`` in runs of at most FRAME_BYTES: small pieces joined,
    large ones cut (views, not copies)."""
    small: list[bytes] = []
    size = 0
    for piece in pieces:
        if len(piece) < SMALL_PIECE and size + len(piece) <= FRAME_BYTES:
            small.append(piece)
            size += len(piece)
            continue
        if small:
            yield b"".join(small)
            small, size = [], 0
        view = memoryview(piece)
        for at in range(0, len(view), FRAME_BYTES):
            yield view[at : at + FRAME_BYTES]
    if small:
        yield b"".join(small)
