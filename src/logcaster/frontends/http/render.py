"""Matches as JSON records, one per line: ``{"time": RFC 3339 receive time with
nanoseconds, "line": the text, "level": its level, when it has one, then its parsed
fields: "host", "app", "facility", "fields": {...}}`` (:mod:`~logcaster.records`),
as NDJSON or as Server-Sent Events; or the lines as stored (``text/plain``).

A reply is cut into *jobs*: runs of block views whose matches span about
:data:`JOB_BYTES`, each rendered by one worker-pool call. The records of a block's
matches are written by one call of :func:`~logcaster.ndjson.encode_records` (C,
GIL released), never by a Python call per line, into an output buffer taken from
:data:`BUFFERS` (a :class:`Filled` piece), which the frontend gives back once the
bytes are sent: the same few buffers serve a whole reply, and the next. The
frontend runs several jobs at once, so every core encodes while the event loop
writes.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from ...ndjson import encode_records, records, rfc3339
from ...query.engine import search_views
from ...query.matches import Matches
from ...query.postfilter import Scanner
from ...scan import covered, gather, gather_stamped
from ...storage.ring import BlockView

__all__ = [
    "BUFFERS",
    "NDJSON",
    "SSE",
    "Filled",
    "live_records",
    "record_jobs",
    "render_records",
    "render_text",
    "rfc3339",
    "scan_record_jobs",
    "text_jobs",
]

JOB_BYTES = 1 << 20  # matched bytes (at most) a job renders
SCAN_BYTES = 4 << 20  # ring bytes a scan-and-render job reads
Framing = tuple[bytes, bytes]  # what goes before and after each record
NDJSON: Framing = (b"", b"\n")
SSE: Framing = (b"data: ", b"\n\n")
Ranges = list[tuple[BlockView, "array[int]"]]
SMALL = 1 << 16  # pieces joined into one write below this total
ONE_CHUNK = array("q", (0,))
FIRST_SIZE = 1 << 20  # a fresh output buffer's least size (it grows as a job needs)
KEEP_BYTES = 48 << 20  # the free output buffers' bytes: ~4 jobs of every line in flight
OUTPUT_PER_BYTE = 3  # a fresh buffer's size per matched byte (workload records: ~2.4)


class Buffers:
    """Output buffers for the jobs: taken by a job (any thread), given back by the
    writer once sent. At most ``keep`` wait, ``keep_bytes`` in all.

    A buffer the encoder had to grow (a job of long records) is kept as grown: every
    growth is a copy of what the job had written, so a buffer that starts short for
    its job costs copies on every job, and one kept at its size costs none. A fresh
    buffer starts at the size the job asks for."""

    def __init__(self, keep: int, keep_bytes: int = KEEP_BYTES) -> None:
        self._free: list[bytearray] = []
        self._keep = keep
        self._keep_bytes = keep_bytes
        self._kept = 0  # the bytes of the free buffers
        self._lock = threading.Lock()

    def take(self, need: int = FIRST_SIZE) -> bytearray:
        """A free buffer (the largest), or a fresh one of ``need`` bytes at least."""
        with self._lock:
            if self._free:
                buf = self._free.pop()
                self._kept -= len(buf)
                return buf
        return bytearray(max(need, FIRST_SIZE))

    def give(self, buf: bytearray) -> None:
        with self._lock:
            if len(self._free) < self._keep and self._kept + len(buf) <= self._keep_bytes:
                self._free.append(buf)
                self._free.sort(key=len)  # the largest is taken first
                self._kept += len(buf)


BUFFERS = Buffers(keep=8)  # the six jobs a reply has in flight on two cores, and two more


@dataclass(slots=True)
class Filled:
    """A job's records: ``buf[:end]``, ``buf`` taken from :data:`BUFFERS`."""

    buf: bytearray
    end: int

    def done(self) -> None:
        """The bytes are sent (or copied): the buffer may serve another job."""
        BUFFERS.give(self.buf)


Piece = bytes | Filled
Job = Callable[[], Sequence[Piece]]  # the pieces of the reply, in order


def _groups(matches: Matches, newest_first: bool) -> Iterator[Ranges]:
    """The views with matches in reply order, cut into runs whose spans cover about
    JOB_BYTES (an O(1) bound per view: its first span's start to its last's end)."""
    group: Ranges = []
    extent = 0
    for view, spans in reversed(matches.ranges) if newest_first else matches.ranges:
        if not spans:
            continue
        group.append((view, spans))
        extent += spans[-1] - spans[0]
        if extent >= JOB_BYTES:
            yield group
            group, extent = [], 0
    if group:
        yield group


def view_records(
    view: BlockView,
    spans: array[int],
    out: bytearray,
    at: int,
    framing: Framing = NDJSON,
    newest_first: bool = False,
) -> int:
    """The records of one block view's matches, into ``out`` from ``at``; the end."""
    blk = view.block
    lo, hi = view.chunk_lo, view.chunk_hi
    # Copies: the C code holds its buffers with the GIL released, and the ingest
    # thread may be appending to the block's columns.
    offs, stamps = blk.chunk_off[lo:hi], blk.chunk_ts[lo:hi]
    head, tail = framing
    return encode_records(out, at, blk.buf, spans, offs, stamps, head, tail, newest_first)


def live_records(block: bytes, spans: array[int], ts_ns: int, framing: Framing = NDJSON) -> bytes:
    """The records of the lines ``block[s:e]`` of a live delivery, all received at ``ts_ns``."""
    head, tail = framing
    return records(block, spans, ONE_CHUNK, array("q", (ts_ns,)), head, tail)


def _pieces(pieces: list[bytes]) -> list[bytes]:
    """Large pieces as they are (no copy), small ones as one."""
    if len(pieces) > 1 and sum(map(len, pieces)) < SMALL:
        return [b"".join(pieces)]
    return pieces


def _fill(group: Ranges, out: bytearray, framing: Framing, newest_first: bool) -> int:
    end = 0
    for view, spans in group:
        end = view_records(view, spans, out, end, framing, newest_first)
    return end


def _records_of(group: Ranges, framing: Framing, newest_first: bool) -> list[Piece]:
    out = BUFFERS.take(OUTPUT_PER_BYTE * sum(covered(spans) for _, spans in group))
    return [Filled(out, _fill(group, out, framing, newest_first))]


def _text_of(group: Ranges, newest_first: bool) -> list[bytes]:
    if not newest_first:
        return _pieces([gather(v.buf, spans) for v, spans in group])
    return _pieces(
        [gather_stamped(v.buf, spans, ONE_CHUNK, 0, 1, b"", 0, True) for v, spans in group]
    )


def record_jobs(
    matches: Matches, framing: Framing = NDJSON, newest_first: bool = False
) -> Iterator[Job]:
    """The jobs rendering every match as a record, oldest (or newest) first."""
    for group in _groups(matches, newest_first):
        yield partial(_records_of, group, framing, newest_first)


def scan_record_jobs(
    views: Sequence[BlockView],
    matcher: Scanner,
    framing: Framing = NDJSON,
    newest_first: bool = False,
    run_bytes: int = SCAN_BYTES,
) -> Iterator[Job]:
    """The jobs that each scan a run of about ``run_bytes`` of ``views`` and render
    its matches as records, oldest (or newest) run first: the reply starts once the
    first run is scanned, not the whole snapshot, and each line is encoded right
    after the scan read it."""
    run: list[BlockView] = []
    size = 0
    for view in reversed(views) if newest_first else views:
        run.append(view)
        size += view.end - view.start
        if size >= run_bytes:
            yield partial(_scan_records, run, matcher, framing, newest_first)
            run, size = [], 0
    if run:
        yield partial(_scan_records, run, matcher, framing, newest_first)


def _scan_records(
    run: list[BlockView], matcher: Scanner, framing: Framing, newest_first: bool
) -> list[Piece]:
    matches = search_views(run[::-1] if newest_first else run, matcher)
    if not matches.count:
        return []
    ranges = matches.ranges[::-1] if newest_first else matches.ranges
    return _records_of(ranges, framing, newest_first)


def text_jobs(matches: Matches, newest_first: bool = False) -> Iterator[Job]:
    """The jobs rendering the matching lines as stored (``Accept: text/plain``)."""
    for group in _groups(matches, newest_first):
        yield partial(_text_of, group, newest_first)


def render_records(
    matches: Matches, framing: Framing = NDJSON, newest_first: bool = False
) -> Iterator[bytes]:
    """Every match as a record, one job's output at a time, in this thread."""
    for group in _groups(matches, newest_first):
        out = bytearray()
        del out[_fill(group, out, framing, newest_first) :]
        yield bytes(out)


def render_text(matches: Matches, newest_first: bool = False) -> Iterator[bytes]:
    for group in _groups(matches, newest_first):
        yield b"".join(_text_of(group, newest_first))


def skipped_record(skipped: int, framing: Framing = NDJSON) -> bytes:
    head, tail = framing
    return head + b'{"skipped":%d}' % skipped + tail
