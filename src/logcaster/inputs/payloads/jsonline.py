"""``/insert/jsonline``: newline-delimited JSON objects, one log record per line.

Lines are stored as received (trailing ``\\r`` stripped, blank lines skipped, invalid
UTF-8 as U+FFFD); each must be a JSON object, others are skipped and counted. With
``msg_field`` (VictoriaLogs' ``_msg_field``) that field is renamed ``_msg`` and the
record re-encoded compactly. ``_time_field`` only names a field that is kept as it is:
LogCaster indexes the receive time.

Without ``msg_field`` the C scanner (:mod:`.native`) checks every line and builds
the block with the GIL released. The Python parser below is the reference and the
fallback: it validates the whole body by one ``json.loads`` of its lines as a JSON
array (C speed) and, when it needs no normalising, stores it as it is; only a body
that fails that is checked line by line to find the bad records.
"""

from __future__ import annotations

import json

from . import native
from .records import Batch, Body, compact, finish, text_of


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


def parse(body: Body, max_line: int, msg_field: str = "") -> Batch:
    """The records of an NDJSON body; never raises on bad records (they are counted)."""
    if not msg_field or msg_field == "_msg":
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
    if not msg_field or msg_field == "_msg":
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
    if msg_field and msg_field != "_msg":
        lines = [_rename(obj, line, msg_field) for obj, line in zip(objs, lines, strict=True)]
    return finish(batch, lines, max_line)


def _rename(obj: object, line: str, field: str) -> str:
    assert isinstance(obj, dict)
    if field not in obj:
        return line
    renamed = {"_msg": obj.pop(field)}
    renamed.update((k, v) for k, v in obj.items() if k != "_msg")
    return compact(renamed)
