"""A compiled query: :class:`Matcher` finds the lines of a block region that match a
:class:`~logcaster.query.spec.QuerySpec`.

Each region is scanned once by a C-speed *primary* matcher: a literal (SIMD scan
in ``_speedups``, GIL released) or an RE2 pattern over the whole region. Only
candidate lines are then checked in Python against the remaining filters. The
result is byte spans (``[start, end, ...]``, adjacent lines coalesced).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from itertools import accumulate

import re2

from ..scan import count_lines, find_lines, gather
from .levels import candidate_pattern, level_of
from .regex import Pattern, compile_regex, literal_options, required_literals
from .spec import QuerySpec


class Matcher:
    """A compiled QuerySpec: one primary scanner plus per-line checks."""

    def __init__(self, spec: QuerySpec) -> None:
        self.spec = spec
        self.regex = compile_regex(spec.regex) if spec.regex else None
        keywords = spec.keywords
        checks: list[Callable[[bytes], bool]] = []
        self.literal: bytes | None = None
        self.scanner: Pattern | None = None
        if keywords and (not spec.any_keyword or len(keywords) == 1):
            self.literal = max(keywords, key=len)
            rest = [k for k in keywords if k is not self.literal]
            if rest:
                checks.append(lambda line: all(k in line for k in rest))
        elif keywords:
            alternatives = "|".join(re.escape(k.decode("latin-1")) for k in keywords)
            self.scanner = re2.compile(alternatives.encode("latin-1"), literal_options())
        self.prefilters: tuple[bytes, ...] = ()
        self._best = 0  # the prefilter that last narrowed a block down
        self._misses = 0  # blocks where no prefilter did
        if self.regex is not None:
            if self.literal is None and self.scanner is None:
                self.scanner = self.regex
                self.prefilters = required_literals(spec.regex or "")
            else:
                rx = self.regex
                checks.append(lambda line: rx.search(line) is not None)
        if spec.levels:
            levels = spec.levels
            if self.literal is None and self.scanner is None:
                self.scanner = candidate_pattern(levels)
            checks.append(lambda line: level_of(line) in levels)
        self.checks = tuple(checks)

    # ----------------------------------------------------------- scanning
    def scan(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        """Append the spans of matching lines in ``buf[start:end]``; return their number."""
        if self.literal is not None and not self.checks:
            return find_lines(buf, start, end, self.literal, spans)
        if self.literal is not None:
            found: array[int] = array("q")
            find_lines(buf, start, end, self.literal, found)
            return self._check_spans(buf, found, spans)
        if self.prefilters:
            return self._scan_prefiltered(buf, start, end, spans)
        if self.scanner is not None:
            return self._scan_pattern(buf, start, end, spans)
        if start < end:
            _add(spans, start, end)
        return count_lines(buf, start, end)

    def _scan_prefiltered(
        self, buf: bytearray | bytes, start: int, end: int, spans: array[int]
    ) -> int:
        """Regex scan of only the lines holding one of the pattern's required literals.

        The SIMD literal scan (GIL released) picks the candidate lines, which
        are gathered into one buffer for RE2; matches are mapped back. A
        literal found on most lines is no filter: the next one is tried, and
        when none narrows the region down it is scanned directly.
        """
        # Worker threads share this matcher and adapt it as they go: read its
        # state once, into locals, so another thread's update cannot bite.
        prefilters, best = self.prefilters, self._best
        if not prefilters:
            return self._scan_pattern(buf, start, end, spans)
        best = best if best < len(prefilters) else 0
        for i in (best, *(j for j in range(len(prefilters)) if j != best)):
            found: array[int] = array("q")
            if not find_lines(buf, start, end, prefilters[i], found):
                return 0  # a literal every match needs is absent
            if (sum(found[1::2]) - sum(found[::2])) * 32 <= end - start:
                self._best = i
                break
        else:
            # No literal is rare here; after a few such blocks stop trying.
            self._misses += 1
            if self._misses >= 3:
                self.prefilters = ()
            return self._scan_pattern(buf, start, end, spans)
        sizes = [found[k + 1] - found[k] for k in range(0, len(found), 2)]
        lines = gather(buf, found)
        starts = list(accumulate(sizes, initial=0))  # where each found span begins in lines
        hits: array[int] = array("q")
        count = self._scan_pattern(lines, 0, len(lines), hits)
        k = 0
        for i in range(0, len(hits), 2):
            s, e = hits[i], hits[i + 1]
            while s < e:  # one line at a time: a hit span may join found spans
                le = lines.find(b"\n", s, e) + 1 or e
                while starts[k + 1] <= s:
                    k += 1
                origin = found[2 * k] + (s - starts[k])
                _add(spans, origin, origin + (le - s))
                s = le
        return count

    def _check_spans(self, buf: bytearray | bytes, found: array[int], spans: array[int]) -> int:
        checks = self.checks
        count = 0
        for i in range(0, len(found), 2):
            s, e = found[i], found[i + 1]
            while s < e:
                nl = buf.find(b"\n", s, e) + 1 or e
                line = bytes(buf[s : nl - 1])
                if all(check(line) for check in checks):
                    _add(spans, s, nl)
                    count += 1
                s = nl
        return count

    def _scan_pattern(self, buf: bytearray | bytes, start: int, end: int, spans: array[int]) -> int:
        search = self.scanner.search  # type: ignore[union-attr]
        checks = self.checks
        count = 0
        pos = start
        while pos < end:
            m = search(buf, pos, end)
            if m is None:
                break
            hit = m.start()
            ls = buf.rfind(b"\n", pos, hit) + 1 or pos
            le = buf.find(b"\n", hit, end) + 1 or end
            if m.end() >= le and search(bytes(buf[ls : le - 1])) is None:
                pos = le  # the match ran past its line (\C can); the line alone fails
                continue
            if not checks or all(check(bytes(buf[ls : le - 1])) for check in checks):
                _add(spans, ls, le)
                count += 1
            pos = le
        return count


def _add(spans: array[int], start: int, end: int) -> None:
    if spans and spans[-1] == start:
        spans[-1] = end
    else:
        spans.append(start)
        spans.append(end)
