"""The search engine: finds matching lines in a ring snapshot, block at a time.

A block is searched with one C-speed scan per candidate (``bytearray.find``
or a compiled RE2 pattern over the whole block); only when a candidate is
found is its enclosing line located. Results are byte ranges into the
snapshot's blocks, adjacent lines coalesced, so a result costs a few integers,
not a copy of the line; replies are rendered from the ranges while streaming.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from .ring import BlockView, Snapshot

REPLY_CHUNK = 256 * 1024


@dataclass(slots=True)
class Matches:
    """Matching lines of a snapshot: per block, flat ``[start, end, start, end, ...]``."""

    count: int = 0
    ranges: list[tuple[BlockView, array[int]]] = field(default_factory=list)

    def add_block(self, view: BlockView, spans: array[int], lines: int) -> None:
        if lines:
            self.ranges.append((view, spans))
            self.count += lines


def _add_line(spans: array[int], start: int, end: int) -> None:
    if spans and spans[-1] == start:
        spans[-1] = end
    else:
        spans.append(start)
        spans.append(end)


def find_literal(view: BlockView, needle: bytes) -> tuple[array[int], int]:
    """Lines of ``view`` containing ``needle`` (which holds no newline)."""
    buf, start, end = view.buf, view.start, view.end
    spans: array[int] = array("q")
    if not needle:
        return array("q", (start, end)), buf.count(b"\n", start, end)
    find, rfind = buf.find, buf.rfind
    count = 0
    pos = start
    while True:
        hit = find(needle, pos, end)
        if hit < 0:
            break
        ls = rfind(b"\n", start, hit) + 1 or start
        le = find(b"\n", hit, end) + 1
        _add_line(spans, ls, le)
        count += 1
        pos = le
    return spans, count


def search_literal(snapshot: Snapshot, needle: bytes) -> Matches:
    matches = Matches()
    for view in snapshot:
        spans, count = find_literal(view, needle)
        matches.add_block(view, spans, count)
    return matches


def iter_lines(matches: Matches) -> Iterator[tuple[BlockView, int, int]]:
    """Every matching line as ``(view, start, end)``; ``end`` includes the newline."""
    for view, spans in matches.ranges:
        buf = view.buf
        for i in range(0, len(spans), 2):
            s, e = spans[i], spans[i + 1]
            while s < e:
                nl = buf.find(b"\n", s, e) + 1
                yield view, s, nl
                s = nl


def render_raw(matches: Matches) -> Iterator[bytes]:
    """The matching lines as stored, in reply-sized chunks, valid UTF-8."""
    out: list[bytes] = []
    size = 0
    for view, spans in matches.ranges:
        buf = view.buf
        for i in range(0, len(spans), 2):
            s, e = spans[i], spans[i + 1]
            while s < e:
                cut = e
                if e - s > REPLY_CHUNK:
                    cut = buf.rfind(b"\n", s, s + REPLY_CHUNK) + 1 or buf.find(b"\n", s, e) + 1
                piece = bytes(buf[s:cut])
                out.append(piece if piece.isascii() else as_utf8(piece))
                size += cut - s
                s = cut
                if size >= REPLY_CHUNK:
                    yield b"".join(out)
                    out, size = [], 0
    if out:
        yield b"".join(out)


def as_utf8(data: bytes) -> bytes:
    """``data`` if it is valid UTF-8, else with invalid sequences replaced by U+FFFD."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace").encode("utf-8")
    return data
