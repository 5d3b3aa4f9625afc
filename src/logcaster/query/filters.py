"""A query's literal and level filters over a region of lines, in one pass.

:func:`filter_lines` keeps the lines holding every AND literal, one of the OR
literals (when there are any) and a level whose code is in a bit mask
(:func:`~.levels.level_mask`). The C version (``_speedups.filter_lines``) runs
with the GIL released; :func:`py_filter_lines` below is the reference, used
where the accelerator was not built. ``tests/test_filters.py`` checks they agree.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

from ..scan import Buffer
from .levels import CODE_OF, level_of


def py_line_level(line: bytes) -> int:
    """The level code of one line (without its newline); 0 when it has none."""
    level = level_of(line)
    return 0 if level is None else CODE_OF[level]


def py_lines_where(
    buf: Buffer, start: int, end: int, keep: Callable[[bytes], object], out: array[int]
) -> int:
    """Append the spans of the lines of ``buf[start:end]`` (each passed to ``keep``
    without its newline) that ``keep`` accepts, adjacent ones joined; count them.
    The line loop of the Python references below and in :mod:`.casefold`."""
    data = bytes(memoryview(buf)[start:end])
    count = 0
    first = len(out)  # spans from earlier calls are never extended
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        le = len(data) if nl < 0 else nl + 1
        if keep(data[pos : le if nl < 0 else nl]):
            if len(out) > first and out[-1] == start + pos:
                out[-1] = start + le
            else:
                out.extend((start + pos, start + le))
            count += 1
        pos = le
    return count


def py_filter_lines(
    buf: Buffer,
    start: int,
    end: int,
    all_of: tuple[bytes, ...],
    any_of: tuple[bytes, ...],
    levels: int,
    out: array[int],
) -> int:
    """Append the spans of the matching lines of ``buf[start:end]``; count them."""

    def keep(line: bytes) -> bool:
        return (
            all(k in line for k in all_of)
            and (not any_of or any(k in line for k in any_of))
            and (not levels or bool(levels >> py_line_level(line) & 1))
        )

    return py_lines_where(buf, start, end, keep, out)


def py_prefix_lines(
    buf: Buffer, start: int, end: int, prefixes: tuple[bytes, ...], out: array[int]
) -> int:
    """Append the spans of the lines of ``buf[start:end]`` that start with one of
    ``prefixes``; count them."""
    return py_lines_where(buf, start, end, lambda line: line.startswith(prefixes), out)


HAVE_NATIVE = True
try:
    from .._speedups import filter_lines as filter_lines
    from .._speedups import line_level as line_level
    from .._speedups import prefix_lines as prefix_lines
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
    prefix_lines = py_prefix_lines
    filter_lines = py_filter_lines
    line_level = py_line_level
