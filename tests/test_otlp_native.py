"""The C scanner of OTLP protobuf logs requests against the Python reader it replaces
(``otlp.parse_python``, the protobuf library): the same stored bytes and counts for
the same body, Hypothesis over requests of many resources, scopes and records with
every AnyValue kind (nested key lists and arrays, doubles, bytes), unicode, invalid
UTF-8, repeated and overriding attribute names, ids, severities, unknown fields,
lines over the limit; damaged, cut or random bytes and random wire format (any
field numbers and wire types, over-long varints, groups): the scanner declines
whatever the library refuses; and the C path really taken for plain requests."""

from __future__ import annotations

import json
import math
import struct

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from logcaster.inputs.payloads import native, otlp
from logcaster.inputs.payloads.records import Batch, PayloadError

pytestmark = pytest.mark.skipif(native.otlp_logs_scan is None, reason="no C accelerator")

BAD = "\x1bBAD\x1b"  # stands for invalid UTF-8: replaced in some serialised requests
NAMES = ["_msg", "severity", "trace_id", "span_id", "a", "a.b", "http", "service.name", ""]
TEXT = st.one_of(
    st.sampled_from([*NAMES, 'q "x"\\\n\t\x01\x7f', "caf\u00e9", "\u2028\U0001f600", BAD]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=10),
)
FLOATS = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -0.0, 1.0, 0.1, 1e16, 1e-5, 5e-324, 2.0**60, 1125899906842624.25]),
    st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]),
)


def scalar(kind: str, v: object) -> AnyValue:
    return AnyValue(**{kind: v})  # type: ignore[arg-type]


SCALARS = st.one_of(
    st.builds(lambda t: scalar("string_value", t), TEXT),
    st.builds(lambda b: scalar("bool_value", b), st.booleans()),
    st.builds(lambda n: scalar("int_value", n), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda x: scalar("double_value", x), FLOATS),
    st.builds(lambda b: scalar("bytes_value", b), st.binary(max_size=7)),
    st.builds(lambda n: scalar("string_value_strindex", n), st.integers(-(2**31), 2**31 - 1)),
    st.just(AnyValue()),
)


def array(items: list[AnyValue]) -> AnyValue:
    v = AnyValue()
    v.array_value.SetInParent()
    v.array_value.values.extend(items)
    return v


def kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    v = AnyValue()
    v.kvlist_value.SetInParent()
    v.kvlist_value.values.extend(KeyValue(key=k, value=x) for k, x in pairs)
    return v


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(array),
        st.lists(st.tuples(TEXT, inner), max_size=3).map(kvlist),
    ),
    max_leaves=8,
)
ATTRIBUTES = st.lists(
    st.builds(lambda k, v: KeyValue(key=k, value=v), TEXT, VALUES)
    | st.builds(lambda k: KeyValue(key=k), TEXT),  # no value at all
    max_size=4,
)
# an unknown field (number 99 or 1999, each wire type) a reader must skip
UNKNOWN = st.sampled_from([b"", b"\x98\x06\x07", b"\x99\x06" + b"\x00" * 8, b"\x9a\x06\x02hi"])
UNKNOWN = UNKNOWN | st.sampled_from([b"\x9d\x06\x00\x00\x00\x00", b"\xfa\x7c\x00"])


@st.composite
def log_record(draw: st.DrawFn) -> LogRecord:
    rec = LogRecord()
    if draw(st.booleans()):
        rec.body.CopyFrom(draw(VALUES))
    elif draw(st.booleans()):
        rec.body.string_value = draw(TEXT) * draw(st.sampled_from([1, 1, 40]))  # long bodies
    rec.severity_number = draw(st.sampled_from([0, 1, 4, 5, 9, 13, 17, 21, 24, 25, -1, 2**31 - 1]))
    rec.severity_text = draw(st.sampled_from(["", "", "Warning", "caf\u00e9", BAD]))
    rec.attributes.extend(draw(ATTRIBUTES))
    rec.trace_id = draw(st.sampled_from([b"", bytes(range(16)), b"\xff"]))
    rec.span_id = draw(st.sampled_from([b"", b"\x01" * 8]))
    rec.time_unix_nano = draw(st.sampled_from([0, 1_764_600_000_000_000_000]))
    rec.flags = draw(st.sampled_from([0, 1]))
    rec.event_name = draw(st.sampled_from(["", "ev", BAD]))
    rec.MergeFromString(draw(UNKNOWN))
    return rec


@st.composite
def request_messages(draw: st.DrawFn) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rl = request.resource_logs.add()
        if draw(st.booleans()):
            rl.resource.attributes.extend(draw(ATTRIBUTES))
            rl.resource.MergeFromString(draw(UNKNOWN))
        for _ in range(draw(st.integers(0, 2))):
            sl = rl.scope_logs.add()
            if draw(st.booleans()):
                sl.scope.name = draw(TEXT)
                sl.scope.attributes.extend(draw(ATTRIBUTES))
            sl.log_records.extend(draw(st.lists(log_record(), max_size=3)))
            sl.MergeFromString(draw(UNKNOWN))
        rl.schema_url = draw(st.sampled_from(["", "https://x", BAD]))
    return request


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    raw = bytes(draw(request_messages()).SerializeToString())
    if draw(st.integers(0, 4)) == 0:  # some requests with invalid UTF-8 (refused)
        raw = raw.replace(BAD.encode(), b"\xffBAD\xc3")
    if raw and draw(st.integers(0, 6)) == 0:  # damage it
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if raw and draw(st.integers(0, 8)) == 0:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    return raw


def reference(raw: bytes, max_line: int, is_json: bool = False) -> Batch | str:
    try:
        return otlp.parse_python(raw, max_line, is_json=is_json)
    except PayloadError as exc:
        return f"error: {exc}"


def stored(batch: Batch) -> tuple[bytes, int, int, int]:
    """What a batch stores and counts."""
    return bytes(batch.block), batch.lines, batch.truncated, batch.malformed


def agree(raw: bytes, max_line: int) -> bool:
    """Whether the C scanner read the body (else it declined); when it did, it stored
    exactly what the reference stores."""
    fast = native.otlp_protobuf(raw, max_line)
    want = reference(raw, max_line)
    if fast is None:
        return False
    assert isinstance(want, Batch), f"the scanner read what the library refuses: {want}"
    assert stored(fast) == stored(want)
    return True


@given(requests(), st.sampled_from([20, 100_000]))
def test_otlp_scan_stores_what_the_protobuf_library_reads(raw: bytes, max_line: int) -> None:
    agree(raw, max_line)


@given(st.binary(max_size=300), st.sampled_from([20, 100_000]))
def test_otlp_scan_on_any_bytes(raw: bytes, max_line: int) -> None:
    agree(raw, max_line)


def rich_request() -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(
        [
            KeyValue(key="service.name", value=scalar("string_value", "api")),
            KeyValue(key="host", value=kvlist([("name", scalar("string_value", "h1"))])),
            KeyValue(key="severity", value=scalar("string_value", "from resource")),
            KeyValue(key="service.name", value=scalar("string_value", "api2")),  # repeated
        ]
    )
    sl = rl.scope_logs.add()
    sl.scope.name = "lib"
    rec = sl.log_records.add(severity_number=17, trace_id=bytes(range(16)), span_id=b"\x01" * 8)
    rec.body.CopyFrom(kvlist([("k", array([scalar("double_value", 0.1), AnyValue()]))]))
    rec.attributes.extend(
        [
            KeyValue(key="_msg", value=scalar("string_value", "dropped")),
            KeyValue(key="service.name", value=scalar("int_value", -3)),
            KeyValue(key="blob", value=scalar("bytes_value", b"\x00\xff\x10")),
            KeyValue(key="x", value=kvlist([("y", kvlist([("z", scalar("bool_value", True))]))])),
            KeyValue(key="q", value=scalar("string_value", 'caf\u00e9 "\n')),
            KeyValue(key="f", value=scalar("double_value", math.inf)),
        ]
    )
    sl.log_records.add(severity_text="Warning").body.bytes_value = b"\x01\x02"
    sl.log_records.add()  # no body: an empty message
    sl.log_records.add(body=AnyValue())  # a body without a value: the same
    return request


def test_the_records_own_severity_wins_over_a_severity_attribute() -> None:
    """As "_msg" and "trace_id": an attribute named "severity" (record or resource)
    yields to the record's severityText or severityNumber, in the place it took
    first; a record without a severity of its own keeps the attribute."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="severity", value=scalar("string_value", "info")))
    sl = rl.scope_logs.add()
    sl.log_records.add(severity_number=17).body.string_value = "db down"
    rec = sl.log_records.add(severity_text="Warning", body=scalar("string_value", "b"))
    rec.attributes.append(KeyValue(key="severity", value=scalar("int_value", 3)))
    rec = sl.log_records.add(severity_number=9, body=scalar("string_value", "c"))
    rec.attributes.append(KeyValue(key="zone", value=scalar("string_value", "a")))
    rec = sl.log_records.add(body=scalar("string_value", "d"))  # no severity of its own
    rec.attributes.append(KeyValue(key="severity", value=scalar("int_value", 3)))
    raw = bytes(request.SerializeToString())
    assert agree(raw, 1000)
    fast = native.otlp_protobuf(raw, 1000)
    assert fast is not None
    assert bytes(fast.block).split(b"\n")[:-1] == [
        b'{"_msg":"db down","severity":"ERROR"}',
        b'{"_msg":"b","severity":"Warning"}',
        b'{"_msg":"c","severity":"INFO","zone":"a"}',
        b'{"_msg":"d","severity":3}',  # the record's attribute over the resource's
    ]
    as_json = otlp.parse(json.dumps(json_format.MessageToDict(request)).encode(), 1000, True)
    assert bytes(as_json.block) == bytes(fast.block)


def test_otlp_scan_is_the_path_taken() -> None:
    raw = bytes(rich_request().SerializeToString())
    fast = native.otlp_protobuf(raw, 1000)
    assert fast is not None and agree(raw, 1000)
    assert bytes(fast.block).split(b"\n")[:-1] == [
        b'{"_msg":"{\\"k\\":[0.1,null]}","severity":"ERROR","service.name":-3,'
        b'"host.name":"h1","blob":"AP8Q","x.y.z":true,"q":"caf\xc3\xa9 \\"\\n","f":Infinity,'
        b'"trace_id":"000102030405060708090a0b0c0d0e0f","span_id":"0101010101010101"}',
        b'{"_msg":"AQI=","severity":"Warning","service.name":"api2","host.name":"h1"}',
        b'{"_msg":"","service.name":"api2","host.name":"h1","severity":"from resource"}',
        b'{"_msg":"","service.name":"api2","host.name":"h1","severity":"from resource"}',
    ]
    assert agree(raw, 30) and native.otlp_protobuf(raw, 30).truncated == 4  # type: ignore[union-attr]
    assert native.otlp_protobuf(raw[:-1], 1000) is None  # cut short
    assert native.otlp_protobuf(b"", 1000) is not None  # no records: nothing to store


def test_otlp_parse_falls_back_to_the_reference() -> None:
    """A body the scanner declines (invalid UTF-8: the library refuses it; a repeated
    name in a key list value: the library reads it) gets the reference's answer."""
    bad = bytes(rich_request().SerializeToString()).replace(b"lib", b"l\xffb")
    with pytest.raises(PayloadError):
        otlp.parse(bad, 1000, is_json=False)
    request = ExportLogsServiceRequest()
    rec = request.resource_logs.add().scope_logs.add().log_records.add()
    rec.body.CopyFrom(kvlist([("k", scalar("int_value", 1)), ("k", scalar("int_value", 2))]))
    raw = bytes(request.SerializeToString())
    assert native.otlp_protobuf(raw, 1000) is None
    assert bytes(otlp.parse(raw, 1000, is_json=False).block) == b'{"_msg":"{\\"k\\":2}"}\n'


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (lengths under 16 KiB)."""
    n = len(payload)
    size = bytes([n]) if n < 128 else bytes([n & 0x7F | 0x80, n >> 7])
    return bytes([number << 3 | 2]) + size + payload


def test_deeply_nested_values_are_left_to_the_library() -> None:
    """Arrays in arrays: up to 24 deep read in C, deeper ones by the library (which
    refuses messages nested more than 100 deep)."""
    for depth in (24, 25, 30, 60):
        value = field(1, b"x")  # AnyValue(string_value="x")
        for _ in range(depth):
            value = field(5, field(1, value))  # AnyValue(array_value=[value])
        raw = field(1, field(2, field(2, field(5, value))))  # request, resource, scope, record
        assert agree(raw, 1000) == (depth <= 24)
        assert isinstance(reference(raw, 1000), str) == (depth == 60)


@pytest.mark.parametrize(
    "first, last, stored",
    [
        (b"A", b"B", True),  # the last of a repeated string field is read...
        (b"\xff", b"B", False),  # ...but every one is checked: the library refuses this
    ],
)
def test_repeated_string_fields(first: bytes, last: bytes, stored: bool) -> None:
    kv = field(1, first) + field(1, last) + field(2, field(1, b"v"))  # a KeyValue, key twice
    records = [
        field(6, kv),  # an attribute
        field(6, field(2, field(6, field(1, kv)))),  # in a key list attribute
        field(3, first) + field(3, last),  # severity_text
        field(12, first) + field(12, last),  # event_name
    ]
    for record in records:
        raw = field(1, field(2, field(2, record)))  # request, resource logs, scope logs
        assert agree(raw, 1000) == stored
        assert isinstance(reference(raw, 1000), Batch) == stored


@pytest.mark.parametrize("size", range(1, 11))
def test_over_long_varints(size: int) -> None:
    """Tags and lengths of more than five bytes are refused by the library (so
    declined), values of up to ten bytes read; the scanner never reads more."""

    def varint(value: int) -> bytes:  # value in `size` bytes, padded with zero groups
        groups = [(value >> (7 * i)) & 0x7F for i in range(size)]
        return bytes(g | 0x80 for g in groups[:-1]) + bytes([groups[-1]])

    record = field(5, field(1, b"x"))
    inner = field(2, field(2, record))
    tag = varint(1 << 3 | 2) + bytes([len(inner)]) + inner
    length = b"\x0a" + varint(len(inner)) + inner
    value = field(1, field(2, field(2, b"\x10" + varint(17) + record)))  # severity_number
    assert agree(tag, 100) == (size <= 5) and agree(length, 100) == (size <= 5)
    assert agree(value, 100)
    assert (
        bytes(otlp.parse(value, 100, is_json=False).block) == b'{"_msg":"x","severity":"ERROR"}\n'
    )


def varint_of(value: int, pad: int = 0) -> bytes:
    """``value`` as a varint, ``pad`` more bytes long than needed (zero groups)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value and not pad:
            return bytes(out) + bytes([low])
        out.append(low | 0x80)
        if not value:
            out += b"\x80" * (pad - 1) + b"\x00"
            return bytes(out)


@st.composite
def wire_message(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Any fields (the schema's numbers and others, every wire type, over-long tags,
    lengths and values), nested: what a hostile or broken sender could write."""
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        number = draw(st.sampled_from([*range(1, 13), 99, 19000, 2**29 - 1]))
        wt = draw(st.sampled_from([2, 2, 2, 2, 0, 0, 1, 5, 3, 4]))
        pad = draw(st.sampled_from([0] * 10 + [1, 4, 5, 9]))
        value = draw(st.sampled_from([0, 1, 17, 2**31, 2**63, 2**64 - 1]))
        tag = varint_of(number << 3 | wt, draw(st.sampled_from([0] * 12 + [1, 4, 5])))
        if wt == 0:
            parts.append(tag + varint_of(value, pad))
        elif wt in (1, 5):
            parts.append(tag + value.to_bytes(8, "little")[: 8 if wt == 1 else 4])
        elif wt == 2:
            nested = depth < 7 and draw(st.booleans())
            payload = draw(wire_message(depth + 1) if nested else st.binary(max_size=6))
            parts.append(tag + varint_of(len(payload), pad) + payload)
        else:
            parts.append(tag)  # a group's start or end
    return b"".join(parts)


@given(wire_message())
def test_otlp_scan_on_any_wire_format(raw: bytes) -> None:
    agree(raw, 50)
