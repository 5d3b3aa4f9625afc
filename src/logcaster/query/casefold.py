"""Prefilters for case-insensitive regexes (``(?i)...``): the lines a match could be
on, found by a literal search so that RE2 runs on those lines only.

A literal every match holds (a run of plain characters at the pattern's top level)
matches, under ``(?i)``, any text where each character is replaced by one of its
case variants: its *orbit* under simple case mappings (``k``: ``k K`` and the
Kelvin sign; Cyrillic o: its capital and the narrow o, U+1C82). From a piece of that literal:

- when every character's orbit is itself or an ASCII letter pair, one ASCII
  case-insensitive SIMD search (:func:`find_lines_icase`, C, GIL released);
- else, when the piece has few spellings (at most :data:`MAX_VARIANTS`, all of one
  length in bytes), one search for any of them (:func:`find_lines_spelled`, C).

Orbits are computed from Python's case tables, closed under lower, upper and
casefold both ways, so they hold RE2's (``tests/test_casefold.py`` checks
this against RE2 itself). Any doubt yields no prefilter: RE2 then reads everything.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants
import re._parser as _sre_parser
from array import array
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from itertools import product

from ..scan import Buffer, py_find_lines
from .filters import py_filter_lines, py_lines_where

MAX_VARIANTS = 64  # one C pass checks them all (_spelled.c)
MIN_BYTES = 3
# Code points with case mappings (all of Unicode's cased letters lie in these).
_CASED = ((0, 0x3400), (0xA000, 0xAC00), (0xF900, 0x20000))
RUN = 64  # code points checked at once for case mappings


Orbits = tuple[tuple[bytes, ...], ...]  # per character: the encodings (?i) matches


@dataclass(frozen=True, slots=True)
class Folded:
    """A ``(?i)`` prefilter: an ASCII needle for :func:`find_lines_icase`, or the
    spellings of which every matching line holds one. When ``exact``, the lines it
    finds are the lines RE2 matches (the pattern is a plain literal): with
    ``variants``, each hit is checked for the characters ``before`` it (nearest
    first) and ``after`` it."""

    ascii: bytes = b""
    variants: tuple[bytes, ...] = ()
    exact: bool = False
    before: Orbits = ()
    after: Orbits = ()


@cache
def _links() -> dict[str, frozenset[str]]:
    """Character -> the characters one case mapping away, in either direction."""
    links: dict[str, set[str]] = defaultdict(set)
    folds: dict[str, set[str]] = defaultdict(set)  # full case folding -> characters
    for ch in _cased():
        for other in (ch.lower(), ch.upper(), ch.casefold()):
            if len(other) == 1 and other != ch:
                links[ch].add(other)
                links[other].add(ch)
        folded = ch.casefold()
        if folded != ch:
            folds[folded].add(ch)
    for group in folds.values():  # e.g. U+0390 and U+1FD3 fold to the same three
        for ch in group:
            links[ch].update(group - {ch})
    return {ch: frozenset(v) for ch, v in links.items()}


def _cased() -> list[str]:
    """The characters some case mapping changes, in code point order. Runs of
    :data:`RUN` characters that no mapping changes as a whole (most of them) are
    passed over at C speed: a string's mapping changes whenever one of its
    characters' does."""
    out: list[str] = []
    for lo, hi in _CASED:
        for at in range(lo, hi, RUN):
            run = "".join(map(chr, range(at, min(at + RUN, hi))))
            if run.lower() != run or run.upper() != run or run.casefold() != run:
                out += [c for c in run if c.lower() != c or c.upper() != c or c.casefold() != c]
    return out


@cache
def orbit(ch: str) -> frozenset[str]:
    """The characters ``(?i)ch`` can match."""
    links = _links()
    seen = {ch}
    todo = [ch]
    while todo:
        for other in links.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return frozenset(seen)


def _ascii_pair(ch: str) -> bool:
    """Whether ``ch`` matches only itself, or only itself and its ASCII other case."""
    members = orbit(ch)
    return all(m.isascii() for m in members) and (len(members) == 1 or ch.isalpha())


def folded_literals(pattern: str) -> tuple[str, ...]:
    """Runs of plain characters every match of a ``(?i)`` pattern holds (up to case)."""
    if "[:" in pattern or "[=" in pattern or "[." in pattern:
        return ()  # POSIX classes: RE2 and Python read them differently
    try:
        parsed = _sre_parser.parse(pattern)
    except Exception:  # RE2-only syntax, or not a valid Python pattern
        return ()
    flags = parsed.state.flags
    if not flags & re.IGNORECASE or flags & re.VERBOSE:
        return ()
    runs: list[list[int]] = [[]]
    for op, arg in parsed:
        if op is _sre_constants.LITERAL:
            runs[-1].append(arg)
        elif runs[-1]:
            runs.append([])
    # A line holds no newline: the pieces between them are what a match needs.
    pieces = ("".join(map(chr, r)).split("\n") for r in runs if r)
    return tuple(p for split in pieces for p in split if p)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _best_ascii(literal: str) -> str:
    """The longest piece of ``literal`` whose characters fold only within ASCII."""
    best, run = "", ""
    for ch in literal:
        run = run + ch if _ascii_pair(ch) else ""
        best = max(best, run, key=len)
    return best


def _best_variants(literal: str) -> tuple[bytes, ...]:
    """The spellings of the piece of ``literal`` with the most bytes among those with
    at most MAX_VARIANTS spellings of one length; none when no piece has MIN_BYTES."""
    best: tuple[int, str] = (0, "")
    for i in range(len(literal)):
        ways = 1
        for j in range(i, len(literal)):
            spellings = orbit(literal[j])
            ways *= len(spellings)
            if ways > MAX_VARIANTS or len({_nbytes(c) for c in spellings}) > 1:
                break
            size = _nbytes(literal[i : j + 1])
            if size > best[0]:
                best = (size, literal[i : j + 1])
    if best[0] < MIN_BYTES:
        return ()
    ways_of = product(*(sorted(orbit(ch)) for ch in best[1]))
    encoded = {"".join(s).encode("utf-8", "surrogateescape") for s in ways_of}
    return tuple(sorted(encoded))


def fold_prefilter(pattern: str) -> Folded | None:
    """The prefilter of a ``(?i)`` pattern (exact when it is a plain literal), or None."""
    orbits = exact_orbits(pattern)
    exact = _exact(orbits) if orbits else None
    if exact is not None:
        return exact
    literals = folded_literals(pattern)
    if not literals:
        return None
    piece = max((_best_ascii(lit) for lit in literals), key=len)
    if len(piece) >= 4:
        return Folded(ascii=piece.lower().encode("ascii"))
    options = [_best_variants(lit) for lit in literals]
    options = [o for o in options if o]
    if not options:
        return Folded(ascii=piece.lower().encode("ascii")) if len(piece) >= MIN_BYTES else None
    # Fewest spellings, then the longest.
    best = min(options, key=lambda o: (len(o), -min(map(len, o))))
    return Folded(variants=best)


# Where tests/test_casefold.py checks, character by character, that RE2's (?i)
# matches lie inside orbit(): here orbit() filtered by RE2 is RE2's own set.
CHECKED = (
    (0x20, 0x250),
    (0x370, 0x530),
    (0x10A0, 0x1100),
    (0x13A0, 0x1400),
    (0x1C80, 0x1CC0),
    (0x1E00, 0x2000),
    (0x2100, 0x2190),
    (0x2C00, 0x2D30),
    (0xA640, 0xA800),
    (0xFF21, 0xFF5B),
    (0x10400, 0x10450),
    (0x1E900, 0x1E944),
)
_PLAIN_LITERAL = re.compile(r"\(\?i\)([^\\.^$*+?()\[\]{}|\n]+)")


def _encode(ch: str) -> bytes:
    return ch.encode("utf-8")


@cache
def re2_orbit(ch: str) -> tuple[bytes, ...] | None:
    """The encodings of the characters RE2's ``(?i)ch`` matches, or None when that is
    not known here (a character outside :data:`CHECKED` that has case mappings)."""
    import re2  # the bindings: a dependency of the query engine already

    candidates = orbit(ch)
    if len(candidates) > 1 and not any(lo <= ord(ch) < hi for lo, hi in CHECKED):
        return None
    rx = re2.compile(b"(?i)" + re2.escape(_encode(ch)))
    return tuple(sorted(_encode(m) for m in candidates if rx.fullmatch(_encode(m))))


def exact_orbits(pattern: str) -> Orbits | None:
    """Per character, what RE2 matches of a pattern that is ``(?i)`` and a plain
    literal (no metacharacter, escape or newline); None for any other pattern."""
    plain = _PLAIN_LITERAL.fullmatch(pattern)
    if plain is None or any(0xD800 <= ord(c) < 0xE000 for c in plain.group(1)):
        return None
    orbits = tuple(re2_orbit(c) for c in plain.group(1))
    if any(o is None or len(o) > 8 for o in orbits):
        return None
    return orbits  # type: ignore[return-value]  # None excluded just above


def _exact(orbits: Orbits) -> Folded | None:
    """An exact search for the literal whose characters have these orbits."""
    letter_pairs = all(
        (len(o) == 1 and len(o[0]) == 1) or (len(o) == 2 and o[0].lower() == o[1].lower() != o[0])
        for o in orbits
    )
    if letter_pairs and len(orbits) <= 256 and all(len(o[0]) == 1 for o in orbits):
        return Folded(ascii=b"".join(o[-1] for o in orbits).lower(), exact=True)
    best: tuple[int, int, int] = (0, 0, 0)  # bytes, first, end of the piece
    for i in range(len(orbits)):
        ways = 1
        for j in range(i, len(orbits)):
            ways *= len(orbits[j])
            if ways > MAX_VARIANTS or len({len(e) for e in orbits[j]}) > 1:
                break
            size = sum(len(o[0]) for o in orbits[i : j + 1])
            if size > best[0]:
                best = (size, i, j + 1)
    size, i, j = best
    if size < MIN_BYTES or i > 256 or len(orbits) - j > 256:
        return None
    variants = tuple(sorted({b"".join(s) for s in product(*orbits[i:j])}))
    before = orbits[:i][::-1]
    return Folded(variants=variants, exact=True, before=before, after=orbits[j:])


def folded_lines(buf: Buffer, start: int, end: int, folded: Folded, out: array[int]) -> int:
    """The lines of ``buf[start:end]`` that ``folded`` finds; their number."""
    if folded.ascii:
        return find_lines_icase(buf, start, end, folded.ascii, out)
    if folded.exact:
        return find_lines_spelled(
            buf, start, end, folded.variants, out, folded.before, folded.after
        )
    return find_lines_spelled(buf, start, end, folded.variants, out)


def py_find_lines_icase(buf: Buffer, start: int, end: int, needle: bytes, out: array[int]) -> int:
    """:func:`find_lines_icase` in Python: ``find_lines`` over an ASCII-lowered copy."""
    lowered = bytes(memoryview(buf)[start:end]).lower()
    found: array[int] = array("q")
    count = py_find_lines(lowered, 0, len(lowered), needle.lower(), found)
    out.extend(x + start for x in found)
    return count


def py_find_lines_spelled(
    buf: Buffer,
    start: int,
    end: int,
    spellings: tuple[bytes, ...],
    out: array[int],
    before: Orbits | None = None,
    after: Orbits | None = None,
) -> int:
    """:func:`find_lines_spelled` in Python: the OR pass of the literal filter; with
    ``before``/``after``, a bytes regex of the whole literal, line by line."""
    if before is None and after is None:
        return py_filter_lines(buf, start, end, (), spellings, 0, out)
    alt = [b"(?:" + b"|".join(map(re.escape, o)) + b")" for o in (before or ())[::-1]]
    alt.append(b"(?:" + b"|".join(map(re.escape, spellings)) + b")")
    alt.extend(b"(?:" + b"|".join(map(re.escape, o)) + b")" for o in after or ())
    rx = re.compile(b"".join(alt))
    return py_lines_where(buf, start, end, rx.search, out)


HAVE_NATIVE = True
try:
    from .._speedups import find_lines_icase as find_lines_icase
    from .._speedups import find_lines_spelled as find_lines_spelled
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
    find_lines_icase = py_find_lines_icase
    find_lines_spelled = py_find_lines_spelled
