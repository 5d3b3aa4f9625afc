"""The parsed fields of the HTTP API's records (``logcaster.records``): the C encoder's
records (``_ndjson.c`` reading the fields with ``_fields.c``) against the Python
reference on generated lines of every format, and the query API and the live tail read
through a real aiohttp client for syslog (RFC 3164, RFC 5424), logfmt and JSON lines."""

from __future__ import annotations

import asyncio
import json
import re
from array import array

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Server, parse_info, wait_for
from test_fields import LINES as SENDER_LINES
from test_fields_native import any_line

from logcaster import ndjson, records
from logcaster.frontends.http.render import NDJSON, SSE
from logcaster.query.fields import fields_of, structured_level
from logcaster.query.levels import level_of

native = pytest.mark.skipif(not ndjson.HAVE_NATIVE, reason="C accelerator not built")
ONE = array("q", (0,))
STAMP = array("q", (1_764_615_659_917_121_123,))


def c_records(lines: list[bytes], out: bytearray | None = None, at: int = 0) -> tuple[bytes, int]:
    """The C encoder's records of the lines (the unsure ones' fields from the reference),
    and how many lines it left to the reference."""
    buf = b"".join(x + b"\n" for x in lines)
    spans = array("q", (0, len(buf)) if buf else ())
    out = bytearray() if out is None else out
    end = ndjson.encode_records(out, at, buf, spans, ONE, STAMP, b"", b"\n")
    unsure: array[int] = array("q")
    ndjson._native(bytearray(), 0, buf, spans, ONE, STAMP, b"", b"\n", False, unsure)
    return bytes(out[at:end]), len(unsure) // 3


def py_records(lines: list[bytes]) -> bytes:
    buf = b"".join(x + b"\n" for x in lines)
    spans = array("q", (0, len(buf)) if buf else ())
    return ndjson.py_encode_records(buf, spans, ONE, STAMP, b"", b"\n")


@native
@settings(max_examples=1500, deadline=None)
@given(any_line)
def test_c_records_agree_with_the_reference(line: bytes) -> None:
    assert c_records([line])[0] == py_records([line])


@native
@settings(max_examples=300, deadline=None)
@given(
    st.lists(any_line, max_size=12),
    st.sampled_from([NDJSON, SSE]),
    st.booleans(),
    st.integers(0, 64),
)
def test_c_records_agree_with_the_python_records(
    lines: list[bytes], framing: tuple[bytes, bytes], descending: bool, at: int
) -> None:
    """Whole records, in a reused buffer from an offset: the C encoder, its undecided
    lines' fields spliced in from the reference, against the reference."""
    buf = b"".join(x + b"\n" for x in lines)
    spans = array("q", (0, len(buf)) if buf else ())
    head, tail = framing
    args = (buf, spans, ONE, STAMP, head, tail, descending)
    out = bytearray(b"~" * at)
    end = ndjson.encode_records(out, at, *args)
    py = ndjson.py_encode_records(*args)
    assert out[:at] == b"~" * at and out[at:end] == py
    for piece, line in zip(py.split(tail)[:-1], lines[::-1] if descending else lines, strict=True):
        record = json.loads(piece[len(head) :])
        assert record["line"] == line.decode("utf-8", "replace")  # never replaced by a field
        assert record.get("level") == (structured_level(line) or level_of(line))
        assert set(record) <= {"time", "line", "level", "host", "app", "facility", "fields"}


# Lines for the encoder's fast paths: logfmt keys found from 16 bytes before their
# '=' (keys longer than 16, at the line's start, after tabs or other bytes), values
# ended 16 bytes at a time (quoted ones holding '=' or escapes, unterminated, empty,
# non-ASCII, tabs), lines with no byte to escape at all (their fields copied as
# they are), level words in any case, syslog and JSON bodies.
_fast_keys = st.sampled_from(
    [
        *(b"host", b"app", b"a", b"user", b"k_1", b"x.y-z/w@v", b"latency_ms", b"level"),
        *(b"Lvl", b"a_key_of_sixteen", b"a_key_longer_than_sixteen_bytes", b"9x", b"-x"),
        b"\xc3\xa9k",
    ]
)
_fast_values = st.one_of(
    st.text(st.sampled_from('abXZ09 =./-"\\\té'), max_size=40).map(lambda v: v.encode()),
    st.sampled_from([b'"quoted value"', b'"a=b c"', b'"', b'""', b'"open', b'"x\\"y"', b"a\\"]),
    st.sampled_from([b"INFO", b"warn", b"Error", b"crit", b"EMERGENCY", b"dbg", b"Informational"]),
    st.text(st.sampled_from('ab =\\"h:é'), max_size=40).map(lambda v: b'"' + v.encode() + b'"'),
    st.sampled_from([b'"a long quoted message, then host=web9"', b'"x \\" y app=a2 z"']),
)
_glue = st.sampled_from([b" ", b"  ", b"\t", b"", b"x", b'"', b" INFO ", b" [Warn] ", b"\xc3\xa9 "])
_pairs = st.lists(
    st.tuples(_glue, _fast_keys, st.sampled_from([b"=", b"=", b" =", b"=="]), _fast_values),
    max_size=12,
).map(lambda parts: b"".join(g + k + eq + v for g, k, eq, v in parts))
_heads = st.sampled_from(
    [
        *(b"", b"2026-11-26T17:00:00.003Z INFO [svc] ", b"<13>Nov 26 17:00:00 host-0 app[1]: "),
        *(b"<165>1 2026-12-01T21:06:04Z vm app - - - ", b"{", b"ERROR ", b'"level":"Warn" '),
    ]
)
fast_lines = st.one_of(
    st.tuples(_heads, _pairs).map(b"".join),
    st.tuples(_heads, _pairs).map(lambda hp: b"".join(hp).replace(b'"', b"").replace(b"\t", b" ")),
    st.tuples(_heads, _pairs).map(
        lambda hp: bytes(c for c in b"".join(hp) if 0x20 <= c < 0x80 and c not in b'"\\')
    ),  # plain lines: nothing to escape (the fast logfmt path)
    st.tuples(_heads, _pairs).map(
        lambda hp: bytes(c for c in b"".join(hp) if 0x20 <= c < 0x80 and c != 0x5C)
    ),  # quoted values, no other byte to escape (the same path, to each closing quote)
    st.dictionaries(_fast_keys.map(lambda k: k.decode("utf-8")), st.text(max_size=9)).map(
        lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
).map(lambda line: line.replace(b"\n", b" "))


# Readable bytes after a line: its pairs are found in masks of whole 64-byte blocks
# (lines of up to 256 bytes); without them, 16 bytes at a time.
PAD = b"pad=" + b"p" * 300


@native
@settings(max_examples=1500, deadline=None)
@given(fast_lines, st.sampled_from([(), (PAD,), (b"", PAD)]))
def test_c_records_agree_on_logfmt_and_level_edges(line: bytes, after: tuple[bytes, ...]) -> None:
    lines = [line, *after]
    assert c_records(lines)[0] == py_records(lines)


# JSON object lines for the one-pass reader of flat objects: the record's own names
# (host, app and app's other names, facility, GELF's short_message), dotted and
# repeated names, every kind of value and raw number tokens json.dumps would not
# write back as they are, spaces around the tokens.
_json_names = st.sampled_from(
    [
        *("host", "app", "_app", "appname", "application", "service", "facility"),
        *("host.name", "hostname", "service.name", "HOST", "PROGRAM", "program", "programname"),
        *("_HOSTNAME", "SYSLOG_IDENTIFIER", "_hostname", "SYSLOG_IDENTIFIERS", "service_name"),
        *("Host", "PROGRAMS", "programnamE"),
        *("short_message", "msg", "level", "a.b", "", "user", "k", "a_name_of_twenty_bytes"),
    ]
)
_json_tokens = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(json.dumps),
    st.text(max_size=4).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False).map(json.dumps),
    st.sampled_from(["true", "false", "null", "-0", "0", "01", "1e5", "-", "NaN", "1" * 4500]),
    st.sampled_from(['{"a":"b"}', '{"a":{"b":1}}', '["x",1]', "[]", "{}", '"\\u00e9"']),
    # ECS nested: {"host":{"name":...}} is the host when no "host.name" member is
    st.sampled_from(['{"name":"web-1"}', '{"name":null}', '{"name":{"x":1}}', '{"name":2}']),
)
_json_gaps = st.sampled_from(["", "", " ", "  ", "\t"])
json_object_lines = st.tuples(
    st.lists(st.tuples(_json_names, _json_gaps, _json_tokens), max_size=10),
    _json_gaps,
    st.sampled_from(["", " ", "x"]),
).map(
    lambda t: (
        t[1]
        + "{"
        + ",".join(f"{t[1]}{json.dumps(k)}{g}:{g}{v}" for k, g, v in t[0])
        + t[1]
        + "}"
        + t[2]
    ).encode()
)


# Compact objects of string members: their "fields" object is the line itself
# (copied whole), unless a member is left out of it (host, app), a value is no
# string or a space is anywhere; names repeated or needing escapes are read the
# usual way.
_plain_strings = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10)
compact_string_lines = st.tuples(
    st.lists(st.tuples(_json_names, st.one_of(_plain_strings, st.just("ERROR"))), max_size=8),
    st.sampled_from(["", "", "", " ", "x"]),
    st.sampled_from([(",", ":"), (",", ":"), (", ", ":"), (",", ": ")]),
).map(lambda t: (json.dumps(dict(t[0]), separators=t[2]) + t[1]).encode())


@native
@settings(max_examples=2500, deadline=None)
@given(st.one_of(json_object_lines, compact_string_lines), st.sampled_from([(), (PAD,)]))
def test_c_records_agree_on_json_object_lines(line: bytes, after: tuple[bytes, ...]) -> None:
    lines = [line, *after]
    assert c_records(lines)[0] == py_records(lines)


@native
def test_a_compact_string_object_is_its_own_fields() -> None:
    line = b'{"ts":"2026-11-26T17:00:00Z","level":"ERROR","svc":"pay","hostname":"h1"}'
    got, unsure = c_records([line])
    assert (got, unsure) == (py_records([line]), 0)
    record = json.loads(got)
    assert got.endswith(b',"fields":' + line + b"}\n")
    assert record["fields"] == json.loads(line)
    assert (record["level"], record["host"]) == ("ERROR", "h1")


@native
def test_journald_names_are_host_and_app() -> None:
    # journalctl -o json (and the journald inputs of Vector, Fluent Bit, Filebeat)
    line = (
        b'{"_HOSTNAME":"db-2","SYSLOG_IDENTIFIER":"postgres","PRIORITY":"3",'
        b'"MESSAGE":"could not write block","_PID":"812"}'
    )
    got, unsure = c_records([line])
    assert (got, unsure) == (py_records([line]), 0)
    record = json.loads(got)
    assert (record["host"], record["app"]) == ("db-2", "postgres")
    # Loki 3's service_name label, as a Loki push stores it
    record = json.loads(c_records([b'{"_msg":"paid","service_name":"checkout"}'])[0])
    assert record["app"] == "checkout"
    # the usual names come first, as before
    line = b'{"SYSLOG_IDENTIFIER":"x","app":"api","_HOSTNAME":"h","hostname":"web-1"}'
    record = json.loads(c_records([line])[0])
    assert (record["host"], record["app"]) == ("web-1", "api")


# Syslog lines for the one-pass header reader: every part of an RFC 3164 header
# present or not (timestamps of both shapes, HOST, TAG, an empty or missing PID, a
# TAG without its ':'), RFC 5424 headers with words absent ("-"), empty or missing,
# with and without SD params, PRIs of every facility and severity and not PRIs at
# all, and MSGs whose pairs are named as the header's fields, repeated, or past 256
# bytes.
_pris = st.one_of(
    st.integers(0, 191).map(lambda p: b"<%d>" % p),
    st.sampled_from([b"<192>", b"<01>", b"<>", b"<1", b"<a>", b""]),
)
_syslog_stamps = st.sampled_from(
    [
        *(b"Nov 26 17:00:00 ", b"Nov  6 07:00:00 ", b"2026-11-26T17:00:00.123Z "),
        *(b"Nov 26 17:00:00", b"Nov 26 17:00 ", b"2026-11-26 17:00:00 ", b"", b""),
    ]
)
_syslog_hosts = st.sampled_from([b"host-0 ", b"h ", b"", b"10.0.0.1 ", b"a:b "])
_syslog_tags = st.sampled_from(
    [b"app[1]: ", b"svc-10[42]: ", b"su: ", b"cron[]: ", b"app[1] ", b"app:", b"x[1:", b""]
)
_syslog_names = st.sampled_from(
    [
        *(b"pri", b"severity", b"facility", b"timestamp", b"host", b"app", b"procid", b"msg"),
        *(b"level", b"msgid", b"user", b"req", b"status", b"latency_ms", b"Level"),
    ]
)
_syslog_msgs = st.lists(
    st.tuples(st.sampled_from([b" ", b"  ", b"x "]), _syslog_names, _fast_values), max_size=10
).map(lambda parts: b"".join(g + k + b"=" + v for g, k, v in parts).lstrip())
_5424_words = st.sampled_from([b"-", b"", b"2026-12-01T21:06:04.1Z", b"vm", b"app", b"42", b"ID7"])
_5424_heads = st.tuples(st.lists(_5424_words, min_size=0, max_size=6), _5424_words).map(
    lambda t: b"1 " + b" ".join(t[0]) + (b" " if t[0] else b"") + t[1]
)
_5424_sd = st.sampled_from([b" - ", b" -", b"", b" ", b" -x", b' [a@1 k="v"] ', b" [a@1] "])
syslog_lines = st.one_of(
    st.tuples(_pris, _syslog_stamps, _syslog_hosts, _syslog_tags, _syslog_msgs).map(b"".join),
    st.tuples(_pris, _5424_heads, _5424_sd, _syslog_msgs).map(b"".join),
    st.tuples(_pris, _5424_heads, _5424_sd, _syslog_msgs).map(
        lambda parts: bytes(c for c in b"".join(parts) if 0x20 <= c < 0x80 and c not in b'"\\')
    ),
    st.tuples(_pris, _syslog_stamps, _syslog_hosts, _syslog_tags, _syslog_msgs).map(
        lambda parts: bytes(c for c in b"".join(parts) if 0x20 <= c < 0x80 and c not in b'"\\')
    ),  # plain lines: nothing to escape (the one-pass header)
    st.tuples(_pris, _syslog_stamps, _syslog_hosts, _syslog_tags, _syslog_msgs).map(
        lambda parts: bytes(c for c in b"".join(parts) if 0x20 <= c < 0x80 and c != 0x5C)
    ),  # quotes, no other byte to escape (the same, the MSG escaped)
    st.tuples(
        _pris,
        st.sampled_from([b'Nov 26 17:00:00 h"x ', b'Nov 26 17:00:00 h a"b[1]: ', b"su: "]),
        st.sampled_from([b'{"a":"b"}', b' {"a":1} ', b'"quoted" k="v w" x=1', b'GET "/" 200']),
    ).map(b"".join),
    st.tuples(_pris, _syslog_stamps, _syslog_tags, st.sampled_from([b"{}", b" { } ", b"{"])).map(
        b"".join
    ),
)


@native
@settings(max_examples=2000, deadline=None)
@given(syslog_lines, st.sampled_from([(), (PAD,), (b"", PAD)]))
def test_c_records_agree_on_syslog_lines(line: bytes, after: tuple[bytes, ...]) -> None:
    lines = [line, *after]
    assert c_records(lines)[0] == py_records(lines)


@native
def test_syslog_pairs_named_as_the_header_fields() -> None:
    """A MSG pair named as a header field is left out of the fields when the header
    has that field, and kept when it has not, in either syslog format."""
    names = [b"pri", b"facility", b"severity", b"timestamp", b"host", b"app", b"procid"]
    names += [b"msgid", b"msg", b"level", b"other"]
    heads = [b"<165>1 2026-12-01T21:06:04Z vm app 42 ID7 - ", b"<165>1 - - - - - - "]
    heads += [b"<14>Nov 26 17:00:00 host-0 svc-6[0]: ", b"<14>su: ", b"<14>x "]
    for head in heads:
        for name in names:
            line = head + b"a=1 " + name + b"=v1 " + name + b"=v2"
            assert c_records([line, PAD])[0] == py_records([line, PAD]), line
            record = json.loads(c_records([line, PAD])[0].split(b"\n")[0])
            assert record["fields"]["a"] == "1"


@native
def test_syslog_5424_messages_after_a_bom() -> None:
    """RFC 5424's BOM before MSG is not part of `msg` or of its pairs, with or
    without SD params, with nothing after it or a MSG cut inside it."""
    bom = "\ufeff".encode()
    for head in (b"<165>1 2026-12-01T21:06:04Z vm app 42 ID7 - ", b"<13>1 - - - - - "):
        for body in (bom + b"k=v m=1", bom, bom[:2], b"k=v " + bom):
            line = head + body
            assert c_records([line, PAD])[0] == py_records([line, PAD]), line
            assert c_records([line])[0] == py_records([line]), line


@native
def test_syslog_messages_of_every_length_around_the_blocks() -> None:
    """A syslog MSG's pairs on each side of a 64-byte block boundary, MSGs of 1 to 4
    blocks and past them, after headers of every shape."""
    heads = [b"<14>Nov 26 17:00:00 host-0 svc-6[0]: ", b"<0>su: ", b"<191>Nov 26 17:00:00 h "]
    heads += [b"<165>1 2026-12-01T21:06:04Z vm app 42 ID7 - ", b"<13>1 - - - - - - "]
    for head in heads:
        for size in (*range(0, 80), *range(120, 136), *range(250, 262)):
            body = b" ".join(b"k%d=%s" % (i, b"v" * (i % 7)) for i in range(60))
            line = head + body[:size]
            assert c_records([line, PAD])[0] == py_records([line, PAD]), (head, size)


@native
def test_c_records_agree_on_each_json_token() -> None:
    """Each value token, alone and beside others, under a plain name and under the
    record's own names, with readable bytes after the line and without."""
    tokens = ["true", "false", "null", "-0", "0", "01", "-01", "10", "-12", "1.5", "1e5", "1E5"]
    tokens += ["-", "--1", "tru", "nul", "NaN", "-Infinity", '"x"', '""']
    tokens += ["1" * 4300, "1" * 4301, "-" + "1" * 4301]  # json.loads refuses > 4300 digits
    tokens += ["{}", "[]", '"a\\"b"', '"\t"']
    for name in ("k", "host", "app", "service", "facility", "a.b", "", "hostname", "service.name"):
        for token in tokens:
            for text in (f'{{"{name}":{token}}}', f'{{"x":"y", "{name}" : {token} ,"z":1}} '):
                for lines in ([text.encode()], [text.encode(), PAD]):
                    assert c_records(lines)[0] == py_records(lines), (name, token, lines)
    # strings ending on each side of a 64-byte block, lines of 1 to 16 blocks and past
    for size in (*range(40, 80), *range(1000, 1040)):
        for quote in ('"', "\\", "\x01", "\xc3\xa9"):
            text = '{"a":"' + "x" * (size % 50) + '","b":"' + "y" * size + '","c":7}'
            bad = (text[: size // 2] + quote + text[size // 2 :]).encode()
            for line in (text.encode(), bad, text.encode()[: -(size % 5 + 1)]):
                for pad in (b"pad=" + b"p" * 2000, b'"' * 2000):  # quotes past a cut line
                    lines = [line, pad]
                    assert c_records(lines)[0] == py_records(lines), (size, line)


@native
def test_quoted_logfmt_values_around_the_blocks() -> None:
    """Quoted values (slog's and logrus' text) ending on each side of a 64-byte block,
    holding a '=', unterminated, or followed by a name with no space before it."""
    for size in (*range(0, 70), *range(120, 136), *range(190, 262)):
        for value in (b'"a b"', b'"a=b"', b'""', b'"x host=h"', b'"open', b'"a"b=1'):
            line = b"t=1 " + b"x" * (size % 64) + b' msg="' + b"m " * (size // 4) + b'" k=' + value
            line += b" level=info"
            assert c_records([line, PAD])[0] == py_records([line, PAD]), line


@native
def test_plain_logfmt_lines_of_every_length_around_the_blocks() -> None:
    """Pairs whose '=', name start or value end fall on each side of a 64-byte block
    boundary, in lines of 1 to 4 blocks and just past them, read from masks."""
    for size in (*range(1, 140), *range(180, 200), *range(250, 262)):
        for shift in range(0, 12):
            body = b" ".join(b"k%d=%s" % (i, b"v" * (i % 7)) for i in range(40))
            line = (b"x" * shift + b" " + body)[:size]
            lines = [line, PAD]
            assert c_records(lines)[0] == py_records(lines), (size, shift)


@native
def test_nothing_is_written_past_the_last_record() -> None:
    """Short names and values may be copied as 16 bytes (the next record overwrites
    the rest): never past the last record, even with readable bytes after its line."""
    for lines in ([b"k=v a=1"], [b"k=v", b"a=1 b=22"], [b'{"a":"1"}']):
        buf = b"".join(x + b"\n" for x in lines)
        for descending in (False, True):
            out = bytearray(b"#" * 4096)
            args = (buf + b"z" * 64, array("q", (0, len(buf))), ONE, STAMP, b"", b"\n")
            end = ndjson.encode_records(out, 0, *args, descending)
            assert out[end:] == b"#" * (4096 - end)
            assert out[:end] == ndjson.py_encode_records(*args, descending)


@native
def test_real_senders_lines_are_read_in_c() -> None:
    """Every real sender's line is decided in C but RFC 5424 lines with SD params and
    JSON lines with a float (GELF's timestamp): repr(float) is left to Python."""
    got, _ = c_records(SENDER_LINES)
    assert got == py_records(SENDER_LINES)
    for line in SENDER_LINES:
        if c_records([line])[1]:
            floats = line[:1] == b"{" and any(
                isinstance(v, float) for v in json.loads(line).values()
            )
            assert floats or re.match(rb"<\d+>1 (\S+ ){5}\[", line), line


@native
def test_undecided_lines_are_spliced_in_place() -> None:
    """Lines left to the reference among decided ones, in a buffer reused with an
    offset: each record whole, in order."""
    sd = b'<165>1 2026-12-01T21:06:04.003Z vm app - ID47 [ex@1 k="v"] sd %d'
    lines = [sd % i if i % 3 else b"plain k=%d" % i for i in range(30)]
    assert c_records(lines)[1] == 20
    out = bytearray(b"x" * 1000)
    assert c_records(lines, out, 7)[0] == py_records(lines)
    assert out[:7] == b"x" * 7


EXAMPLES = {
    b"<34>Oct 11 22:14:15 mymachine su[42]: 'su root' failed user=bob": {
        "host": "mymachine",
        "app": "su",
        "facility": "auth",
        "fields": {
            "pri": "34",
            "severity": "2",
            "timestamp": "Oct 11 22:14:15",
            "procid": "42",
            "msg": "'su root' failed user=bob",
            "level": "CRITICAL",
            "user": "bob",
        },
    },
    b'<165>1 2026-12-01T21:06:04.003Z vm evntslog - ID47 [ex@32473 iut="3"] An app event': {
        "host": "vm",
        "app": "evntslog",
        "facility": "local4",
        "fields": {
            "pri": "165",
            "severity": "5",
            "timestamp": "2026-12-01T21:06:04.003Z",
            "msgid": "ID47",
            "ex@32473.iut": "3",
            "msg": "An app event",
            "level": "NOTICE",
        },
    },
    b'ts=2026-12-01 level=error host=web3 msg="card \\"x\\" declined" time=9 line=1': {
        "host": "web3",
        "fields": {
            "ts": "2026-12-01",
            "level": "error",
            "msg": 'card "x" declined',
            "time": "9",
            "line": "1",
        },
    },
    b'{"host":"web2","service":"api","req":{"id":"r-1"},"n":7,"ok":true,"time":"t"}': {
        "host": "web2",
        "app": "api",
        "fields": {"service": "api", "req.id": "r-1", "n": "7", "ok": "true", "time": "t"},
    },
    # an OTLP record as stored: the resource's service.name and host.name
    b'{"_msg":"paid","severity":"INFO","service.name":"shop","host.name":"n7"}': {
        "host": "n7",
        "app": "shop",
        "fields": {"_msg": "paid", "severity": "INFO", "service.name": "shop", "host.name": "n7"},
    },
    # Filebeat's document (ECS, nested): host.name and service.name in objects
    b'{"message":"up","host":{"name":"web-3","os":{"family":"debian"}},"service":{"name":"api"}}': {
        "host": "web-3",
        "app": "api",
        "fields": {
            "message": "up",
            "host.name": "web-3",
            "host.os.family": "debian",
            "service.name": "api",
        },
    },
    # pino's line (bunyan's alike): its hostname is the host, 30 its level
    b'{"level":30,"time":1764600000000,"pid":7,"hostname":"h1","msg":"up"}': {
        "host": "h1",
        "fields": {
            "level": "30",
            "time": "1764600000000",
            "pid": "7",
            "hostname": "h1",
            "msg": "up",
        },
    },
    b"no fields here": {},
}


def test_record_shape_examples() -> None:
    for line, want in EXAMPLES.items():
        assert records.fields_record(line) == want, line
        piece = records.py_fields_piece(line).decode()
        assert json.loads("{" + piece[1:] + "}") == want
        record = json.loads(ndjson.records(line, array("q", (0, len(line))), ONE, STAMP, b"", b""))
        assert {k: v for k, v in record.items() if k not in ("time", "line", "level")} == want
    # "fields" is every field.NAME but the top-level ones holding the same value
    gelf = b'{"facility":"myapp","short_message":"m"}'
    assert records.fields_record(gelf) == {
        "app": "myapp",
        "fields": {"facility": "myapp", "short_message": "m", "msg": "m"},
    }
    assert set(records.fields_record(gelf)["fields"]) == set(fields_of(gelf))  # type: ignore[arg-type]


# --------------------------------------------------------------------- over HTTP
async def _query(port: int, params: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?{params}"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/x-ndjson")
        return [json.loads(x) for x in (await resp.read()).splitlines()]


async def _tail(srv: Server, params: str, send: bytes, count: int) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{srv.http_port}/api/v1/tail?{params}"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        await asyncio.to_thread(
            wait_for, lambda: parse_info(srv.query("INFO"))["Followers"] == "1", what="the tap"
        )
        srv.send(send)
        return [json.loads(await resp.content.readline()) for _ in range(count)]


def test_query_and_tail_records_carry_the_fields(server: Server) -> None:
    lines = list(EXAMPLES)
    server.send(b"\n".join(lines) + b"\n")
    wait_for(lambda: server.query("COUNT") == b"COUNT: %d\n" % len(lines), what="the lines")
    got = asyncio.run(_query(server.http_port, "limit=100"))
    assert [r["line"] for r in got] == [x.decode() for x in lines]
    for record, line in zip(got, lines, strict=True):
        assert {k: v for k, v in record.items() if k not in ("time", "line", "level")} == (
            EXAMPLES[line]
        )
        assert record.get("level") == (structured_level(line) or level_of(line))
    # the field filters and the record agree
    by_host = asyncio.run(_query(server.http_port, "host=web3"))
    assert [r["host"] for r in by_host] == ["web3"]
    for params, key, value in (("app=shop", "app", "shop"), ("host=h1", "host", "h1")):
        found = asyncio.run(_query(server.http_port, params))
        assert [r[key] for r in found] == [value]
    by_field = asyncio.run(_query(server.http_port, "field.req.id=r-1"))
    assert [r["fields"]["req.id"] for r in by_field] == ["r-1"]  # type: ignore[index]
    # the live tail writes the same records
    live = asyncio.run(_tail(server, "keywords=tailed", b"<13>1 - h1 app1 - - - tailed k=v\n", 1))
    assert live[0]["host"] == "h1" and live[0]["app"] == "app1"
    assert live[0]["fields"] == {  # type: ignore[comparison-overlap]
        "pri": "13",
        "severity": "5",
        "msg": "tailed k=v",
        "level": "NOTICE",
        "k": "v",
    }
