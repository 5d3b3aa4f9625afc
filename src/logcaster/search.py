"""The search engine: finds matching lines in a ring snapshot, a block at a time.

Each block region is scanned once by a C-speed *primary* matcher: a literal
(SIMD scan in ``_speedups``, GIL released) or an RE2 pattern over the whole
region. Only candidate lines are then checked in Python against the remaining
filters. Results are byte ranges into the snapshot's blocks, adjacent lines
coalesced, so a match costs a few integers until the reply is rendered; raw
replies are gathered in C, a block per chunk.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants  # the stdlib's regex parser, for required_literals
import re._parser as _sre_parser
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import re2

from .commands import QuerySpec
from .levels import candidate_pattern, level_of
from .ring import BlockView, Snapshot
from .scan import count_lines, find_lines, gather, gather_stamped

Pattern = Any  # re2 compiled pattern (the bindings ship no type information)


class QueryError(ValueError):
    """A query that cannot run; the message is the reply's ``ERROR:`` text."""


def _re2_options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False
    opts.never_nl = True  # a match never spans lines
    return opts


def per_line(pattern: str) -> str:
    """``pattern`` for scanning a block of lines: ``\\A`` and ``\\z`` (text start/end)
    become ``^`` and ``$``, which under ``(?m)`` mean line start/end, as a per-line
    match would have it. Escapes and character classes are left alone."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if not in_class and nxt in "Az":
                out.append("^" if nxt == "A" else "$")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                if pattern[i : i + 1] == "]":
                    out.append("]")
                    i += 1
                continue
            out.append(ch)
            i += 1
            if pattern[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        if ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


def compile_regex(pattern: str) -> Pattern:
    """A user's RE2 pattern, compiled to scan whole blocks of lines.

    Errors name the pattern as the user wrote it.
    """
    try:
        re2.compile(pattern.encode("utf-8", "surrogateescape"), _re2_options())
        return re2.compile(
            ("(?m)" + per_line(pattern)).encode("utf-8", "surrogateescape"), _re2_options()
        )
    except re2.error as exc:
        why = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        raise QueryError(f"Invalid regex pattern: {why}") from None


def required_literals(pattern: str, min_len: int = 3) -> tuple[bytes, ...]:
    """Runs of plain characters that every match of ``pattern`` must contain, longest first.

    The pattern is read with Python's own regex parser; only top-level runs of
    literal characters count, and anything either parser may read differently
    (flags, RE2-only escapes, errors) yields none, so the answer errs towards
    "none" and never names a literal that a match could lack.
    """
    try:
        parsed = _sre_parser.parse(pattern)
    except Exception:  # RE2-only syntax, or not a valid Python pattern
        return ()
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ()
    runs: list[list[int]] = [[]]
    for op, arg in parsed:
        if op is _sre_constants.LITERAL:
            runs[-1].append(arg)
        elif runs[-1]:
            runs.append([])
    found = {"".join(map(chr, r)).encode("utf-8", "surrogateescape") for r in runs}
    return tuple(sorted((f for f in found if len(f) >= min_len), key=len, reverse=True))


def _literal_options() -> re2.Options:
    """Latin-1 mode: a keyword's bytes match the same bytes, valid UTF-8 or not."""
    opts = _re2_options()
    opts.encoding = re2.Options.Encoding.LATIN1
    return opts


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
            self.scanner = re2.compile(alternatives.encode("latin-1"), _literal_options())
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

    def accepts(self, line: bytes) -> bool:
        """The naive per-line answer (used for checks and for FOLLOW's small blocks)."""
        spec = self.spec
        if spec.keywords:
            hit = (any if spec.any_keyword else all)(k in line for k in spec.keywords)
            if not hit:
                return False
        if self.regex is not None and self.regex.search(line) is None:
            return False
        return not spec.levels or level_of(line) in spec.levels

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


@dataclass(slots=True)
class Matches:
    """Matching lines of a snapshot: per block view, flat ``[start, end, ...]`` spans."""

    count: int = 0
    ranges: list[tuple[BlockView, array[int]]] = field(default_factory=list)

    def add(self, view: BlockView, spans: array[int], lines: int) -> None:
        if lines:
            self.ranges.append((view, spans))
            self.count += lines

    @classmethod
    def merge(cls, parts: Iterable[Matches]) -> Matches:
        out = cls()
        for part in parts:
            out.ranges.extend(part.ranges)
            out.count += part.count
        return out

    def keep_newest(self, limit: int) -> Matches:
        """The newest ``limit`` lines of these matches."""
        if self.count <= limit:
            return self
        kept: list[tuple[BlockView, array[int]]] = []
        need = limit
        for view, spans in reversed(self.ranges):
            buf = view.buf
            out: array[int] = array("q")
            for i in range(len(spans) - 2, -1, -2):
                s, e = spans[i], spans[i + 1]
                cut = e
                while need and cut > s:
                    cut = buf.rfind(b"\n", s, cut - 1) + 1 or s
                    need -= 1
                out[:0] = array("q", (cut, e))
                if not need:
                    break
            kept.append((view, out))
            if not need:
                break
        kept.reverse()
        return Matches(limit, kept)


def _time_regions(view: BlockView, spec: QuerySpec) -> list[tuple[int, int]]:
    """Byte regions of ``view`` whose receive time lies within the spec's bounds."""
    lo = spec.time_from if spec.time_from is not None else -(1 << 63)
    hi = spec.time_to if spec.time_to is not None else (1 << 63) - 1
    blk = view.block
    if blk.ts_max < lo or blk.ts_min > hi:
        return []  # the whole block is outside the range
    if lo <= blk.ts_min and blk.ts_max <= hi:
        return [(view.start, view.end)]
    regions: list[tuple[int, int]] = []
    for s, e, ts in view.chunk_spans():
        if lo <= ts <= hi:
            if regions and regions[-1][1] == s:
                regions[-1] = (regions[-1][0], e)
            else:
                regions.append((s, e))
    return regions


def search_views(views: Sequence[BlockView], matcher: Matcher) -> Matches:
    """Run ``matcher`` over some block views (one worker's share of a snapshot)."""
    spec = matcher.spec
    timed = spec.time_from is not None or spec.time_to is not None
    matches = Matches()
    for view in views:
        spans: array[int] = array("q")
        regions = _time_regions(view, spec) if timed else [(view.start, view.end)]
        count = 0
        for s, e in regions:
            count += matcher.scan(view.buf, s, e, spans)
        matches.add(view, spans, count)
    return matches


def search(snapshot: Snapshot, spec: QuerySpec) -> Matches:
    """Single-threaded search of a whole snapshot."""
    return search_views(snapshot.views, Matcher(spec))


def tail(snapshot: Snapshot, count: int) -> Matches:
    """The newest ``count`` lines of a snapshot."""
    found = Matches()
    for view in snapshot.views:
        found.add(view, array("q", (view.start, view.end)), 1)
    found.count = snapshot.current
    return found.keep_newest(count)


# --------------------------------------------------------------- rendering
def as_utf8(data: bytes) -> bytes:
    """``data`` if it is valid UTF-8, else with invalid sequences replaced by U+FFFD."""
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace").encode("utf-8")
    return data


REPLY_CHUNK = 1 << 18


def _batched(pieces: Iterable[bytes | bytearray], size: int = REPLY_CHUNK) -> Iterator[bytes]:
    """Join pieces of whole lines into reply chunks of about ``size`` bytes, UTF-8 safe.

    Few large chunks keep the per-chunk cost (one worker hand-off each) off
    replies that gather a little from many blocks."""
    out: list[bytes | bytearray] = []
    have = 0
    for piece in pieces:
        out.append(piece)
        have += len(piece)
        if have >= size:
            yield as_utf8(b"".join(out))
            out, have = [], 0
    if out:
        yield as_utf8(b"".join(out))


def render_raw(matches: Matches) -> Iterator[bytes]:
    """The matching lines as stored, oldest first, gathered in C a block at a time."""
    return _batched(gather(view.buf, spans) for view, spans in matches.ranges)


def _lines_of(view: BlockView, spans: array[int], descending: bool) -> Iterator[tuple[int, int]]:
    buf = view.buf
    pairs = range(0, len(spans), 2)
    for i in reversed(pairs) if descending else pairs:
        s, e = spans[i], spans[i + 1]
        if descending:
            while e > s:
                ls = buf.rfind(b"\n", s, e - 1) + 1 or s
                yield ls, e
                e = ls
        else:
            while s < e:
                nl = buf.find(b"\n", s, e) + 1 or e
                yield s, nl
                s = nl


def stamp(ts_ns: int) -> bytes:
    return time.strftime("[%Y-%m-%d %H:%M:%S] ", time.localtime(ts_ns // 1_000_000_000)).encode()


class _Stamps:
    """``[YYYY-MM-DD HH:MM:SS] `` prefixes, computed once per second of receive time."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def __call__(self, ts_ns: int) -> bytes:
        second = ts_ns // 1_000_000_000
        if second != self._second:
            self._second, self._prefix = second, stamp(ts_ns)
        return self._prefix


def render_stamped(
    matches: Matches, descending: bool = False, chunk: int = REPLY_CHUNK
) -> Iterator[bytes]:
    """``[YYYY-MM-DD HH:MM:SS] <line>`` per match (server local time).

    Oldest-first replies are assembled in C a block at a time from one prefix
    per chunk; newest-first replies go line by line.
    """
    stamps = _Stamps()

    def newest_first() -> Iterator[bytes | bytearray]:
        for view, spans in reversed(matches.ranges):
            buf = view.buf
            for s, e in _lines_of(view, spans, True):
                yield stamps(view.time_of(s)) + buf[s:e]

    def oldest_first() -> Iterator[bytes]:
        for view, spans in matches.ranges:
            blk = view.block
            lo, hi = view.chunk_lo, view.chunk_hi
            prefixes = b"".join(stamps(ts) for ts in blk.chunk_ts[lo:hi])
            width = len(prefixes) // (hi - lo)
            # A copy of the offsets: the C code holds its buffer with the GIL
            # released, and the ingest thread may be appending to the original.
            offs = blk.chunk_off[lo:hi]
            yield gather_stamped(blk.buf, spans, offs, 0, hi - lo, prefixes, width)

    return _batched(newest_first() if descending else oldest_first(), chunk)


def render(matches: Matches, spec: QuerySpec) -> Iterator[bytes]:
    if spec.raw and not spec.descending:
        return render_raw(matches)
    return render_stamped(matches, spec.descending)
