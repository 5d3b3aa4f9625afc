"""The C scanner of Elasticsearch ``_bulk`` bodies against the Python parser it
replaces: the same stored bytes, counts, first error and answer items (made ids
aside) for the same body (Hypothesis over actions valid and not, every op, metadata
of every JSON type, documents that are not objects, blank lines, CRLF, invalid UTF-8,
lines over max_line, a missing last newline), and the C path really taken."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_http_native import BAD_BYTES, json_string, json_value, ndjson_line

from logcaster.inputs.payloads import bulk, native
from logcaster.inputs.payloads.records import Batch, PayloadError

pytestmark = pytest.mark.skipif(native.bulk_scan is None, reason="no C accelerator")

MADE = re.compile(re.escape(bulk._PREFIX) + "[0-9a-f]{16,}")
KNOWN_OPS = ["index", "create", "index", "create", "delete", "update"]
OPS = [*KNOWN_OPS, "zap", "", "caf\u00e9"]
KEYS = ['"_index"', '"_id"', '"_routing"', '"pipeline"']
VALUES = ['"app"', '""', '"a\\u00e9\\/b"', '"\\ud800"', '"x\\"y"', '"caf\u00e9"', '" "']
VALUES += ["0", "-0", "12", "-7", "null", "false"]
# what the C scanner leaves to Python: keys written with escapes, values other than a
# string, an integer, null or false
ODD_KEYS = ['"_ind\\u0065x"', '"_i\\"d"']
ODD_VALUES = ["1.5", "1e3", "true", "[]", "{}", "[1]", "NaN", "-Infinity", "1" * 4301]
MALFORMED = ["nope", "[1]", "{}", "5", '{"index":{}', '{"index":{}} x', '{"index":{},"create":{}}']
MALFORMED += ['{"index":{},"zap":{"_id":"twice"}}', '{"a":1,"b":2,"c":3}', "\ufeff{}"]
MALFORMED += ['{"index":{"_id":"' + "\u00e9" * 90 + '"}', "x" * 100 + "\u00e9" * 5]
MALFORMED += ['{"index":' + "[" * 199 + "]" * 199 + "}", '{"index":' + "[" * 199 + "]" * 199]
# actions the C scanner leaves to Python: deep, repeated or escaped keys
PYTHON_DECIDES = ['{"delete":' + "[" * 300 + "]" * 300 + "}", '{"ind\\u0065x":{"_id":"e"}}']
PYTHON_DECIDES += ['{"index":{},"index":{"_id":"twice"}}', '{"a":1,"b":2,"a":3}']
BLANK = [b"", b" ", b"\r", b"\t\r", "\u3000".encode(), b"\x1c", "\x85 ".encode()]
DOCS = [b"[1]", b"nope", b'"s"', b"{}", b'{"a":1} x', b'{"m":"' + b"x" * 60 + b'"}']
DOCS += [('{"m":"' + "\u00e9" * 30 + '"}').encode(), b' {"a" : [1, {"b": null}]} \t']


@st.composite
def meta(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.sampled_from(["null", "5", '"x"', "[]", "true"]))
    odd = draw(st.integers(0, 40)) == 0
    keys = st.sampled_from(KEYS + ODD_KEYS if odd else KEYS)
    value = st.one_of(st.sampled_from(VALUES), json_string(valid=True))
    if odd:
        value = st.one_of(value, st.sampled_from(ODD_VALUES), json_value(1))
    members = draw(st.lists(st.tuples(keys, value), max_size=4))
    ws = draw(st.sampled_from(["", " ", "\t"]))
    return "{" + ws + ",".join(f"{k}{ws}:{ws}{v}" for k, v in members) + ws + "}"


@st.composite
def action(draw: st.DrawFn, bad: bool) -> bytes:
    """An action line; ``bad``: maybe a malformed or unknown one (the body refused)."""
    kind = draw(st.integers(0, 29 if bad else 20))
    if kind == 20:
        text = draw(st.sampled_from(PYTHON_DECIDES[:3]))  # an action Python reads
    elif kind < 20:
        op = draw(st.sampled_from(OPS if bad else KNOWN_OPS))
        ws = draw(st.sampled_from(["", " ", " \r "]))
        text = f'{ws}{{{ws}"{op}"{ws}:{ws}{draw(meta())}{ws}}}{ws}'
    elif kind <= 27:
        text = draw(st.sampled_from(MALFORMED))
    elif kind == 28:
        text = draw(json_value(2))
    else:
        text = draw(st.sampled_from(PYTHON_DECIDES))
    raw = text.encode("utf-8", "surrogatepass")
    if bad and draw(st.integers(0, 12)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(BAD_BYTES)) + raw[at:]
    return raw + draw(st.sampled_from([b"", b"", b"\r", b" "]))


@st.composite
def bulk_body(draw: st.DrawFn) -> bytes:
    """Most bodies with known, well-formed actions only (answered item by item); a
    quarter may hold a malformed or unknown one."""
    lines: list[bytes] = []
    bad = draw(st.integers(0, 3)) == 0
    for _ in range(draw(st.integers(0, 8))):
        lines.append(draw(action(bad)))
        if draw(st.integers(0, 5)):
            docs = st.one_of(ndjson_line(), st.sampled_from(DOCS), json_value(3))
            lines.append(draw(docs.map(lambda d: d if isinstance(d, bytes) else d.encode())))
        if draw(st.integers(0, 6)) == 0:
            lines.append(draw(st.sampled_from(BLANK)))
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    return sep.join(lines) + (sep if draw(st.booleans()) else b"")


def seen(batch: Batch | str) -> tuple[object, ...] | str:
    """What a client and the store see of a batch, made ids as one placeholder (the
    refusal's message, for a body refused whole)."""
    if isinstance(batch, str):
        return batch
    answer = MADE.sub("<made>", bulk.response(batch, 0).decode("utf-8", "surrogatepass"))
    first = MADE.sub("<made>", batch.first_error)
    parts = bytes(batch.block), batch.lines, batch.truncated, batch.malformed, first
    return (*parts, json.loads(answer))


def parsed(parse: Callable[..., Batch], *args: object) -> Batch | str:
    """The batch, or the refusal of a body with a malformed or unknown action."""
    try:
        return parse(*args)
    except PayloadError as exc:
        assert str(exc).startswith("Malformed action/metadata line [")
        return f"refused: {exc}"


@given(bulk_body(), st.sampled_from([8, 40, 100_000]), st.sampled_from(["", "logs", 'i"\u00e9']))
def test_bulk_scan_answers_what_the_python_parser_answers(
    body: bytes, max_line: int, index: str
) -> None:
    fast, reference = (parsed(p, body, max_line, index) for p in (bulk.parse, bulk.parse_python))
    assert seen(fast) == seen(reference)


@given(bulk_body(), st.sampled_from(["message", "msg,a.b", "_msg", "x"]))
def test_msg_field_changes_the_stored_documents_only(body: bytes, msg_field: str) -> None:
    # Renaming never raises and never changes what is answered or counted: the same
    # documents are stored (each renamed or as it came), the same items answered.
    plain = parsed(bulk.parse, body, 100_000)
    renamed = parsed(bulk.parse, body, 100_000, "", msg_field)
    if isinstance(plain, str) or isinstance(renamed, str):
        assert plain == renamed
        return
    assert (renamed.lines, renamed.malformed) == (plain.lines, plain.malformed)
    assert seen(renamed)[-1] == seen(plain)[-1]
    for line in bytes(renamed.block).split(b"\n")[:-1]:
        assert isinstance(json.loads(line), dict)


@given(st.binary(max_size=200), st.sampled_from([10, 100_000]))
def test_bulk_scan_on_any_bytes(body: bytes, max_line: int) -> None:
    assert seen(parsed(bulk.parse, body, max_line)) == seen(
        parsed(bulk.parse_python, body, max_line)
    )


def test_bulk_scan_is_the_path_taken() -> None:
    body = b'{"create":{}}\n{"_msg":"a"}\r\n\n{"index":{"_index":"x","_id":7}}\n{"b":"\\u00e9"}\n'
    batch = native.bulk(body, 1000, "logs", bulk._PREFIX)
    assert batch is not None and batch.answer and batch.answered == 2
    assert bytes(batch.block) == b'{"_msg":"a"}\n{"b":"\\u00e9"}\n'
    items = json.loads(bulk.response(batch, 5))["items"]
    assert items[1] == {
        "index": {"_index": "x", "_id": "7", "_version": 1, "result": "created", "status": 201}
    }
    assert items[0]["create"]["_index"] == "logs" and MADE.fullmatch(items[0]["create"]["_id"])
    bad = native.bulk(b'{"index":{}}\n[1]\n{"delete":{}}\n', 1000, "", bulk._PREFIX)
    assert bad is not None and bad.malformed == 1 and bad.answered == 2 and not bad.lines
    assert bad.first_error.startswith("Document [") and bad.first_error.endswith("object: [1]")
    # a malformed or unknown action: the Python parser refuses the body
    for refused in (b'{"zap":{}}\n{}\n', b"nope\n", b'{"index":{},"create":{}}\n{}\n'):
        assert native.bulk(b'{"index":{}}\n{}\n' + refused, 1000, "", bulk._PREFIX) is None
    for odd in (
        b'{"index":{"_id":1.5}}\n{}\n',  # str() of a float: Python decides
        b'{"ind\\u0065x":{}}\n{}\n',  # an escaped op
        b'{"index":{}}\n{"a":' + b"[" * 300 + b"]" * 300 + b"}\n",  # deep
        b'{"index":{}}\n{"a":' + b"1" * 4301 + b"}\n",  # past int()'s digits
    ):
        assert native.bulk(odd, 1000, "", bulk._PREFIX) is None
        assert seen(bulk.parse(odd, 1000)) == seen(bulk.parse_python(odd, 1000))


def test_made_ids_differ_between_the_two_parsers() -> None:
    body = b'{"index":{}}\n{"a":1}\n' * 20
    made = [
        json.loads(bulk.response(parse(body, 100), 0))["items"]
        for parse in (bulk.parse, bulk.parse_python, bulk.parse)
    ]
    ids = [item["index"]["_id"] for items in made for item in items]
    assert len(set(ids)) == 60


def test_msg_field_renames_each_stored_document() -> None:
    # VictoriaLogs' _msg_field on its bulk endpoint: Filebeat's "message" as _msg;
    # a document without the field is stored as it came, every item answered alike.
    body = (
        b'{"create":{}}\n{"@timestamp":"t","message":"disk full","host":{"name":"h"}}\n'
        b'{"index":{"_id":"k"}}\n{"msg":"no message field"}\n'
        b'{"delete":{"_id":"k"}}\n'
        b'{"create":{}}\n[1]\n'
    )
    batch = bulk.parse(body, 1000, "fb", "message,log.message")
    assert bytes(batch.block).splitlines() == [
        b'{"_msg":"disk full","@timestamp":"t","host":{"name":"h"}}',
        b'{"msg":"no message field"}',
    ]
    plain = bulk.parse(body, 1000, "fb")

    def answers(b: Batch) -> list[tuple[str, object, object]]:
        items = json.loads(bulk.response(b, 0))["items"]
        return [(op, v["status"], v.get("result")) for i in items for op, v in i.items()]

    assert (
        answers(batch)
        == answers(plain)
        == [
            ("create", 201, "created"),
            ("index", 201, "created"),
            ("delete", 400, None),
            ("create", 400, None),
        ]
    )
    assert (batch.lines, batch.malformed) == (plain.lines, plain.malformed) == (2, 1)
