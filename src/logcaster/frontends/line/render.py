"""How the line port writes what the engine returns: status lines, ``INFO``,
matching lines as stored (seed form) or ``[YYYY-MM-DD HH:MM:SS] <line>`` (server
local time), in chunks of whole lines written by C straight into output buffers
(reused when the reply is sent directly), with invalid UTF-8 shown as U+FFFD, and
the aggregations: ``HITS`` buckets (``<UTC ISO time> <count>[ VALUE=n ...]``) and
``TOP`` values (``<value> <count>``).
"""

from __future__ import annotations

import json
import re
import time
from array import array
from collections.abc import Generator, Iterable, Iterator

from ...direct import Chunk
from ...query.aggregate import Histogram, Top
from ...query.matches import Matches
from ...query.spec import QuerySpec
from ...scan import as_utf8, gather_stamped, stamp_into
from ...stats import Metric
from ...storage.ring import BlockView


def error_line(message: str) -> bytes:
    return f"ERROR: {message}\n".encode("utf-8", "replace")


def stats_line(total: int, dropped: int, current: int, clients: int) -> bytes:
    return (
        f"STATS: Total={total}, Dropped={dropped}, Current={current}, Clients={clients}\n".encode()
    )


def count_line(current: int) -> bytes:
    return f"COUNT: {current}\n".encode()


def found_line(count: int) -> bytes:
    return f"FOUND: {count} matches\n".encode()


def info_block(metrics: Iterable[Metric]) -> bytes:
    """``INFO``: a header line, then ``Name=value`` per metric."""
    body = [f"{m.name}={m.value}\n" for m in metrics]
    return f"INFO: {len(body)} counters\n{''.join(body)}".encode()


def stamp(ts_ns: int) -> bytes:
    return time.strftime("[%Y-%m-%d %H:%M:%S] ", time.localtime(ts_ns // 1_000_000_000)).encode()


class _Stamps:
    """``[YYYY-MM-DD HH:MM:SS] `` prefixes, computed once per second of receive time."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def __call__(self, ts_ns: int) -> bytes:
        second = ts_ns // 1_000_000_000
        if second != self._second:
            self._second, self._prefix = second, stamp(ts_ns)
        return self._prefix


RENDER_BUFFER = 1 << 20  # a reply sent directly is rendered into buffers of this size
TRANSPORT_CHUNK = 1 << 18  # else into chunks of this size (what a paused reply holds)


class _Out:
    """The buffers a reply is rendered into, none larger than ``size`` nor much
    larger than what is still to come (``total`` bytes in all): fresh ones, or
    (``reuse``) two in turn, for a consumer that is done with each chunk before it
    asks for the next but one (the direct writer). Fresh chunks are yielded as
    bytearrays, reused ones as memoryviews (which a consumer must copy to keep)."""

    def __init__(self, size: int, reuse: bool, total: int) -> None:
        self.size = size
        self.reuse = reuse
        self.left = total
        self.spare: list[bytearray] = []
        self.buf = self._fresh()
        self.pos = 0

    def _fresh(self) -> bytearray:
        # Room past the end lets the C copy move lines 16 bytes at a time; lines
        # with invalid UTF-8 grow when mended, past ``total``: some room still.
        return bytearray(max(1, min(self.size, max(self.left, 4096) + 64)))

    def take(self) -> Chunk:
        """What was written so far, as one chunk; writing goes on in another buffer."""
        buf, pos = self.buf, self.pos
        self.pos = 0
        self.left -= pos
        if not self.reuse:
            self.buf = self._fresh()
            del buf[pos:]
            return buf
        self.buf = self.spare.pop() if self.spare else self._fresh()
        self.spare.append(buf)
        return memoryview(buf)[:pos]

    def put(self, data: bytes) -> Iterator[Chunk]:
        """Append ``data`` (whole lines); yield chunks as buffers fill."""
        if self.pos + len(data) > len(self.buf) and self.pos:
            yield self.take()
        if len(data) > len(self.buf):  # larger than a buffer: a chunk of its own
            self.left -= len(data)
            yield data
            return
        self.buf[self.pos : self.pos + len(data)] = data
        self.pos += len(data)


def _size(matches: Matches, width: int) -> int:
    """The bytes of ``matches`` stamped with ``width``-byte prefixes."""
    return matches.line_bytes() + matches.count * width


def render_raw(
    matches: Matches, head: bytes = b"", chunk: int | None = None, reuse: bool = False
) -> Iterator[Chunk]:
    """``head``, then the matching lines as stored, oldest first (as
    :func:`render_stamped`, without the prefixes)."""
    return _render(matches, False, chunk, head, reuse, None)


def render_stamped(
    matches: Matches,
    descending: bool = False,
    chunk: int | None = None,
    head: bytes = b"",
    reuse: bool = False,
) -> Iterator[Chunk]:
    """``head``, then ``[YYYY-MM-DD HH:MM:SS] <line>`` per match (server local time),
    in chunks of whole lines of at most ``chunk`` bytes (a longer line: a chunk of
    its own; by default :data:`RENDER_BUFFER` with ``reuse``, else
    :data:`TRANSPORT_CHUNK`).

    Lines are written in C straight into the output buffers, a block's spans at a
    time, from one prefix per receive-time chunk of the block, in either order;
    ``reuse``: see :class:`_Out`."""
    return _render(matches, descending, chunk, head, reuse, _Stamps())


NO_CHUNKS = array("q", (0,))  # the chunk offsets of an unstamped render (no prefix)


def _render(
    matches: Matches,
    descending: bool,
    chunk: int | None,
    head: bytes,
    reuse: bool,
    stamps: _Stamps | None,
) -> Iterator[Chunk]:
    """The lines of ``matches``, each after its receive time's stamp (``stamps``), or
    as stored (None)."""
    width = 0 if stamps is None else len(stamp(0))
    if chunk is None:
        chunk = RENDER_BUFFER if reuse else TRANSPORT_CHUNK
    out = _Out(chunk, reuse, len(head) + _size(matches, width))
    yield from out.put(head)
    for view, spans in reversed(matches.ranges) if descending else matches.ranges:
        blk = view.block
        if stamps is None:
            args = (NO_CHUNKS, 0, 1, b"", 0, descending)
        else:
            lo, hi = view.chunk_lo, view.chunk_hi
            prefixes = b"".join(stamps(ts) for ts in blk.chunk_ts[lo:hi])
            width = len(prefixes) // (hi - lo)
            # A copy of the offsets: the C code holds its buffer with the GIL
            # released, and the ingest thread may be appending to the original.
            offs = blk.chunk_off[lo:hi]
            args = (offs, 0, hi - lo, prefixes, width, descending)
        if not blk.utf8_through(spans[-1]):  # the prefixes are ASCII
            yield from out.put(as_utf8(gather_stamped(blk.buf, spans, *args)))
            continue
        pairs = len(spans) // 2
        index, at = 0, -1
        while index < pairs:
            start = out.pos
            out.pos, index, at = stamp_into(out.buf, start, blk.buf, spans, index, at, *args)
            if index < pairs:
                if out.pos == start == 0:  # one line longer than a buffer
                    index, at = yield from _long_line(view, spans, index, at, args)
                else:
                    yield out.take()
    if out.pos:
        yield out.take()


def _long_line(
    view: BlockView,
    spans: array[int],
    index: int,
    at: int,
    args: tuple[array[int], int, int, bytes, int, bool],
) -> Generator[Chunk, None, tuple[int, int]]:
    """The line at ``(index, at)`` of ``spans`` as a chunk of its own; returns the
    position after it (where :func:`stamp_into` goes on)."""
    descending = args[-1]
    pairs = len(spans) // 2
    k = pairs - 1 - index if descending else index
    s, e = spans[2 * k], spans[2 * k + 1]
    buf = view.buf
    if at == -1:
        at = e if descending else s
    if descending:
        ls, le = buf.rfind(b"\n", s, at - 1) + 1 or s, at
    else:
        ls, le = at, buf.find(b"\n", at, e) + 1 or e
    yield gather_stamped(buf, array("q", (ls, le)), *args)
    at = ls if descending else le
    if at == (s if descending else e):
        return index + 1, -1
    return index, at


def render(
    matches: Matches, spec: QuerySpec, head: bytes = b"", reuse: bool = False
) -> Iterator[Chunk]:
    """A QUERY reply: ``head``, then its lines, raw in the seed form, else stamped
    (``reuse``: see :class:`_Out`)."""
    if spec.raw and not spec.descending:
        return render_raw(matches, head, reuse=reuse)
    return render_stamped(matches, spec.descending, head=head, reuse=reuse)


def live_lines(block: bytes, spans: array[int], ts_ns: int, skipped: int) -> bytes:
    """A FOLLOW delivery: ``... N lines skipped`` if any went by, then the stamped lines."""
    prefix = stamp(ts_ns)
    out = [f"... {skipped} lines skipped\n".encode()] if skipped else []
    for i in range(0, len(spans), 2):
        run = block[spans[i] : spans[i + 1] - 1]  # whole lines, last newline dropped
        out.append(prefix + run.replace(b"\n", b"\n" + prefix) + b"\n")
    return as_utf8(b"".join(out))


def iso_utc(ts_ns: int) -> str:
    """``2026-12-01T19:00:00Z`` (UTC, whole seconds); Unix seconds if out of range."""
    seconds = ts_ns // 1_000_000_000
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return str(seconds)


_PLAIN = re.compile(r'[^\s="\\\x00-\x1f\x7f]+')  # a value written as it is


def value_text(value: str) -> str:
    """A field value in a TOP or HITS line: as it is when it holds no whitespace, '=',
    quote, backslash or control character, else as a JSON string (``"has space"``,
    ``"line\\nbreak"``), so that each answer line stays one line of
    space-separated words."""
    return value if _PLAIN.fullmatch(value) else json.dumps(value, ensure_ascii=False)


def hits_lines(hist: Histogram) -> bytes:
    """``HITS: <n>`` then ``<bucket start> <count>`` per bucket, oldest first; with a
    ``by`` field each line goes on with ``VALUE=<count>`` for every non-zero value."""
    out = [f"HITS: {len(hist.buckets)}\n"]
    for bucket in hist.buckets:
        pairs = "".join(f" {value_text(value)}={n}" for value, n in bucket.values)
        out.append(f"{iso_utc(bucket.start)} {bucket.count}{pairs}\n")
    return "".join(out).encode("utf-8", "replace")


def top_lines(result: Top) -> bytes:
    """``TOP: <n>`` then ``<value> <count>`` per value, most frequent first."""
    out = [f"TOP: {len(result.values)}\n"]
    out.extend(f"{value_text(value)} {n}\n" for value, n in result.values)
    return "".join(out).encode("utf-8", "replace")
