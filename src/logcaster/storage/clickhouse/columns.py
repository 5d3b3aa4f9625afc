"""The columns the node computes for each stored line: ``level``, ``host``, ``app``,
``facility`` and ``fuzzy``, as ClickHouse Native column bytes, so ClickHouse stores
them as sent instead of computing them from the line on every insert.

The values are the engine's own: :func:`~logcaster.query.levels.level_of` (the PRI,
else the first level token; ``''`` for none) and
:func:`~logcaster.query.fields.host_of`, :func:`~logcaster.query.fields.app_of`,
:func:`~logcaster.query.fields.facility_of` (NULL for None). They are read in C
(``_speedups.native_columns``: the ring's field readers, one pass over a whole
batch with the GIL released, the ``line`` column written in the same pass); the few
lines the C reader leaves undecided (see ``_fields.c``) are read by the Python
reference and written by a second C pass. ``fuzzy`` is 1 only where a value cannot
be stored as bytes (a lone surrogate from a JSON escape): that value is NULL and
queries verify the row on the node. :func:`py_native_columns` is the pure-Python
fallback, giving the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...query.fields import app_of, facility_of, host_of
from ...query.levels import level_of

Buffer = bytes | bytearray | memoryview
Fix = tuple[int, bytes | None, bytes | None, bytes | None, int]
# (line, level, host, app, facility, fuzzy, counts, unsure): see _speedups.native_columns
Columns = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, list[tuple[int, bytes]]]
NAMES = ("level", "host", "app", "facility", "fuzzy")
TYPES = ("String", "Nullable(String)", "Nullable(String)", "Nullable(String)", "UInt8")


def varint(n: int) -> bytes:
    """``n`` as an unsigned LEB128 varint (Native's string length prefix)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def reference_fields(line: bytes) -> Fix:
    """``(row 0, host, app, facility, fuzzy)`` of ``line`` by the Python reference."""
    values: list[bytes | None] = []
    fuzzy = 0
    for read in (host_of, app_of, facility_of):
        text = read(line)
        try:
            values.append(None if text is None else text.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:  # a lone surrogate: not storable as bytes
            values.append(None)
            fuzzy = 1
    return (0, values[0], values[1], values[2], fuzzy)


def py_native_columns(bufs: Sequence[Buffer], fixes: Sequence[Fix] = ()) -> Columns:
    """The fallback of the C ``native_columns``: the same columns, nothing left
    undecided (every line is read by the reference)."""
    fixed = {fix[0]: fix for fix in fixes}
    line_col, level_col, fuzzy_col = bytearray(), bytearray(), bytearray()
    nulls = [bytearray(), bytearray(), bytearray()]
    strings = [bytearray(), bytearray(), bytearray()]
    counts = bytearray()
    row = 0
    for buf in bufs:
        lines = bytes(buf).split(b"\n")
        lines.pop()  # bytes after the last newline are no line
        counts += len(lines).to_bytes(8, "little")
        for line in lines:
            line_col += varint(len(line)) + line
            level = (level_of(line) or "").encode()
            level_col += varint(len(level)) + level
            _, *values, fuzzy = fixed.get(row) or reference_fields(line)
            for k, value in enumerate(values):
                nulls[k].append(value is None)
                strings[k] += varint(len(value or b"")) + (value or b"")
            fuzzy_col.append(fuzzy)
            row += 1
    host, app, facility = (bytes(nulls[k] + strings[k]) for k in range(3))
    return (
        bytes(line_col),
        bytes(level_col),
        host,
        app,
        facility,
        bytes(fuzzy_col),
        bytes(counts),
        [],
    )


try:
    from ..._speedups import native_columns
except ImportError:  # pragma: no cover - no compiler
    native_columns = py_native_columns


def field_columns(bufs: Sequence[Buffer]) -> Columns:
    """The columns of ``bufs``' lines, every value decided (C, then the reference for
    what C left undecided)."""
    got = native_columns(bufs)
    if got[7]:
        fixes = [(row, *reference_fields(line)[1:]) for row, line in got[7]]
        got = native_columns(bufs, fixes)
    return got
