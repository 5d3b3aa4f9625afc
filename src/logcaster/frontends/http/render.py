"""Matches as JSON records, one per line: ``{"time": RFC 3339 receive time with
nanoseconds, "line": the text, "level": its level, when it has one}``, as NDJSON or
as Server-Sent Events.

The records of a block's matches are written by one call of
:func:`~logcaster.ndjson.encode_records` (C, GIL released, on the worker pool),
never by a Python call per line.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from ...ndjson import encode_records, rfc3339
from ...query.matches import Matches
from ...scan import gather
from ...storage.ring import BlockView

__all__ = ["NDJSON", "SSE", "live_records", "render_records", "render_text", "rfc3339"]

BATCH_BYTES = 1 << 18
Framing = tuple[bytes, bytes]  # what goes before and after each record
NDJSON: Framing = (b"", b"\n")
SSE: Framing = (b"data: ", b"\n\n")


def view_records(
    view: BlockView, spans: array[int], framing: Framing = NDJSON, newest_first: bool = False
) -> bytes:
    """The records of one block view's matches."""
    blk = view.block
    lo, hi = view.chunk_lo, view.chunk_hi
    # Copies: the C code holds its buffers with the GIL released, and the ingest
    # thread may be appending to the block's columns.
    offs, stamps = blk.chunk_off[lo:hi], blk.chunk_ts[lo:hi]
    head, tail = framing
    return encode_records(blk.buf, spans, offs, stamps, head, tail, newest_first)


def live_records(block: bytes, spans: array[int], ts_ns: int, framing: Framing = NDJSON) -> bytes:
    """The records of the lines ``block[s:e]`` of a live delivery, all received at ``ts_ns``."""
    head, tail = framing
    return encode_records(block, spans, array("q", (0,)), array("q", (ts_ns,)), head, tail)


def render_records(
    matches: Matches, framing: Framing = NDJSON, newest_first: bool = False
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


def skipped_record(skipped: int, framing: Framing = NDJSON) -> bytes:
    head, tail = framing
    return head + b'{"skipped":%d}' % skipped + tail
