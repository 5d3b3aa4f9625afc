"""``/insert/jsonline``: newline-delimited JSON objects, one log record per line.

Lines are stored as received (trailing ``\\r`` stripped, blank lines skipped, invalid
UTF-8 as U+FFFD); each must be a JSON object, others are skipped and counted.

``msg_field`` is VictoriaLogs' ``_msg_field``: one or more field names, separated by
commas, the first with a value in a record naming its message. A dotted name also
reaches into nested objects (``log.message`` is ``{"log":{"message":...}}`` as well as
a key ``"log.message"``), as VictoriaLogs flattens them. A value is one that is not
missing, ``null``, ``""`` or an object. That field is moved first as ``_msg`` (a nested
object it leaves empty goes too) and the record re-encoded compactly; a record with
none of them, or whose first is ``_msg`` itself, is stored as received.
``_time_field`` only names a field that is kept as it is: LogCaster indexes the
receive time.

Without ``msg_field`` the C scanner (:mod:`.native`) checks every line and builds
the block with the GIL released. The Python parser below is the reference and the
fallback: it validates the whole body by one ``json.loads`` of its lines as a JSON
array (C speed) and, when it needs no normalising, stores it as it is; only a body
that fails that is checked line by line to find the bad records.
"""

from __future__ import annotations

import json

from . import native
from .records import Batch, Body, compact_all, finish, text_of


def _lines(body: Body) -> list[str]:
    text = text_of(body)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return [line for line in text.split("\n") if line.strip()]


def _one(line: str) -> dict[str, object] | str:
    """The record of one line, or the problem with it."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return f"Invalid JSON: {exc}"
    except RecursionError:
        return "Invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return f"Not a JSON object: {line[:80]}"
    return obj


def _fast(text: str, max_line: int) -> Batch | None:
    """The batch of a body whose every line is one JSON object and that needs no
    normalising (no CR, no blank line): one parse of the body as an array, no copy
    of any line. None when that is not so."""
    core = text.strip("\n")
    if not core:
        return Batch()
    if "\r" in core or "\n\n" in core:
        return None
    count = core.count("\n") + 1
    try:
        objs = json.loads("[" + core.replace("\n", ",") + "]")
    except (ValueError, RecursionError):
        return None
    # Joined by exactly count - 1 commas, the array has count elements only if every
    # line is exactly one complete value.
    if len(objs) != count or set(map(type, objs)) != {dict}:
        return None
    return finish(Batch(), [core], max_line, count)


def msg_fields(msg_field: str) -> list[str]:
    """The names of a ``_msg_field`` value, in order; none (nothing to rename) for
    ``_msg`` alone."""
    names = [name.strip() for name in msg_field.split(",")]
    names = [name for name in names if name]
    return [] if names == ["_msg"] else names


def parse(body: Body, max_line: int, msg_field: str = "") -> Batch:
    """The records of an NDJSON body; never raises on bad records (they are counted)."""
    if not msg_fields(msg_field):
        scanned = native.ndjson(body, max_line)
        if scanned is not None:
            text, batch, (bad_start, bad_end) = scanned
            if batch.malformed:
                problem = _one(str(text[bad_start:bad_end], "utf-8"))
                batch.first_error = problem if isinstance(problem, str) else "Invalid JSON"
            return batch
    return parse_python(body, max_line, msg_field)


def parse_python(body: Body, max_line: int, msg_field: str = "") -> Batch:
    """:func:`parse` in Python alone: the reference of the C scanner."""
    names = msg_fields(msg_field)
    if not names:
        fast = _fast(text_of(body), max_line)
        if fast is not None:
            return fast
    batch = Batch()
    lines = [line.rstrip("\r") for line in _lines(body)]
    objs: list[object] | None = None
    try:
        joined = json.loads("[" + ",".join(lines) + "]")
        # Joined by exactly len(lines) - 1 commas, the array has len(lines) elements
        # only if every line is exactly one complete value.
        if len(joined) == len(lines) and set(map(type, joined)) <= {dict}:
            objs = joined
    except (ValueError, RecursionError):
        pass
    if objs is None:
        good: list[str] = []
        parsed: list[object] = []
        for line in lines:
            one = _one(line)
            if isinstance(one, str):
                batch.skip(one)
            else:
                good.append(line)
                parsed.append(one)
        lines, objs = good, parsed
    if names:
        lines = renamed(objs, lines, names)
    return finish(batch, lines, max_line)


def _path(obj: dict[str, object], name: str) -> list[str] | None:
    """The keys leading to the field ``name`` names in ``obj`` (a key holding the
    whole name first, then a dotted prefix into a nested object), if it has a value."""
    value = obj.get(name)
    if value is not None and value != "" and not isinstance(value, dict):
        return [name]
    dot = name.find(".")
    while dot > 0:
        inner = obj.get(name[:dot])
        if isinstance(inner, dict) and (rest := _path(inner, name[dot + 1 :])) is not None:
            return [name[:dot], *rest]
        dot = name.find(".", dot + 1)
    return None


def _take(obj: dict[str, object], path: list[str]) -> object:
    """Remove the field at ``path``, and the nested objects that leaves empty."""
    if len(path) == 1:
        return obj.pop(path[0])
    inner = obj[path[0]]
    assert isinstance(inner, dict)
    value = _take(inner, path[1:])
    if not inner:
        del obj[path[0]]
    return value


def _moved(obj: object, names: list[str]) -> dict[str, object] | None:
    """The record ``obj`` with the first of the fields ``names`` that has a value
    moved first as ``_msg``; None when it is to be stored as it came (none has, or
    the first is its own ``_msg``)."""
    assert isinstance(obj, dict)
    for name in names:
        path = _path(obj, name)
        if path == ["_msg"]:  # the record's own message: it is where it belongs
            return None
        if path is not None:
            value = _take(obj, path)
            obj.pop("_msg", None)
            return {"_msg": value, **obj}  # C-level steps, no Python loop over members
    return None


def renamed(objs: list[object], lines: list[str], names: list[str]) -> list[str]:
    """Each record ``lines[i]`` (parsed: ``objs[i]``) as ``_msg_field`` leaves it: with
    the field moved (re-encoded compactly, all in one encoding), or as it came."""
    out = list(lines)
    moved: list[object] = []
    where: list[int] = []
    for i, obj in enumerate(objs):
        if (record := _moved(obj, names)) is not None:
            moved.append(record)
            where.append(i)
    for i, text in zip(where, compact_all(moved), strict=True):
        out[i] = text
    return out
