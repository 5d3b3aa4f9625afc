"""Byte-scanning primitives of the hot paths, with a C accelerator when built.

``clean_lines`` checks a block of received lines in one pass; ``find_lines``
collects the lines that contain a literal. The C versions (``_speedups``)
release the GIL so worker threads scan blocks on every core; the fallbacks
below are the reference semantics and are used where no compiler was present
at install time. ``tests/test_scan.py`` checks that both agree.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Protocol

import numpy as np

Buffer = bytes | bytearray | memoryview


class _Scanner(Protocol):
    def clean_lines(self, buf: Buffer, start: int, end: int, max_line: int, /) -> int: ...

    def find_lines(
        self, buf: Buffer, start: int, end: int, needle: bytes, out: array[int], /
    ) -> int: ...

    def gather(self, buf: Buffer, spans: array[int], /) -> bytes: ...

    def count_lines(self, buf: Buffer, start: int, end: int, /) -> int: ...

    def prefault(self, buf: bytearray, /) -> None: ...

    def gather_stamped(
        self,
        buf: Buffer,
        spans: array[int],
        offs: array[int],
        lo: int,
        hi: int,
        prefixes: bytes,
        width: int,
        /,
    ) -> bytes: ...


def py_clean_lines(buf: Buffer, start: int, end: int, max_line: int) -> int:
    """Line count of ``buf[start:end]`` if every line is non-empty, at most
    ``max_line`` bytes and not ended by ``\\r``; else -1. The range ends in ``\\n``."""
    if end <= start:
        return 0
    arr = np.frombuffer(buf, np.uint8, count=end - start, offset=start)
    ends = np.flatnonzero(arr == 0x0A)
    if len(ends) == 0 or ends[-1] != end - start - 1:
        return -1
    sizes = np.diff(ends, prepend=-1)
    if sizes.min() < 2 or sizes.max() > max_line + 1 or (arr[ends[sizes > 1] - 1] == 0x0D).any():
        return -1
    return len(ends)


def py_find_lines(buf: Buffer, start: int, end: int, needle: bytes, out: array[int]) -> int:
    """Append the spans of lines of ``buf[start:end]`` containing ``needle``; count them."""
    data = bytes(memoryview(buf)[start:end])
    count = 0
    pos = 0
    first = len(out)  # spans from earlier calls are never extended
    while pos < len(data):
        hit = data.find(needle, pos)
        if hit < 0:
            break
        ls = data.rfind(b"\n", 0, hit) + 1
        le = data.find(b"\n", hit)
        le = len(data) if le < 0 else le + 1
        if len(out) > first and out[-1] == start + ls:
            out[-1] = start + le
        else:
            out.append(start + ls)
            out.append(start + le)
        count += 1
        pos = le
    return count


def py_gather(buf: Buffer, spans: array[int]) -> bytes:
    """The concatenation of ``buf[s:e]`` for each ``(s, e)`` pair of ``spans``."""
    view = memoryview(buf)
    return b"".join(view[spans[i] : spans[i + 1]] for i in range(0, len(spans), 2))


def py_gather_stamped(
    buf: Buffer,
    spans: array[int],
    offs: array[int],
    lo: int,
    hi: int,
    prefixes: bytes,
    width: int,
) -> bytes:
    """Like :func:`py_gather`, each line preceded by the prefix of the chunk it is in:
    chunk ``c`` in ``[lo, hi)`` starts at ``offs[c]``; its prefix is the ``c - lo``-th
    ``width``-byte slice of ``prefixes``."""
    data = bytes(buf)
    out = []
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        while s < e:
            c = max(bisect_right(offs, s, lo, hi) - 1, lo)
            le = data.find(b"\n", s, e) + 1 or e
            out.append(prefixes[(c - lo) * width : (c - lo + 1) * width])
            out.append(data[s:le])
            s = le
    return b"".join(out)


def py_count_lines(buf: Buffer, start: int, end: int) -> int:
    return bytes(memoryview(buf)[start:end]).count(b"\n")


def py_prefault(buf: bytearray) -> None:
    """Touch every page of ``buf`` so its page faults are taken now."""
    buf[::4096] = bytes(len(range(0, len(buf), 4096)))


try:
    import logcaster._speedups as _native

    native: _Scanner | None = _native
except ImportError:  # pragma: no cover - depends on the install
    native = None

clean_lines = native.clean_lines if native else py_clean_lines
find_lines = native.find_lines if native else py_find_lines
gather = native.gather if native else py_gather
count_lines = native.count_lines if native else py_count_lines
prefault = native.prefault if native else py_prefault
gather_stamped = native.gather_stamped if native else py_gather_stamped
