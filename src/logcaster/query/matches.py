"""What a search returns: :class:`Matches`, the matching lines of a snapshot as byte
spans per block view, which each frontend renders its own way.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..scan import count_lines
from ..storage.ring import BlockView, Snapshot


@dataclass(slots=True)
class Matches:
    """Matching lines of a snapshot: per block view, flat ``[start, end, ...]`` spans."""

    count: int = 0
    ranges: list[tuple[BlockView, array[int]]] = field(default_factory=list)

    def add(self, view: BlockView, spans: array[int], lines: int) -> None:
        if lines:
            self.ranges.append((view, spans))
            self.count += lines

    @classmethod
    def merge(cls, parts: Iterable[Matches]) -> Matches:
        out = cls()
        for part in parts:
            out.ranges.extend(part.ranges)
            out.count += part.count
        return out

    def keep_newest(self, limit: int) -> Matches:
        """The newest ``limit`` lines of these matches.

        Whole spans are counted in C; only the span where the limit falls is cut
        line by line, and the spans kept are sliced off, never rebuilt."""
        if self.count <= limit:
            return self
        kept: list[tuple[BlockView, array[int]]] = []
        need = limit
        for view, spans in reversed(self.ranges):
            buf = view.buf
            i = len(spans) - 2
            while i >= 0:
                s, e = spans[i], spans[i + 1]
                lines = count_lines(buf, s, e)
                if lines >= need:
                    cut = e
                    for _ in range(need):
                        cut = buf.rfind(b"\n", s, cut - 1) + 1 or s
                    out = spans[i:]
                    out[0] = cut
                    kept.append((view, out))
                    kept.reverse()
                    return Matches(limit, kept)
                need -= lines
                i -= 2
            kept.append((view, spans))
        kept.reverse()  # pragma: no cover - count > limit: the limit falls in a span
        return Matches(limit, kept)  # pragma: no cover


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
    found = Matches()
    for view in snapshot.views:
        found.add(view, array("q", (view.start, view.end)), 1)
    found.count = snapshot.current
    return found.keep_newest(count)
