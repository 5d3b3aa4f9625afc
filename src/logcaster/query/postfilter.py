"""Field filters and structured levels over the matcher's results: :func:`compile_spec`
turns a :class:`~.spec.QuerySpec` into a :class:`Scanner` that the engine, the
aggregations and the live taps run like a :class:`~.matcher.Matcher`.

Without ``host=``/``app=``/``facility=``/``field.NAME=`` and ``level=`` it *is* the
matcher. Otherwise the matcher's C scan chooses the candidate lines first (a plain
filter value becomes a regex of the value as a whole token, which the matcher
prefilters by its literal with the SIMD search; with a user regex, an extra
keyword), and only those lines are then parsed (:mod:`.fields`) and verified.
With ``level=``, JSON lines whose ``level`` is a number (GELF) take that level
(0-7 as syslog severities) instead of their tokens: they are found by the literal
``"level"``, so other lines cost nothing more.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from ..scan import find_lines
from .fields import app_of, facility_of, fields_of, host_of, structured_level
from .matcher import Matcher
from .spec import FIELD_PREFIX, FieldFilter, QuerySpec

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


def extractor(name: str) -> Callable[[bytes], str | None]:
    """How the value of the field ``name`` is read from one line."""
    if name == "host":
        return host_of
    if name == "app":
        return app_of
    if name == "facility":
        return facility_of
    key = name[len(FIELD_PREFIX) :] if name.startswith(FIELD_PREFIX) else name
    return lambda line: fields_of(line).get(key)


def _accepts(filters: tuple[FieldFilter, ...]) -> Callable[[bytes], bool]:
    checks = [(f, extractor(f.name)) for f in filters]
    return lambda line: all(f.accepts(get(line)) for f, get in checks)


def narrowed(spec: QuerySpec) -> QuerySpec:
    """``spec`` with a literal every line passing its field filters holds added to its
    keywords (when that keeps the matcher's meaning); else ``spec`` itself."""
    plain = [f for f in spec.fields if f.name not in _DERIVED and _PLAIN.match(f.value)]
    if not plain:
        return spec
    best = max(plain, key=lambda f: len(f.value))
    if spec.regex is None:
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
    return replace(spec, keywords=(*spec.keywords, literal), any_keyword=False)


class FieldMatcher:
    """The matcher of a spec plus its field filters and structured levels."""

    def __init__(self, spec: QuerySpec) -> None:
        self._spec = spec
        inner = narrowed(spec)
        self.accepts = _accepts(spec.fields) if spec.fields else None
        self.matcher = Matcher(inner)  # the level too: the matcher's own detection
        # The filters but the level: for lines whose level is structured.
        self.base = Matcher(replace(inner, levels=frozenset())) if spec.levels else None

    @property
    def spec(self) -> QuerySpec:
        return self._spec

    def scan(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        found: array[int] = array("q")
        count = self.matcher.scan(buf, start, end, found)
        overrides = self._structured(buf, start, end) if self.base is not None else {}
        if self.accepts is None and not overrides:
            spans.extend(found)
            return count
        accepts = self.accepts
        kept: list[tuple[int, int]] = []
        for i in range(0, len(found), 2):
            s, e = found[i], found[i + 1]
            while s < e:
                nl = buf.find(b"\n", s, e) + 1 or e
                if s not in overrides and (accepts is None or accepts(bytes(buf[s : nl - 1]))):
                    kept.append((s, nl))
                s = nl
        levels = self._spec.levels
        base = self.base
        for s, (nl, level) in overrides.items():
            if level not in levels or base is None:
                continue
            line = bytes(buf[s:nl])
            if base.scan(line, 0, len(line), array("q")) and (
                accepts is None or accepts(line.rstrip(b"\n"))
            ):
                kept.append((s, nl))
        kept.sort()
        for s, nl in kept:
            if spans and spans[-1] == s:
                spans[-1] = nl
            else:
                spans.extend((s, nl))
        return len(kept)

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


def compile_spec(spec: QuerySpec) -> Scanner:
    """The scanner of ``spec``: its matcher, or one with field filters and structured
    levels applied on top. Raises QueryError (a bad regex)."""
    if not spec.fields and not spec.levels:
        return Matcher(spec)
    return FieldMatcher(spec)
