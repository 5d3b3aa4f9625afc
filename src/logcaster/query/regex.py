"""RE2 patterns for scanning whole blocks of lines: compiling a user's regex so that
anchors keep their per-line meaning, the literals every match must contain, and
:func:`regex_lines`, the lines of some regions that hold a match.

Patterns never match across a newline (``never_nl``): a block scan finds exactly
the lines a per-line match would. :func:`regex_lines` runs in C++ with the GIL
released (``_re2scan``, over the system's RE2) when that was built and accepts
the pattern; else :func:`py_regex_lines` does the same through google-re2.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants  # the stdlib's regex parser, for required_literals
import re._parser as _sre_parser
from array import array
from typing import Any

import re2

from .errors import QueryError

try:
    from .. import _re2scan
except ImportError:  # pragma: no cover - depends on the install
    _re2scan = None  # type: ignore[assignment]
HAVE_NATIVE = _re2scan is not None

Pattern = Any  # re2 compiled pattern (the bindings ship no type information)


def re2_options() -> re2.Options:
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


class Regex:
    """A user's pattern in block form: the google-re2 pattern, and the C++ one if any."""

    __slots__ = ("native", "pattern", "rx")

    def __init__(self, pattern: str, rx: Pattern, native: object | None) -> None:
        self.pattern = pattern
        self.rx = rx
        self.native = native


def compile_regex(pattern: str, native: bool = True) -> Regex:
    """A user's RE2 pattern, compiled to scan whole blocks of lines.

    Errors name the pattern as the user wrote it.
    """
    block_form = ("(?m)" + per_line(pattern)).encode("utf-8", "surrogateescape")
    try:
        re2.compile(pattern.encode("utf-8", "surrogateescape"), re2_options())
        rx = re2.compile(block_form, re2_options())
    except re2.error as exc:
        why = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        raise QueryError(f"Invalid regex pattern: {why}") from None
    compiled = _re2scan.compile(block_form) if native and _re2scan is not None else None
    return Regex(pattern, rx, compiled)


def regex_lines(regex: Regex, buf: bytes | bytearray, spans: array[int], out: array[int]) -> int:
    """Append the spans of the lines of the regions ``spans`` (whole lines) that hold
    a match of ``regex``; return their number."""
    if regex.native is not None:
        return _re2scan.scan(regex.native, buf, spans, out)
    return py_regex_lines(regex.rx, buf, spans, out)


def py_regex_lines(rx: Pattern, buf: bytes | bytearray, spans: array[int], out: array[int]) -> int:
    """:func:`regex_lines` through google-re2 (the reference, GIL held)."""
    search = rx.search
    count = 0
    for i in range(0, len(spans), 2):
        pos, end = spans[i], spans[i + 1]
        while pos < end:
            m = search(buf, pos, end)
            if m is None:
                break
            hit = m.start()
            if hit >= end:
                break  # an empty match after the region's last newline is no line
            ls = buf.rfind(b"\n", pos, hit) + 1 or pos
            nl = buf.find(b"\n", hit, end)
            le, cut = (nl + 1, nl) if nl >= 0 else (end, end)
            if m.end() >= le and search(bytes(buf[ls:cut])) is None:
                pos = le  # the match ran past its line (\C can); the line alone fails
                continue
            if out and out[-1] == ls:
                out[-1] = le
            else:
                out.append(ls)
                out.append(le)
            count += 1
            pos = le
    return count


def required_literals(pattern: str, min_len: int = 3) -> tuple[bytes, ...]:
    """Runs of plain characters that every match of ``pattern`` must contain, longest first.

    The pattern is read with Python's own regex parser; only top-level runs of
    literal characters count, and anything either parser may read differently
    (flags, RE2-only escapes, POSIX classes, errors) yields none, so the answer
    errs towards "none" and never names a literal that a match could lack.
    """
    if "[:" in pattern or "[=" in pattern or "[." in pattern:
        return ()  # ``[[:alpha:]]x``: Python reads a set, then the literal "]x"
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


def literal_options() -> re2.Options:
    """Latin-1 mode: a keyword's bytes match the same bytes, valid UTF-8 or not."""
    opts = re2_options()
    opts.encoding = re2.Options.Encoding.LATIN1
    return opts
