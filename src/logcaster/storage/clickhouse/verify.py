"""Verification on the node of the rows ClickHouse could not decide exactly (see
:func:`.sql.check`): the engine's own scanner (:func:`logcaster.query.postfilter.compile_spec`)
and structured levels decide them, so ``scope=cluster`` answers as the ring does.

Only those rows come here: the ``fuzzy`` ones (JSON objects, lines with bytes
outside ASCII), lines with a JSON level key (``"level"``, ``"severity"``, ...)
under a level filter, and every
candidate row of a ``field.NAME=`` filter.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from ...query.aggregate import NONE
from ...query.fields import structured_level
from ...query.fieldscan import extractor
from ...query.levels import level_of, object_line
from ...query.postfilter import compile_spec
from ...query.spec import QuerySpec


def effective_level(line: bytes, column: bytes | str) -> str:
    """A line's level as the engine reads it: a numeric JSON level first, a JSON
    object line's by the engine's rules (its level member over its other tokens),
    else the one ClickHouse computed (the engine's token and PRI rules), NONE for
    none."""
    found = structured_level(line)
    if found is None and object_line(line):
        found = level_of(line) or NONE
    if found is not None:
        return found
    text = column.decode() if isinstance(column, bytes) else column
    return text or NONE


def accepted(spec: QuerySpec, lines: Sequence[bytes]) -> npt.NDArray[np.bool_]:
    """Which of ``lines`` pass ``spec``'s levels and field filters (the rest of ``spec``
    was decided by ClickHouse): the engine's own scanner, in C where built, over one
    buffer of them, not a Python call per row."""
    n = len(lines)
    if not n:
        return np.zeros(0, dtype=bool)
    scanner = compile_spec(QuerySpec(levels=spec.levels, fields=spec.fields))
    data = b"\n".join(lines) + b"\n"  # stored lines hold no newline
    sizes = np.fromiter(map(len, lines), dtype=np.int64, count=n) + 1
    starts = np.cumsum(sizes) - sizes
    spans: array[int] = array("q")
    scanner.scan(data, 0, len(data), spans)
    pairs = np.frombuffer(spans, dtype=np.int64).reshape(-1, 2)
    # A span covers whole lines: mark from its first line up to its end's line.
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, np.searchsorted(starts, pairs[:, 0]), 1)
    np.add.at(marks, np.searchsorted(starts, pairs[:, 1]), -1)
    return np.cumsum(marks[:n]) > 0


def classifier(field: str) -> Callable[[bytes, bytes | str], str]:
    """``(line, level column) -> value`` of ``field`` as TOP and HITS by= count it."""
    if field == "level":
        return effective_level
    get = extractor(field)
    return lambda line, _level: get(line) or NONE
