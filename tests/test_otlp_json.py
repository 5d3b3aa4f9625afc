"""The OTLP JSON readers (``otlp_json.parse``, and the C one, ``native.otlp_json``:
the JSON rewritten as wire format for the protobuf scanner) against the reference
they stand in for (``otlp.parse_python``: ``json_format.ParseDict`` into protobuf
messages): the same stored bytes and counts whenever one reads a body, Hypothesis
over the requests of ``test_otlp_native`` written as OTLP JSON (ids in hex, enums
and 64-bit integers as numbers or strings, names and values bent out of the usual
shapes), and the reference's answer through ``otlp.parse`` whenever both decline."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from test_otlp_native import BAD, reference, request_messages, rich_request, stored

from logcaster.inputs.payloads import native, otlp, otlp_json
from logcaster.inputs.payloads.records import Batch


def agree(raw: bytes, max_line: int) -> bool:
    """Whether the reader read the body (else it declined); when it did, it stored
    exactly what the reference stores. Either way ``otlp.parse`` answers as the
    reference does."""
    fast = otlp_json.parse(raw, max_line)
    want = reference(raw, max_line, is_json=True)
    agree_native(raw, max_line, want)
    if isinstance(want, str):
        assert fast is None, f"read what the reference refuses: {want}"
        return False
    assert fast is None or stored(fast) == stored(want)
    assert stored(otlp.parse(raw, max_line, is_json=True)) == stored(want)
    return fast is not None


def agree_native(raw: bytes, max_line: int, want: Batch | str | None = None) -> bool:
    """The same for the C reader: whether it read the body, and if so the same."""
    if native.otlp_json_scan is None:
        return False
    fast = native.otlp_json(raw, max_line)
    want = reference(raw, max_line, is_json=True) if want is None else want
    if isinstance(want, str):
        assert fast is None, f"the C reader read what the reference refuses: {want}"
        return False
    assert fast is None or stored(fast) == stored(want)
    return fast is not None


def hex_ids(doc: Any) -> None:
    """Trace and span ids as OTLP JSON writes them (the protobuf mapping: base64)."""
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for rec in sl.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in rec:
                        rec[key] = base64.b64decode(rec[key]).hex()


INT64_NAMES = {"intValue", "timeUnixNano", "observedTimeUnixNano"}


def numbers(obj: Any, draw: st.DrawFn, name: str = "") -> Any:
    """64-bit integers (strings in the mapping) as JSON numbers, some of them."""
    if isinstance(obj, dict):
        return {k: numbers(v, draw, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [numbers(v, draw) for v in obj]
    if name in INT64_NAMES and isinstance(obj, str) and draw(st.booleans()):
        return int(obj)
    return obj


# A change to one value of the document: what an exporter may write, or should not.
# (name, value, whether the reader reads it; else the reference decides)
BEND_LIST = [
    ("severityNumber", "SEVERITY_NUMBER_WARN", False),
    ("severityNumber", "9", False),
    ("severityNumber", True, False),
    ("severityNumber", 2**40, False),
    ("timeUnixNano", "-1", False),
    ("timeUnixNano", " 12", False),
    ("timeUnixNano", 2**64, False),
    ("timeUnixNano", 1.0, False),
    ("flags", 2**32, False),
    ("traceId", "zz", False),
    ("traceId", "0a 0b", True),
    ("traceId", "  ", True),
    ("traceId", 7, False),
    ("spanId", "ABCDEF0123456789", True),
    ("body", None, False),
    ("body", {}, True),
    ("body", {"stringValue": "a", "boolValue": True}, False),
    ("body", {"intValue": "12"}, True),
    ("body", {"intValue": 2**63}, False),
    ("body", {"intValue": "1_000"}, False),
    ("body", {"intValue": 12.0}, False),
    ("body", {"doubleValue": 3}, True),
    ("body", {"doubleValue": "1.5"}, False),
    ("body", {"doubleValue": 10**400}, False),
    ("body", {"doubleValue": math.inf}, False),
    ("body", {"doubleValue": math.nan}, False),
    ("body", {"boolValue": "true"}, False),
    ("body", {"stringValue": "\ud800"}, False),
    ("body", {"bytesValue": "AQI"}, False),
    ("body", {"arrayValue": {}}, True),
    ("body", {"arrayValue": {"values": None}}, False),
    ("body", {"kvlistValue": {"values": [{"key": "k"}, {"value": {"intValue": 1}}]}}, True),
    ("body", {"kvlistValue": {"values": [{"key": "k", "value": None}]}}, False),
    ("severity_text", "snake", False),
    ("attributes", None, False),
    ("attributes", [{"key": "a", "value": {"kvlistValue": {}}}], True),
    ("attributes", [{"key": "a", "value": {"kvlistValue": {"values": []}}}], True),
    ("attributes", [{"key": None}], False),
    ("attributes", [{"key": "x", "value": {"kvlistValue": {"values": []}, "intValue": 1}}], False),
    ("eventName", 3, False),
    ("unknown", {"any": [1, 2]}, False),
]
BENDS = st.none() | st.sampled_from(BEND_LIST)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    request = draw(request_messages())  # its unknown fields have no JSON: dropped
    doc = json_format.MessageToDict(request, use_integers_for_enums=draw(st.booleans()))
    hex_ids(doc)
    doc = numbers(doc, draw)
    records = [
        rec
        for rl in doc.get("resourceLogs", [])
        for sl in rl.get("scopeLogs", [])
        for rec in sl.get("logRecords", [])
    ]
    bend = draw(BENDS)
    if bend is not None and records:
        draw(st.sampled_from(records))[bend[0]] = bend[1]
    raw = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:  # some bodies with invalid UTF-8 (stored replaced)
        raw = raw.replace(BAD.encode(), b"\xffBAD\xc3")
    return raw


@given(documents(), st.sampled_from([20, 100_000]))
def test_otlp_json_stores_what_the_reference_stores(raw: bytes, max_line: int) -> None:
    agree(raw, max_line)


@given(st.binary(max_size=200) | st.text(max_size=60).map(str.encode))
def test_otlp_json_on_any_bytes(raw: bytes) -> None:
    agree(raw, 1000)


def exporter_request(records: int) -> bytes:
    """A request as an exporter writes OTLP JSON: hex ids, strings for 64-bit numbers."""
    doc: dict[str, Any] = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "app", "version": "1.0"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1764600000000000000",
                                "observedTimeUnixNano": "1764600000000000001",
                                "severityNumber": 9,
                                "severityText": "INFO",
                                "body": {"stringValue": f"order {i} paid"},
                                "attributes": [
                                    {"key": "order.id", "value": {"intValue": str(i)}},
                                    {"key": "ok", "value": {"boolValue": True}},
                                    {"key": "cost", "value": {"doubleValue": 2.5}},
                                    {
                                        "key": "http",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [
                                                    {
                                                        "key": "method",
                                                        "value": {"stringValue": "POST"},
                                                    }
                                                ]
                                            }
                                        },
                                    },
                                ],
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "flags": 1,
                            }
                            for i in range(records)
                        ],
                    }
                ],
            }
        ]
    }
    return json.dumps(doc).encode()


def test_an_exporters_request_is_read_here() -> None:
    raw = exporter_request(3)
    fast = otlp_json.parse(raw, 1000)
    assert fast is not None and agree(raw, 1000)
    assert agree_native(raw, 1000) or native.otlp_json_scan is None
    assert bytes(fast.block).split(b"\n")[0] == (
        b'{"_msg":"order 0 paid","severity":"INFO","service.name":"shop","order.id":0,'
        b'"ok":true,"cost":2.5,"http.method":"POST",'
        b'"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174"}'
    )
    assert fast.lines == 3


def test_what_the_reader_declines_gets_the_references_answer() -> None:
    """The protobuf names, enums by name and bytes values are read by the reference."""
    doc = json_format.MessageToDict(rich_request(), preserving_proto_field_name=True)
    raw = json.dumps(doc).encode()
    assert otlp_json.parse(raw, 1000) is None
    want = reference(raw, 1000, is_json=True)
    assert isinstance(want, Batch) and want.lines == 4
    assert stored(otlp.parse(raw, 1000, is_json=True)) == stored(want)
    with_bytes = exporter_request(1).replace(b'{"boolValue": true}', b'{"bytesValue": "AQI="}')
    assert otlp_json.parse(with_bytes, 1000) is None
    assert b'"ok":"AQI="' in bytes(otlp.parse(with_bytes, 1000, is_json=True).block)


@pytest.mark.parametrize("body", [None, {}])
def test_a_record_without_a_body_is_an_empty_message(body: object) -> None:
    """No body, or one without a value, is "" (not the text "null", which a body
    {"stringValue": "null"} says), in the C reader and both Python readers."""
    records: list[dict[str, object]] = [{"severityNumber": 9}, {"body": {"stringValue": "null"}}]
    if body is not None:
        records[0]["body"] = body
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}
    raw = json.dumps(doc).encode()
    want = [b'{"_msg":"","severity":"INFO"}', b'{"_msg":"null"}']
    fast = native.otlp_json(raw, 1000)  # the C reader's path
    for batch in (fast, otlp_json.parse(raw, 1000), otlp.parse_python(raw, 1000, True)):
        assert batch is not None and bytes(batch.block).splitlines() == want


def test_names_as_the_reference_fills_them() -> None:
    """Severity from the number's range; a record attribute over a resource one in
    its place; "_msg" always the body; an id, and the record's own severity, over an
    attribute of its name (the attribute kept when the record has none)."""
    records = [
        {"severityNumber": n, "body": {"stringValue": f"n{n}"}} for n in (0, 1, 4, 5, 12, 13, 24)
    ]
    records.append(
        {
            "body": {"intValue": "7"},
            "attributes": [
                {"key": "_msg", "value": {"stringValue": "not the body"}},
                {"key": "zone", "value": {"stringValue": "b"}},
                {"key": "trace_id", "value": {"stringValue": "attr"}},
            ],
            "traceId": "0A0b",
        }
    )
    doc = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "zone", "value": {"stringValue": "a"}},
                        {"key": "severity", "value": {"stringValue": "res"}},
                    ]
                },
                "scopeLogs": [{"logRecords": records}],
            }
        ]
    }
    raw = json.dumps(doc).encode()
    fast = otlp_json.parse(raw, 1000)
    assert fast is not None and agree(raw, 1000)
    assert bytes(fast.block).decode().splitlines() == [
        '{"_msg":"n0","zone":"a","severity":"res"}',
        '{"_msg":"n1","severity":"TRACE","zone":"a"}',
        '{"_msg":"n4","severity":"TRACE","zone":"a"}',
        '{"_msg":"n5","severity":"DEBUG","zone":"a"}',
        '{"_msg":"n12","severity":"INFO","zone":"a"}',
        '{"_msg":"n13","severity":"WARN","zone":"a"}',
        '{"_msg":"n24","severity":"FATAL","zone":"a"}',
        '{"_msg":"7","zone":"b","severity":"res","trace_id":"0a0b"}',
    ]
    doc["resourceLogs"][0]["resource"] = {}  # type: ignore[index]
    raw = json.dumps(doc).encode()
    fast = otlp_json.parse(raw, 1000)
    assert fast is not None and agree(raw, 1000)
    assert [json.loads(line).get("severity") for line in bytes(fast.block).splitlines()] == [
        None, "TRACE", "TRACE", "DEBUG", "INFO", "WARN", "FATAL", None,
    ]  # fmt: skip


# Bends the Python reader reads and the C one leaves to it: ids spaced as
# bytes.fromhex takes them.
SPACED_IDS = [("traceId", "0a 0b"), ("traceId", "  ")]


@pytest.mark.parametrize("bend", BEND_LIST, ids=repr)
def test_each_bend_of_an_exporters_request(bend: tuple[str, object, bool]) -> None:
    doc = json.loads(exporter_request(2))
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1][bend[0]] = bend[1]
    raw = json.dumps(doc).encode("utf-8", "surrogatepass")
    assert agree(raw, 1000) == bend[2]
    if native.otlp_json_scan is not None:
        assert agree_native(raw, 1000) == (bend[2] and bend[:2] not in SPACED_IDS)
