"""Field filters and field counts over whole regions of lines, in C where built.

:func:`select` keeps the lines of some spans whose fields pass a query's filters
(``host=``, ``app=``, ``facility=``, ``field.NAME=``); :func:`tally` counts the lines
per value of a field (``TOP``, ``HITS by=``). The C reader (``_speedups.field_lines``
and ``field_values``, ``_fields.c``) decides each line with the GIL released; the
rare lines it leaves undecided (an encoded surrogate in a JSON text, a float as the
value, a nested JSON ``field.a.b``, a syslog header's own ``field.NAME``, ...: see
``_fields.c``) are read by the Python reference (:mod:`.fields`).
:func:`py_select` and :func:`py_tally` are that reference over regions, used where
the accelerator was not built; ``tests/test_fields_native.py`` checks they agree.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator

from .fields import app_of, facility_of, fields_of, host_of, structured_level
from .levels import level_mask, level_of
from .spec import FIELD_PREFIX, FieldFilter

Data = bytes | bytearray  # a block buffer (memoryview has no find)

# The fields the C reader knows, by its kind numbers; any field.NAME is kind 3.
KINDS = {"host": 0, "app": 1, "facility": 2}
FIELD_KIND = 3
_SURROGATES = re.compile("[\ud800-\udfff]")


HAVE_NATIVE = True
try:
    from .._speedups import field_lines, field_values, level_lines
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False


def extractor(name: str) -> Callable[[bytes], str | None]:
    """How the value of the field ``name`` is read from one line (the reference)."""
    if name == "host":
        return host_of
    if name == "app":
        return app_of
    if name == "facility":
        return facility_of
    key = name[len(FIELD_PREFIX) :] if name.startswith(FIELD_PREFIX) else name
    return lambda line: fields_of(line).get(key)


def lines(buf: Data, spans: array[int]) -> Iterator[tuple[int, int, bytes]]:
    """``(start, end, text)`` of each line of ``spans``; the text without its newline."""
    view = memoryview(buf)
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        while s < e:
            nl = buf.find(b"\n", s, e)
            le = e if nl < 0 else nl + 1
            yield s, le, bytes(view[s : e if nl < 0 else nl])
            s = le


def _accepts(filters: tuple[FieldFilter, ...]) -> Callable[[bytes], bool]:
    checks = [(f, extractor(f.name)) for f in filters]
    return lambda line: all(f.accepts(get(line)) for f, get in checks)


def _add(out: array[int], s: int, e: int) -> None:
    if out and out[-1] == s:
        out[-1] = e
    else:
        out.extend((s, e))


def py_select(
    buf: Data, spans: array[int], filters: tuple[FieldFilter, ...], out: array[int]
) -> int:
    """Append to ``out`` the spans of the lines of ``spans`` passing every filter;
    return their number (the Python reference of :func:`select`)."""
    accepts = _accepts(filters)
    count = 0
    for s, e, line in lines(buf, spans):
        if accepts(line):
            _add(out, s, e)
            count += 1
    return count


def native_kind(field: str) -> tuple[int, bytes] | None:
    """The C reader's kind number and NAME (for ``field.NAME``) of ``field``; None
    when it cannot read it (no accelerator, a surrogate in the name)."""
    if not HAVE_NATIVE:
        return None
    if field in KINDS:
        return KINDS[field], b""
    if field.startswith(FIELD_PREFIX) and not _SURROGATES.search(field):
        return FIELD_KIND, field[len(FIELD_PREFIX) :].encode()
    return None


def _native(f: FieldFilter) -> tuple[int, bytes, bytes] | None:
    """Kind, NAME and value (as compared) of a filter the C reader applies."""
    kind = native_kind(f.name)
    if kind is None:
        return None
    try:
        return (*kind, f.value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a surrogate no stored byte decodes to
        return None


def select(buf: Data, spans: array[int], filters: tuple[FieldFilter, ...], out: array[int]) -> int:
    """Append to ``out`` the spans of the lines of ``spans`` (whole lines) passing
    every filter of ``filters``; return their number."""
    native = [(f, how) for f in filters if (how := _native(f)) is not None]
    if not native:
        return py_select(buf, spans, filters, out)
    unsure: array[int] = array("q")
    current, count = spans, 0
    for f, (kind, name, value) in native:
        kept: array[int] = array("q")
        count = field_lines(buf, current, kind, value, f.prefix, kept, unsure, name)
        current = kept
    rest = tuple(f for f in filters if all(f is not g for g, _ in native))
    if not unsure and not rest:
        extend_spans(out, current)
        return count
    found: list[tuple[int, int]] = []
    if rest:
        accepts = _accepts(rest)
        found.extend((s, e) for s, e, line in lines(buf, current) if accepts(line))
    else:
        found.extend((s, e) for s, e, _ in lines(buf, current))
    if unsure:
        accepts = _accepts(filters)
        found.extend((s, e) for s, e, line in lines(buf, unsure) if accepts(line))
        found.sort()
    for s, e in found:
        _add(out, s, e)
    return len(found)


def py_tally(buf: Data, spans: array[int], field: str, none: str, into: Counter[str]) -> None:
    """Count into ``into`` the lines of ``spans`` per value of ``field`` (``none`` for
    lines without one, or with an empty one): the reference of :func:`tally`."""
    get = extractor(field)
    for _, _, line in lines(buf, spans):
        into[get(line) or none] += 1


def tally(buf: Data, spans: array[int], field: str, none: str, into: Counter[str]) -> None:
    """Count into ``into`` the lines of ``spans`` per value of ``field``."""
    kind = native_kind(field)
    if kind is None:
        py_tally(buf, spans, field, none, into)
        return
    unsure: array[int] = array("q")
    for value, n in field_values(buf, spans, kind[0], unsure, kind[1]).items():
        into[value.decode("utf-8", "surrogateescape") if value else none] += n
    if unsure:
        py_tally(buf, unsure, field, none, into)


def _level(line: bytes) -> str | None:
    return structured_level(line) or level_of(line)


def py_select_levels(buf: Data, spans: array[int], levels: frozenset[str], out: array[int]) -> int:
    """Append to ``out`` the spans of the lines of ``spans`` whose level is one of
    ``levels``: a JSON line's numeric ``level`` first, else its token level; return
    their number (the Python reference of :func:`select_levels`)."""
    count = 0
    for s, e, line in lines(buf, spans):
        if _level(line) in levels:
            _add(out, s, e)
            count += 1
    return count


def select_levels(buf: Data, spans: array[int], levels: frozenset[str], out: array[int]) -> int:
    """Like :func:`py_select_levels`, in C (``_speedups.level_lines``) where built."""
    if not HAVE_NATIVE:
        return py_select_levels(buf, spans, levels, out)
    unsure: array[int] = array("q")
    kept: array[int] = array("q")
    count = level_lines(buf, spans, level_mask(levels), kept, unsure)
    if not unsure:
        extend_spans(out, kept)
        return count
    found = [(s, e) for s, e, _ in lines(buf, kept)]
    found.extend((s, e) for s, e, line in lines(buf, unsure) if _level(line) in levels)
    found.sort()
    for s, e in found:
        _add(out, s, e)
    return len(found)


def extend_spans(out: array[int], more: array[int]) -> None:
    """Append the spans ``more`` to ``out``, joining the first to ``out``'s last."""
    if more and out and out[-1] == more[0]:
        out[-1] = more[1]
        more = more[2:]
    out.extend(more)
