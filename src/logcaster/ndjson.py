"""JSON records of matching lines, one per line (the HTTP API's NDJSON and SSE).

:func:`encode_records` writes a block's match spans as
``<head>{"time": RFC 3339 receive time with ns, "line": text, "level": ..., fields}<tail>``
per line, ``"level"`` only when the line has one (as the engine reads it: a JSON
line's numeric ``level`` first, :func:`~.query.fields.structured_level`, else
:func:`~.query.levels.level_of`),
then the line's parsed fields (:func:`~.records.py_fields_piece`: ``"host"``,
``"app"``, ``"facility"``, ``"fields"``, each when present). The line is the text
``bytes.decode("utf-8", "replace")`` gives, escaped as ``json.dumps(...,
ensure_ascii=False)`` escapes it. The records go into a caller's ``bytearray`` from
an offset, so that one buffer serves reply chunk after reply chunk (no fresh pages,
no copy into a ``bytes``); :func:`records` is the one-off form.

The C version (``_speedups``, ``_ndjson.c``) reads each line once, its fields as
its record is written, with the GIL released; the few lines whose fields it leaves
undecided (see ``_fields.c``) get theirs from the Python reference, spliced in
after, and their level too where it is a JSON float. :func:`py_encode_records` is
the reference and the fallback where no compiler was present.
``tests/test_ndjson.py`` and ``tests/test_records.py`` check both agree.
"""

from __future__ import annotations

import json
import time
from array import array
from bisect import bisect_right

from .query.fields import structured_level
from .query.levels import level_of
from .records import py_fields_piece
from .scan import Buffer


def rfc3339(ts_ns: int) -> str:
    """``2026-12-01T19:00:59.917121123Z``: UTC, nanoseconds."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns:09d}Z"


def _text(raw: bytes) -> str:
    return json.dumps(raw.decode("utf-8", "replace"), ensure_ascii=False)


def _lines(data: bytes, spans: array[int]) -> list[tuple[int, int]]:
    """``(start, end)`` of each line of ``spans`` (ascending ``[start, end, ...]``
    pairs; a line ends at its newline, not included, or at its span's end)."""
    lines: list[tuple[int, int]] = []
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        if s < 0 or e < s or e > len(data) or (i and s < spans[i - 1]):
            raise ValueError("span outside the buffer or out of order")
        while s < e:
            nl = data.find(b"\n", s, e)
            end = e if nl < 0 else nl
            lines.append((s, end))
            s = e if nl < 0 else nl + 1
    return lines


def py_encode_records(
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    stamps: array[int],
    head: bytes,
    tail: bytes,
    descending: bool = False,
) -> bytes:
    """The records of the lines of ``spans``. The line at offset ``x`` was received
    at ``stamps[c]``, ``c`` the last chunk with ``offs[c] <= x`` (0 when none);
    newest line first when ``descending``."""
    if not offs or len(offs) != len(stamps):
        raise ValueError("offs and stamps: one entry per chunk, at least one")
    data = bytes(buf)
    lines = _lines(data, spans)
    out: list[bytes] = []
    for s, end in reversed(lines) if descending else lines:
        c = max(bisect_right(offs, s) - 1, 0)
        raw = data[s:end]
        record = f'{{"time":"{rfc3339(stamps[c])}","line":{_text(raw)}'
        out.append(head + record.encode() + _level_piece(raw) + py_fields_piece(raw) + b"}" + tail)
    return b"".join(out)


def encode_records(
    out: bytearray,
    at: int,
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    stamps: array[int],
    head: bytes,
    tail: bytes,
    descending: bool = False,
) -> int:
    """Write the records of the lines of ``spans`` into ``out`` from ``at`` (``out``
    grows when short; what lies past the returned end is left as it was)."""
    if not HAVE_NATIVE:
        data = py_encode_records(buf, spans, offs, stamps, head, tail, descending)
        out[at : at + len(data)] = data
        return at + len(data)
    unsure: array[int] = array("q")
    end = _native(out, at, buf, spans, offs, stamps, head, tail, descending, unsure)
    if unsure:
        end = _splice(out, at, end, buf, unsure)
    return end


def _level_piece(line: bytes) -> bytes:
    """``,"level":"NAME"`` of a line as the engine reads its level, or nothing."""
    level = structured_level(line) or level_of(line)
    return b"" if level is None else b',"level":"%s"' % level.encode()


def _splice(out: bytearray, at: int, end: int, buf: Buffer, unsure: array[int]) -> int:
    """Put the reference's fields where the C encoder left them out (and the level
    too where it says so: the place as -1 - it)."""
    parts: list[bytes | bytearray] = []
    with memoryview(buf) as view:
        data = view.cast("B")
        was = at
        for i in range(0, len(unsure), 3):
            where, s, e = unsure[i], unsure[i + 1], unsure[i + 2]
            line = bytes(data[s:e])
            piece = py_fields_piece(line)
            if where < 0:
                where = -1 - where
                piece = _level_piece(line) + piece
            parts += (out[was:where], piece)
            was = where
        data.release()
    parts.append(out[was:end])
    joined = b"".join(parts)
    out[at : at + len(joined)] = joined
    return at + len(joined)


def records(
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    stamps: array[int],
    head: bytes,
    tail: bytes,
    descending: bool = False,
) -> bytes:
    """The records of :func:`encode_records` as one ``bytes``."""
    out = bytearray()
    end = encode_records(out, 0, buf, spans, offs, stamps, head, tail, descending)
    del out[end:]
    return bytes(out)


HAVE_NATIVE = True
try:
    from ._speedups import encode_records as _native
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
