"""Reading stored lines back: memory-mapped files as search blocks (``scope=all``), and
the newest lines on disk to refill the ring at start.
"""

from __future__ import annotations

import mmap
import os
from array import array
from bisect import bisect_right
from pathlib import Path

from ..ring import Block, BlockView, Ring
from .layout import LogFile, all_files
from .recovery import read_index


def open_block(log: LogFile) -> Block | None:
    """A read-only, memory-mapped view of a log file as a search block."""
    try:
        with log.path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return None
            buf = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):
        return None
    offs, tss = read_index(log.index, size)
    return Block.from_buffer(buf, size, offs, tss)


def load_newest(
    directory: Path, max_lines: int, max_bytes: int
) -> list[tuple[bytes, array[int], array[int]]]:
    """The newest lines on disk, oldest first, as ``(data, chunk offsets, chunk times)``
    per file, at most ``max_lines`` lines and ``max_bytes`` bytes in all."""
    parts: list[tuple[bytes, array[int], array[int]]] = []
    lines = nbytes = 0
    for log in reversed(all_files(directory)):
        if lines >= max_lines or nbytes >= max_bytes:
            break
        try:
            data = log.path.read_bytes()
        except FileNotFoundError:
            continue
        data = data[: data.rfind(b"\n") + 1]
        if not data:
            continue
        offs, tss = read_index(log.index, len(data))
        start = 0
        have = data.count(b"\n")
        if have > max_lines - lines or len(data) > max_bytes - nbytes:
            # Keep only this file's newest lines.
            want = max_lines - lines
            start = len(data)
            while want and start > 0:
                nl = data.rfind(b"\n", 0, start - 1)
                cand = nl + 1
                if len(data) - cand > max_bytes - nbytes:
                    break
                start, want = cand, want - 1
            have = data.count(b"\n", start)
        if start:
            i = max(0, bisect_right(offs, start) - 1)
            offs, tss = array("q", [0, *(o - start for o in offs[i + 1 :])]), tss[i:]
            data = data[start:]
        if data:
            parts.append((data, offs, tss))
            lines += have
            nbytes += len(data)
    parts.reverse()
    return parts


def history_views(directory: Path) -> tuple[BlockView, ...]:
    """Every stored line, oldest first, as memory-mapped file views."""
    blocks = (open_block(f) for f in all_files(directory))
    return tuple(b.view() for b in blocks if b is not None)


def reload_ring(ring: Ring, directory: Path) -> tuple[int, int]:
    """Append the newest stored lines to ``ring``, with their original receive times,
    as many as it holds; return ``(lines, files)`` read."""
    lines = files = 0
    for data, offs, tss in load_newest(directory, ring.capacity, ring.max_bytes):
        view = memoryview(data)
        ends = [*offs[1:], len(data)]
        for start, end, ts in zip(offs, ends, tss, strict=True):
            lines += ring.append(view[start:end], ts)
        files += 1
    ring.reloaded += lines
    return lines, files
