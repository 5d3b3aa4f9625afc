"""What every payload parser shares: the :class:`Batch` it returns, the one error type
it raises (:class:`PayloadError`), the compact JSON encoding of a structured record
and line cutting to ``--max-line-bytes``.

A structured record is stored as one compact JSON object line; JSON escapes every
newline inside a string, so a record is always exactly one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ...scan import clean_lines

Body = bytes | bytearray | memoryview  # a request body, as read (inputs/bodies.py)
ELLIPSIS = b"..."
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


class PayloadError(ValueError):
    """A payload that cannot be read at all (or one malformed record, internally)."""


class TooLarge(PayloadError):
    """A body that decompresses to more than the size limit, or whose lines would
    pass the bytes one request may store."""


def expanded_too_far(most: int) -> TooLarge:
    """The refusal of a body whose lines would pass ``most`` bytes: a small Loki or
    OTLP body can repeat long labels or resource attributes on every line."""
    return TooLarge(f"The lines of this request would exceed {most} bytes")


class Growth:
    """The bytes of lines a Python parser has made for one request, each counted as
    stored (cut to ``max_line``): past ``most`` (not 0) it raises
    :func:`expanded_too_far`, as the C scanners answer, before the rest is built."""

    __slots__ = ("max_line", "most", "total")

    def __init__(self, max_line: int, most: int) -> None:
        self.max_line, self.most, self.total = max_line, most, 0

    def add(self, lines: int, size: int) -> None:
        """``lines`` lines of at least ``size`` characters each (str lengths: never
        more than the UTF-8 bytes, so this never refuses what fits)."""
        if self.most:
            self.total += lines * (min(size, self.max_line) + 1)
            if self.total > self.most:
                raise expanded_too_far(self.most)


@dataclass(slots=True)
class Batch:
    """One request body's result: the lines to store and what was skipped."""

    # newline-terminated lines, none empty, none over the limit; a view into the body
    # when the NDJSON scanner stored it as it came (valid until the body's buffer is
    # reused), or of a C scanner's output buffer (which lives as long as the view)
    block: bytes | memoryview = b""
    lines: int = 0
    malformed: int = 0  # records skipped
    truncated: int = 0  # lines cut to the limit
    first_error: str = ""  # the first malformed record's problem
    items: list[dict[str, object]] = field(default_factory=list)  # per-item results (bulk)
    answer: bytes | memoryview = b""  # or those items as a JSON array (bulk's C scanner)
    answered: int = 0  # and their number

    def skip(self, problem: str, records: int = 1) -> None:
        self.malformed += records
        if not self.first_error:
            self.first_error = problem


def compact(obj: object) -> str:
    """``obj`` as compact JSON text (non-ASCII kept, no spaces)."""
    return _COMPACT.encode(obj)


# Between the items of compact_all's list: two NULs, which JSON writes escaped, so
# their text can only be this string item again, never a part of any other value.
_APART = "\x00\x00"
_APART_TEXT = "," + _COMPACT.encode(_APART) + ","


def compact_all(objs: list[object]) -> list[str]:
    """``[compact(o) for o in objs]`` in one encoding of the list (C speed, ~6x
    faster than an encoder call per object): ``_APART`` between the items; should
    a value hold the same string item, the text has more of it and each object is
    encoded alone."""
    if len(objs) < 2:
        return [compact(o) for o in objs]
    spaced: list[object] = [_APART] * (2 * len(objs) - 1)
    spaced[::2] = objs
    parts = _COMPACT.encode(spaced)[1:-1].split(_APART_TEXT)
    return parts if len(parts) == len(objs) else [compact(o) for o in objs]


def escape_all(texts: list[str]) -> list[str]:
    """Each text as the inside of a JSON string literal, in one ``json.dumps`` (C speed).

    Inside an encoded string every ``"`` is escaped, so ``", "`` only ever separates
    the items of the encoded list.
    """
    if not texts:
        return []
    return json.dumps(texts, ensure_ascii=False)[2:-2].split('", "')


def message_lines(texts: list[str], suffix: str) -> str:
    """``{"_msg":<text><suffix>}`` for each text, newline-separated, built in one join;
    ``suffix`` is the rest of every record (``,"app":"api"`` or empty)."""
    end = '"' + suffix + "}"
    return '{"_msg":"' + (end + '\n{"_msg":"').join(escape_all(texts)) + end


def finish(
    batch: Batch, parts: list[str], max_line: int, count: int | None = None, most: int = 0
) -> Batch:
    """Join ``parts`` (each one or more newline-separated lines, none empty) into the
    batch's block, cutting over-long lines; ``count`` is the number of lines (default:
    one per part); ``most`` (not 0): the most bytes the block may have. One C pass
    checks the common case where none needs cutting."""
    if not parts:
        return batch
    # A lone surrogate (from a "\\ud800" escape) goes back out as that escape.
    block = ("\n".join(parts) + "\n").encode("utf-8", "backslashreplace")
    if clean_lines(block, 0, len(block), max_line) < 0:
        out = []
        for line in block.split(b"\n")[:-1]:
            if len(line) > max_line:
                batch.truncated += 1
                line = line[:max_line] + ELLIPSIS
            out.append(line)
        block = b"\n".join(out) + b"\n"
    if most and len(block) > most:
        raise expanded_too_far(most)
    batch.block = block
    batch.lines = len(parts) if count is None else count
    return batch


def text_of(body: Body) -> str:
    """A body as text: invalid UTF-8 becomes U+FFFD (stored so, never refused)."""
    return str(body, "utf-8", "replace")
