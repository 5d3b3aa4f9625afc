"""Verification on the node of the rows ClickHouse could not decide exactly (see
:func:`.sql.check`): the engine's own field readers (:mod:`logcaster.query.fieldscan`)
and structured levels decide them, so ``scope=cluster`` answers as the ring does.

Only those rows come here: the ``fuzzy`` ones (JSON objects, lines with bytes
outside ASCII), lines with a ``"level"`` key under a level filter, and every
candidate row of a ``field.NAME=`` filter.
"""

from __future__ import annotations

from collections.abc import Callable

from ...query.aggregate import NONE
from ...query.fields import structured_level
from ...query.fieldscan import extractor
from ...query.spec import QuerySpec


def effective_level(line: bytes, column: bytes | str) -> str:
    """A line's level as the engine reads it: a numeric JSON level first, else the
    one ClickHouse computed (the engine's token and PRI rules), NONE for none."""
    found = structured_level(line)
    if found is not None:
        return found
    text = column.decode() if isinstance(column, bytes) else column
    return text or NONE


def verifier(spec: QuerySpec) -> Callable[[bytes, bytes | str], bool]:
    """``(line, level column) -> bool``: whether a row matches ``spec``'s levels and
    field filters (the rest of ``spec`` was decided by ClickHouse)."""
    checks = [(f, extractor(f.name)) for f in spec.fields]
    levels = spec.levels

    def accepts(line: bytes, level: bytes | str) -> bool:
        if levels and effective_level(line, level) not in levels:
            return False
        return all(f.accepts(get(line)) for f, get in checks)

    return accepts


def classifier(field: str) -> Callable[[bytes, bytes | str], str]:
    """``(line, level column) -> value`` of ``field`` as TOP and HITS by= count it."""
    if field == "level":
        return effective_level
    get = extractor(field)
    return lambda line, _level: get(line) or NONE
