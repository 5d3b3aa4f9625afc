"""What a search returns: :class:`Matches`, the matching lines of a snapshot as byte
spans per block view, which each frontend renders its own way.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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
        """The newest ``limit`` lines of these matches."""
        if self.count <= limit:
            return self
        kept: list[tuple[BlockView, array[int]]] = []
        need = limit
        for view, spans in reversed(self.ranges):
            buf = view.buf
            out: array[int] = array("q")
            for i in range(len(spans) - 2, -1, -2):
                s, e = spans[i], spans[i + 1]
                cut = e
                while need and cut > s:
                    cut = buf.rfind(b"\n", s, cut - 1) + 1 or s
                    need -= 1
                out[:0] = array("q", (cut, e))
                if not need:
                    break
            kept.append((view, out))
            if not need:
                break
        kept.reverse()
        return Matches(limit, kept)


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
