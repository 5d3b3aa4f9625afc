"""URL parameters to the line port's parameters: the QUERY keys, 1:1, read by the same
parsers, so the checks, their order and the error messages are the line port's
(``keywords=a,b`` or repeated ``keywords=``; for other keys the last one wins).
"""

from __future__ import annotations

from collections.abc import Iterable

from ...query.errors import QueryError
from ...query.spec import Param, QuerySpec, build_spec, parse_time


def params_of(pairs: Iterable[tuple[str, str]]) -> list[Param]:
    """``(key, value)`` URL pairs, in their order, as the parameters the line port's
    tokenizer gives (``build_spec``'s and :mod:`~logcaster.query.commands`'). Values
    are not split on commas for ``regex``."""
    out: list[Param] = []
    for key, value in pairs:
        items = [value] if key.lower() == "regex" else value.split(",")
        out.append((key, value, items))
    return out


def spec_of(pairs: Iterable[tuple[str, str]], now_ns: int) -> QuerySpec:
    """The QuerySpec of a request's URL parameters; raises QueryError."""
    return build_spec(params_of(pairs), now_ns)


def since_of(text: str | None, now_ns: int) -> int | None:
    """``since=-5m`` (or any time QUERY takes) as ns since the epoch, or None when not
    given; an empty value is refused as ``time_from=`` is. Raises QueryError."""
    if text is None:
        return None
    try:
        return parse_time(text, now_ns)
    except (ValueError, OverflowError, OSError):
        raise QueryError(f"Invalid time value '{text}' for since") from None
