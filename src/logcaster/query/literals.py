"""What text a regex's matches must hold, read from the pattern: sets of spellings
(``level=(error|warn)`` -> ``level=error`` or ``level=warn``; ``<1[0-9]>`` -> ten
spellings), and the prefixes a match anchored at ``^`` puts at its line's start.

:func:`literal_needs` reads the pattern with Python's regex parser. Only plain
characters, small character classes and groups of plain alternatives count;
anything either parser may read differently (flags, RE2-only syntax, POSIX
classes, errors) yields nothing, so a prefilter built on the answer never skips a
line that could match. Zero-width assertions (``^ $ \\b``) consume nothing and so
do not break a run of characters.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants
import re._parser as _sre_parser
import warnings
from dataclasses import dataclass
from itertools import product
from typing import Any

MAX_SPELLINGS = 16  # of one run of characters
MAX_CLASS = 10  # characters of a class spelled out
MIN_BYTES = 3

Atom = frozenset[str] | None  # the spellings of one element; None: anything


@dataclass(frozen=True, slots=True)
class Needs:
    """Every match is on a line that holds one of ``any_of`` (when given) and starts
    with one of ``prefixes`` (when given); ``or_empty``: or on an empty line."""

    any_of: tuple[bytes, ...] = ()
    prefixes: tuple[bytes, ...] = ()
    or_empty: bool = False


_META = frozenset("\\.^$*+?()[]{}|\n")  # RE2's metacharacters, and a newline


def plain_alternatives(pattern: str) -> tuple[bytes, ...] | None:
    """The literals of a pattern that is only plain characters joined by ``|``
    (``timeout|refused``, ``ошибка подключения``): a line holds a match exactly
    when it holds one of them, as bytes (RE2 matches a literal's UTF-8 bytes
    wherever they are, whatever the rest of the line holds). None for any other
    pattern: one with a metacharacter (an escape, ``.``, a flag group such as
    ``(?i)``, a class, a repeat, an anchor), a newline (no line holds one), an
    empty branch, or a character with no UTF-8 form (a byte the query could not
    decode, which RE2 refuses anyway)."""
    branches = pattern.split("|")
    if not all(branches) or any(ch in _META for b in branches for ch in b):
        return None
    try:
        return tuple(dict.fromkeys(b.encode("utf-8") for b in branches))
    except UnicodeEncodeError:
        return None


def _class(items: Any) -> Atom:
    chars: set[str] = set()
    for op, arg in items:
        if op is _sre_constants.LITERAL:
            chars.add(chr(arg))
        elif op is _sre_constants.RANGE and arg[1] - arg[0] < MAX_CLASS:
            chars.update(map(chr, range(arg[0], arg[1] + 1)))
        else:  # NEGATE, CATEGORY, a wide range
            return None
        if len(chars) > MAX_CLASS:
            return None
    return frozenset(chars)


def _exact(items: Any) -> Atom:
    """All spellings of a sequence of elements, if each has few."""
    out: set[str] = {""}
    for atom in _atoms(items):
        if atom is None:
            return None
        out = {a + b for a in out for b in atom}
        if len(out) > MAX_SPELLINGS:
            return None
    return frozenset(out)


def _atom(op: Any, arg: Any) -> Atom:
    if op is _sre_constants.LITERAL:
        return frozenset({chr(arg)})
    if op is _sre_constants.AT:
        return frozenset({""})  # zero width
    if op is _sre_constants.IN:
        return _class(arg)
    if op is _sre_constants.SUBPATTERN:
        _group, add_flags, del_flags, sub = arg
        return None if add_flags or del_flags else _exact(sub)
    if op is _sre_constants.BRANCH:
        spellings: set[str] = set()
        for branch in arg[1]:
            sub = _exact(branch)
            if sub is None:
                return None
            spellings |= sub
        return frozenset(spellings) if len(spellings) <= MAX_SPELLINGS else None
    return None


def _atoms(items: Any) -> list[Atom]:
    return [_atom(op, arg) for op, arg in items]


def _encode(spellings: frozenset[str]) -> tuple[bytes, ...]:
    return tuple(sorted({s.encode("utf-8", "surrogateescape") for s in spellings}))


def _runs(items: Any) -> list[frozenset[str]]:
    """The spellings of each maximal run of known elements (capped in number)."""
    runs: list[frozenset[str]] = []
    cur: set[str] = {""}
    for atom in [*_atoms(items), None]:
        if atom is not None:
            grown = {a + b for a, b in product(cur, atom)}
            if len(grown) <= MAX_SPELLINGS:
                cur = grown
                continue
        if cur != {""}:
            runs.append(frozenset(cur))
        cur = set(atom) if atom is not None and len(atom) <= MAX_SPELLINGS else {""}
    return runs


def _trimmed(spellings: frozenset[str]) -> frozenset[str]:
    """Spellings without edge blanks (a blank is a poor byte to search by)."""
    trimmed = frozenset(s.strip(" ") for s in spellings)
    return trimmed if min(map(len, trimmed), default=0) >= MIN_BYTES else spellings


def _best(items: Any) -> tuple[bytes, ...]:
    """The run whose shortest spelling is longest (then with fewest spellings)."""
    runs = [_encode(_trimmed(r)) for r in _runs(items)]
    runs = [r for r in runs if min(map(len, r)) >= MIN_BYTES]
    if not runs:
        return ()
    return max(runs, key=lambda r: (min(map(len, r)), -len(r)))


def _prefixes(items: Any) -> tuple[bytes, ...]:
    """For a sequence starting with ``^``: the spellings its lines start with."""
    if not items or items[0] != (_sre_constants.AT, _sre_constants.AT_BEGINNING):
        return ()
    out: set[str] = {""}
    for atom in _atoms(items[1:]):
        if atom is None or atom == {""}:
            break
        grown = {a + b for a, b in product(out, atom)}
        if len(grown) > MAX_SPELLINGS:
            break
        out = grown
    return () if out == {""} else _encode(frozenset(out))


def _empty_only(items: Any) -> bool:
    """A branch that matches only an empty line: ``^$``."""
    ends = (_sre_constants.AT_END, _sre_constants.AT_END_STRING)
    return [op for op, _ in items] == [_sre_constants.AT, _sre_constants.AT] and (
        items[0][1] is _sre_constants.AT_BEGINNING and items[1][1] in ends
    )


def literal_needs(pattern: str) -> Needs:
    """What every line holding a match of ``pattern`` has (possibly nothing)."""
    if "[:" in pattern or "[=" in pattern or "[." in pattern:
        return Needs()  # POSIX classes: RE2 and Python read them differently
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = _sre_parser.parse(pattern)
    except Exception:  # RE2-only syntax, or not a valid Python pattern
        return Needs()
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return Needs()
    needs = _needs(list(parsed))
    if any(b"\n" in s for s in (*needs.any_of, *needs.prefixes)):
        return Needs()  # such a pattern matches no line; RE2 finds that out
    return needs


def _needs(items: Any) -> Needs:
    if len(items) == 1 and items[0][0] is _sre_constants.BRANCH:
        branches = [list(b) for b in items[0][1][1]]
        or_empty = any(_empty_only(b) for b in branches)
        found: set[bytes] = set()
        for branch in branches:
            if _empty_only(branch):
                continue
            best = _best(branch)
            if not best:
                return Needs()
            found.update(best)
        if not found:
            return Needs()
        return Needs(any_of=tuple(sorted(found)), or_empty=or_empty)
    return Needs(any_of=_best(items), prefixes=_prefixes(items))
