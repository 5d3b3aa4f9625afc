"""The sans-IO parsers of the HTTP ingestion endpoints, in-process: what each stores,
what it skips and counts, and (Hypothesis) that random and mutated payloads never
raise anything but the parser's own error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import cramjam
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from logcaster.inputs.payloads import bulk, jsonline, loki, otlp, otlp_line
from logcaster.inputs.payloads.records import (
    Batch,
    PayloadError,
    TooLarge,
    compact,
    compact_all,
)

MAX = 200


def lines_of(batch: Batch, max_line: int = MAX) -> list[bytes]:
    """The batch's lines, after checking the block is what Intake.accept wants."""
    if not batch.block:
        assert batch.lines == 0
        return []
    block = bytes(batch.block)  # bytes, or a view of a scanner's output buffer
    assert block.endswith(b"\n")
    lines = block.split(b"\n")[:-1]
    assert len(lines) == batch.lines
    assert all(lines) and all(len(x) <= max_line + 3 for x in lines)
    return lines


def records_of(batch: Batch) -> list[dict[str, object]]:
    return [json.loads(x) for x in lines_of(batch, 100_000)]


# ------------------------------------------------------------------ NDJSON
def test_jsonline_stores_objects_as_received() -> None:
    body = b'{"level":"error", "msg":"disk full"}\r\n\n  \n{"a":[1,2]}\n{"b":"caf\xc3\xa9"}'
    batch = jsonline.parse(body, MAX)
    assert lines_of(batch) == [
        b'{"level":"error", "msg":"disk full"}',
        b'{"a":[1,2]}',
        b'{"b":"caf\xc3\xa9"}',
    ]
    assert batch.malformed == 0


def test_jsonline_skips_and_counts_what_is_not_an_object() -> None:
    body = b'{"ok":1}\n[1,2]\n{"broken"\n"str"\n{"ok":2}\n{"x":1},{"y":2}\n'
    batch = jsonline.parse(body, MAX)
    assert lines_of(batch) == [b'{"ok":1}', b'{"ok":2}']
    assert batch.malformed == 4
    assert batch.first_error == "Not a JSON object: [1,2]"


def test_jsonline_lines_that_only_join_into_objects_are_malformed() -> None:
    # Joined with commas these would parse as one object: each line is checked alone.
    batch = jsonline.parse(b'{"a":1\n"b":2}\n', MAX)
    assert batch.lines == 0 and batch.malformed == 2


_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.sampled_from(["\x00\x00", "\x00", '","']),  # compact_all's separator item
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner)),
    max_leaves=10,
)


@given(st.lists(_json_values, max_size=6))
def test_compact_all_is_compact_of_each(objs: list[object]) -> None:
    assert compact_all(objs) == [compact(o) for o in objs]


def test_compact_all_with_its_separator_inside_a_value() -> None:
    objs: list[object] = [{"a": [1, "\x00\x00", 2]}, {"b": 1}, ["\x00\x00"]]
    assert compact_all(objs) == [compact(o) for o in objs]


def test_jsonline_msg_field_is_renamed() -> None:
    body = b'{"t":"x","message":"boot ok","_msg":"old"}\n{"other":1}\n'
    batch = jsonline.parse(body, MAX, "message")
    assert records_of(batch) == [{"_msg": "boot ok", "t": "x"}, {"other": 1}]
    assert lines_of(batch)[0] == b'{"_msg":"boot ok","t":"x"}'


@pytest.mark.parametrize(
    ("msg_field", "line", "stored"),
    [
        # the first of several names with a value; "" and null are no value
        ("message,msg", {"msg": "b", "message": "a"}, {"_msg": "a", "msg": "b"}),
        ("message,msg", {"message": "", "msg": "b"}, {"_msg": "b", "message": ""}),
        ("message, msg", {"message": None, "msg": "b"}, {"_msg": "b", "message": None}),
        ("a,b,c", {"c": 3, "x": 1}, {"_msg": 3, "x": 1}),
        # a dotted name reaches into nested objects; one left empty goes
        (
            "log.message",
            {"log": {"message": "m", "level": "e"}},
            {"_msg": "m", "log": {"level": "e"}},
        ),
        ("log.message", {"t": 1, "log": {"message": "m"}}, {"_msg": "m", "t": 1}),
        ("a.b.c", {"a": {"b": {"c": "deep"}}, "z": 0}, {"_msg": "deep", "z": 0}),
        ("a.b.c", {"a.b": {"c": "mixed"}}, {"_msg": "mixed"}),
        ("a.b", {"a.b": "flat", "a": {"b": "nested"}}, {"_msg": "flat", "a": {"b": "nested"}}),
        # an object is not a value (its fields are); a list is
        ("message,msg", {"message": {"x": 1}, "msg": "m"}, {"_msg": "m", "message": {"x": 1}}),
        ("tags", {"tags": ["a", "b"]}, {"_msg": ["a", "b"]}),
        # none of them: the record as it came
        ("message,text", {"_msg": "own", "other": 1}, {"_msg": "own", "other": 1}),
    ],
)
def test_jsonline_msg_field_names_as_victorialogs(
    msg_field: str, line: dict[str, object], stored: dict[str, object]
) -> None:
    batch = jsonline.parse(json.dumps(line).encode() + b"\n", 10_000, msg_field)
    assert records_of(batch) == [stored]
    assert next(iter(records_of(batch)[0])) == "_msg" or "_msg" not in stored


def test_jsonline_msg_field_msg_keeps_the_line() -> None:
    body = b'{"x":1, "_msg":"own"}\n{"message":"m"}\n{"_msg":"","message":"n"}\n'
    # "_msg" first: a line with its own message is stored as received
    assert lines_of(jsonline.parse(body, MAX, "_msg,message")) == [
        b'{"x":1, "_msg":"own"}',
        b'{"_msg":"m"}',
        b'{"_msg":"n"}',
    ]
    assert lines_of(jsonline.parse(body, MAX, "_msg")) == body.split(b"\n")[:3]
    # "_msg" second: a record's own message is kept as it came, else the next name
    assert lines_of(jsonline.parse(body, MAX, "msg,_msg,message")) == [
        b'{"x":1, "_msg":"own"}',
        b'{"_msg":"m"}',
        b'{"_msg":"n"}',
    ]


def test_jsonline_invalid_utf8_becomes_replacement_characters() -> None:
    batch = jsonline.parse(b'{"m":"bad \xff byte"}\n', MAX)
    assert records_of(batch) == [{"m": "bad \ufffd byte"}]


def test_jsonline_long_lines_are_cut_and_counted() -> None:
    long = b'{"m":"' + b"x" * 500 + b'"}'
    batch = jsonline.parse(long + b'\n{"m":"short"}\n', MAX)
    assert lines_of(batch) == [long[:MAX] + b"...", b'{"m":"short"}']
    assert batch.truncated == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(st.lists(json_values, max_size=12))
def test_jsonline_fast_path_agrees_with_line_by_line(values: list[object]) -> None:
    body = "\n".join(json.dumps(v) for v in values).encode()
    batch = jsonline.parse(body, 10_000)
    want = [json.dumps(v).encode() for v in values if isinstance(v, dict)]
    assert lines_of(batch, 10_000) == want
    assert batch.malformed == sum(not isinstance(v, dict) for v in values)


# -------------------------------------------------------------------- bulk
def test_bulk_items_and_documents() -> None:
    body = (
        b'{"index":{"_index":"app","_id":"1"}}\n{"level":"error","m":"a"}\n'
        b'{"create":{}}\n{"m":"b"}\n'
        b'{"delete":{"_id":"9"}}\n'
        b'{"update":{"_id":"9"}}\n{"doc":{"m":"c"}}\n'
        b'{"index":{}}\n[1]\n'
    )
    batch = bulk.parse(body, MAX, "logs")
    assert lines_of(batch) == [b'{"level":"error","m":"a"}', b'{"m":"b"}']
    answer = json.loads(bulk.response(batch, 3))
    items = answer["items"]
    assert [next(iter(i)) for i in items] == ["index", "create", "delete", "update", "index"]
    first = items[0]["index"]
    assert first == {"_index": "app", "_id": "1", "_version": 1, "result": "created", "status": 201}
    assert items[1]["create"]["_index"] == "logs" and items[1]["create"]["status"] == 201
    assert [v["status"] for i in items[2:] for v in i.values()] == [400, 400, 400]
    assert batch.malformed == 1
    assert answer["errors"] is True and answer["took"] == 3


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (b"not json", "Malformed action/metadata line [3]: not json"),
        (
            b'{"index":{},"create":{}}',
            'Malformed action/metadata line [3]: {"index":{},"create":{}}',
        ),
        (b'{"index":' + b"[" * 5000 + b"]" * 5000 + b"}", "Malformed action/metadata line [3]: "),
        (
            b'{"bogus":{}}',
            "Malformed action/metadata line [3], expected one of [create, delete, index, "
            "update] but found [bogus]",
        ),
    ],
)
@pytest.mark.parametrize("parse", [bulk.parse, bulk.parse_python])
def test_bulk_with_a_malformed_or_unknown_action_is_refused_whole(
    parse: Callable[..., Batch], action: bytes, problem: str
) -> None:
    """Which lines such an action takes cannot be known, so its items could not line
    up with the actions sent: the body is refused, as Elasticsearch refuses it."""
    body = b'{"index":{}}\n{"m":1}\n' + action + b'\n{"m":2}\n{"create":{}}\n{"m":3}\n'
    with pytest.raises(PayloadError) as refused:
        parse(body, MAX)
    assert str(refused.value).startswith(problem)


@pytest.mark.parametrize("parse", [bulk.parse, bulk.parse_python])
def test_bulk_ids_are_unique_when_not_given(parse: Callable[..., Batch]) -> None:
    answer = json.loads(bulk.response(parse(b'{"index":{}}\n{"a":1}\n' * 50, MAX), 0))
    ids = {i["index"]["_id"] for i in answer["items"]}
    assert len(ids) == 50 and answer["errors"] is False


# -------------------------------------------------------------------- Loki
def push_request_class() -> type:
    """logproto.PushRequest built here, independently of the server's own copy."""
    f = descriptor_pb2.FileDescriptorProto(name="test_push.proto", package="logproto")
    f.syntax = "proto3"
    T = descriptor_pb2.FieldDescriptorProto
    specs = {
        "Timestamp": [("seconds", 1, T.TYPE_INT64, ""), ("nanos", 2, T.TYPE_INT32, "")],
        "LabelPairAdapter": [("name", 1, T.TYPE_STRING, ""), ("value", 2, T.TYPE_STRING, "")],
        "EntryAdapter": [
            ("timestamp", 1, T.TYPE_MESSAGE, ".logproto.Timestamp"),
            ("line", 2, T.TYPE_STRING, ""),
            ("structuredMetadata", 3, T.TYPE_MESSAGE, ".logproto.LabelPairAdapter*"),
        ],
        "StreamAdapter": [
            ("labels", 1, T.TYPE_STRING, ""),
            ("entries", 2, T.TYPE_MESSAGE, ".logproto.EntryAdapter*"),
            ("hash", 3, T.TYPE_UINT64, ""),
        ],
        "PushRequest": [("streams", 1, T.TYPE_MESSAGE, ".logproto.StreamAdapter*")],
    }
    for name, fields in specs.items():
        m = f.message_type.add(name=name)
        for fname, number, ftype, tname in fields:
            fd = m.field.add(name=fname, number=number, type=ftype)
            fd.label = T.LABEL_REPEATED if tname.endswith("*") else T.LABEL_OPTIONAL
            if tname:
                fd.type_name = tname.rstrip("*")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = push_request_class()


def loki_protobuf(streams: list[tuple[str, list[tuple[str, dict[str, str]]]]]) -> bytes:
    request = PushRequest()
    for labels, entries in streams:
        stream = request.streams.add(labels=labels)
        for i, (line, meta) in enumerate(entries):
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds = 1_764_600_000 + i
            for k, v in meta.items():
                entry.structuredMetadata.add(name=k, value=v)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_loki_json_entries_become_records_with_labels_and_metadata() -> None:
    push = {
        "streams": [
            {
                "stream": {"app": "api", "level": "error"},
                "values": [["1764600000000000000", "disk full"], ["1", "x", {"trace": "ab"}]],
            },
            {"stream": {}, "values": [["1", 'line\nwith "quotes"'], ["2"], ["3", ""]]},
        ]
    }
    batch = loki.parse_json(json.dumps(push).encode(), MAX)
    assert lines_of(batch)[0] == b'{"_msg":"disk full","app":"api","level":"error"}'
    assert records_of(batch)[1:] == [
        {"_msg": "x", "app": "api", "level": "error", "trace": "ab"},
        {"_msg": 'line\nwith "quotes"'},
        {"_msg": ""},  # an empty line is an entry like any other, as Loki keeps it
    ]
    assert (batch.lines, batch.malformed) == (4, 1)


@pytest.mark.parametrize("body", [b"", b"[]", b'{"streams": 3}', b"\xff"])
def test_loki_json_that_is_no_push_is_an_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        loki.parse_json(body, MAX)


@pytest.mark.parametrize(
    "ns",
    ["yesterday", "1.5e18", "", "+1", " 1", "1 ", "\u0661", "9223372036854775808", "-" + "9" * 19,
     "1" * 20, 1764600000000000000, 1.5, True, None, ["1"]],
)  # fmt: skip
def test_loki_entry_whose_timestamp_is_no_int64_string_is_malformed(ns: object) -> None:
    """As Loki: the timestamp is a string of a decimal int64 of nanoseconds."""
    values = [["1764600000000000000", "a"], [ns, "bad"], ["-9223372036854775808", "b"]]
    push = {"streams": [{"stream": {"app": "t"}, "values": values}]}
    for parse in (loki.parse_json, loki.parse_json_python):
        batch = parse(json.dumps(push).encode(), MAX)
        assert [r["_msg"] for r in records_of(batch)] == ["a", "b"]
        assert batch.malformed == 1 and batch.first_error.startswith("Invalid entry")
    for ns in ("0", "9223372036854775807", "0001764600000000000", "2999999999999999999"):
        assert loki.is_timestamp(ns)


INVALID_STREAM = 'Invalid stream: want {"stream": {...}, "values": [...]}'


def test_loki_protobuf_from_an_independent_descriptor() -> None:
    body = loki_protobuf(
        [
            ('{app="api", host="h\\"1"}', [("ERROR boom", {}), ("ok", {"trace_id": "t1"})]),
            ("not labels", [("lost", {})]),
            ("{app=bad}", [("a", {}), ("b", {}), ("c", {"k": "v"})]),
        ]
    )
    for parse in (loki.parse_protobuf, loki.parse_protobuf_python):
        batch = parse(body, MAX, 1 << 20)
        assert records_of(batch) == [
            {"_msg": "ERROR boom", "app": "api", "host": 'h"1'},
            {"_msg": "ok", "app": "api", "host": 'h"1', "trace_id": "t1"},
        ]
        # every entry of a stream whose labels do not parse is lost, and counted
        assert batch.malformed == 4 and "labels" in batch.first_error


@pytest.mark.parametrize(
    ("stream", "malformed"),
    [
        ({"stream": "app=x", "values": [["1", "a"], ["2", "b"], ["3", "c"]]}, 3),
        ({"stream": ["app"], "values": [["1", "a"]]}, 1),
        ({"stream": 1, "values": []}, 1),
        ({"stream": {"app": "x"}, "values": "1 a"}, 1),
        ({"stream": {"app": "x"}}, 1),
    ],
)
def test_loki_json_stream_without_labels_counts_each_entry(
    stream: dict[str, object], malformed: int
) -> None:
    push = {"streams": [stream, {"stream": {"app": "ok"}, "values": [["1", "kept"]]}]}
    for parse in (loki.parse_json, loki.parse_json_python):
        batch = parse(json.dumps(push).encode(), MAX)
        assert lines_of(batch) == [b'{"_msg":"kept","app":"ok"}']
        assert (batch.malformed, batch.first_error) == (malformed, INVALID_STREAM)


def test_loki_empty_lines_are_stored_and_counted() -> None:
    """An entry whose line is empty is kept with its labels (and counted), in JSON
    and protobuf, in the plain path and the one with metadata, as Loki keeps it."""
    body = loki_protobuf([('{app="e"}', [("", {}), ("x", {})]), ('{app="m"}', [("", {"k": "v"})])])
    for parse in (loki.parse_protobuf, loki.parse_protobuf_python):
        batch = parse(body, MAX, 1 << 20)
        assert records_of(batch) == [
            {"_msg": "", "app": "e"},
            {"_msg": "x", "app": "e"},
            {"_msg": "", "app": "m", "k": "v"},
        ]
        assert (batch.lines, batch.malformed) == (3, 0)
    push = {"streams": [{"stream": {"app": "e"}, "values": [["1764600000000000000", ""]]}]}
    for parse_json in (loki.parse_json, loki.parse_json_python):
        batch = parse_json(json.dumps(push).encode(), MAX)
        assert (lines_of(batch), batch.lines) == ([b'{"_msg":"","app":"e"}'], 1)


def test_loki_protobuf_invalid_utf8_is_replaced_not_refused() -> None:
    raw = cramjam.snappy.decompress_raw(loki_protobuf([('{app="a"}', [("XXXX ok", {})])]))
    body = bytes(cramjam.snappy.compress_raw(bytes(raw).replace(b"XXXX", b"\xff\xfeAB")))
    batch = loki.parse_protobuf(body, MAX, 1 << 20)
    assert records_of(batch) == [{"_msg": "\ufffd\ufffdAB ok", "app": "a"}]


@given(
    st.lists(
        st.tuples(
            st.text(max_size=20),
            st.none() | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        ),
        max_size=10,
    ),
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=3),
)
def test_loki_json_bulk_and_entry_paths_agree_with_a_reference(
    entries: list[tuple[str, dict[str, str] | None]], labels: dict[str, str]
) -> None:
    values = [["1", line] if meta is None else ["1", line, meta] for line, meta in entries]
    push = {"streams": [{"stream": labels, "values": values}]}
    got = records_of(loki.parse_json(json.dumps(push).encode(), 100_000))
    want = []
    for line, meta in entries:
        record: dict[str, object] = {"_msg": line}
        record.update((k, v) for k, v in labels.items() if k != "_msg")
        record.update((k, v) for k, v in (meta or {}).items() if k != "_msg")
        want.append(record)
    assert got == want


def test_loki_snappy_claiming_more_than_the_limit_is_refused_unread() -> None:
    body = loki_protobuf([('{a="b"}', [("x" * 5000, {})])])
    with pytest.raises(TooLarge):
        loki.parse_protobuf(body, MAX, 1000)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{}", {}),
        ('{a="1"}', {"a": "1"}),
        ('{ job = "x\\\\y" , b="\\n"}', {"job": "x\\y", "b": "\n"}),
        ('{service.name="a,b"}', {"service.name": "a,b"}),
    ],
)
def test_loki_label_selector_text(text: str, want: dict[str, str]) -> None:
    assert loki.parse_labels(text) == want


@pytest.mark.parametrize("text", ["", "a=1", '{a="1"', "{a=1}", '{a="1" b="2"}', '{="x"}'])
def test_loki_bad_label_selector_text(text: str) -> None:
    with pytest.raises(PayloadError):
        loki.parse_labels(text)


# -------------------------------------------------------------------- OTLP
def otlp_request() -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="api")))
    records = rl.scope_logs.add().log_records
    rec = records.add(severity_number=17, trace_id=bytes(range(16)), span_id=b"\x01" * 8)
    rec.body.string_value = "disk full"
    nested = AnyValue()
    nested.kvlist_value.values.append(KeyValue(key="method", value=AnyValue(string_value="GET")))
    rec.attributes.append(KeyValue(key="http", value=nested))
    rec.attributes.append(KeyValue(key="n", value=AnyValue(int_value=3)))
    rec2 = records.add(severity_text="Warning")
    rec2.body.kvlist_value.values.append(KeyValue(key="k", value=AnyValue(bool_value=True)))
    return request


OTLP_WANT = [
    {
        "_msg": "disk full",
        "severity": "ERROR",
        "service.name": "api",
        "http.method": "GET",
        "n": 3,
        "trace_id": bytes(range(16)).hex(),
        "span_id": "01" * 8,
    },
    {"_msg": '{"k":true}', "severity": "Warning", "service.name": "api"},
]


def test_otlp_protobuf_records() -> None:
    batch = otlp.parse(otlp_request().SerializeToString(), MAX, is_json=False)
    assert records_of(batch) == OTLP_WANT
    assert lines_of(batch)[0].startswith(b'{"_msg":"disk full","severity":"ERROR",')


def test_otlp_json_records_with_hex_ids() -> None:
    from google.protobuf import json_format

    doc = json_format.MessageToDict(otlp_request())
    rec = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    rec["traceId"] = base64.b64decode(rec["traceId"]).hex()  # OTLP JSON: hex ids
    rec["spanId"] = base64.b64decode(rec["spanId"]).hex()
    batch = otlp.parse(json.dumps(doc).encode(), MAX, is_json=True)
    assert records_of(batch) == OTLP_WANT


@pytest.mark.parametrize("n", [0, 1, 4, 5, 9, 13, 17, 21, 24, 25])
def test_otlp_severity_numbers(n: int) -> None:
    want = {1: "TRACE", 4: "TRACE", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR"}
    want.update({21: "FATAL", 24: "FATAL"})
    assert otlp_line.severity_name(n) == want.get(n, "")


@given(
    st.sampled_from([400, 401, 413, 415, 503]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
)
def test_otlp_status_bodies_read_as_google_rpc_status(http_status: int, message: str) -> None:
    from google.rpc.status_pb2 import Status

    answer = Status.FromString(otlp.status_protobuf(http_status, message))
    assert (answer.code, answer.message) == tuple(otlp.status(http_status, message).values())
    assert answer.code == {400: 3, 413: 8, 415: 12, 503: 14}.get(http_status, 2)


# --------------------------------------------------------------- fuzzing
Parser = Callable[[bytes], Batch]
PARSERS: dict[str, Parser] = {
    "jsonline": lambda b: jsonline.parse(b, MAX, "msg"),
    "bulk": lambda b: bulk.parse(b, MAX, "i"),
    "loki-json": lambda b: loki.parse_json(b, MAX),
    "loki-protobuf": lambda b: loki.parse_protobuf(b, MAX, 1 << 16),
    "otlp-protobuf": lambda b: otlp.parse(b, MAX, is_json=False),
    "otlp-json": lambda b: otlp.parse(b, MAX, is_json=True),
}
VALID: dict[str, bytes] = {
    "jsonline": b'{"msg":"a","level":"info"}\n{"b":[1,{"c":null}]}\n',
    "bulk": b'{"index":{"_index":"x"}}\n{"a":1}\n{"delete":{"_id":"1"}}\n',
    "loki-json": b'{"streams":[{"stream":{"app":"a"},"values":[["1","l",{"k":"v"}]]}]}',
    "loki-protobuf": loki_protobuf([('{app="a"}', [("line", {"k": "v"})])]),
    "otlp-protobuf": otlp_request().SerializeToString(),
    "otlp-json": json.dumps(
        {
            "resourceLogs": [
                {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}, "traceId": "ab"}]}]}
            ]
        }
    ).encode(),
}


def run_parser(name: str, body: bytes) -> None:
    try:
        batch = PARSERS[name](body)
    except PayloadError:
        return
    lines_of(batch)
    assert batch.malformed >= 0 and (batch.first_error != "") == (batch.malformed > 0)


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(body=st.binary(max_size=300))
def test_random_bytes_raise_only_payload_errors(name: str, body: bytes) -> None:
    run_parser(name, body)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 4))]
        else:
            del data[pos:]
    return bytes(data)


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data())
def test_mutated_payloads_raise_only_payload_errors(name: str, data: st.DataObject) -> None:
    run_parser(name, data.draw(mutated(VALID[name])))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_valid_fuzz_seeds_parse(name: str) -> None:
    assert PARSERS[name](VALID[name]).lines >= 1


# ------------------------------------------------- lines repeated per record
def _repeating_bodies(label: str, records: int) -> dict[str, tuple[Callable[[int], Batch], ...]]:
    """A Loki JSON push, a Loki protobuf push and an OTLP request whose one stream
    label / resource attribute (``label``) is repeated on each of ``records`` lines:
    per format, its parsers (C first, then the Python reference) taking ``most``."""
    values = [["1", f"m{i}"] for i in range(records)]
    push = json.dumps({"streams": [{"stream": {"app": label}, "values": values}]}).encode()
    proto = loki_protobuf([(f'{{app="{label}"}}', [(f"m{i}", {}) for i in range(records)])])
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="big", value=AnyValue(string_value=label)))
    logs = rl.scope_logs.add().log_records
    for i in range(records):
        logs.add().body.string_value = f"m{i}"
    raw = req.SerializeToString()
    return {
        "loki-json": (
            lambda most: loki.parse_json(push, 1 << 16, most),
            lambda most: loki.parse_json_python(push, 1 << 16, most),
        ),
        "loki-protobuf": (
            lambda most: loki.parse_protobuf(proto, 1 << 16, 1 << 24, most),
            lambda most: loki.parse_protobuf_python(proto, 1 << 16, 1 << 24, most),
        ),
        "otlp": (
            lambda most: otlp.parse(raw, 1 << 16, False, most),
            lambda most: otlp.parse_python(raw, 1 << 16, False, most),
        ),
    }


@pytest.mark.parametrize("kind", ["loki-json", "loki-protobuf", "otlp"])
def test_lines_past_the_request_bound_are_refused_at_the_same_byte(kind: str) -> None:
    """The bound is on the stored bytes: exactly that many pass, one fewer is refused,
    by the C scanner and the Python reference alike (non-ASCII label: bytes, not
    characters, are counted)."""
    for parse in _repeating_bodies("é" * 300, 50)[kind]:
        size = len(bytes(parse(0).block))
        assert size > 50 * 600
        batch = parse(size)
        assert batch.lines == 50 and len(bytes(batch.block)) == size
        with pytest.raises(TooLarge, match=f"exceed {size - 1} bytes"):
            parse(size - 1)


@pytest.mark.parametrize("kind", ["loki-json", "loki-protobuf", "otlp"])
def test_a_small_body_cannot_make_gigabytes(kind: str) -> None:
    """A 60 kB label on 20 000 short records would be 1.2 GB of lines: refused
    as soon as the bound is passed, not after making them."""
    for parse in _repeating_bodies("x" * 60_000, 20_000)[kind]:
        with pytest.raises(TooLarge):
            parse(16 << 20)
