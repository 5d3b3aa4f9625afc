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
        falls (or one not counted), whole spans are counted in C and only the span
        where the limit falls is cut line by line. Spans kept are sliced off,
        never rebuilt."""
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
            buf = view.buf
            taken = 0
            i = len(spans) - 2
            while i >= 0:
                s, e = spans[i], spans[i + 1]
                here = count_lines(buf, s, e)
                if taken + here >= need:
                    cut = e
                    for _ in range(need - taken):
                        cut = buf.rfind(b"\n", s, cut - 1) + 1 or s
                    out = spans[i:]
                    out[0] = cut
                    kept.append((view, out))
                    kept_lines.append(need)
                    kept.reverse()
                    kept_lines.reverse()
                    return Matches(limit, kept, kept_lines)
                taken += here
                i -= 2
            kept.append((view, spans))  # an uncounted range, with fewer lines than needed
            kept_lines.append(taken)
            need -= taken
        kept.reverse()  # pragma: no cover - count > limit: the limit falls in a span
        kept_lines.reverse()  # pragma: no cover
        return Matches(limit, kept, kept_lines)  # pragma: no cover


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
