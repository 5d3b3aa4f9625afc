"""How an OTLP log record becomes the line LogCaster stores, whichever reader read it
(:mod:`.otlp`'s protobuf reference, :mod:`.otlp_json`; ``_otlpproto.c`` writes the
same bytes):

    {"_msg": <body as text, "" if none>, "severity": <severityText, or severityNumber's range>,
     <resource attributes>..., <record attributes>..., "trace_id": <hex>, "span_id": <hex>}

filled as a dict fills: a name set again keeps its place and takes the new value
(a record attribute over a resource one, the ids over attributes); ``_msg`` is the
body, and ``severity`` the record's own when it has one, whatever an attribute
says (a ``severity`` attribute of a record without one is kept).
"""

from __future__ import annotations

from .records import compact

# OpenTelemetry's severity number ranges: 1-4 TRACE, 5-8 DEBUG, ..., 21-24 FATAL.
SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def severity_name(number: int) -> str:
    return SEVERITIES[(number - 1) // 4] if 1 <= number <= 24 else ""


def record_line(
    body: object,
    severity_text: str,
    severity_number: int,
    resource: dict[str, object],
    attributes: dict[str, object],
    trace_id: bytes,
    span_id: bytes,
) -> str:
    """The stored line of a record whose body and flattened attributes are plain
    JSON data."""
    # no body (or an AnyValue without a value) is an empty message, not the text null
    msg = body if isinstance(body, str) else "" if body is None else compact(body)
    fields: dict[str, object] = {"_msg": msg}
    severity = severity_text or severity_name(severity_number)
    if severity:
        fields["severity"] = severity
    fields.update(resource)
    fields.update(attributes)
    if severity:  # the record's own, in the place it took first
        fields["severity"] = severity
    if trace_id:
        fields["trace_id"] = trace_id.hex()
    if span_id:
        fields["span_id"] = span_id.hex()
    fields["_msg"] = msg
    return compact(fields)
