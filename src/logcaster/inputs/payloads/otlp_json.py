"""OTLP/HTTP logs in the OTLP JSON mapping, read straight from ``json.loads``' data.

The reference (:func:`.otlp.parse_python`) turns the document into protobuf
messages first (``json_format.ParseDict``: ~60 µs a record, the GIL held), then
reads them. :func:`parse` walks the parsed JSON itself and writes the same lines,
~20 times faster, for the shapes OTLP exporters write: camelCase names, 64-bit
integers as decimal strings or numbers, enums as numbers, trace and span ids in
hex. Whatever else it meets (a name of the protobuf spelling, ``null``, an enum by
name, ``bytesValue``, a value of another type, a number out of its field's range,
a lone surrogate, nesting past :data:`MAX_NEST`) makes it return None, and the
reference decides: it may refuse the body, or read it its own way.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .otlp_line import record_line
from .records import Batch, Body, Growth, finish, text_of

MAX_NEST = 24  # arrays and key lists within a value (the reference allows deeper)
INT64 = (-(2**63), 2**63 - 1)
UINT64 = (0, 2**64 - 1)
UINT32 = (0, 2**32 - 1)
INT32 = (-(2**31), 2**31 - 1)
DIGITS = re.compile(r"-?[0-9]+")

# The names each message may have, and how a value of one is checked when the
# lines do not use it.
REQUEST = frozenset({"resourceLogs"})
RESOURCE_LOGS = frozenset({"resource", "scopeLogs", "schemaUrl"})
RESOURCE = frozenset({"attributes", "droppedAttributesCount"})
SCOPE_LOGS = frozenset({"scope", "logRecords", "schemaUrl"})
SCOPE = frozenset({"name", "version", "attributes", "droppedAttributesCount"})
RECORD = frozenset(
    {
        "timeUnixNano",
        "observedTimeUnixNano",
        "severityNumber",
        "severityText",
        "body",
        "attributes",
        "droppedAttributesCount",
        "flags",
        "traceId",
        "spanId",
        "eventName",
    }
)
KINDS = frozenset(
    {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue"}
)


class Unplain(Exception):
    """Outside the shapes read here: the reference reads the body."""


def parse(body: Body, max_line: int, most: int = 0) -> Batch | None:
    """The records of an OTLP JSON logs request as :func:`.otlp.parse_python` stores
    them, or None when the reference must read it (it may refuse it)."""
    try:
        doc = json.loads(text_of(body))
    except (ValueError, RecursionError):
        return None
    try:
        return _lines(doc, max_line, most)
    except (Unplain, RecursionError):
        return None


def _lines(doc: Any, max_line: int, most: int) -> Batch:
    out: list[str] = []
    growth = Growth(max_line, most)
    for resource_logs in _messages(doc, REQUEST, "resourceLogs"):
        _known(resource_logs, RESOURCE_LOGS)
        _text(resource_logs.get("schemaUrl", ""))
        resource: dict[str, object] = {}
        if "resource" in resource_logs:
            res = _message(resource_logs["resource"], RESOURCE)
            _count(res.get("droppedAttributesCount", 0), UINT32)
            _flatten(res.get("attributes", []), resource, "", 0)
        for scope_logs in _messages(resource_logs, RESOURCE_LOGS, "scopeLogs"):
            _known(scope_logs, SCOPE_LOGS)
            _text(scope_logs.get("schemaUrl", ""))
            if "scope" in scope_logs:
                scope = _message(scope_logs["scope"], SCOPE)
                _text(scope.get("name", ""))
                _text(scope.get("version", ""))
                _count(scope.get("droppedAttributesCount", 0), UINT32)
                _flatten(scope.get("attributes", []), {}, "", 0)
            for record in _messages(scope_logs, SCOPE_LOGS, "logRecords"):
                out.append(_record(record, resource))
                growth.add(1, len(out[-1]))
    return finish(Batch(), out, max_line, most=most)


def _record(record: Any, resource: dict[str, object]) -> str:
    _known(record, RECORD)
    _count(record.get("timeUnixNano", 0), UINT64)
    _count(record.get("observedTimeUnixNano", 0), UINT64)
    _count(record.get("droppedAttributesCount", 0), UINT32)
    _count(record.get("flags", 0), UINT32)
    _text(record.get("eventName", ""))
    number = record.get("severityNumber", 0)
    if type(number) is not int or not INT32[0] <= number <= INT32[1]:
        raise Unplain
    body = _value(record["body"], 0) if "body" in record else None
    attributes: dict[str, object] = {}
    _flatten(record.get("attributes", []), attributes, "", 0)
    ids = []
    for key in ("traceId", "spanId"):
        try:
            ids.append(bytes.fromhex(_text(record.get(key, ""))))
        except ValueError:
            raise Unplain from None
    severity = _text(record.get("severityText", ""))
    return record_line(body, severity, number, resource, attributes, ids[0], ids[1])


def _known(obj: Any, names: frozenset[str]) -> None:
    if type(obj) is not dict or not names.issuperset(obj):
        raise Unplain


def _message(obj: Any, names: frozenset[str]) -> dict[str, Any]:
    _known(obj, names)
    return obj  # type: ignore[no-any-return]


def _messages(parent: Any, names: frozenset[str], key: str) -> list[Any]:
    _known(parent, names)
    items = parent.get(key, [])
    if type(items) is not list:
        raise Unplain
    return items


def _text(value: Any) -> str:
    """A string field's value: no lone surrogate (the protobuf library refuses one)."""
    if type(value) is not str:
        raise Unplain
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Unplain from None
    return value


def _count(value: Any, bounds: tuple[int, int]) -> int:
    """An integer field's value: a number, or its decimal digits in a string."""
    if type(value) is str and DIGITS.fullmatch(value):
        value = int(value)
    if type(value) is not int or not bounds[0] <= value <= bounds[1]:
        raise Unplain
    return value


def _value(v: Any, depth: int) -> object:
    """An ``AnyValue`` as :func:`.otlp.value_of` makes it."""
    if type(v) is not dict or len(v) > 1 or not KINDS.issuperset(v):
        raise Unplain
    if not v:
        return None
    ((kind, x),) = v.items()
    if kind == "stringValue":
        return _text(x)
    if kind == "intValue":
        return _count(x, INT64)
    if kind == "boolValue":
        if type(x) is not bool:
            raise Unplain
        return x
    if kind == "doubleValue":
        if type(x) not in (int, float):
            raise Unplain
        try:
            f = float(x)
        except OverflowError:
            raise Unplain from None
        if not math.isfinite(f):
            raise Unplain
        return f
    if depth >= MAX_NEST:
        raise Unplain
    if kind == "arrayValue":
        return [_value(item, depth + 1) for item in _list_of(x)]
    pairs: dict[str, object] = {}
    for kv in _list_of(x):
        key, value = _pair(kv)
        pairs[key] = None if value is None else _value(value, depth + 1)
    return pairs


def _list_of(x: Any) -> list[Any]:
    """The values of an ``ArrayValue`` or ``KeyValueList``."""
    if type(x) is not dict or not {"values"}.issuperset(x):
        raise Unplain
    values = x.get("values", [])
    if type(values) is not list:
        raise Unplain
    return values


def _pair(kv: Any) -> tuple[str, Any]:
    """A ``KeyValue``: its key and its value (None: none given)."""
    if type(kv) is not dict or not {"key", "value"}.issuperset(kv):
        raise Unplain
    if "value" in kv and kv["value"] is None:
        raise Unplain
    return _text(kv.get("key", "")), kv.get("value")


def _flatten(attributes: Any, out: dict[str, object], prefix: str, depth: int) -> None:
    """:func:`.otlp.flatten` of JSON ``KeyValue``s."""
    if type(attributes) is not list:
        raise Unplain
    for kv in attributes:
        key, value = _pair(kv)
        key = prefix + key
        if type(value) is dict and "kvlistValue" in value and len(value) == 1:
            if depth >= MAX_NEST:
                raise Unplain
            _flatten(_list_of(value["kvlistValue"]), out, key + ".", depth + 1)
        else:
            out[key] = None if value is None else _value(value, depth)
