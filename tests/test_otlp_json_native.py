"""The C reader of OTLP JSON logs (``native.otlp_json``: the JSON rewritten as the
wire format of the same request, read by the protobuf scanner) on its own cases:
every field the OTLP descriptors define, the edges of its numbers, the JSON it
must refuse as ``json.loads`` does (bytes cut, changed or added anywhere in an
exporter's request), what it leaves to the Python readers, and that ``otlp.parse``
takes it. Each answer is checked against the reference (``agree_native``)."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from test_otlp_json import agree, agree_native, exporter_request, hex_ids

from logcaster.inputs.payloads import native, otlp, otlp_json
from logcaster.inputs.payloads.records import PayloadError

pytestmark = pytest.mark.skipif(native.otlp_json_scan is None, reason="no C accelerator")


def as_json(request: ExportLogsServiceRequest, **kw: Any) -> bytes:
    doc = json_format.MessageToDict(request, use_integers_for_enums=True)
    hex_ids(doc)
    return json.dumps(doc, **kw).encode()


def one_record(**fields: Any) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add(**fields)
    return request


def set_field(msg: Any, field: FieldDescriptor) -> None:
    """A value other than the default in ``field`` of ``msg``."""
    if field.is_repeated:
        item = getattr(msg, field.name).add()
        if field.message_type.name == "KeyValue":
            item.key, item.value.string_value = "k", "v"
        return
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        sub = getattr(msg, field.name)
        sub.SetInParent()
        if field.message_type.name == "AnyValue":
            sub.string_value = "x"
        return
    if field.type == FieldDescriptor.TYPE_STRING:
        value: object = "text"
    elif field.type == FieldDescriptor.TYPE_BYTES:
        value = b"\x01\xab"
    elif field.type == FieldDescriptor.TYPE_BOOL:
        value = True
    elif field.type == FieldDescriptor.TYPE_DOUBLE:
        value = 2.5
    else:
        value = 7
    setattr(msg, field.name, value)


# The messages of a request and how to reach one of each (the record's own fields
# are the LogRecord's); InstrumentationScope and Resource by their parent's field.
MESSAGES = [
    (LogRecord.DESCRIPTOR, lambda r: r.resource_logs[0].scope_logs[0].log_records[0]),
    (ScopeLogs.DESCRIPTOR, lambda r: r.resource_logs[0].scope_logs[0]),
    (ResourceLogs.DESCRIPTOR, lambda r: r.resource_logs[0]),
    (InstrumentationScope.DESCRIPTOR, lambda r: r.resource_logs[0].scope_logs[0].scope),
    (Resource.DESCRIPTOR, lambda r: r.resource_logs[0].resource),
]
# What the C reader leaves to the Python readers, on purpose.
LEFT = {"entity_refs"}  # Resource.entity_refs: not in the JSON exporters write


@pytest.mark.parametrize(
    "descriptor,field",
    [(d, f.name) for d, _ in MESSAGES for f in d.fields],
    ids=lambda x: x if isinstance(x, str) else x.name,
)
def test_every_field_of_the_descriptors(descriptor: Any, field: str) -> None:
    """Each field the installed opentelemetry-proto defines, set alone: the C reader
    writes it under the right number and wire type (the scanner then stores what
    the reference stores), or declines only where meant to."""
    request = one_record(body=AnyValue(string_value="b"))
    reach = dict((d.full_name, r) for d, r in MESSAGES)[descriptor.full_name]
    set_field(reach(request), descriptor.fields_by_name[field])
    raw = as_json(request)
    assert agree_native(raw, 1000) == (field not in LEFT), raw


@pytest.mark.parametrize("kind", [f.name for f in AnyValue.DESCRIPTOR.fields])
def test_every_kind_of_value(kind: str) -> None:
    value = AnyValue()
    if kind in ("array_value", "kvlist_value"):
        getattr(value, kind).SetInParent()
    else:
        set_field(value, AnyValue.DESCRIPTOR.fields_by_name[kind])
    raw = as_json(one_record(body=value, attributes=[{"key": "a", "value": value}]))
    # bytes (base64 in JSON) and string table indexes are the Python readers'
    assert agree_native(raw, 1000) == (kind not in ("bytes_value", "string_value_strindex"))


EDGES = [
    {"intValue": str(-(2**63))},
    {"intValue": 2**63 - 1},
    {"intValue": "-0"},
    {"intValue": "007"},
    {"intValue": -1},
    {"doubleValue": -0.0},
    {"doubleValue": 0},
    {"doubleValue": 5e-324},
    {"doubleValue": 1.7976931348623157e308},
    {"doubleValue": 123456789012345678901234567890},
    {"doubleValue": 0.1},
    {"boolValue": False},
    {"stringValue": ""},
    {"stringValue": '\u00e9\u2028\U0001f600 "q" \\ \n\t\x01'},
    {},
]


@pytest.mark.parametrize("value", EDGES, ids=repr)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_the_edges_of_values(value: dict[str, object], ensure_ascii: bool) -> None:
    doc = json.loads(exporter_request(1))
    rec = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    rec["body"] = value
    rec["attributes"].append({"key": "v", "value": value})
    rec["severityNumber"] = -(2**31)
    rec["timeUnixNano"] = 2**64 - 1
    rec["flags"] = 2**32 - 1
    rec["droppedAttributesCount"] = "4294967295"
    raw = json.dumps(doc, ensure_ascii=ensure_ascii).encode()
    assert agree_native(raw, 1000)


REFUSED_OR_LEFT = [
    b'{"resourceLogs": []} x',  # text after the document
    b'\xef\xbb\xbf{"resourceLogs": []}',  # a BOM
    b'{"resourceLogs": [], "resourceLogs": []}',  # a name twice
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"doubleValue": NaN}}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": 01}}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": "\\u0031"}}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityText": "a\x01"}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityText": "\\ud800"}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityText": "\\udc00\\ud800"}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityText": "a\\udc00"}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"eventName": "a\\x"}]}]}]}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{}],}]}]}',  # a trailing comma
    b'{"resourceLogs": [{"scope_logs": []}]}',  # the protobuf name
    b'{"resourceLogs": null}',
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityText": "\xff"}]}]}]}',
    b"[]",
    b"",
]


@pytest.mark.parametrize("raw", REFUSED_OR_LEFT, ids=repr)
def test_what_json_loads_refuses_or_the_c_reader_leaves(raw: bytes) -> None:
    assert native.otlp_json(raw, 1000) is None
    agree(raw, 1000)


@pytest.mark.parametrize("literal", [b"-0", b"-0.0", b"0", b"-0e5", b"1E2", b"-12", b"2.50"])
def test_double_literals(literal: bytes) -> None:
    """A double from json.loads' value: the integer -0 is 0 (no sign), -0.0 is not."""
    body = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"doubleValue": %s}}]}]}]}'
    assert agree_native(body % literal, 1000)
    attribute = b'{"key": "d", "value": {"doubleValue": %s}}' % literal
    in_attributes = body.replace(b'"body": {"doubleValue": %s}', b'"attributes": [%s]')
    assert agree_native(in_attributes % attribute, 1000)


DOUBLES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]),
    st.integers(0, 20)
    .flatmap(lambda k: st.decimals(allow_nan=False, allow_infinity=False, places=k))
    .map(float),
    st.integers(-1074, 1023).map(lambda e: math.ldexp(1.0, e)),  # powers of two
    st.integers(1, 10**17).map(lambda n: n / 10 ** (len(str(n)) % 9)),
).filter(math.isfinite)


@given(DOUBLES)
def test_doubles_are_written_as_python_writes_them(x: float) -> None:
    """A double attribute's text is repr's: the shortest digits that read back
    (_floatrepr.c), for any double, the 15-digit ones people write among them."""
    doc = json.loads(exporter_request(1))
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"] = [
        {"key": "d", "value": {"doubleValue": x}}
    ]
    raw = json.dumps(doc).encode()
    batch = native.otlp_json(raw, 1000)
    assert batch is not None
    assert b',"d":%s,' % json.dumps(x).encode() in bytes(batch.block)
    assert agree_native(raw, 1000)


def test_spelled_out_json_is_read() -> None:
    """Escapes, indentation and every JSON whitespace: the same records."""
    plain = exporter_request(2)
    doc = json.loads(plain)
    for raw in (
        json.dumps(doc, indent=4).encode(),
        json.dumps(doc, separators=(",", ":")).encode(),
        json.dumps(doc, indent="\t").replace("\n", "\r\n").encode(),
        json.dumps(doc).replace('"body"', '"\\u0062ody"').encode(),
    ):
        fast = native.otlp_json(raw, 1000)
        assert fast is not None and bytes(fast.block) == bytes(native.otlp_json(plain, 1000).block)  # type: ignore[union-attr]
        assert agree_native(raw, 1000)


def nest(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"stringValue": "deep"}
    for i in range(depth):
        value = (
            {"arrayValue": {"values": [value]}}
            if i % 2
            else {"kvlistValue": {"values": [{"key": f"k{i}", "value": value}]}}
        )
    return value


@pytest.mark.parametrize("depth", [1, 10, 22, 23, 24, 25, 40])
def test_nesting(depth: int) -> None:
    doc = json.loads(exporter_request(1))
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] = nest(depth)
    raw = json.dumps(doc).encode()
    assert agree_native(raw, 1000) == (depth <= 23)
    agree(raw, 1000)


@given(st.data())
def test_an_exporters_request_changed_anywhere(data: st.DataObject) -> None:
    """Bytes cut, replaced or added anywhere: the C reader reads only what
    json.loads and the reference read, and stores what the reference stores."""
    raw = bytearray(exporter_request(2))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        how = data.draw(st.sampled_from(["cut", "set", "add"]))
        bytes_ = data.draw(
            st.binary(min_size=1, max_size=3)
            | st.sampled_from([b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"0", b"-", b" "])
        )
        if how == "cut":
            del raw[at : at + len(bytes_)]
        elif how == "set":
            raw[at : at + len(bytes_)] = bytes_
        else:
            raw[at:at] = bytes_
    agree(bytes(raw), 1000)


def test_otlp_parse_takes_the_c_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    def no(*args: object, **kw: object) -> None:
        raise AssertionError("the Python reader was asked")

    monkeypatch.setattr(otlp_json, "parse", no)
    batch = otlp.parse(exporter_request(3), 1000, is_json=True)
    assert batch.lines == 3
    assert bytes(batch.block).startswith(b'{"_msg":"order 0 paid","severity":"INFO"')


def test_over_the_line_limit_and_the_request_limit() -> None:
    raw = exporter_request(3)
    assert agree_native(raw, 20)
    batch = native.otlp_json(raw, 20)
    assert batch is not None and batch.truncated == 3
    with pytest.raises(PayloadError):
        native.otlp_json(raw, 1000, 100)  # the lines would pass 100 bytes
