"""The parsed fields of a line, as the part of its HTTP API record after ``"level"``.

A record is ``{"time": ..., "line": ..., "level": ..., "host": ..., "app": ...,
"facility": ..., "fields": {...}}``: ``host``, ``app`` and ``facility`` are the
values the filters of those names compare (:func:`~.query.fields.host_of`,
:func:`~.query.fields.app_of`, :func:`~.query.fields.facility_of`), each present
only when the line has it; ``fields`` holds every ``field.NAME`` of the line
(:func:`~.query.fields.fields_of`, in its order: a syslog header's, then a JSON
object's keys, nested ones joined by dots, or logfmt pairs) but ``host``, ``app``
and ``facility`` when the top-level key already holds the same value; it is left
out when empty. Fields live under their own keys, so none can replace ``time``,
``line`` or ``level``. Text is escaped as the record's line is: the UTF-8 text
``decode("utf-8", "replace")`` gives, as ``json.dumps(..., ensure_ascii=False)``.

:func:`record_fields` reads the lines in C (``_speedups.record_fields``, in
``_fields.c``, GIL released); the lines it leaves undecided (see ``_fields.c``: RFC
5424 SD params, a float or an array in a JSON object, ...) and every line where the
extension was not built are read by :func:`py_fields_piece`, the reference.
``tests/test_records.py`` checks both give the same bytes.
"""

from __future__ import annotations

import json
from array import array

from .query.fields import app_of, facility_of, fields_of, host_of
from .scan import Buffer

Pieces = tuple[bytes, "array[int]"]  # the pieces, and (start, end) of each line's
TOP = (("host", host_of), ("app", app_of), ("facility", facility_of))


def fields_record(line: bytes) -> dict[str, str | dict[str, str]]:
    """The keys a record gains from ``line`` (without its newline), as values."""
    out: dict[str, str | dict[str, str]] = {}
    for name, get in TOP:
        value = get(line)
        if value is not None:
            out[name] = value
    rest = {k: v for k, v in fields_of(line).items() if out.get(k) != v}
    if rest:
        out["fields"] = rest
    return out


def _clean(text: str) -> str:
    """``text`` as the record shows it: bytes read with ``surrogateescape`` as
    ``decode("utf-8", "replace")`` reads them."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate from a JSON \\ud800 escape
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def _string(text: str) -> str:
    return json.dumps(_clean(text), ensure_ascii=False)


def py_fields_piece(line: bytes) -> bytes:
    """``,"host":"..",...,"fields":{..}`` of ``line``: empty when it has no field."""
    parts: list[str] = []
    for name, value in fields_record(line).items():
        if isinstance(value, dict):
            inner = ",".join(f"{_string(k)}:{_string(v)}" for k, v in value.items())
            parts.append(f'"{name}":{{{inner}}}')
        else:
            parts.append(f'"{name}":{_string(value)}')
    return "".join("," + p for p in parts).encode()


def _lines(buf: Buffer, spans: array[int]) -> list[tuple[int, int]]:
    data = memoryview(buf).cast("B")
    out: list[tuple[int, int]] = []
    raw = bytes(data)
    for i in range(0, len(spans), 2):
        s, e = spans[i], spans[i + 1]
        while s < e:
            nl = raw.find(b"\n", s, e)
            end = e if nl < 0 else nl
            out.append((s, end))
            s = e if nl < 0 else nl + 1
    return out


def py_record_fields(buf: Buffer, spans: array[int]) -> Pieces:
    """The pieces of every line of ``spans``, in order (the reference of
    :func:`record_fields`)."""
    raw = bytes(buf)
    text = bytearray()
    bounds: array[int] = array("q")
    for s, e in _lines(buf, spans):
        bounds.append(len(text))
        text += py_fields_piece(raw[s:e])
        bounds.append(len(text))
    return bytes(text), bounds


def record_fields(buf: Buffer, spans: array[int]) -> Pieces:
    """The pieces of the lines of ``spans`` for :func:`~.ndjson.encode_records`."""
    if not HAVE_NATIVE:
        return py_record_fields(buf, spans)
    bounds: array[int] = array("q")
    unsure: array[int] = array("q")
    text = _native_fields(buf, spans, bounds, unsure)
    if not unsure:
        return text, bounds
    more = bytearray(text)
    view = memoryview(buf).cast("B")
    for i in range(0, len(unsure), 3):
        k, s, e = unsure[i], unsure[i + 1], unsure[i + 2]
        bounds[2 * k] = len(more)
        more += py_fields_piece(bytes(view[s:e]))
        bounds[2 * k + 1] = len(more)
    return bytes(more), bounds


HAVE_NATIVE = True
try:
    from ._speedups import record_fields as _native_fields
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
