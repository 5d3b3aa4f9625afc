"""OTLP/HTTP logs (``/v1/logs``): an ``ExportLogsServiceRequest`` as protobuf or in
the OTLP JSON mapping, decoded with ``opentelemetry-proto``'s generated classes.

Each log record is stored as :func:`.otlp_line.record_line` writes it; nested
attribute values are flattened with dots (``http.request.method``).

The answer is an ``ExportLogsServiceResponse`` (partial success when records were
skipped); an error (4xx, 5xx) a ``google.rpc.Status``, as the OTLP/HTTP spec wants,
each in the request's encoding.

A protobuf request is read by the C scanner (``native.otlp_protobuf``) in the plain
case; a JSON one is rewritten in C as the same wire format and read by the same
scanner (``native.otlp_json``), else read from ``json.loads``' data
(:mod:`.otlp_json`); all write the same lines, and :func:`parse_python` is their
reference and reads the rest.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from . import native, otlp_json
from .otlp_line import record_line
from .records import Batch, Body, Growth, PayloadError, finish, text_of


def value_of(v: Any) -> object:
    """An ``AnyValue`` as plain JSON data."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, kind)


def flatten(attributes: Any, out: dict[str, object], prefix: str = "") -> None:
    """``KeyValue``s into ``out``, nested key lists joined with dots."""
    for kv in attributes:
        key = prefix + kv.key
        if kv.value.WhichOneof("value") == "kvlist_value":
            flatten(kv.value.kvlist_value.values, out, key + ".")
        else:
            out[key] = value_of(kv.value)


def _hex_ids_to_base64(doc: Any) -> None:
    """OTLP JSON writes trace and span ids in hex; the protobuf JSON mapping wants base64."""
    for rl in doc.get("resourceLogs") or () if isinstance(doc, dict) else ():
        for sl in (rl.get("scopeLogs") or ()) if isinstance(rl, dict) else ():
            for rec in (sl.get("logRecords") or ()) if isinstance(sl, dict) else ():
                for key in ("traceId", "spanId") if isinstance(rec, dict) else ():
                    value = rec.get(key)
                    if isinstance(value, str) and value:
                        try:
                            rec[key] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            raise PayloadError(f"Invalid {key}: {value[:40]}") from None


def decode(body: Body, is_json: bool) -> Any:
    request = ExportLogsServiceRequest()
    try:
        if is_json:
            doc = json.loads(text_of(body))
            _hex_ids_to_base64(doc)
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(bytes(body))
    except (
        json_format.ParseError,
        DecodeError,
        RecursionError,
        ValueError,
        TypeError,
        OverflowError,
    ) as exc:
        raise PayloadError(f"Invalid OTLP logs request: {exc}") from None
    return request


def parse(body: Body, max_line: int, is_json: bool, most: int = 0) -> Batch:
    """The records of an OTLP logs request; raises :class:`PayloadError` if unreadable,
    :class:`TooLarge` if its lines would pass ``most`` bytes (not 0: no bound; the
    resource's attributes are repeated on each of its records' lines)."""
    if is_json:
        fast = native.otlp_json(body, max_line, most)
        if fast is None:
            fast = otlp_json.parse(body, max_line, most)
    else:
        fast = native.otlp_protobuf(body, max_line, most)
    return fast if fast is not None else parse_python(body, max_line, is_json, most)


def parse_python(body: Body, max_line: int, is_json: bool, most: int = 0) -> Batch:
    """:func:`parse` with the protobuf library alone: the C scanner's reference."""
    request = decode(body, is_json)
    batch = Batch()
    out: list[str] = []
    growth = Growth(max_line, most)
    for resource_logs in request.resource_logs:
        resource: dict[str, object] = {}
        flatten(resource_logs.resource.attributes, resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes: dict[str, object] = {}
                flatten(record.attributes, attributes)
                out.append(
                    record_line(
                        value_of(record.body),
                        record.severity_text,
                        record.severity_number,
                        resource,
                        attributes,
                        record.trace_id,
                        record.span_id,
                    )
                )
                growth.add(1, len(out[-1]))
    return finish(batch, out, max_line, most=most)


# The google.rpc.Code of an HTTP error (gRPC's own mapping, read backwards):
# INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE; else UNKNOWN.
STATUS_CODES = {400: 3, 413: 8, 415: 12, 503: 14}


def status(http_status: int, message: str) -> dict[str, object]:
    """The OTLP/HTTP error body of a JSON request: a ``google.rpc.Status`` in the
    protobuf JSON mapping (``code``, ``message``)."""
    return {"code": STATUS_CODES.get(http_status, 2), "message": message}


def status_protobuf(http_status: int, message: str) -> bytes:
    """:func:`status` of a protobuf request: a serialised ``google.rpc.Status``."""
    answer = Status(code=STATUS_CODES.get(http_status, 2), message=message)
    return bytes(answer.SerializeToString())


def response(batch: Batch) -> dict[str, object]:
    """``ExportLogsServiceResponse`` in JSON: partial success when records were skipped."""
    if not batch.malformed:
        return {}
    return {
        "partialSuccess": {"rejectedLogRecords": batch.malformed, "errorMessage": batch.first_error}
    }


def response_protobuf(batch: Batch) -> bytes:
    """The same answer as :func:`response`, as a serialised ``ExportLogsServiceResponse``."""
    answer = ExportLogsServiceResponse()
    if batch.malformed:
        answer.partial_success.rejected_log_records = batch.malformed
        answer.partial_success.error_message = batch.first_error
    return bytes(answer.SerializeToString())
