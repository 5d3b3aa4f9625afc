"""Field filters and structured levels over the matcher's results: :func:`compile_spec`
turns a :class:`~.spec.QuerySpec` into a :class:`Scanner` that the engine, the
aggregations and the live taps run like a :class:`~.matcher.Matcher`.

Without ``host=``/``app=``/``facility=``/``field.NAME=`` and ``level=`` it *is* the
matcher. Otherwise the matcher's C scan chooses the candidate lines first (a plain
filter value becomes an extra keyword, found by the SIMD literal search), and only
those lines are then read and verified, in C over the whole region for ``host=``,
``app=`` and ``facility=`` (:mod:`.fieldscan`). Without the C reader, or with
keywords joined by OR, the value narrows as a regex of it as a whole token
instead (RE2 over the literal's lines), so fewer lines reach Python.
With ``level=``, JSON lines whose ``level`` is a number take that level (0-7 as
syslog severities, GELF; 10-69 by tens, pino and bunyan) instead of their tokens:
they are found by the literal ``"level"``, so other lines cost nothing more.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import replace
from typing import Protocol

from ..scan import count_lines, covered, find_lines
from .fields import structured_level
from .fieldscan import HAVE_NATIVE, extend_spans, select, select_levels
from .matcher import Matcher
from .spec import QuerySpec

# A value with these characters and a letter is the same bytes in JSON, logfmt and
# syslog text (a number may be written otherwise in JSON: 1e2 is read as 100.0).
_PLAIN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9._@+\-]{2,}$")
# Fields whose value is not in the text as such: derived from the PRI.
_DERIVED = frozenset({"facility", "field.facility", "field.severity", "field.level", "field.pri"})
_LEVEL_KEY = b'"level"'


class Scanner(Protocol):
    """A compiled query: what the engine, aggregations and taps run over regions."""

    @property
    def spec(self) -> QuerySpec: ...

    def scan(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        """Append the spans of matching lines in ``buf[start:end]``; return their number."""
        ...


def narrowed(spec: QuerySpec) -> QuerySpec:
    """``spec`` with a literal every line passing its field filters holds added to its
    keywords (when that keeps the matcher's meaning); else ``spec`` itself."""
    plain = [f for f in spec.fields if f.name not in _DERIVED and _PLAIN.match(f.value)]
    if not plain:
        return spec
    best = max(plain, key=lambda f: len(f.value))
    if spec.regex is None and (not HAVE_NATIVE or (spec.any_keyword and spec.keywords)):
        # The value as a whole token (as every format delimits it); the matcher
        # prefilters by its literal (SIMD) and runs RE2 over those lines only.
        token = re.escape(best.value)
        tail = "" if best.prefix else r"(?:[\s\x22,}\]>\[:]|$)"
        return replace(spec, regex=rf"(?:^|[\s\x22=:\[<>]){token}{tail}")
    if spec.any_keyword and spec.keywords:
        return spec  # an OR among keywords: one more would join the OR
    literal = best.value.encode("ascii")
    if literal in spec.keywords:
        return spec
    # First: among literals of one length the first drives the SIMD scan, and a
    # field value is seldom on every line as a keyword can be (req=).
    return replace(spec, keywords=(literal, *spec.keywords), any_keyword=False)


class FieldMatcher:
    """The matcher of a spec plus its field filters and structured levels."""

    def __init__(self, spec: QuerySpec) -> None:
        self._spec = spec
        inner = narrowed(spec)
        # The filters but the level: for lines whose level is structured.
        self.base = Matcher(replace(inner, levels=frozenset())) if spec.levels else None
        # With the C readers and no regex, the level is read after the other
        # filters, in C too (structured levels included): no second pass.
        self.native = HAVE_NATIVE and inner.regex is None
        if self.native:
            self.matcher = Matcher(replace(inner, levels=frozenset()))
            # Without the narrowing literal: the spec's own filters, if any.
            own = spec.keywords or spec.regex is not None
            self.wide = Matcher(replace(spec, levels=frozenset())) if own else None
            self.narrowing = inner.keywords != spec.keywords
        else:
            self.matcher = Matcher(inner)
        self.common = False  # the narrowing literal is on most lines: read them all

    @property
    def spec(self) -> QuerySpec:
        return self._spec

    def scan(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        if self.native:
            return self._scan_native(buf, start, end, spans)
        found: array[int] = array("q")
        count = self.matcher.scan(buf, start, end, found)
        fields, levels = self._spec.fields, self._spec.levels
        overrides = self._structured(buf, start, end) if self.base is not None else {}
        if not overrides:
            if fields and count:
                return select(buf, found, fields, spans)
            extend_spans(spans, found)
            return count
        # Lines with a structured level: out of the matcher's result, then back in
        # when that level is wanted and the other filters pass.
        kept = array("q")
        if fields and count:
            select(buf, found, fields, kept)
        elif not fields:
            kept = found
        lines = _cut(kept, sorted(overrides.items()))
        base = self.base
        for s, (nl, level) in overrides.items():
            if level not in levels or base is None:
                continue
            line = bytes(buf[s:nl])
            whole = array("q", (0, len(line)))
            if base.scan(line, 0, len(line), array("q")) and (
                not fields or select(line, whole, fields, array("q"))
            ):
                lines.append((s, nl))
        lines.sort()
        for s, nl in lines:
            if spans and spans[-1] == s:
                spans[-1] = nl
            else:
                spans.extend((s, nl))
        return sum(_count_lines(buf, s, nl) for s, nl in lines)

    def _scan_native(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        """Candidates by the filters (narrowed by the value unless it is common),
        then the level and the fields read in C over them."""
        fields, levels = self._spec.fields, self._spec.levels
        narrow = self.narrowing and not self.common
        matcher = self.matcher if narrow else self.wide
        if matcher is None:  # every line is a candidate: no pass to find them
            found = array("q", (start, end) if start < end else ())
            count = 1 if start < end else 0
        else:
            found = array("q")
            count = matcher.scan(buf, start, end, found)
            if narrow and count and covered(found) * 3 > end - start:
                # Reading the value's lines costs a pass of its own when they are
                # most of the region: read every line instead from now on.
                self.common = True
        if levels and count:
            kept: array[int] = array("q")
            count = select_levels(buf, found, levels, kept)
            found = kept
        if fields and count:
            return select(buf, found, fields, spans)
        if matcher is None and not levels and count:  # no filter at all (not compiled so)
            count = count_lines(buf, start, end)
        extend_spans(spans, found)
        return count

    def _structured(
        self, buf: bytearray | bytes, start: int, end: int
    ) -> dict[int, tuple[int, str]]:
        """Line start -> (line end, level) of the lines with a numeric JSON level."""
        cand: array[int] = array("q")
        if not find_lines(buf, start, end, _LEVEL_KEY, cand):
            return {}
        out: dict[int, tuple[int, str]] = {}
        for i in range(0, len(cand), 2):
            s, e = cand[i], cand[i + 1]
            while s < e:
                nl = buf.find(b"\n", s, e) + 1 or e
                line = bytes(buf[s:nl]).rstrip(b"\n")
                if _LEVEL_KEY in line:
                    level = structured_level(line)
                    if level is not None:
                        out[s] = (nl, level)
                s = nl
        return out


def _cut(spans: array[int], lines: list[tuple[int, tuple[int, str]]]) -> list[tuple[int, int]]:
    """``spans`` as (start, end) pairs without the lines ``lines`` (sorted by start)."""
    out: list[tuple[int, int]] = []
    j = 0
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        while j < len(lines) and lines[j][0] < e:
            ls, (nl, _) = lines[j]
            if ls >= s:
                if ls > s:
                    out.append((s, ls))
                s = max(s, nl)
            j += 1
        if s < e:
            out.append((s, e))
    return out


def _count_lines(buf: bytearray | bytes, s: int, e: int) -> int:
    return buf.count(b"\n", s, e) + (0 if buf[e - 1 : e] == b"\n" else 1)


def compile_spec(spec: QuerySpec) -> Scanner:
    """The scanner of ``spec``: its matcher, or one with field filters and structured
    levels applied on top. Raises QueryError (a bad regex)."""
    if not spec.fields and not spec.levels:
        return Matcher(spec)
    return FieldMatcher(spec)
