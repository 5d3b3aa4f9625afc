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

import numpy as np

Buffer = bytes | bytearray | memoryview


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


def py_covered(spans: array[int]) -> int:
    """How many bytes the ``(start, end)`` pairs of ``spans`` cover."""
    pairs = np.frombuffer(spans, dtype=np.int64)
    return int((pairs[1::2] - pairs[::2]).sum())


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
    descending: bool = False,
) -> bytes:
    """Like :func:`py_gather`, each line preceded by the prefix of the chunk it is in:
    chunk ``c`` in ``[lo, hi)`` starts at ``offs[c]``; its prefix is the ``c - lo``-th
    ``width``-byte slice of ``prefixes``. ``descending``: newest line first."""
    data = bytes(buf)
    out = []
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        while s < e:
            c = max(bisect_right(offs, s, lo, hi) - 1, lo)
            le = data.find(b"\n", s, e) + 1 or e
            out.append(prefixes[(c - lo) * width : (c - lo + 1) * width] + data[s:le])
            s = le
    if descending:
        out.reverse()
    return b"".join(out)


def py_stamp_into(
    out: bytearray,
    pos: int,
    buf: Buffer,
    spans: array[int],
    index: int,
    at: int,
    offs: array[int],
    lo: int,
    hi: int,
    prefixes: bytes,
    width: int,
    descending: bool = False,
) -> tuple[int, int, int]:
    """:func:`py_gather_stamped`'s lines written into ``out`` from ``pos``, whole lines
    only, as many as fit: from span pair ``index`` (in reading order) and byte ``at``
    of it (-1: the pair's first line; else the next line's start, or its end when
    ``descending``). Returns ``(pos, index, at)`` where it stopped; done when
    ``index`` is the number of pairs (``at`` then -1)."""
    data = bytes(buf)
    pairs = len(spans) // 2
    while index < pairs:
        k = pairs - 1 - index if descending else index
        s, e = spans[2 * k], spans[2 * k + 1]
        if at == -1:
            at = e if descending else s
        while s < at if descending else at < e:
            if descending:
                ls, le = data.rfind(b"\n", s, at - 1) + 1 or s, at
            else:
                ls, le = at, data.find(b"\n", at, e) + 1 or e
            c = max(bisect_right(offs, ls, lo, hi) - 1, lo)
            piece = prefixes[(c - lo) * width : (c - lo + 1) * width] + data[ls:le]
            if pos + len(piece) > len(out):
                return pos, index, at
            out[pos : pos + len(piece)] = piece
            pos += len(piece)
            at = ls if descending else le
        index, at = index + 1, -1
    return pos, index, at


def py_count_lines(buf: Buffer, start: int, end: int) -> int:
    return bytes(memoryview(buf)[start:end]).count(b"\n")


def py_utf8_valid(data: Buffer) -> bool:
    """Whether ``data`` is valid UTF-8 (a strict decode succeeds)."""
    try:
        str(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def as_utf8(data: bytes) -> bytes:
    """``data`` if it is valid UTF-8, else with invalid sequences replaced by U+FFFD.

    Replies are text: a client decoding them strictly must not fail on a line
    that was stored with invalid bytes. The check runs in C (GIL released)."""
    if utf8_valid(data):
        return data
    return data.decode("utf-8", "replace").encode("utf-8")


def py_prefault(buf: bytearray) -> None:
    """Touch every page of ``buf`` so its page faults are taken now."""
    buf[::4096] = bytes(len(range(0, len(buf), 4096)))


HAVE_NATIVE = True
try:
    from ._speedups import clean_lines as clean_lines
    from ._speedups import count_lines as count_lines
    from ._speedups import covered as covered
    from ._speedups import find_lines as find_lines
    from ._speedups import gather as gather
    from ._speedups import gather_stamped as gather_stamped
    from ._speedups import prefault as prefault
    from ._speedups import stamp_into as stamp_into
    from ._speedups import utf8_valid as utf8_valid
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
    clean_lines = py_clean_lines
    count_lines = py_count_lines
    covered = py_covered
    find_lines = py_find_lines
    gather = py_gather
    gather_stamped = py_gather_stamped
    prefault = py_prefault
    stamp_into = py_stamp_into
    utf8_valid = py_utf8_valid
