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

:func:`py_fields_piece` is the reference; the C encoder (:func:`~.ndjson.encode_records`,
``_fields.c``) reads the fields as it writes each record, GIL released, and leaves the
lines it cannot decide (``_fields.c``: RFC 5424 SD params, a float or an array in a
JSON object, ...) to it. ``tests/test_records.py`` checks both give the same bytes.
"""

from __future__ import annotations

import json

from .query.fields import app_of, facility_of, fields_of, host_of

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
