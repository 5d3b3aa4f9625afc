"""The C scanners of NDJSON and Loki JSON bodies against the Python parsers they
replace: the same stored bytes, counts and first error for the same body (Hypothesis
over well-formed and malformed records, invalid UTF-8, escapes and lone surrogates,
nesting, duplicate keys, numbers), and the C path really taken for plain bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcaster.inputs.payloads import jsonline, loki, native
from logcaster.inputs.payloads.records import Batch, PayloadError

pytestmark = pytest.mark.skipif(native.ndjson_scan is None, reason="no C accelerator")

# ------------------------------------------------------------ JSON text pieces
ESCAPES = [
    "\\n",
    "\\t",
    '\\"',
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\r",
    "\\u00e9",
    "\\u00E9",
    "\\u0000",
    "\\u001b",
    "\\u007f",
    "\\u2028",
    "\\ud83d\\ude00",
    "\\uD83D\\uDE00",
    "\\ud800",
    "\\udc00",
    "\\ud800\\u0041",
    "\\ud800\\ud800",
    "\\u005c",
    "\\u0022",
]
BAD_ESCAPES = ["\\x41", "\\u12"]
RAW = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\'), max_size=8)
BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xc0\xaf"]
NUMBERS = ["0", "-0", "12", "1.5", "-1e5", "1E+3", "2.5e-3", "01", "1.", "1e", "-", "NaN"]
NUMBERS += ["Infinity", "-Infinity", "123456789012345678901234567890", ".5", "+1"]
ATOMS = ["true", "false", "null", "tru", "nul", "[]", "{}", '""']


@st.composite
def json_string(draw: st.DrawFn, valid: bool = False) -> str:
    escapes = ESCAPES if valid else ESCAPES + BAD_ESCAPES
    raw = RAW.map(lambda t: "".join(c for c in t if c >= " ")) if valid else RAW
    parts = draw(st.lists(st.one_of(raw, st.sampled_from(escapes)), max_size=5))
    if not valid and draw(st.integers(0, 30)) == 0:
        parts.append(draw(st.sampled_from(["\x01", "\n", "\t"])))  # raw control: invalid
    return '"' + "".join(parts) + '"'


def json_value(depth: int = 3) -> st.SearchStrategy[str]:
    leaf = st.one_of(json_string(), st.sampled_from(NUMBERS + ATOMS))
    if depth == 0:
        return leaf
    inner = json_value(depth - 1)
    ws = st.sampled_from(["", " ", "\t", " \r "])
    arrays = st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
    objects = st.lists(st.tuples(json_string(), ws, inner), max_size=3).map(
        lambda kv: "{" + ",".join(f"{k}{w}:{w}{v}" for k, w, v in kv) + "}"
    )
    return st.one_of(leaf, arrays, objects)


@st.composite
def ndjson_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        text = draw(json_value(3).filter(lambda v: v.startswith("{")) | json_value(1))
    elif kind == 5:
        text = draw(st.sampled_from(["", " ", "\u3000", "\x0c", "\x85 ", "\r", "\ufeff{}"]))
    elif kind == 6:
        n = draw(st.integers(190, 210))
        text = '{"a":' + "[" * n + "]" * draw(st.integers(n - 1, n)) + "}"
    elif kind == 7:
        text = '{"a":1,"a":2, "b" : [1, {"c": null}] }' + draw(st.sampled_from(["", " ", ","]))
    else:
        text = draw(json_value(2))
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 8)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(BAD_BYTES)) + raw[at:]
    return raw + draw(st.sampled_from([b"", b"\r", b"\r\r", b" "]))


def same(a: Batch, b: Batch) -> None:
    assert (a.block, a.lines, a.truncated, a.malformed, a.first_error) == (
        b.block,
        b.lines,
        b.truncated,
        b.malformed,
        b.first_error,
    )


# ------------------------------------------------------------------ NDJSON
@given(
    st.lists(ndjson_line(), max_size=12),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.sampled_from([8, 40, 100_000]),
)
def test_ndjson_scan_stores_what_the_python_parser_stores(
    lines: list[bytes], sep: bytes, final: bool, max_line: int
) -> None:
    body = sep.join(lines) + (sep if final else b"")
    same(jsonline.parse(body, max_line), jsonline.parse_python(body, max_line))


@given(st.binary(max_size=200), st.sampled_from([10, 100_000]))
def test_ndjson_scan_on_any_bytes(body: bytes, max_line: int) -> None:
    same(jsonline.parse(body, max_line), jsonline.parse_python(body, max_line))


def test_ndjson_scan_is_the_path_taken_and_keeps_a_clean_body() -> None:
    body = b'{"a":1}\n{"b":"caf\xc3\xa9 \\ud800"}\n'
    scanned = native.ndjson(body, 1000)
    assert scanned is not None
    assert scanned[1].block is body  # nothing to change: the body itself, no copy
    assert scanned[1].lines == 2
    bad = native.ndjson(b'{"a":1}\r\n[1]\n\n{"x"\n', 1000)
    assert bad is not None and bad[1].malformed == 2 and bad[1].block == b'{"a":1}\n'
    assert jsonline.parse(b'{"a":1}\r\n[1]\n', 1000).first_error == "Not a JSON object: [1]"
    deep = b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"
    assert native.ndjson(deep, 1000) is None  # deep: Python decides
    assert jsonline.parse(deep, 1000).lines == 1
    for digits, stored in ((4300, 1), (4301, 0)):  # int() reads up to 4300 digits
        number = b'{"a":-' + b"1" * digits + b"}\n"
        assert (native.ndjson(number, 10**5) is None) == (not stored)
        assert jsonline.parse(number, 10**5).lines == stored


# ------------------------------------------------------------------- Loki
@st.composite
def pairs(draw: st.DrawFn, valid: bool) -> str:
    odd = st.sampled_from(["1", "true", "null", "[]", "{}"])
    value = json_string(valid) if valid else st.one_of(json_string(), odd)
    names = st.one_of(json_string(valid), st.sampled_from(['"_msg"', '"app"', '"app"']))
    kv = draw(st.lists(st.tuples(names, value), max_size=3))
    return "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"


@st.composite
def entry(draw: st.DrawFn, valid: bool) -> str:
    good_ns = ['"1764600000000000000"', '"17"', '"-0"', '"9223372036854775807"']
    good_ns += ['"-9223372036854775808"', '"0000000000000000001"', '"\\u0031"']
    bad_ns = ["17", "true", "-0", "1.5", "null", '""', '"-"', '"+1"', '" 1"', '"1.5e18"']
    bad_ns += ['"yesterday"', '"9223372036854775808"', '"-9223372036854775809"', '"1\\n"']
    bad_ns += ['"99999999999999999999"', '"\\u0661"', '"2764600000000000000"']
    ns = draw(st.sampled_from(good_ns if valid else [*good_ns, *bad_ns]))
    line = draw(st.one_of(json_string(valid), st.sampled_from(['""'])))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return f"[{ns}, {line}, {draw(pairs(valid))}]"
    if kind == 1 and not valid:
        return f"[{ns}]"
    if kind == 2 and not valid:
        return draw(st.sampled_from(["{}", '"x"', f"[{ns}, {line}, {{}}, 1]"]))
    return f"[{ns},{line}]"


@st.composite
def stream(draw: st.DrawFn) -> str:
    valid = draw(st.integers(0, 3)) > 0
    values = "[" + ",".join(draw(st.lists(entry(valid), max_size=5))) + "]"
    members = []
    if draw(st.integers(0, 5)):
        members.append(f'"stream": {draw(pairs(valid))}')
    if valid or draw(st.integers(0, 8)):
        members.append(f'"values": {values}')
    if draw(st.integers(0, 5)) == 0:
        members.append(f'"extra": {draw(json_value(2) if not valid else st.just("[1, {}]"))}')
    if not valid and draw(st.integers(0, 8)) == 0:
        members.append(f'"values": {values}')
    order = draw(st.permutations(members))
    return "{" + ", ".join(order) + "}"


@st.composite
def push(draw: st.DrawFn) -> bytes:
    streams = "[" + ", ".join(draw(st.lists(stream(), max_size=3))) + "]"
    text = draw(
        st.sampled_from(
            [
                '{"streams": %s}',
                '{"streams": %s}',
                '{"other": 1, "streams":%s }',
                '{"str\\u0065ams": %s}',
                '{"streams": %s, "streams": []}',
                "[%s]",
                '{"streams": %s',
            ]
        )
    ) % (streams,)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 10)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(BAD_BYTES)) + raw[at:]
    return raw


def loki_result(parse: object, body: bytes, max_line: int) -> Batch | str:
    assert callable(parse)
    try:
        result = parse(body, max_line)
    except PayloadError as exc:
        return f"error: {exc}"
    assert isinstance(result, Batch)
    return result


@given(push(), st.sampled_from([16, 100_000]))
def test_loki_json_scan_stores_what_the_python_parser_stores(body: bytes, max_line: int) -> None:
    new = loki_result(loki.parse_json, body, max_line)
    old = loki_result(loki.parse_json_python, body, max_line)
    if isinstance(new, str) or isinstance(old, str):
        assert new == old
    else:
        same(new, old)


def test_loki_json_scan_is_the_path_taken() -> None:
    doc = {
        "streams": [
            {
                "stream": {"app": "api", "_msg": "dropped", "host": "h\u00e9"},
                "values": [["1", 'a "quoted"\nline'], ["2", ""], ["3", "x", {"trace": "t1"}]],
            },
            {"values": [["1", "\ud800 lone"]], "stream": {"k": "v"}},
        ]
    }
    body = json.dumps(doc).encode()
    fast = native.loki_json(body, 1000)
    assert fast is not None
    assert bytes(fast.block).split(b"\n")[:-1] == [
        b'{"_msg":"a \\"quoted\\"\\nline","app":"api","host":"h\xc3\xa9"}',
        b'{"_msg":"","app":"api","host":"h\xc3\xa9"}',  # an empty line is an entry too
        b'{"_msg":"x","app":"api","host":"h\xc3\xa9","trace":"t1"}',
        b'{"_msg":"\\ud800 lone","k":"v"}',
    ]
    same(fast, loki.parse_json_python(body, 1000))
    # "streams" is written as it is read: what comes after it still decides
    text = body.decode()
    other = native.loki_json(('{"a": {"b": [1, "streams"]}, ' + text[1:]).encode(), 1000)
    assert other is not None and bytes(other.block) == bytes(fast.block)
    for bad in (text[:-1] + ', "streams": []}', text[:-1] + ', "x": [}', text + " x"):
        assert native.loki_json(bad.encode(), 1000) is None
    assert native.loki_json(b'{"streams":[{"stream":{"a":1},"values":[]}]}', 100) is None
    assert native.loki_json(b'{"streams":[{"values":[["1"]]}]}', 100) is None
    for ns in (b"1", b'"1.5"', b"true", b'"\\u0031"'):  # the Python parser judges them
        assert native.loki_json(b'{"streams":[{"values":[[%s,"x"]]}]}' % ns, 100) is None


# ---------------------------------------------------------- Loki protobuf
TEXT = st.one_of(
    st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"_msg", b"app", b'a "q"\\\n\t\x01\x7f', b"caf\xc3\xa9", b"\xff\xfe"]),
)
LABEL_TEXT = st.one_of(
    st.sampled_from([b'{app="api", host="h1"}', b'{a="x\\"y\\\\z\\n"}', b"{}", b"", b"{bad}"]),
    st.sampled_from([b'{_msg="m", k="v"}', b'{app="\xff"}', b' { x = "1" , } ']),
    TEXT,
)


@st.composite
def proto_push(draw: st.DrawFn) -> bytes:
    request = loki.LenientPushRequest()
    for _ in range(draw(st.integers(0, 3))):
        stream = request.streams.add()
        stream.labels = draw(LABEL_TEXT)
        for _ in range(draw(st.integers(0, 4))):
            entry = stream.entries.add()
            entry.timestamp.seconds = draw(st.integers(-(2**40), 2**40))
            entry.line = draw(TEXT)
            for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
                pair = entry.structuredMetadata.add()
                pair.name, pair.value = draw(TEXT), draw(TEXT)
    raw = bytes(request.SerializeToString())
    if raw and draw(st.integers(0, 6)) == 0:  # damage it
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if raw and draw(st.integers(0, 10)) == 0:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    return raw


def proto_result(parse: object, raw: bytes, max_line: int) -> Batch | str:
    import cramjam

    body = bytes(cramjam.snappy.compress_raw(raw))
    assert callable(parse)
    try:
        result = parse(body, max_line, 1 << 20)
    except PayloadError as exc:
        return f"error: {exc}"
    assert isinstance(result, Batch)
    return result


@given(proto_push(), st.sampled_from([20, 100_000]))
def test_loki_proto_scan_stores_what_the_protobuf_library_reads(raw: bytes, max_line: int) -> None:
    new = proto_result(loki.parse_protobuf, raw, max_line)
    old = proto_result(loki.parse_protobuf_python, raw, max_line)
    if isinstance(new, str) or isinstance(old, str):
        assert new == old
    else:
        same(new, old)


def test_loki_proto_scan_is_the_path_taken() -> None:
    request = loki.PushRequest()
    stream = request.streams.add(labels='{app="api", host="h\u00e9"}')
    stream.entries.add(line='a "quoted"\nline')
    stream.entries.add(line="")
    entry = stream.entries.add(line="x")
    entry.structuredMetadata.add(name="trace", value="t1")
    entry.structuredMetadata.add(name="_msg", value="dropped")
    bad = request.streams.add(labels="not labels")
    for line in ("skipped", "", "three"):  # each entry of it is counted
        bad.entries.add(line=line)
    request.streams.add(labels="{bad}")  # no entries: the stream counts once
    raw = bytes(request.SerializeToString())
    fast = native.loki_protobuf(raw, 1000, loki._encoded_suffix)
    assert fast is not None
    assert bytes(fast.block).split(b"\n")[:-1] == [
        b'{"_msg":"a \\"quoted\\"\\nline","app":"api","host":"h\xc3\xa9"}',
        b'{"_msg":"","app":"api","host":"h\xc3\xa9"}',  # an empty line is an entry too
        b'{"_msg":"x","app":"api","host":"h\xc3\xa9","trace":"t1"}',
    ]
    assert (fast.malformed, fast.first_error) == (4, "Invalid stream labels: not labels")
    import cramjam

    same(fast, loki.parse_protobuf_python(bytes(cramjam.snappy.compress_raw(raw)), 1000, 1 << 20))
    assert native.loki_protobuf(raw[:-1], 1000, loki._encoded_suffix) is None  # cut short


def test_scanned_blocks_are_views_that_keep_their_bytes_while_held() -> None:
    """A block a scanner writes is a read-only view of its output buffer, which is used
    for another scan only once no view of it is left: blocks held across many scans
    (more than the scanners keep buffers), of growing sizes, keep their bytes."""
    import cramjam

    held: list[tuple[memoryview, bytes]] = []
    for i in range(24):
        texts = [f"line {i}.{j} " + "x" * (i * 7 % 50) for j in range(1 + i * 37)]
        kind = i % 3
        if kind == 0:
            values = [["1", t] for t in texts]
            body = json.dumps({"streams": [{"stream": {"n": str(i)}, "values": values}]}).encode()
            fast, want = native.loki_json(body, 1000), loki.parse_json_python(body, 1000)
        elif kind == 1:
            request = loki.PushRequest()
            stream = request.streams.add(labels=f'{{n="{i}"}}')
            for t in texts:
                stream.entries.add(line=t)
            raw = bytes(request.SerializeToString())
            body = bytes(cramjam.snappy.compress_raw(raw))
            fast = native.loki_protobuf(raw, 1000, loki._encoded_suffix)
            want = loki.parse_protobuf_python(body, 1000, 1 << 30)
        else:  # CR line ends: the NDJSON scanner writes the lines anew
            body = "".join(json.dumps({"_msg": t}) + "\r\n" for t in texts).encode()
            scanned = native.ndjson(body, 1000)
            fast = scanned[1] if scanned is not None else None
            want = jsonline.parse_python(body, 1000)
        assert fast is not None and isinstance(fast.block, memoryview) and fast.block.readonly
        same(fast, want)
        if i % 2:  # the others are dropped: their buffers go on to later scans
            held.append((fast.block, bytes(want.block)))
    for view, want_bytes in held:
        assert bytes(view) == want_bytes
    with pytest.raises(TypeError):
        held[0][0][0] = 0


def test_pushes_inflated_in_one_thread_keep_their_own_lines() -> None:
    """Each thread inflates into one buffer, kept from push to push: what a parse
    returned is its own (C scanner or reference), never a view of that buffer."""
    import cramjam

    def push(line: str, count: int, labels: str = '{app="api"}') -> bytes:
        request = loki.PushRequest()
        stream = request.streams.add(labels=labels)
        for _ in range(count):
            stream.entries.add(line=line)
        return bytes(cramjam.snappy.compress_raw(bytes(request.SerializeToString())))

    first = loki.parse_protobuf(push("first", 3), 1000, 64 << 20)
    kept = bytes(first.block)
    reference = loki.parse_protobuf(push("by the reference", 2, "not labels"), 1000, 64 << 20)
    assert reference.malformed == 2 and not reference.lines  # one per entry
    large = loki.parse_protobuf(push("x" * 1000, 10_000), 1000, 64 << 20)  # > INFLATE_KEEP
    second = loki.parse_protobuf(push("second", 2), 1000, 64 << 20)
    assert bytes(first.block) == kept == b'{"_msg":"first","app":"api"}\n' * 3
    assert bytes(second.block) == b'{"_msg":"second","app":"api"}\n' * 2
    assert large.lines == 10_000 and loki.INFLATE_KEEP < 10_000 * 1000


LENGTHS = (*range(1, 40), 47, 48, 49, 63, 64, 65, 95, 96, 97, 104)


@pytest.mark.parametrize("special", ['"', "\\", "\n", "\x01", "\x1f", "\u00e9", "\u2028"])
def test_a_character_to_escape_at_every_place_of_a_line(special: str) -> None:
    """The scanners copy a string a 16- or 32-byte block at a time up to the first
    byte to escape; its last block is the full-width one that ends it. Lines
    around those widths, the character at every offset, as Loki JSON (escaped or
    not) and protobuf, against the references."""
    import cramjam

    lines = ["a" * j + special + "b" * (n - j) for n in LENGTHS for j in range(n + 1)] + [
        "c" * n for n in LENGTHS
    ]
    for ascii_only in (True, False):
        values = [["1", line] for line in lines]
        doc = {"streams": [{"stream": {"app": "x"}, "values": values}]}
        body = json.dumps(doc, ensure_ascii=ascii_only).encode()
        fast = native.loki_json(body, 100_000)
        assert fast is not None and fast.lines == len(lines)
        same(fast, loki.parse_json_python(body, 100_000))
    request = loki.PushRequest()
    stream = request.streams.add(labels='{app="x"}')
    for line in lines:
        stream.entries.add(line=line)
    raw = bytes(request.SerializeToString())
    fast = native.loki_protobuf(raw, 100_000, loki._encoded_suffix)
    assert fast is not None and fast.lines == len(lines)
    body = bytes(cramjam.snappy.compress_raw(raw))
    same(fast, loki.parse_protobuf_python(body, 100_000, 1 << 24))
