"""JSON records of matching lines, one per line (the HTTP API's NDJSON and SSE).

:func:`encode_records` turns a block's match spans into
``<head>{"time": RFC 3339 receive time with ns, "line": text, "level": ...}<tail>``
per line, ``"level"`` only when the line has one (:func:`~.query.levels.level_of`),
then optional extra string fields, each given as ``(name, starts, ends)``: one
``(start, end)`` offset pair into the same buffer per line, ``-1`` where the line
has no such field, then the line's piece of ``pieces`` (``(text, bounds)``: the
text from ``bounds[2k]`` to ``bounds[2k + 1]`` for the k-th line, as it is; the
parsed fields :func:`~.records.record_fields` writes). The line (and each field)
is the text ``bytes.decode("utf-8", "replace")`` gives, escaped as
``json.dumps(..., ensure_ascii=False)`` escapes it.

The C version (``_speedups``, ``_ndjson.c``) writes the records with the GIL
released; :func:`py_encode_records` below is the reference and the fallback
where no compiler was present. ``tests/test_ndjson.py`` checks both agree.
"""

from __future__ import annotations

import json
import time
from array import array
from bisect import bisect_right

from .query.levels import level_of
from .scan import Buffer

Extra = tuple[bytes, "array[int]", "array[int]"]


def rfc3339(ts_ns: int) -> str:
    """``2026-12-01T19:00:59.917121123Z``: UTC, nanoseconds."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns:09d}Z"


def _text(raw: bytes) -> str:
    return json.dumps(raw.decode("utf-8", "replace"), ensure_ascii=False)


def py_encode_records(
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    stamps: array[int],
    head: bytes,
    tail: bytes,
    descending: bool = False,
    extras: tuple[Extra, ...] = (),
    pieces: tuple[bytes, array[int]] | None = None,
) -> bytes:
    """The records of the lines of ``spans`` (ascending ``[start, end, ...]`` pairs;
    a line ends at its newline, not included, or at its span's end). The line at
    offset ``x`` was received at ``stamps[c]``, ``c`` the last chunk with
    ``offs[c] <= x`` (0 when none); newest line first when ``descending``."""
    if not offs or len(offs) != len(stamps):
        raise ValueError("offs and stamps: one entry per chunk, at least one")
    data = bytes(buf)
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
    for _, starts, ends in extras:
        if (
            len(starts) != len(lines)
            or len(ends) != len(lines)
            or any(s >= 0 and not s <= e <= len(data) for s, e in zip(starts, ends, strict=True))
        ):
            raise ValueError("an extra field needs one (start, end) in the buffer per line")
    if pieces is not None and (
        len(pieces[1]) != 2 * len(lines)
        or any(
            s >= 0 and not s <= e <= len(pieces[0])
            for s, e in zip(pieces[1][::2], pieces[1][1::2], strict=True)
        )
    ):
        raise ValueError("pieces need one (start, end) in the text per line")
    names = [_text(bytes(name)) for name, _, _ in extras]
    out: list[bytes] = []
    order = range(len(lines) - 1, -1, -1) if descending else range(len(lines))
    for k in order:
        s, end = lines[k]
        c = max(bisect_right(offs, s) - 1, 0)
        raw = data[s:end]
        record = f'{{"time":"{rfc3339(stamps[c])}","line":{_text(raw)}'
        level = level_of(raw)
        if level is not None:
            record += f',"level":"{level}"'
        for name, (_, starts, ends) in zip(names, extras, strict=True):
            if starts[k] >= 0:
                record += f",{name}:{_text(data[starts[k] : ends[k]])}"
        piece = b""
        if pieces is not None and pieces[1][2 * k] >= 0:
            piece = pieces[0][pieces[1][2 * k] : pieces[1][2 * k + 1]]
        out.append(head + record.encode() + piece + b"}" + tail)
    return b"".join(out)


HAVE_NATIVE = True
try:
    from ._speedups import encode_records as encode_records
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
    encode_records = py_encode_records
