"""Matches as JSON records, one per line: ``{"time": RFC 3339 receive time with
nanoseconds, "line": the text}``, as NDJSON or as Server-Sent Events.

Encoding is done a chunk of lines at a time, never a Python call per line: the
lines of one receive chunk (one time) are decoded together, JSON-escaped by one
``json.dumps`` of the whole list, and joined between a fixed prefix and suffix.
"""

from __future__ import annotations

import json
import time
from array import array
from bisect import bisect_right
from collections.abc import Iterator

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
    # json.dumps of a list separates its strings by '", "', which cannot occur
    # inside an encoded string (a quote in one is always escaped): split there.
    body = json.dumps(lines, ensure_ascii=False)[2:-2].split('", "')
    head, tail = framing
    prefix = f'{head}{{"time":"{rfc3339(ts_ns)}","line":"'
    suffix = f'"}}{tail}'
    return prefix + (suffix + prefix).join(body) + suffix


def _segments(view: BlockView, spans: array[int]) -> Iterator[tuple[int, int, int]]:
    """``(start, end, ts)`` of each run of matching lines within one receive chunk."""
    blk = view.block
    offs, tss = blk.chunk_off, blk.chunk_ts
    lo, hi = view.chunk_lo, view.chunk_hi
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        c = max(bisect_right(offs, s, lo, hi) - 1, lo)
        while s < e:
            end = min(e, offs[c + 1]) if c + 1 < hi else e
            yield s, end, tss[c]
            s, c = end, c + 1


def render_records(
    matches: Matches, framing: tuple[str, str] = NDJSON, newest_first: bool = False
) -> Iterator[bytes]:
    """Every match as a record, oldest (or newest) first, in chunks of about BATCH_BYTES."""
    out: list[str] = []
    have = 0
    ranges = reversed(matches.ranges) if newest_first else iter(matches.ranges)
    for view, spans in ranges:
        buf = view.buf
        segments = list(_segments(view, spans))
        for s, e, ts in reversed(segments) if newest_first else segments:
            piece = encode_lines(bytes(buf[s:e]), ts, framing, newest_first)
            out.append(piece)
            have += len(piece)
            if have >= BATCH_BYTES:
                yield "".join(out).encode()
                out, have = [], 0
    if out:
        yield "".join(out).encode()


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
