"""A compiled query: :class:`Matcher` finds the lines of a block region that match a
:class:`~logcaster.query.spec.QuerySpec`.

Every filter runs at C speed over whole regions, GIL released, so worker threads
use every core: one pass evaluates the literal filters (AND literals: the
rarest drives a SIMD scan and the others are checked inside its lines; OR
literals: one pass for all of them) and the level test (:mod:`.filters`); a regex
then runs over the surviving lines only (:func:`.regex.regex_lines`, C++ over
RE2). A regex alone is first narrowed by a literal every match must contain,
when one is rare enough in the region; a regex that is only plain literals
joined by ``|`` (any text), or ``(?i)`` and a plain literal, needs no RE2 at all. No Python
code runs per line. The result is byte spans (``[start, end, ...]``, adjacent
lines coalesced).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from functools import lru_cache

from ..scan import count_lines, covered, find_lines
from .casefold import Folded, fold_prefilter, folded_lines
from .filters import filter_lines, prefix_lines
from .levels import level_mask
from .literals import literal_needs, plain_alternatives
from .regex import Regex, compile_regex, regex_lines, required_literals
from .spec import QuerySpec

SAMPLE_BYTES = 1 << 20  # of the first region, to see which AND literal is rarest
RARE = 4  # a required literal narrows a region down when on at most 1/RARE of its bytes


@dataclass(frozen=True, slots=True)
class RegexPlan:
    """What a regex needs, read from its pattern once (:func:`regex_plan`): the
    compiled pattern, and the literal searches that narrow a region down for it."""

    regex: Regex
    required: tuple[bytes, ...] = ()  # literals every match holds, longest first
    literals: tuple[bytes, ...] | None = None  # plain literals joined by |
    prefixes: tuple[bytes, ...] = ()  # every matching line starts with one
    alternatives: tuple[bytes, ...] = ()  # one of these is in every match ...
    or_empty: bool = False  # ... unless the line is empty
    folded: Folded | None = None  # a prefilter for a (?i) pattern


@lru_cache(maxsize=256)
def regex_plan(pattern: str, native: bool = True) -> RegexPlan:
    """The plan of a user's regex (cached: a query repeated, or refreshed by a UI,
    compiles nothing again; the compiled patterns are shared read-only between
    threads). Raises QueryError for an invalid pattern."""
    regex = compile_regex(pattern, native)
    required = required_literals(pattern)
    literals = plain_alternatives(pattern)
    if literals is not None:
        return RegexPlan(regex, required, literals)
    needs = literal_needs(pattern)
    longest = len(required[0]) if required else 0
    shortest = min(map(len, needs.any_of), default=0)
    if needs.prefixes and min(map(len, needs.prefixes)) >= max(shortest, longest):
        return RegexPlan(regex, required, prefixes=needs.prefixes)
    if shortest > longest and (len(needs.any_of) <= 2 or not required):
        return RegexPlan(regex, required, alternatives=needs.any_of, or_empty=needs.or_empty)
    if not required:
        return RegexPlan(regex, required, folded=fold_prefilter(pattern))
    return RegexPlan(regex, required)


class Matcher:
    """A compiled QuerySpec: one filter pass, then the regex over what is left."""

    def __init__(self, spec: QuerySpec, native: bool = True) -> None:
        self.spec = spec
        plan = regex_plan(spec.regex, native) if spec.regex else None
        self.regex = plan.regex if plan is not None else None
        keywords = spec.keywords
        self.all_of: tuple[bytes, ...] = ()
        self.any_of: tuple[bytes, ...] = ()
        self.never = False  # a filter no line can pass
        if spec.any_keyword and len(keywords) > 1:
            # A line never holds a newline, so neither can a literal it matches.
            self.any_of = tuple(k for k in dict.fromkeys(keywords) if b"\n" not in k)
            self.never = not self.any_of
        elif keywords:
            self.all_of = tuple(sorted(dict.fromkeys(keywords), key=len, reverse=True))
            self.never = any(b"\n" in k for k in self.all_of)
        self.levels = level_mask(spec.levels)
        self.filtered = bool(self.all_of or self.any_of or self.levels)
        if self.filtered and plan is not None and plan.literals is not None:
            # A regex of plain literals is one more filter of the C pass, and no RE2.
            if len(plan.literals) == 1:
                self.all_of = tuple(dict.fromkeys((*self.all_of, *plan.literals)))
                self.regex = None
            elif not self.any_of:
                self.any_of, self.regex = plan.literals, None
        if self.filtered and self.regex is not None and plan is not None:
            # A literal every match holds is one more AND literal of the C pass: RE2
            # then reads only the lines holding it (the order changes no result).
            self.all_of = tuple(dict.fromkeys((*self.all_of, *plan.required[:1])))
        self.prefilters: tuple[bytes, ...] = ()
        self.alternatives: tuple[bytes, ...] = ()  # one of these is in every match
        self.or_empty = False  # ... unless the line is empty
        self.prefixes: tuple[bytes, ...] = ()  # every matching line starts with one
        self.folded: Folded | None = None  # a prefilter for a (?i) pattern
        # A regex of plain literals joined by |: their search is the whole answer.
        self.literals: tuple[bytes, ...] | None = None
        if plan is not None and not self.filtered:
            self.literals = plan.literals
            self.prefilters = () if plan.prefixes or plan.alternatives else plan.required
            self.prefixes, self.alternatives = plan.prefixes, plan.alternatives
            self.or_empty, self.folded = plan.or_empty, plan.folded
        self._unsampled = True  # AND literals not yet ordered by how rare they are
        self._unsampled_required = True  # ... nor the regex's required literals
        self._misses = 0  # blocks where the required literals did not narrow down

    # ----------------------------------------------------------- scanning
    def scan(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        """Append the spans of matching lines in ``buf[start:end]``; return their number."""
        if self.never or start >= end:
            return 0
        regex = self.regex
        if self.filtered:
            if self._unsampled and len(self.all_of) > 1:
                self._order_by_rarity(buf, start, end)
            if regex is None:
                return filter_lines(buf, start, end, self.all_of, self.any_of, self.levels, spans)
            found: array[int] = array("q")
            if not filter_lines(buf, start, end, self.all_of, self.any_of, self.levels, found):
                return 0
            return regex_lines(regex, buf, found, spans)
        if regex is None:
            _add(spans, start, end)
            return count_lines(buf, start, end)
        if self.literals is not None:
            if len(self.literals) == 1:
                return find_lines(buf, start, end, self.literals[0], spans)
            return filter_lines(buf, start, end, (), self.literals, 0, spans)
        if self.folded is not None and self.folded.exact:  # (?i) and a plain literal
            return folded_lines(buf, start, end, self.folded, spans)
        return regex_lines(regex, buf, self._narrow(buf, start, end), spans)

    def _order_by_rarity(self, buf: bytearray | bytes, start: int, end: int) -> None:
        """Put the AND literal on the fewest lines of a first region first: the C pass
        scans for the first one and checks the others inside its lines only. The
        order changes no result."""
        self._unsampled = False
        self.all_of = _rarest_first(buf, start, end, self.all_of)

    def _narrow(self, buf: bytearray | bytes, start: int, end: int) -> array[int]:
        """The regions of ``buf[start:end]`` a regex-only query must scan: the lines
        starting with a prefix every match needs (``^<1[0-9]>``); the lines holding
        one spelling of what every match holds (``level=(error|warn)``, branches);
        the lines holding every required literal when they are rare here (on at
        most 1/RARE of the bytes: lines most of a region holds are no filter, and
        after a few blocks where they are the matcher stops looking; one C pass,
        driven by the literal on the fewest lines of a first region); the (?i)
        candidates (:mod:`.casefold`); else the whole region. RE2 then reads only
        these."""
        # Worker threads share this matcher and adapt it as they go: read its
        # state once, into locals, so another thread's update cannot bite.
        prefilters = self.prefilters
        whole = array("q", (start, end))
        found: array[int] = array("q")
        if self.prefixes:
            prefix_lines(buf, start, end, self.prefixes, found)
            return found
        if self.alternatives:
            if self.or_empty and _has_empty_line(buf, start, end):
                return whole
            filter_lines(buf, start, end, (), self.alternatives, 0, found)
            return found
        if self.folded is not None:
            folded_lines(buf, start, end, self.folded, found)
            return found
        if not prefilters:
            return whole
        if self._unsampled_required and len(prefilters) > 1:
            self._unsampled_required = False
            prefilters = self.prefilters = _rarest_first(buf, start, end, prefilters)
        if not filter_lines(buf, start, end, prefilters, (), 0, found):
            return found  # a literal every match needs is absent
        if covered(found) * RARE <= end - start:
            return found
        self._misses += 1
        if self._misses >= 3:
            self.prefilters = ()
        return whole


def _rarest_first(
    buf: bytearray | bytes, start: int, end: int, literals: tuple[bytes, ...]
) -> tuple[bytes, ...]:
    """``literals`` by the number of lines of a first region (SAMPLE_BYTES) holding
    each, fewest first (then longest): a C pass drives its search by the first one
    and checks the others inside its lines only. The order changes no result."""
    end = min(end, start + SAMPLE_BYTES)
    end = buf.rfind(b"\n", start, end) + 1 or end  # whole lines
    lines = {k: find_lines(buf, start, end, k, array("q")) for k in literals}
    return tuple(sorted(literals, key=lambda k: (lines[k], -len(k))))


def _has_empty_line(buf: bytearray | bytes, start: int, end: int) -> bool:
    """Whether ``buf[start:end]`` (whole lines) holds an empty line (one SIMD search)."""
    return buf[start] == 0x0A or bool(find_lines(buf, start, end, b"\n\n", array("q")))


def _add(spans: array[int], start: int, end: int) -> None:
    if spans and spans[-1] == start:
        spans[-1] = end
    else:
        spans.append(start)
        spans.append(end)
