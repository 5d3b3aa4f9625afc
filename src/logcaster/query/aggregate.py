"""Aggregations over the lines a :class:`~.spec.QuerySpec` selects: time histograms
(:class:`Histogram`, the line port's ``HITS``) and the most frequent values of a field
(:class:`Top`, ``TOP``), plus the checks of their own parameters.

Both read exactly the bytes a search reads: each block view is cut into byte
regions by chunk receive time (:mod:`.regions`) and each region is scanned once
by the query's :class:`~.matcher.Matcher`. A histogram's counts come from the
scanner's per-region counts, so counting is per chunk run, not per line. A
per-value breakdown of ``level`` counts each level's matches with a matcher of its
own (C passes); of ``host``, ``app`` or ``facility``, the C field reader counts the
matching lines per value (:func:`~.fieldscan.tally`); only ``field.NAME`` reads
lines one by one in Python (``_tally``).
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..storage.ring import BlockView
from .errors import QueryError
from .fields import structured_level
from .fieldscan import extractor, tally
from .levels import LEVEL_CODES, level_of
from .matches import lines_of
from .postfilter import Scanner, compile_spec
from .regions import bucket_regions, time_regions
from .spec import FIELD_PREFIX, QuerySpec

NONE = "NONE"  # the value of a line that names no level
SEVERITY = (  # canonical levels, most severe first: the order of a by=level breakdown
    "EMERG",
    "ALERT",
    "FATAL",
    "CRITICAL",
    "ERROR",
    "WARN",
    "NOTICE",
    "INFO",
    "DEBUG",
    "TRACE",
    NONE,
)
MAX_BUCKETS = 100_000
DEFAULT_TOP = 10
MAX_TOP = 10_000
NS = 1_000_000_000
MAX_STEP = 36500 * 86400 * NS  # a century; bucket numbers stay within int64
_STEP = re.compile(r"^([1-9][0-9]{0,8})([smhd])$")
_STEP_UNITS = {"s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}


# ------------------------------------------------------------------ parameters
def parse_step(text: str) -> int:
    """``10s``, ``5m``, ``1h``, ``1d`` -> the bucket width in ns; raises QueryError."""
    m = _STEP.match(text.strip().lower())
    if m is None:
        raise QueryError(
            f"Invalid step '{text}': a whole number and a unit s, m, h or d (10s, 5m, 1h, 1d)"
        )
    step = int(m.group(1)) * _STEP_UNITS[m.group(2)]
    if step > MAX_STEP:
        raise QueryError(f"Invalid step '{text}': at most 36500d")
    return step


def check_field(name: str, what: str) -> str:
    """The field ``name`` (any case) as the engine knows it; raises QueryError."""
    field = name.strip()
    if field.lower().startswith(FIELD_PREFIX):
        if len(field) == len(FIELD_PREFIX):
            raise QueryError(f"Empty field name in '{name}' for {what}: use field.NAME")
        return FIELD_PREFIX + field[len(FIELD_PREFIX) :]  # NAME keeps its case
    field = field.lower()
    if field not in FIELDS:
        raise QueryError(
            f"Unknown field '{name}' for {what}. Fields: {', '.join(FIELDS)}, field.NAME"
        )
    return field


def parse_top_limit(text: str) -> int:
    """TOP's ``limit=``: how many values to list; raises QueryError."""
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_TOP:
        raise QueryError(f"Invalid limit '{text}': a whole number from 1 to {MAX_TOP}")
    return limit


def _level_value(line: bytes) -> str:
    return structured_level(line) or level_of(line) or NONE


def _field_value(name: str) -> Callable[[bytes], str]:
    get = extractor(name)
    return lambda line: get(line) or NONE


# What TOP and HITS by= can count, and how each value is read from one line
# (without its newline); ``field.NAME`` reads any field (:mod:`.fields`).
_EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    "level": _level_value,
    "host": _field_value("host"),
    "app": _field_value("app"),
    "facility": _field_value("facility"),
}
FIELDS = tuple(_EXTRACTORS)


def value_order(field: str, value: str) -> tuple[int, str]:
    """Where ``value`` goes in a per-bucket breakdown of ``field``."""
    if field == "level" and value in SEVERITY:
        return SEVERITY.index(value), value
    return len(SEVERITY), value


# ------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class Bucket:
    start: int  # ns since the epoch, a multiple of the step
    count: int
    values: tuple[tuple[str, int], ...] = ()  # per-value counts (by=), non-zero only


@dataclass(frozen=True, slots=True)
class Histogram:
    """Match counts per time bucket, oldest first, empty buckets included."""

    step: int  # ns
    by: str | None
    buckets: tuple[Bucket, ...]


@dataclass(frozen=True, slots=True)
class Top:
    """The most frequent values of a field among the matching lines."""

    field: str
    values: tuple[tuple[str, int], ...]  # most frequent first, ties by value
    matched: int  # lines counted


# Partial results of one worker's share of the views.
Counts = dict[int, int]  # bucket -> matches
Breakdown = dict[int, Counter[str]]  # bucket -> value -> matches


def _tally(field: str, view: BlockView, spans: array[int], into: Counter[str]) -> None:
    """Count the values of ``field`` over the lines of ``spans``: in C for the fields
    it reads, else one line at a time."""
    buf = view.buf
    if field != "level":
        tally(buf, spans, field, NONE, into)
        return
    extract = _EXTRACTORS[field]
    for s, e in lines_of(view, spans, False):
        into[extract(bytes(buf[s : e - 1]))] += 1


def _level_matchers(spec: QuerySpec) -> list[tuple[str, Scanner]]:
    """One matcher per level a matching line may have: counting a region's matches
    with each is a few C passes, where classifying its lines is Python per line."""
    wanted = spec.levels or frozenset(LEVEL_CODES[1:])
    return [
        (level, compile_spec(replace(spec, levels=frozenset({level}))))
        for level in LEVEL_CODES[1:]
        if level in wanted
    ]


def _count_levels(
    view: BlockView,
    s: int,
    e: int,
    found: int,
    per_level: list[tuple[str, Scanner]],
    into: Counter[str],
) -> None:
    """Add the level breakdown of the ``found`` matches of ``view.buf[s:e]``."""
    counted = 0
    for level, level_matcher in per_level:
        if counted >= found:
            break
        n = level_matcher.scan(view.buf, s, e, array("q"))
        if n:
            into[level] += n
            counted += n
    if counted < found:
        into[NONE] += found - counted


def _fixed_value(spec: QuerySpec, field: str) -> str | None:
    """The one value every matching line has, when the filters decide it."""
    if field == "level" and len(spec.levels) == 1:
        return next(iter(spec.levels))
    for f in spec.fields:
        if f.name == field and not f.prefix:
            return f.value
    return None


def count_buckets(
    views: Sequence[BlockView], matcher: Scanner, step: int, by: str | None
) -> tuple[Counts, Breakdown]:
    """Matches per bucket (and per value of ``by``) in some block views."""
    spec = matcher.spec
    fixed = _fixed_value(spec, by) if by is not None else None
    per_level = _level_matchers(spec) if by == "level" and fixed is None else None
    counts: Counts = {}
    breakdown: Breakdown = {}
    for view in views:
        for s, e, bucket in bucket_regions(view, spec, step):
            spans: array[int] = array("q")
            found = matcher.scan(view.buf, s, e, spans)
            if not found:
                continue
            counts[bucket] = counts.get(bucket, 0) + found
            if by is None:
                continue
            values = breakdown.setdefault(bucket, Counter())
            if fixed is not None:
                values[fixed] += found
            elif per_level is not None:
                _count_levels(view, s, e, found, per_level, values)
            else:
                _tally(by, view, spans, values)
    return counts, breakdown


def count_values(views: Sequence[BlockView], matcher: Scanner, field: str) -> Counter[str]:
    """How many matching lines have each value of ``field``, in some block views."""
    spec = matcher.spec
    fixed = _fixed_value(spec, field)
    per_level = _level_matchers(spec) if field == "level" and fixed is None else None
    values: Counter[str] = Counter()
    for view in views:
        for s, e in time_regions(view, spec):
            spans: array[int] = array("q")
            found = matcher.scan(view.buf, s, e, spans)
            if not found:
                continue
            if fixed is not None:
                values[fixed] += found
            elif per_level is not None:
                _count_levels(view, s, e, found, per_level, values)
            else:
                _tally(field, view, spans, values)
    return values


def histogram(
    spec: QuerySpec, step: int, by: str | None, parts: Sequence[tuple[Counts, Breakdown]]
) -> Histogram:
    """Merge workers' counts into buckets over the queried range: ``time_from`` ..
    ``time_to``, an open end replaced by the first or last matching bucket."""
    counts: Counts = {}
    breakdown: Breakdown = {}
    for part_counts, part_values in parts:
        for bucket, n in part_counts.items():
            counts[bucket] = counts.get(bucket, 0) + n
        for bucket, part in part_values.items():
            breakdown.setdefault(bucket, Counter()).update(part)
    first = spec.time_from // step if spec.time_from is not None else min(counts, default=None)
    last = spec.time_to // step if spec.time_to is not None else max(counts, default=None)
    if first is None or last is None or last < first:
        return Histogram(step, by, ())
    check_buckets(first, last)
    buckets = []
    for b in range(first, last + 1):
        found = breakdown.get(b)
        ordered = (
            sorted(found.items(), key=lambda kv: value_order(by or "", kv[0])) if found else ()
        )
        buckets.append(Bucket(b * step, counts.get(b, 0), tuple(ordered)))
    return Histogram(step, by, tuple(buckets))


def check_buckets(first: int, last: int) -> None:
    """Refuse a histogram of more than MAX_BUCKETS buckets."""
    n = last - first + 1
    if n > MAX_BUCKETS:
        raise QueryError(
            f"HITS would return {n} buckets (at most {MAX_BUCKETS}): "
            "use a larger step or a narrower time range"
        )


def check_range(spec: QuerySpec, step: int) -> None:
    """With both time bounds given, refuse an absurd bucket count before searching."""
    if spec.time_from is not None and spec.time_to is not None:
        check_buckets(spec.time_from // step, spec.time_to // step)


def top(field: str, limit: int, parts: Sequence[Counter[str]]) -> Top:
    """Merge workers' value counts; the ``limit`` most frequent, ties by value."""
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    ranked = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return Top(field, tuple(ranked), sum(total.values()))
