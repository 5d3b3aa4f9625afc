"""The newest ``limit`` matches, found by scanning back from the newest line in
windows that grow only as far as the matches found so far say they must, and
what needs no scan at all: a query without filters matches every line held.

A ``limit=`` query is mostly fixed cost: the newest hundred ``GET`` lines sit in
the last few dozen KiB, yet scanning whole blocks (1 MiB each, two at a time)
costs milliseconds. :func:`newest` starts with a window sized from the limit,
cut at line starts, and after each window estimates from the bytes per match
seen so far how far back the rest lie (four times further while none is
found). The first window is at most :data:`FIRST_MAX`: sized from the limit
alone it assumes sparse matches, and ``keywords=INFO limit=250000`` scanned the
whole 104 MB ring when ~37 MB held its matches (23 ms; 8 ms with the cap, the
second window sized from the first). Small windows are scanned on the event loop
(the C scanners take microseconds there, no worker hand-off); from the first
large one on, one worker job runs the rest of the search, sharing each window's
pieces out to the other workers as they come free: pieces of about :data:`PIECE`
bytes, or :data:`PIECES` of them when that makes them larger (a 100 MB window in
128 KiB pieces was 800 sub-views and hand-offs).
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Sequence

from ..storage.ring import BlockView
from .matches import Matches
from .postfilter import Scanner
from .spec import QuerySpec

FIRST_BYTES_PER_LIMIT = 512  # first window: this many bytes per line asked for ...
FIRST_MIN = 64 << 10  # ... but at least this much ...
FIRST_MAX = 8 << 20  # ... and at most this much (the next window is sized from it)
INLINE_MAX = 128 << 10  # a window this small is scanned on the caller's thread
PIECE = 128 << 10  # larger windows: cut into pieces of about this size for the workers ...
PIECES = 16  # ... or into this many, when that makes them larger
GROW = 4  # a window that found nothing: the next one is this many times as large
MARGIN = 1.25  # the estimate of the bytes still needed, with some room
INLINE_CUT = 1000  # the newest this many lines are cut from the matches on the caller's thread


def everything(spec: QuerySpec) -> bool:
    """Whether ``spec`` has no filter at all (every line held matches)."""
    return not (
        spec.keywords
        or spec.regex is not None
        or spec.levels
        or spec.fields
        or spec.time_from is not None
        or spec.time_to is not None
    )


def sub_view(view: BlockView, start: int, end: int) -> BlockView:
    """The part ``[start, end)`` of ``view`` (both line starts or the view's end),
    with the chunk range narrowed to the chunks it overlaps."""
    offs = view.block.chunk_off
    hi = max(bisect_left(offs, end, view.chunk_lo, view.chunk_hi), view.chunk_lo + 1)
    lo = max(bisect_right(offs, start, view.chunk_lo, hi) - 1, view.chunk_lo)
    return BlockView(view.block, start, end, lo, hi)


class Cursor:
    """Walks back over ``views`` from their end, a window of whole lines at a time."""

    def __init__(self, views: Sequence[BlockView]) -> None:
        self.views = views
        self.index = len(views) - 1
        self.pos = views[-1].end if views else 0

    @property
    def done(self) -> bool:
        return self.index < 0

    def take(self, size: int) -> list[BlockView]:
        """About ``size`` bytes of whole lines before the cursor, oldest first, in
        pieces of at most about :data:`PIECE` bytes (one line may be longer)."""
        pieces: list[BlockView] = []
        piece = max(PIECE, size // PIECES)
        while size > 0 and self.index >= 0:
            view = self.views[self.index]
            end = self.pos
            want = min(size, piece)
            cut = view.start if end - view.start <= want else _line_start(view, end - want, end)
            pieces.append(sub_view(view, cut, end))
            size -= end - cut
            if cut <= view.start:
                self.index -= 1
                self.pos = self.views[self.index].end if self.index >= 0 else 0
            else:
                self.pos = cut
        pieces.reverse()
        return pieces


def _line_start(view: BlockView, guess: int, end: int) -> int:
    """The start of the line holding byte ``guess`` (``view.start`` <= it < ``end``),
    or of the last line before ``end`` if that line holds ``guess``: never ``end``."""
    buf = view.buf
    nl = buf.rfind(b"\n", view.start, guess)
    cut = nl + 1 if nl >= 0 else view.start
    if cut >= end:  # pragma: no cover - guess < end, so cut <= guess < end
        cut = view.start
    return cut


Inline = Callable[[Sequence[BlockView], Scanner], Matches]  # scans on the caller's thread
# Blocking: every piece scanned, on several threads; stopping early when the event is set.
Share = Callable[[Sequence[BlockView], Scanner, threading.Event], list[Matches]]
Offload = Callable[..., Awaitable[object]]  # runs a blocking call on a worker


class Newest:
    """One newest-first search: the windows taken so far and what they found."""

    def __init__(self, views: Sequence[BlockView], limit: int) -> None:
        self.cursor = Cursor(views)
        self.limit = limit
        self.collected: list[Matches] = []  # oldest window first
        self.found = self.scanned = 0
        self.size = min(max(FIRST_MIN, limit * FIRST_BYTES_PER_LIMIT), FIRST_MAX)  # the next window

    @property
    def done(self) -> bool:
        return self.found >= self.limit or self.cursor.done

    def take(self) -> list[BlockView]:
        """The next window, in pieces, oldest first."""
        return self.cursor.take(self.size)

    def record(self, pieces: Sequence[BlockView], parts: list[Matches]) -> None:
        """What a window found; size the next one from the bytes per match so far."""
        self.collected[:0] = parts
        self.found += sum(p.count for p in parts)
        self.scanned += sum(p.end - p.start for p in pieces)
        if self.found:
            self.size = int((self.limit - self.found) * self.scanned / self.found * MARGIN) + 1
        else:
            self.size = self.scanned * (GROW - 1)

    def finish(
        self, pieces: list[BlockView], matcher: Scanner, share: Share, stop: threading.Event
    ) -> None:
        """On a worker: scan ``pieces`` and the windows after them, each shared out
        piece by piece (:meth:`.pool.WorkerPool.share`), until done or ``stop``."""
        while not stop.is_set():
            self.record(pieces, share(pieces, matcher, stop))
            if self.done:
                return
            pieces = self.take()


async def newest(
    views: Sequence[BlockView],
    matcher: Scanner,
    limit: int,
    offload: Offload,
    share: Share,
    inline: Inline,
) -> Matches:
    """At least the newest ``limit`` matches of ``matcher`` in ``views`` (all of them if
    there are fewer), oldest first; the caller cuts the excess.

    Windows up to :data:`INLINE_MAX` are scanned here (``inline``); from the first
    larger one on, the search goes on in one worker job (``offload``) that shares
    each window's pieces out to other workers itself (``share``): the event loop
    is not woken between windows, nor once per piece."""
    search = Newest(views, limit)
    while not search.done:
        pieces = search.take()
        if sum(p.end - p.start for p in pieces) > INLINE_MAX:
            stop = threading.Event()
            try:
                await offload(search.finish, pieces, matcher, share, stop)
            except asyncio.CancelledError:
                stop.set()  # whoever asked has gone: the job ends at its next piece
                raise
            break
        search.record(pieces, [inline(pieces, matcher)])
    return Matches.merge(search.collected)
