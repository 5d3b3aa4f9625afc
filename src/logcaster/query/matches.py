"""What a search returns: :class:`Matches`, the matching lines of a snapshot as byte
spans per block view, which each frontend renders its own way.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..scan import count_lines, covered
from ..storage.ring import BlockView, Snapshot

UNCOUNTED = -1  # the lines of a range not counted (every line of a view, say)


@dataclass(slots=True)
class Matches:
    """Matching lines of a snapshot: per block view, flat ``[start, end, ...]`` spans,
    and the number of lines of each range (or UNCOUNTED)."""

    count: int = 0
    ranges: list[tuple[BlockView, array[int]]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def add(self, view: BlockView, spans: array[int], lines: int) -> None:
        if lines:
            self.ranges.append((view, spans))
            self.lines.append(lines)
            self.count += lines

    @classmethod
    def merge(cls, parts: Iterable[Matches]) -> Matches:
        out = cls()
        for part in parts:
            out.ranges.extend(part.ranges)
            out.lines.extend(part.lines)
            out.count += part.count
        return out

    def line_bytes(self, cap: int | None = None) -> int:
        """The bytes of the matching lines (sparse matches span far more bytes than
        their lines hold); measured only until they pass ``cap``."""
        total = 0
        for _, spans in self.ranges:
            total += covered(spans)
            if cap is not None and total > cap:
                break
        return total

    def keep_newest(self, limit: int) -> Matches:
        """The newest ``limit`` lines of these matches.

        Ranges of known line counts are kept whole; in the one where the limit
        falls (or one not counted), whole spans are counted in C, from whichever
        end is nearer the cut, and only the span where it falls is cut line by
        line. Spans kept are sliced off, never rebuilt."""
        if self.count <= limit:
            return self
        kept: list[tuple[BlockView, array[int]]] = []
        kept_lines: list[int] = []
        need = limit
        for (view, spans), lines in zip(reversed(self.ranges), reversed(self.lines), strict=True):
            if lines != UNCOUNTED and lines < need:
                kept.append((view, spans))
                kept_lines.append(lines)
                need -= lines
                continue
            if lines != UNCOUNTED and lines - need < need:
                out: array[int] | None = _drop_oldest(view.buf, spans, lines - need)
                taken = need
            else:
                out, taken = _newest_lines(view.buf, spans, need)
            kept.append((view, spans if out is None else out))
            kept_lines.append(taken)
            need -= taken
            if out is not None:
                kept.reverse()
                kept_lines.reverse()
                return Matches(limit, kept, kept_lines)
        kept.reverse()  # pragma: no cover - count > limit: the limit falls in a span
        kept_lines.reverse()  # pragma: no cover
        return Matches(limit, kept, kept_lines)  # pragma: no cover


def _newest_lines(buf: bytearray, spans: array[int], need: int) -> tuple[array[int] | None, int]:
    """The spans of the newest ``need`` lines of ``spans`` and ``need``; or, if they
    hold fewer, None and their number of lines (the spans are all taken)."""
    taken = 0
    for i in range(len(spans) - 2, -1, -2):
        s, e = spans[i], spans[i + 1]
        here = count_lines(buf, s, e)
        if taken + here >= need:
            cut = e
            for _ in range(need - taken):
                cut = buf.rfind(b"\n", s, cut - 1) + 1 or s
            out = spans[i:]
            out[0] = cut
            return out, need
        taken += here
    return None, taken


def _drop_oldest(buf: bytearray, spans: array[int], drop: int) -> array[int]:
    """The spans of ``spans`` without their oldest ``drop`` lines (fewer than they
    hold): counted from the oldest end, when the cut is nearer it."""
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        here = count_lines(buf, s, e)
        if here > drop:
            cut = s
            for _ in range(drop):
                cut = buf.find(b"\n", cut, e) + 1
            out = spans[i:]
            out[0] = cut
            return out
        drop -= here
    raise ValueError("fewer lines than dropped")  # pragma: no cover - the caller counted


def whole(snapshot: Snapshot) -> Matches:
    """Every line of a snapshot, counted from the ring's line numbers (no scan)."""
    views = snapshot.views
    ranges = [(view, array("q", (view.start, view.end))) for view in views]
    return Matches(snapshot.current, ranges, [UNCOUNTED] * len(views))


def lines_of(view: BlockView, spans: array[int], descending: bool) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line in ``spans``, oldest or newest first."""
    buf = view.buf
    pairs = range(0, len(spans), 2)
    for i in reversed(pairs) if descending else pairs:
        s, e = spans[i], spans[i + 1]
        if descending:
            while e > s:
                ls = buf.rfind(b"\n", s, e - 1) + 1 or s
                yield ls, e
                e = ls
        else:
            while s < e:
                nl = buf.find(b"\n", s, e) + 1 or e
                yield s, nl
                s = nl


def tail(snapshot: Snapshot, count: int) -> Matches:
    """The newest ``count`` lines of a snapshot."""
    return whole(snapshot).keep_newest(count)
