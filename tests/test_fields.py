"""Fields of stored lines (``logcaster.query.fields``) and the filters built on them
(``host=``, ``app=``, ``facility=``, ``field.NAME=``, structured ``level=``, ``TOP``/``HITS``
by a field), against lines exactly as real senders produce them and a naive reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcaster.frontends.line.grammar import Error, Hits, Query, Top, parse_command
from logcaster.query import aggregate, fieldscan
from logcaster.query.engine import search, search_views
from logcaster.query.fields import (
    app_of,
    facility_name,
    facility_of,
    fields_of,
    host_of,
    structured_level,
)
from logcaster.query.matches import lines_of
from logcaster.query.postfilter import compile_spec, narrowed
from logcaster.query.spec import QuerySpec
from logcaster.storage.ring import Ring

S = 1_000_000_000
T0 = 1_750_000_000 * S

# Exact lines as stored from real senders (captured from each; framing removed).
LOGGER_5424 = (
    b"<35>1 2026-12-01T21:06:04.797097+00:00 vm app - - "
    b'[timeQuality tzKnown="1" isSynced="0"] hello 5424'
)
LOGGER_3164 = b"<132>Dec  1 21:06:04 vm app: hello 3164"
RSYSLOG_5424 = b"<13>1 2026-12-01T19:00:59.917121+00:00 vm rcapp - - - first"
RSYSLOG_MULTI = b"<14>Dec  1 19:01:01 vm rcapp: two#012lines"
SYSLOG_NG = b'<11>1 2026-12-01T19:01:00Z web1 ngapp 42 ID7 [x@1 a="b\\"q\\]"] \xef\xbb\xbfbody'
PERL = b"<11>Dec  1 21:06:04 papp[25221]: perl msg"
PYTHON_TAGGED = b"<11>app: py msg"
PYTHON_BARE = b"<11>bare py"
GRAYPY = (
    b'{"version":"1.0","host":"vm","short_message":"gelf boom","timestamp":1796159169.9002883,'
    b'"level":3,"facility":"shop","file":"/tmp/x.py","line":9,"_function":"<module>",'
    b'"_pid":25466,"_thread_name":"MainThread","_process_name":"MainProcess","_stack_info":null}'
)
HTTP_JSON = b'{"level":"warn","host":"web2","app":"api","req":{"id":"r-1","ms":12}}'
LOGFMT = b'ts=2026-12-01T19:00:00Z level=error host=web3 app=billing msg="card \\"x\\" declined"'


def test_rfc5424_from_logger() -> None:
    f = fields_of(LOGGER_5424)
    assert (f["host"], f["app"], f["facility"], f["severity"], f["level"]) == (
        "vm",
        "app",
        "auth",
        "3",
        "ERROR",
    )
    assert f["timestamp"] == "2026-12-01T21:06:04.797097+00:00"
    assert "procid" not in f and "msgid" not in f  # "-" is empty
    assert f["timeQuality.tzKnown"] == "1" and f["msg"] == "hello 5424"


def test_rfc5424_escapes_bom_and_all_header_fields() -> None:
    f = fields_of(SYSLOG_NG)
    assert (f["host"], f["app"], f["procid"], f["msgid"]) == ("web1", "ngapp", "42", "ID7")
    assert f["x@1.a"] == 'b"q]' and f["msg"] == "body"  # SD escapes read, BOM dropped
    assert fields_of(RSYSLOG_5424)["msg"] == "first"


def test_rfc3164_variants() -> None:
    assert (host_of(LOGGER_3164), app_of(LOGGER_3164), facility_of(LOGGER_3164)) == (
        "vm",
        "app",
        "local0",
    )
    assert fields_of(LOGGER_3164)["level"] == "WARN"
    assert fields_of(RSYSLOG_MULTI)["msg"] == "two#012lines"  # the escape stays text
    perl = fields_of(PERL)  # no host
    assert "host" not in perl and (perl["app"], perl["procid"]) == ("papp", "25221")
    assert host_of(PYTHON_TAGGED) is None and app_of(PYTHON_TAGGED) == "app"
    bare = fields_of(PYTHON_BARE)
    assert "app" not in bare and bare["msg"] == "bare py" and bare["level"] == "ERROR"


def test_gelf_and_json() -> None:
    f = fields_of(GRAYPY)
    assert f["host"] == "vm" and f["msg"] == "gelf boom" and f["level"] == "3"
    assert f["_stack_info"] == "null" and f["line"] == "9"
    assert structured_level(GRAYPY) == "ERROR"
    assert app_of(GRAYPY) == "shop"  # GELF 1.0 facility: graypy's logger name
    assert facility_of(GRAYPY) is None
    j = fields_of(HTTP_JSON)
    assert j["req.id"] == "r-1" and j["req.ms"] == "12"
    assert (host_of(HTTP_JSON), app_of(HTTP_JSON)) == ("web2", "api")
    assert structured_level(HTTP_JSON) is None  # a token level: levels.py's business
    assert structured_level(b'{"level":8}') is None and structured_level(b'{"level":2.0}')
    # pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
    pino = [structured_level(b'{"level":%d,"msg":"ERROR x"}' % n) for n in range(10, 70, 5)]
    assert pino == [x for x in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL") for _ in "ab"]
    assert structured_level(b'{"level":30.0}') == "INFO"
    for beyond in (b'{"level":8}', b'{"level":9}', b'{"level":70}', b'{"level":100}'):
        assert structured_level(beyond) is None
    for odd in (b'{"level":NaN}', b'{"level":1e400}', b'{"level":-Infinity}', b'{"level":true}'):
        assert structured_level(odd) is None  # not a number 0-7: no structured level


def test_logfmt_and_json_inside_syslog() -> None:
    f = fields_of(LOGFMT)
    assert f["msg"] == 'card "x" declined' and f["level"] == "error"
    assert (host_of(LOGFMT), app_of(LOGFMT)) == ("web3", "billing")
    inner = fields_of(b'<14>1 - h a - - - {"user":"bob","host":"other"}')
    assert inner["user"] == "bob" and inner["host"] == "h"  # the header wins
    assert "host" not in fields_of(b"<14>no header host=x")  # the header only
    assert fields_of(b"<14>Dec  1 19:01:01 h a: user=amy op=x")["user"] == "amy"


@pytest.mark.parametrize(
    ("given", "name"),
    [("auth", "auth"), ("LOCAL0", "local0"), ("4", "auth"), ("23", "local7"), ("24", None)],
)
def test_facility_names(given: str, name: str | None) -> None:
    assert facility_name(given) == name


def test_not_syslog() -> None:
    for line in (b"<999>x", b"<>x", b"<01>x", b"<13", b"", b"{", b"plain text"):
        assert facility_of(line) is None and host_of(line) is None
    assert fields_of(b"<13") == {}


# ------------------------------------------------------------------ fuzz
_pieces = st.sampled_from(
    [
        *(b"<", b">", b"<13>", b"<191>", b"1 ", b"-", b" ", b"[", b"]", b'"', b"\\", b"="),
        *(b"{", b"}", b'"level":', b"3", b"Dec  1 19:00:00 ", b"app[", b"]: ", b"host="),
        b"\xef\xbb\xbf",
    ]
)
_lines = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(_pieces, st.binary(max_size=5)), max_size=30).map(b"".join),
)


@settings(max_examples=600, deadline=None)
@given(_lines)
def test_parsers_never_raise(line: bytes) -> None:
    found = fields_of(line)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())
    for fast, key in ((host_of, "host"), (app_of, "app"), (facility_of, "facility")):
        value = fast(line)
        assert value is None or isinstance(value, str)
        if "pri" in found:
            assert value == found.get(key)  # a syslog line: the fast path agrees
    level = structured_level(line)
    assert level is None or level in aggregate.SEVERITY


# ------------------------------------------------------------------ filters
def spec_of(params: str) -> QuerySpec:
    command = parse_command(f"QUERY {params}".encode(), T0)
    assert isinstance(command, Query), command
    return command.spec


def error_of(params: str) -> str:
    command = parse_command(f"QUERY {params}".encode(), T0)
    assert isinstance(command, Error), command
    return command.message


LINES = [
    LOGGER_5424,
    LOGGER_3164,
    RSYSLOG_5424,
    RSYSLOG_MULTI,
    SYSLOG_NG,
    PERL,
    PYTHON_TAGGED,
    PYTHON_BARE,
    GRAYPY,
    HTTP_JSON,
    LOGFMT,
    b"<11>Dec  1 19:00:00 web1 app: ERROR disk full",
    b"<14>Dec  1 19:00:00 web1 app: ERROR in text, info by PRI",
    b"<14>Dec  1 19:00:00 web10 app: web1 is not my host",
    b'{"host":"web1","short_message":"ERROR said, but level 6","level":6}',
    b'{"host":"web1","short_message":"quiet","level":3}',
    b"plain ERROR line web1",
    b'{"level":50,"time":1764600000000,"pid":7,"hostname":"h","msg":"INFO in words"}',  # pino
    b'{"name":"api","hostname":"h","pid":7,"level":30,"msg":"WARN said","v":0}',  # bunyan
]


def ring_of(lines: list[bytes]) -> Ring:
    ring = Ring(10_000, 1 << 26, 1 << 20)
    ring.append(b"".join(line + b"\n" for line in lines), T0)
    return ring


def found(params: str, lines: list[bytes] = LINES) -> list[bytes]:
    matches = search(ring_of(lines).snapshot(), spec_of(params) if params else QuerySpec())
    out = [
        bytes(v.buf[s : e - 1]) for v, spans in matches.ranges for s, e in lines_of(v, spans, False)
    ]
    assert matches.count == len(out)
    return out


def test_host_app_facility_filters() -> None:
    assert found("host=web1") == [SYSLOG_NG, *LINES[11:13], *LINES[14:16]]
    assert found("host=web1*") == [SYSLOG_NG, *LINES[11:16]]
    assert found("app=papp") == [PERL]
    assert found("app=rc*") == [RSYSLOG_5424, RSYSLOG_MULTI]
    assert found("facility=auth") == [LOGGER_5424]
    assert found("facility=16") == [LOGGER_3164]
    assert found("field.req.id=r-1") == [HTTP_JSON]
    assert found("field.timeQuality.isSynced=0") == [LOGGER_5424]
    assert found("field.user=*") == []
    assert found("field.facility=local0") == [LOGGER_3164]  # derived: not in the text
    assert found("host=web1 keywords=disk") == [LINES[11]]
    assert found("host=web1 app=app") == LINES[11:13]


def test_structured_levels_join_token_levels() -> None:
    # GELF's numeric level decides a JSON line's level, over words in its text.
    errors = found("level=ERROR")
    assert GRAYPY in errors and LINES[15] in errors and LINES[11] in errors
    assert LINES[14] not in errors and LINES[14] in found("level=INFO")
    assert found("level=ERROR keywords=quiet") == [LINES[15]]
    assert found("level=ERROR host=web1 keywords=disk,quiet operator=OR") == [LINES[11], LINES[15]]
    assert found("level=WARN host=web2") == [HTTP_JSON]  # a token level, as before
    # pino's and bunyan's numbers by tens, over the words too
    assert LINES[17] in errors and LINES[17] not in found("level=INFO")
    assert LINES[18] in found("level=INFO") and LINES[18] not in found("level=WARN")


def test_filters_are_exact_after_narrowing() -> None:
    spec = spec_of("host=web1 level=ERROR")
    fast = narrowed(spec)  # the scan narrows first: by the literal web1 (C reader) ...
    if fieldscan.HAVE_NATIVE:
        assert fast.regex is None and fast.keywords == (b"web1",)
        # first among keywords: of literals of one length, it drives the scan
        assert narrowed(spec_of("host=web1 keywords=req=")).keywords == (b"web1", b"req=")
    else:  # ... or web1 as a whole token, so that fewer lines reach Python
        assert fast.regex is not None and "web1" in fast.regex and fast.keywords == ()
    either = narrowed(spec_of("host=web1 keywords=a,b operator=OR"))
    assert either.regex is not None and either.keywords == (b"a", b"b")  # OR kept as it is
    assert narrowed(spec_of("host=web1 regex=x")).keywords == (b"web1",)
    assert narrowed(spec_of("field.facility=user")) == spec_of("field.facility=user")
    assert LINES[13] not in found("host=web1")  # the literal is there, the host is not
    assert narrowed(spec_of("keywords=a,b operator=OR host=web1 regex=x")).keywords == (b"a", b"b")
    assert found("keywords=disk,quiet operator=OR host=web1") == [LINES[11], LINES[15]]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(LINES), max_size=40),
    st.sampled_from(["host=web1", "host=vm", "app=app", "host=web*", "facility=user"]),
    st.sampled_from(["", "keywords=ERROR", "level=ERROR", "regex=d.sk", "level=INFO,WARN"]),
)
def test_a_filter_is_a_post_filter_of_the_rest(lines: list[bytes], filt: str, other: str) -> None:
    name, _, value = filt.partition("=")
    get = {"host": host_of, "app": app_of, "facility": facility_of}[name]

    def holds(line: bytes) -> bool:
        got = get(line)
        if got is None:
            return False
        return got.startswith(value[:-1]) if value.endswith("*") else got == value

    want = [line for line in found(other, lines) if holds(line)]
    assert found(f"{filt} {other}".strip(), lines) == want


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("host=", "Empty value for host=: give a value (a trailing * for a prefix)"),
        ("facility=bogus", "Unknown facility 'bogus'. Use a name (kern, user, auth, daemon,"),
        ("facility=24", "Unknown facility '24'"),
        ("field.=x", "Empty field name in 'field.': use field.NAME=VALUE"),
        ("field.user=", "Empty value for field.user=:"),
    ],
)
def test_filter_errors(params: str, message: str) -> None:
    assert error_of(params).startswith(message)


def test_top_and_hits_by_fields() -> None:
    views = ring_of(LINES).snapshot().views
    command = parse_command(b"TOP host keywords=web1", T0)
    assert isinstance(command, Top) and command.field == "host"
    counted = aggregate.count_values(views, compile_spec(command.spec), "host")
    assert aggregate.top("host", 3, [counted]).values == (("web1", 5), ("NONE", 1), ("web10", 1))
    command = parse_command(b"TOP app", T0)
    assert isinstance(command, Top)
    apps = aggregate.count_values(views, compile_spec(command.spec), "app")
    assert apps["app"] == 6 and apps["shop"] == 1 and apps["NONE"] == 6
    command = parse_command(b"HITS step=1h by=field.req.id", T0)
    assert isinstance(command, Hits) and command.by == "field.req.id"
    spec = compile_spec(command.spec)
    _, breakdown = aggregate.count_buckets(views, spec, 3600 * S, command.by)
    (values,) = breakdown.values()
    assert values["r-1"] == 1 and values["NONE"] == len(LINES) - 1
    fixed = aggregate.count_values(views, compile_spec(spec_of("host=web1")), "host")
    assert fixed == {"web1": 5}  # decided by the filter
    levels = aggregate.count_values(views, compile_spec(spec_of("host=web1")), "level")
    assert levels["INFO"] >= 1 and levels["ERROR"] >= 2  # GELF levels 6 and 3 counted


def test_cluster_scope_field_filters_need_a_store() -> None:
    """Field filters go to the shared store (tests/test_clickhouse.py); without one,
    the error names what is missing."""
    import asyncio

    from logcaster.query.engine import NO_REMOTE, Engine
    from logcaster.query.errors import QueryError
    from logcaster.query.pool import WorkerPool

    pool = WorkerPool(1, 4)
    engine = Engine(ring_of(LINES), pool)

    async def refused() -> list[str]:
        out = []
        for call in (
            engine.search(spec_of("scope=cluster host=web1")),
            engine.top(spec_of("scope=cluster"), "app", 5),
            engine.hits(spec_of("scope=cluster"), 60 * S, "field.user"),
        ):
            with pytest.raises(QueryError) as info:
                await call
            out.append(str(info.value))
        return out

    try:
        assert asyncio.run(refused()) == [NO_REMOTE] * 3
    finally:
        pool.shutdown()
    assert NO_REMOTE.startswith("scope=cluster")


def test_search_views_accepts_compiled_field_specs() -> None:
    views = ring_of(LINES).snapshot().views
    assert search_views(views, compile_spec(spec_of("app=papp"))).count == 1


_word = st.text(alphabet="ab1-:[] ", min_size=0, max_size=6).map(str.encode)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([b"<11>", b"<191>", b"<0>", b"<192>", b"<011>"]),
    st.sampled_from([b"Dec  1 19:00:00 ", b"Dec 01 19:00:00 ", b"2026-12-01T19:00:00Z ", b""]),
    _word,
    _word,
    st.sampled_from([b"", b"[42]", b"[]", b"[4 2]"]),
    st.sampled_from([b": ", b":", b" ", b": msg host=x"]),
)
def test_header_fast_path_agrees_with_the_full_parse(
    pri: bytes, ts: bytes, host: bytes, tag: bytes, pid: bytes, end: bytes
) -> None:
    line = pri + ts + host + b" " + tag + pid + end
    found = fields_of(line)
    assert host_of(line) == found.get("host") and app_of(line) == found.get("app")
