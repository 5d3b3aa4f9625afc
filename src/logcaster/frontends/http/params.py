"""URL parameters to query specs: the QUERY keys, 1:1, with the same checks and the
same error messages as the line port (``keywords=a,b`` or repeated ``keywords=``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...query.errors import QueryError
from ...query.spec import Param, QuerySpec, build_spec, parse_time


def params_of(pairs: Iterable[tuple[str, str]], skip: Iterable[str] = ()) -> list[Param]:
    """``(key, value)`` URL pairs as ``build_spec`` parameters, minus the ``skip`` keys
    (an endpoint's own options). Values are not split on commas for ``regex``."""
    own = {k.lower() for k in skip}
    out: list[Param] = []
    for key, value in pairs:
        if key.lower() in own:
            continue
        items = [value] if key.lower() == "regex" else value.split(",")
        out.append((key, value, items))
    return out


def spec_of(pairs: Iterable[tuple[str, str]], now_ns: int, skip: Iterable[str] = ()) -> QuerySpec:
    """The QuerySpec of a request's URL parameters; raises QueryError."""
    return build_spec(params_of(pairs, skip), now_ns)


def since_of(query: Mapping[str, str], now_ns: int) -> int | None:
    """``since=-5m`` (or any time QUERY takes) as ns since the epoch, or None."""
    text = query.get("since")
    if text is None or text == "":
        return None
    try:
        return parse_time(text, now_ns)
    except (ValueError, OverflowError, OSError):
        raise QueryError(f"Invalid time value '{text}' for since") from None
