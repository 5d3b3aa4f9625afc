"""A batch of ring blocks as one ClickHouse Native block, encoded without Python work
per line: the ``line`` column, and with ``fields`` the ``level``, ``host``, ``app``,
``facility`` and ``fuzzy`` columns, by C in one pass with the GIL released
(:mod:`.columns`; pure-Python fallbacks give the same bytes), the receive times and
row numbers by NumPy, the constant ``node`` and ``batch`` by repeating one encoded
value.

:func:`insert_encoded` sends such a block over a clickhouse-driver connection in
place of the driver's own per-row column writers (the rest of the exchange is the
driver's: query, sample block, end of data, end of query).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from clickhouse_driver import Client, defines
from clickhouse_driver.block import BlockInfo, ColumnOrientedBlock
from clickhouse_driver.protocol import ClientPacketTypes
from clickhouse_driver.varint import write_varint
from clickhouse_driver.writer import write_binary_str, write_binary_uint8

from .columns import NAMES, TYPES, field_columns, varint

Item = tuple[bytes, int]


def py_native_strings(buf: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """The fallback of the C ``native_strings``: same bytes, same count."""
    lines = bytes(buf).split(b"\n")
    lines.pop()  # bytes after the last newline are no line
    return b"".join(varint(len(x)) + x for x in lines), len(lines)


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
        out = conn.block_out
        if revision >= defines.DBMS_MIN_REVISION_WITH_BLOCK_INFO:
            BlockInfo().write(out.fout)
        write_varint(len(block.columns), out.fout)
        write_varint(block.rows, out.fout)
        for name, kind, data in block.columns:
            write_binary_str(name, out.fout)
            write_binary_str(kind, out.fout)
            if revision >= defines.DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
                write_binary_uint8(0, out.fout)
            out.fout.write(data)
        out.finalize()
        client.receive_profile_events()
        conn.send_data(ColumnOrientedBlock())  # an empty block ends the data
        client.receive_profile_events()
        client.receive_end_of_insert_query()
