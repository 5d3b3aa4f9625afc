"""The parameters of the aggregations, ``HITS`` and ``TOP``, beyond a spec's filters:
which keys are theirs, which make no sense for them, and in which order they are
checked. Every frontend hands its ``key=value`` parameters (the line port's tokens,
the HTTP API's URL pairs) to :func:`hits_params` or :func:`top_params`, so a bad
set gets one message, whichever port asked.

Repeated keys: the last one wins (``keywords=`` accumulates, as :func:`~.spec.build_spec`
reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .aggregate import DEFAULT_TOP, check_field, parse_step, parse_top_limit
from .errors import QueryError
from .spec import Param, QuerySpec, build_spec

AUTO = "auto"  # the HTTP API's step that fits the queried range


def take(params: Iterable[Param], *keys: str) -> tuple[dict[str, str], list[Param]]:
    """Split off the parameters of ``keys`` (the last of each wins) from the filters."""
    taken: dict[str, str] = {}
    rest: list[Param] = []
    for param in params:
        key = param[0].lower()
        if key in keys:
            taken[key] = param[1]
        else:
            rest.append(param)
    return taken, rest


def refuse(params: Iterable[Param], verb: str, *keys: str) -> None:
    """Search-only parameters make no sense in an aggregation; raises QueryError."""
    for key, _, _ in params:
        if key.lower() in keys:
            raise QueryError(f"Parameter '{key}' does not apply to {verb}. Use HELP for usage.")


def hits_params(
    params: Iterable[Param],
    now_ns: int,
    auto_step: Callable[[QuerySpec], int] | None = None,
) -> tuple[QuerySpec, int, str | None]:
    """``step=``, ``by=`` and the filters of ``HITS``: (spec, step in ns, field or
    None); raises QueryError. With ``auto_step``, a missing step or ``step=auto`` is
    ``auto_step(spec)``; without it, ``step=`` is required."""
    own, filters = take(params, "step", "by")
    step_text = own.get("step")
    auto = auto_step is not None and (step_text is None or step_text.strip().lower() == AUTO)
    step = 0
    if not auto:
        if step_text is None:
            raise QueryError("HITS needs step=<n><s|m|h|d>, e.g. HITS step=1m")
        step = parse_step(step_text)
    by = check_field(own["by"], "by=") if "by" in own else None
    refuse(filters, "HITS", "limit", "order")
    spec = build_spec(filters, now_ns)
    if auto_step is not None and auto:
        step = auto_step(spec)
    return spec, step, by


def top_params(name: str, params: Iterable[Param], now_ns: int) -> tuple[QuerySpec, str, int]:
    """The field ``name``, ``limit=`` and the filters of ``TOP``: (spec, field, number
    of values); raises QueryError."""
    field = check_field(name, "TOP")
    own, filters = take(params, "limit")
    limit = parse_top_limit(own["limit"]) if "limit" in own else DEFAULT_TOP
    refuse(filters, "TOP", "order")
    return build_spec(filters, now_ns), field, limit
