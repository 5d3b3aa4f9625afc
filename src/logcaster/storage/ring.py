"""The in-memory ring: log lines held as large byte blocks, oldest dropped first.

Storage design
--------------
Lines are never Python objects. They are appended, newline-terminated, into
fixed-capacity ``bytearray`` blocks (1 MiB by default). Each append (one
network read's worth of complete lines) is a *chunk*: the block records the
chunk's start offset, its receive time and the global number of its first line
in three flat ``array`` columns, so metadata costs bytes per read, not objects
per line.

Eviction is logical and exact by line count: ``dropped`` is the global number
of the first live line. Whole chunks (and whole blocks) whose lines are all
dead are released at once; a partially dead chunk stays in memory until its
last line dies, and readers skip its dead prefix. The byte limit evicts at
chunk granularity, which keeps held bytes under the limit.

Concurrency
-----------
One writer (the event loop) appends; any number of readers (worker threads)
take a :class:`Snapshot` under a short lock that copies a list of block
references and their fill levels. Block bytes below a recorded fill level are
never rewritten, so a snapshot stays valid however long the query runs.
"""

from __future__ import annotations

import sys
import threading
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Protocol

from ..scan import count_lines, prefault, utf8_valid
from ..stats import Metric

DEFAULT_BLOCK_SIZE = 1 << 20


class Block:
    """One fixed-capacity byte block and the per-chunk columns describing it."""

    __slots__ = (
        "buf",
        "chunk_line",
        "chunk_off",
        "chunk_ts",
        "first_chunk",
        "ts_max",
        "ts_min",
        "used",
        "utf8_upto",
    )

    def __init__(self, size: int, touch: bool = False) -> None:
        self.buf = bytearray(size)
        if touch:
            prefault(self.buf)
        self.used = 0
        self.chunk_off = array("q")  # byte offset of each chunk's first line
        self.chunk_ts = array("q")  # receive time of each chunk, ns since epoch
        self.chunk_line = array("q")  # global line number of each chunk's first line
        self.first_chunk = 0  # chunks before this one are wholly evicted
        self.ts_min = 1 << 63  # receive-time bounds of every chunk ever stored here
        self.ts_max = -(1 << 63)
        self.utf8_upto = 0  # buf[:utf8_upto] is known to be valid UTF-8

    @classmethod
    def from_buffer(cls, buf: Any, size: int, chunk_off: array[int], chunk_ts: array[int]) -> Block:
        """A read-only block over existing bytes (a memory-mapped log file)."""
        blk = cls.__new__(cls)
        blk.buf = buf
        blk.used = size
        blk.chunk_off, blk.chunk_ts = chunk_off, chunk_ts
        blk.chunk_line = array("q", bytes(8 * len(chunk_off)))
        blk.first_chunk = 0
        blk.ts_min = min(chunk_ts, default=1 << 63)
        blk.ts_max = max(chunk_ts, default=-(1 << 63))
        blk.utf8_upto = 0
        return blk

    def view(self) -> BlockView:
        return BlockView(
            self, self.chunk_off[0] if self.chunk_off else 0, self.used, 0, len(self.chunk_off)
        )

    def utf8_through(self, end: int) -> bool:
        """Whether ``buf[:end]`` (whole lines, ``end <= used``) is valid UTF-8. Each byte
        is checked once (in C) while the block holds it: bytes below ``used`` are
        never rewritten until :meth:`reset`."""
        done = self.utf8_upto
        if done >= end:
            return True
        with memoryview(self.buf) as view:
            if not utf8_valid(view[done:end]):
                return False
        self.utf8_upto = max(self.utf8_upto, end)
        return True

    def reset(self) -> None:
        self.used = 0
        self.utf8_upto = 0
        self.first_chunk = 0
        self.ts_min, self.ts_max = 1 << 63, -(1 << 63)
        del self.chunk_off[:], self.chunk_ts[:], self.chunk_line[:]

    @property
    def free(self) -> int:
        return len(self.buf) - self.used


@dataclass(frozen=True, slots=True)
class BlockView:
    """A reader's frozen view of one block: live lines are ``buf[start:end]``."""

    block: Block
    start: int
    end: int
    chunk_lo: int
    chunk_hi: int

    @property
    def buf(self) -> bytearray:
        return self.block.buf

    def time_of(self, offset: int) -> int:
        """Receive time (ns) of the line that starts at ``offset``."""
        blk = self.block
        i = bisect_right(blk.chunk_off, offset, self.chunk_lo, self.chunk_hi) - 1
        return blk.chunk_ts[max(i, self.chunk_lo)]

    def chunk_spans(self) -> Iterator[tuple[int, int, int]]:
        """Yield ``(start, end, ts)`` for each live chunk, oldest first."""
        blk = self.block
        offs, tss = blk.chunk_off, blk.chunk_ts
        for i in range(self.chunk_lo, self.chunk_hi):
            s = offs[i] if i > self.chunk_lo else self.start
            e = offs[i + 1] if i + 1 < self.chunk_hi else self.end
            yield s, e, tss[i]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent view of the ring: every live line at one instant, oldest first."""

    views: tuple[BlockView, ...]
    total: int
    dropped: int

    @property
    def current(self) -> int:
        return self.total - self.dropped

    def __iter__(self) -> Iterator[BlockView]:
        return iter(self.views)


def skip_lines(buf: bytearray, pos: int, end: int, count: int) -> int:
    """Return the offset just after ``count`` newline-terminated lines from ``pos``."""
    for _ in range(count):
        nl = buf.find(b"\n", pos, end)
        if nl < 0:
            return end
        pos = nl + 1
    return pos


class Factory(Protocol):
    """Where fresh blocks come from ahead of need (:class:`.factory.BlockFactory`)."""

    size: int

    def take(self) -> Block | None: ...


class Ring:
    """Bounded store of log lines, by line count and by bytes; oldest evicted first."""

    def __init__(
        self,
        capacity: int,
        max_bytes: int,
        block_size: int = DEFAULT_BLOCK_SIZE,
        factory: Factory | None = None,
    ) -> None:
        if capacity < 1 or max_bytes < 1:
            raise ValueError("ring capacity and byte limit must be positive")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.block_size = block_size
        self._blocks: deque[Block] = deque()
        self._spare: list[Block] = []  # evicted blocks no reader holds, for reuse
        self._last: Snapshot | None = None  # the last snapshot, while no block is evicted
        self._factory = factory if factory is not None and factory.size == block_size else None
        self._lock = threading.Lock()
        self.total = 0  # lines ever accepted
        self.dropped = 0  # lines evicted (global number of the oldest live line)
        self.held_bytes = 0  # bytes of live chunks (a partly dead chunk counts whole)
        self.reloaded = 0  # lines put back from storage at start

    @property
    def current(self) -> int:
        return self.total - self.dropped

    def collect(self) -> Iterable[Metric]:
        yield Metric("Total", self.total, "lines ever accepted", "counter", "lines_received")
        yield Metric(
            "Dropped", self.dropped, "lines evicted from memory", "counter", "lines_dropped"
        )
        yield Metric("Current", self.current, "lines held in memory", prom="lines_held")
        yield Metric("HeldBytes", self.held_bytes, "bytes of log data held in memory")
        yield Metric(
            "Reloaded",
            self.reloaded,
            "lines read back from disk at start",
            "counter",
            "lines_reloaded",
        )

    # ------------------------------------------------------------------ writer
    def append(
        self,
        data: bytes | bytearray | memoryview,
        ts_ns: int,
        lines: int | None = None,
        into: list[memoryview] | None = None,
    ) -> int:
        """Store complete lines (each ending in ``\\n``, none empty); return how many.

        ``lines`` is their number when the caller already knows it. ``data`` is
        copied before returning, so it may be a view into a reused receive buffer.
        With ``into``, read-only views of where the lines now lie in the ring are
        appended to it (one per block they went into): those bytes are
        never rewritten while a view of the block is alive (see :meth:`_retire`),
        so a store can keep them instead of a copy.
        """
        size = len(data)
        if size == 0:
            return 0
        blk = self._blocks[-1] if self._blocks else None
        if blk is not None and blk.free >= size:
            return self._record(blk, self._copy(blk, data), ts_ns, lines, into)
        # The whole lines that fit what is left of this block go there, the rest into
        # standard blocks (prefaulted, reused), cut at line ends: a block of its own
        # only for a line longer than a block, not for every large append.
        view, done = memoryview(data), 0
        if blk is not None and (cut := self._copy(blk, view)):
            done, view = self._record(blk, cut, ts_ns, None, into), view[cut:]
        while view:
            blk = self._new_block()
            cut = self._copy(blk, view)
            if cut == 0:  # its first line is longer than a block
                if len(self._spare) < 2:
                    self._spare.append(blk)
                blk = Block(len(view))
                cut = self._copy(blk, view)
            rest = None if lines is None or cut < len(view) else lines - done
            done += self._record(blk, cut, ts_ns, rest, into, fresh=True)
            view = view[cut:]
        return done

    def _new_block(self) -> Block:
        if self._spare:
            return self._spare.pop()
        ready = self._factory.take() if self._factory is not None else None
        return ready if ready is not None else Block(self.block_size)

    def _retire(self, blk: Block) -> None:
        """Keep an evicted block for reuse unless a reader's snapshot or a store's view
        (:meth:`append`'s ``into``) still holds it."""
        # References: the caller's, this frame's and getrefcount's own argument; of
        # the bytes: the block's and getrefcount's (a memoryview holds one more).
        if (
            len(blk.buf) == self.block_size
            and len(self._spare) < 2
            and sys.getrefcount(blk) <= 3
            and sys.getrefcount(blk.buf) <= 2
        ):
            blk.reset()
            self._spare.append(blk)

    @staticmethod
    def _copy(blk: Block, data: bytes | bytearray | memoryview) -> int:
        """Copy what fits of ``data`` past the block's used bytes (through a memoryview:
        a bytearray's slice assignment copies its source whole first); the bytes of
        its whole lines there, all of it if it fit."""
        used, n = blk.used, min(blk.free, len(data))
        with memoryview(blk.buf) as view:
            view[used : used + n] = data if n == len(data) else memoryview(data)[:n]
        if n == len(data):
            return n
        return max(blk.buf.rfind(b"\n", used, used + n) + 1 - used, 0)

    def _record(
        self,
        blk: Block,
        size: int,
        ts_ns: int,
        lines: int | None,
        into: list[memoryview] | None,
        fresh: bool = False,
    ) -> int:
        """Make the ``size`` bytes copied past the block's used ones a chunk of the ring
        (and the block one of its blocks if ``fresh``); returns their line count."""
        start = blk.used
        end = start + size
        buf = blk.buf
        if lines is None:
            lines = count_lines(buf, start, end)
        if into is not None:
            into.append(memoryview(buf).toreadonly()[start:end])
        with self._lock:
            if fresh:
                self._blocks.append(blk)
            blk.chunk_off.append(start)
            blk.chunk_ts.append(ts_ns)
            blk.chunk_line.append(self.total)
            if ts_ns < blk.ts_min:
                blk.ts_min = ts_ns
            if ts_ns > blk.ts_max:
                blk.ts_max = ts_ns
            blk.used = end
            self.total += lines
            self.held_bytes += end - start
            if self.total - self.dropped > self.capacity or self.held_bytes > self.max_bytes:
                self._evict()
        return lines

    def _evict(self) -> None:
        """Drop the oldest lines until both limits hold. Caller holds the lock.

        Line eviction is exact (``dropped`` moves by lines); memory is released
        a chunk at a time once all its lines are dead. The byte limit evicts
        whole chunks, except the newest, which always stays.
        """
        self.dropped = max(self.dropped, self.total - self.capacity)
        blocks = self._blocks
        while True:
            blk = blocks[0]
            i = blk.first_chunk
            last_in_block = i + 1 >= len(blk.chunk_off)
            if last_in_block and len(blocks) == 1:
                return  # the newest chunk is never evicted whole
            if last_in_block:
                end_line, end_off = blocks[1].chunk_line[0], blk.used
            else:
                end_line, end_off = blk.chunk_line[i + 1], blk.chunk_off[i + 1]
            if end_line > self.dropped and self.held_bytes <= self.max_bytes:
                return
            self.dropped = max(self.dropped, end_line)
            self.held_bytes -= end_off - blk.chunk_off[i]
            if last_in_block:
                self._last = None  # its views must not keep the block from reuse
                self._retire(blocks.popleft())
            else:
                blk.first_chunk = i + 1

    # ------------------------------------------------------------------ readers
    def snapshot(self) -> Snapshot:
        """Freeze the live lines, no byte copies. Between evictions of whole blocks only
        the oldest and newest blocks change: the views of the others (or, unchanged,
        the whole snapshot) are the last snapshot's, not rebuilt per block."""
        with self._lock:
            total, dropped, last = self.total, self.dropped, self._last
            if last is not None and (last.total, last.dropped) == (total, dropped):
                return last
            blocks, kept = self._blocks, last.views[1:-1] if last is not None else ()
            n = len(kept)
            if 0 < n < len(blocks) and (kept[0].block, kept[-1].block) == (blocks[1], blocks[n]):
                old, new = [blocks[0]], [blocks[i] for i in range(n + 1, len(blocks))]
            else:
                old, new, kept = [], list(blocks), ()
            raw = [(b, b.used, len(b.chunk_off), b.first_chunk) for b in (*old, *new)]
        views = [*map(_live_view, raw, repeat(dropped))]
        views[len(old) : len(old)] = kept  # the blocks between the oldest and the newest
        snap = Snapshot(tuple(v for v in views if v is not None), total, dropped)
        with self._lock:  # kept unless a block was evicted meanwhile
            self._last = snap if self._last is last else self._last
        return snap


def _live_view(raw: tuple[Block, int, int, int], dropped: int) -> BlockView | None:
    """A block's live lines (fill level, chunks, first live chunk: read under the lock)."""
    blk, used, nchunks, first = raw
    if first >= nchunks:
        return None
    start, line0 = blk.chunk_off[first], blk.chunk_line[first]
    if line0 < dropped:
        start = skip_lines(blk.buf, start, used, dropped - line0)
    return BlockView(blk, start, used, first, nchunks) if start < used else None
