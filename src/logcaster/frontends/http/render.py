"""Matches as JSON records, one per line: ``{"time": RFC 3339 receive time with
nanoseconds, "line": the text}``, as NDJSON or as Server-Sent Events.

Encoding is done a block of matches at a time, never a Python call per line: the
matching lines are gathered and decoded together, JSON-escaped by one
``json.dumps`` of the whole list, and joined between a fixed prefix and suffix per
receive chunk (the lines of one chunk share a receive time).
"""

from __future__ import annotations

import itertools
import json
import time
from array import array
from collections.abc import Iterator

import numpy as np

from ...query.matches import Matches
from ...scan import gather
from ...storage.ring import BlockView

BATCH_BYTES = 1 << 18
NDJSON = ("", "\n")
SSE = ("data: ", "\n\n")


def rfc3339(ts_ns: int) -> str:
    """``2026-12-01T19:00:59.917121123Z``: UTC, nanoseconds."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns:09d}Z"


def encode_lines(
    data: bytes, ts_ns: int, framing: tuple[str, str] = NDJSON, newest_first: bool = False
) -> str:
    """Records for the newline-terminated lines of ``data``, all received at ``ts_ns``."""
    lines = data.decode("utf-8", "replace").split("\n")
    lines.pop()  # the text after the last newline: empty
    if not lines:
        return ""
    if newest_first:
        lines.reverse()
    body = _encode(lines)
    head, tail = framing
    prefix = f'{head}{{"time":"{rfc3339(ts_ns)}","line":"'
    suffix = f'"}}{tail}'
    return prefix + (suffix + prefix).join(body) + suffix


def _encode(lines: list[str]) -> list[str]:
    """The JSON string bodies (without quotes) of ``lines``, in one ``json.dumps``.

    json.dumps of a list separates its strings by '", "', which cannot occur
    inside an encoded string (a quote in one is always escaped): split there.
    """
    return json.dumps(lines, ensure_ascii=False)[2:-2].split('", "')


def _bodies(data: bytes, arr: np.ndarray, lines: int) -> list[bytes]:
    """The JSON string bodies (without quotes) of the ``lines`` lines of ``data``
    (``arr`` is its NumPy view): the lines as they are when none holds a quote, a
    backslash or a control character and all is valid UTF-8, else via json.dumps."""
    plain = (
        b'"' not in data
        and b"\\" not in data
        and int(np.count_nonzero(arr < 0x20)) == lines  # the newlines only
    )
    if plain and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            plain = False
    if plain:
        body = data.split(b"\n")
        body.pop()  # the text after the last newline: empty
        return body
    text = data.decode("utf-8", "replace").split("\n")
    text.pop()
    return [b.encode() for b in _encode(text)]


def view_records(
    view: BlockView,
    spans: array[int],
    framing: tuple[str, str] = NDJSON,
    newest_first: bool = False,
) -> bytes:
    """The records of one block view's matches. Per-line work is done by C (gather,
    translate, split, json.dumps) and NumPy (which receive chunk each line is in);
    Python loops only over the receive chunks the matches touch."""
    data = gather(view.buf, spans)
    if not data:
        return b""
    arr = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(arr == 0x0A)
    body = _bodies(data, arr, len(ends))
    starts = np.concatenate(([0], ends[:-1] + 1))
    pairs = np.frombuffer(spans, np.int64)
    span_starts, span_ends = pairs[0::2], pairs[1::2]
    packed = np.concatenate(([0], np.cumsum(span_ends - span_starts)))  # in ``data``
    k = np.searchsorted(packed, starts, "right") - 1
    origin = span_starts[k] + (starts - packed[k])  # each line's offset in the block
    blk = view.block
    lo, hi = view.chunk_lo, view.chunk_hi
    # A copy: the ingest thread may be appending to the block's columns.
    offs = np.frombuffer(blk.chunk_off[lo:hi], np.int64)
    chunk = np.maximum(np.searchsorted(offs, origin, "right") - 1, 0)
    if newest_first:
        body.reverse()
        chunk = chunk[::-1]
    cuts = [0, *(np.flatnonzero(np.diff(chunk)) + 1).tolist(), len(body)]
    head, tail = framing
    suffix = f'"}}{tail}'.encode()
    out = []
    for a, b in itertools.pairwise(cuts):
        ts = rfc3339(blk.chunk_ts[lo + int(chunk[a])])
        prefix = f'{head}{{"time":"{ts}","line":"'.encode()
        out.append(prefix + (suffix + prefix).join(body[a:b]) + suffix)
    return b"".join(out)


def render_records(
    matches: Matches, framing: tuple[str, str] = NDJSON, newest_first: bool = False
) -> Iterator[bytes]:
    """Every match as a record, oldest (or newest) first, in chunks of about BATCH_BYTES."""
    out: list[bytes] = []
    have = 0
    ranges = reversed(matches.ranges) if newest_first else iter(matches.ranges)
    for view, spans in ranges:
        piece = view_records(view, spans, framing, newest_first)
        out.append(piece)
        have += len(piece)
        if have >= BATCH_BYTES:
            yield b"".join(out)
            out, have = [], 0
    if out:
        yield b"".join(out)


def render_text(matches: Matches, newest_first: bool = False) -> Iterator[bytes]:
    """The matching lines as stored (``Accept: text/plain``), in large chunks."""
    out: list[bytes] = []
    have = 0
    for view, spans in reversed(matches.ranges) if newest_first else matches.ranges:
        piece = gather(view.buf, spans)
        if newest_first:
            lines = piece.split(b"\n")
            lines.pop()
            lines.reverse()
            piece = b"\n".join(lines) + b"\n"
        out.append(piece)
        have += len(piece)
        if have >= BATCH_BYTES:
            yield b"".join(out)
            out, have = [], 0
    if out:
        yield b"".join(out)


def skipped_record(skipped: int, framing: tuple[str, str] = NDJSON) -> bytes:
    head, tail = framing
    return f'{head}{{"skipped":{skipped}}}{tail}'.encode()
