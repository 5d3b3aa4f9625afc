"""How the line port writes what the engine returns: status lines, ``INFO``,
matching lines as stored (seed form) or ``[YYYY-MM-DD HH:MM:SS] <line>`` (server
local time), in chunks of whole lines, with invalid UTF-8 shown as U+FFFD, and the
aggregations: ``HITS`` buckets (``<UTC ISO time> <count>[ VALUE=n ...]``) and
``TOP`` values (``<value> <count>``).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Iterator

from ...query.aggregate import Histogram, Top
from ...query.matches import Matches
from ...query.spec import QuerySpec
from ...scan import as_utf8, gather, gather_stamped
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


REPLY_CHUNK = 1 << 18


def _batched(
    pieces: Iterable[bytes | bytearray], size: int = REPLY_CHUNK, check: bool = True
) -> Iterator[bytes]:
    """Join pieces of whole lines into reply chunks of about ``size`` bytes, UTF-8 safe
    (``check``: the pieces are not known to be valid UTF-8 yet).

    Few large chunks keep the per-chunk cost (one worker hand-off each) off
    replies that gather a little from many blocks."""
    fix = as_utf8 if check else bytes
    out: list[bytes | bytearray] = []
    have = 0
    for piece in pieces:
        out.append(piece)
        have += len(piece)
        if have >= size:
            yield fix(b"".join(out))
            out, have = [], 0
    if out:
        yield fix(b"".join(out))


def render_raw(matches: Matches) -> Iterator[bytes]:
    """The matching lines as stored, oldest first, gathered in C a block at a time."""
    return _batched(
        (_checked(view, spans, gather(view.buf, spans)) for view, spans in matches.ranges),
        check=False,
    )


def _checked(view: BlockView, spans: array[int], out: bytes) -> bytes:
    """``out``, gathered from ``spans`` of ``view``, made valid UTF-8: as it is when the
    block's bytes up to the last span are (checked once per block, in C)."""
    return out if view.block.utf8_through(spans[-1]) else as_utf8(out)


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


def render_stamped(
    matches: Matches, descending: bool = False, chunk: int = REPLY_CHUNK
) -> Iterator[bytes]:
    """``[YYYY-MM-DD HH:MM:SS] <line>`` per match (server local time).

    Replies are assembled in C a block at a time from one prefix per chunk, in
    either order.
    """
    stamps = _Stamps()

    def blocks() -> Iterator[bytes]:
        for view, spans in reversed(matches.ranges) if descending else matches.ranges:
            blk = view.block
            lo, hi = view.chunk_lo, view.chunk_hi
            prefixes = b"".join(stamps(ts) for ts in blk.chunk_ts[lo:hi])
            width = len(prefixes) // (hi - lo)
            # A copy of the offsets: the C code holds its buffer with the GIL
            # released, and the ingest thread may be appending to the original.
            offs = blk.chunk_off[lo:hi]
            out = gather_stamped(blk.buf, spans, offs, 0, hi - lo, prefixes, width, descending)
            yield _checked(view, spans, out)  # the prefixes are ASCII

    return _batched(blocks(), chunk, check=False)


def render(matches: Matches, spec: QuerySpec) -> Iterator[bytes]:
    """A QUERY reply's lines: raw in the seed form, else stamped."""
    if spec.raw and not spec.descending:
        return render_raw(matches)
    return render_stamped(matches, spec.descending)


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


def hits_lines(hist: Histogram) -> bytes:
    """``HITS: <n>`` then ``<bucket start> <count>`` per bucket, oldest first; with a
    ``by`` field each line goes on with ``VALUE=<count>`` for every non-zero value."""
    out = [f"HITS: {len(hist.buckets)}\n"]
    for bucket in hist.buckets:
        pairs = "".join(f" {value}={n}" for value, n in bucket.values)
        out.append(f"{iso_utc(bucket.start)} {bucket.count}{pairs}\n")
    return "".join(out).encode("utf-8", "replace")


def top_lines(result: Top) -> bytes:
    """``TOP: <n>`` then ``<value> <count>`` per value, most frequent first."""
    out = [f"TOP: {len(result.values)}\n"]
    out.extend(f"{value} {n}\n" for value, n in result.values)
    return "".join(out).encode("utf-8", "replace")
