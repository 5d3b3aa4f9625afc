"""Unit tests of the query-port command parser (``logcaster.commands``)."""

from __future__ import annotations

import calendar
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcaster.frontends.line import grammar as cmd
from logcaster.frontends.line.grammar import (
    Count,
    Error,
    Follow,
    Help,
    Query,
    QuerySpec,
    Stats,
    Tail,
    parse_command,
    tokenize,
)
from logcaster.frontends.line.help import HELP_TEXT
from logcaster.query.spec import parse_time

NOW_S = 1_800_000_000
NOW = NOW_S * 1_000_000_000 + 123_456_789  # a fixed "now" in ns
S = 1_000_000_000


def q(line: bytes | str) -> cmd.Command:
    if isinstance(line, str):
        line = line.encode()
    return parse_command(line, NOW)


def spec_of(line: bytes | str) -> QuerySpec:
    command = q(line)
    assert isinstance(command, Query), command
    return command.spec


def error_of(line: bytes | str) -> bytes:
    command = q(line)
    assert isinstance(command, Error), command
    reply = command.reply()
    assert reply.startswith(b"ERROR: ") and reply.endswith(b"\n")
    assert reply.count(b"\n") == 1, "an error reply is exactly one line"
    return reply


# ------------------------------------------------------------------ plain verbs
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"STATS", Stats()),
        (b"COUNT", Count()),
        (b"HELP", Help()),
        (b"TAIL", Tail(10)),
        (b"TAIL 2", Tail(2)),
        (b"TAIL 10000000", Tail(10_000_000)),
        (b"QUERY", Query(QuerySpec())),
        (b"QUERY ", Query(QuerySpec())),
        (b"FOLLOW", Follow(QuerySpec())),
    ],
)
def test_plain_commands(line: bytes, expected: cmd.Command) -> None:
    assert q(line) == expected


@pytest.mark.parametrize(
    "line", [b"", b"BOGUS", b"STATSX", b"STATS now", b"QUERYX keyword=a", b"HELP me", b" STATS"]
)
def test_unknown_command_text(line: bytes) -> None:
    assert error_of(line) == b"ERROR: Unknown command. Use HELP for usage.\n"


# ------------------------------------------------------------------ parameters
def test_every_parameter_at_once() -> None:
    spec = spec_of(
        "QUERY keywords=a,b operator=OR regex=x[0-9]+ time_from=100 time_to=200.5 "
        "level=ERROR,warn limit=7 order=desc"
    )
    assert spec == QuerySpec(
        keywords=(b"a", b"b"),
        any_keyword=True,
        regex="x[0-9]+",
        time_from=100 * S,
        time_to=200 * S + S // 2,
        levels=frozenset({"ERROR", "WARN"}),
        limit=7,
        descending=True,
        raw=False,
    )


def test_defaults() -> None:
    spec = spec_of("QUERY keywords=x")
    assert spec.any_keyword is False  # operator defaults to AND
    assert spec.descending is False  # order defaults to asc
    assert spec.limit is None and spec.regex is None and not spec.levels
    assert spec.time_from is None and spec.time_to is None and spec.raw is False


def test_repeated_keywords_and_a_last_keyword_accumulate() -> None:
    assert spec_of("QUERY keywords=b,c keywords=d keyword=a b").keywords == (
        b"b",
        b"c",
        b"d",
        b"a b",
    )


def test_keywords_are_case_sensitive_bytes() -> None:
    assert spec_of("QUERY keywords=Error,TIMEOUT").keywords == (b"Error", b"TIMEOUT")
    assert spec_of("QUERY keywords=caf\u00e9".encode()).keywords == ("caf\u00e9".encode(),)


def test_non_utf8_keyword_bytes_survive() -> None:
    assert spec_of(b"QUERY keywords=\xff\xfe,ok").keywords == (b"\xff\xfe", b"ok")


@pytest.mark.parametrize(
    "line",
    [
        "QUERY KEYWORDS=a OPERATOR=or",
        "QUERY Keywords=a Operator=Or",
        "QUERY keywords=a operator=OR",
        "QUERY kEyWoRdS=a oPeRaToR=oR",
    ],
)
def test_keys_and_operator_value_case_insensitive(line: str) -> None:
    spec = spec_of(line)
    assert spec.keywords == (b"a",) and spec.any_keyword is True


@pytest.mark.parametrize("value", ["AND", "and", "And"])
def test_operator_and(value: str) -> None:
    assert spec_of(f"QUERY keywords=a,b operator={value}").any_keyword is False


def test_other_keys_case_insensitive() -> None:
    spec = spec_of("QUERY REGEX=ab LEVEL=error LIMIT=3 ORDER=DESC TIME_FROM=5 Time_To=6")
    assert spec.regex == "ab"
    assert spec.levels == frozenset({"ERROR"})
    assert spec.limit == 3 and spec.descending is True
    assert (spec.time_from, spec.time_to) == (5 * S, 6 * S)


@pytest.mark.parametrize(
    ("value", "desc"), [("asc", False), ("ASC", False), ("desc", True), ("Desc", True)]
)
def test_order(value: str, desc: bool) -> None:
    assert spec_of(f"QUERY order={value}").descending is desc


@pytest.mark.parametrize(
    ("value", "levels"),
    [
        ("ERROR", {"ERROR"}),
        ("error", {"ERROR"}),
        ("ERROR,WARN", {"ERROR", "WARN"}),
        ("warning", {"WARN"}),
        ("Err,crit,FATAL", {"ERROR", "CRITICAL", "FATAL"}),
        ("info,debug", {"INFO", "DEBUG"}),
    ],
)
def test_level_values(value: str, levels: set[str]) -> None:
    assert spec_of(f"QUERY level={value}").levels == frozenset(levels)


def test_regex_value_kept_verbatim() -> None:
    assert spec_of(r"QUERY regex=user_id=[0-9]+").regex == "user_id=[0-9]+"
    assert spec_of(r"QUERY regex=(?i)^\w+:\s").regex == r"(?i)^\w+:\s"


def test_limit_bounds() -> None:
    assert spec_of("QUERY limit=1").limit == 1
    assert spec_of(f"QUERY limit={cmd.MAX_LIMIT}").limit == cmd.MAX_LIMIT


# ------------------------------------------------------------------ quoting
def test_quoted_value_with_space_and_comma_list() -> None:
    assert spec_of('QUERY keywords="disk full",timeout').keywords == (b"disk full", b"timeout")


def test_quoted_regex_with_spaces() -> None:
    spec = spec_of('QUERY regex="reason: [a-z]+ now" limit=2')
    assert spec.regex == "reason: [a-z]+ now" and spec.limit == 2


def test_quotes_protect_commas() -> None:
    assert spec_of('QUERY keywords="a,b",c').keywords == (b"a,b", b"c")


def test_quote_inside_an_unquoted_value_is_part_of_it() -> None:
    assert spec_of('QUERY keywords=x"y').keywords == (b'x"y',)
    assert spec_of(r'QUERY regex=^\{"level":"error"').regex == r'^\{"level":"error"'
    assert spec_of('QUERY regex={"a":1,"b":2} limit=3').regex == '{"a":1,"b":2}'
    # the quote does not open a quoted part: the space still ends the value
    assert b"'z\"w'" in error_of('QUERY keywords=x"y z"w')


def test_escaped_quote_inside_quotes() -> None:
    assert spec_of(r'QUERY keywords="say \"hi\""').keywords == (b'say "hi"',)


def test_tokenize_direct() -> None:
    assert tokenize('a=1 keywords="x y",z  c= b=u,v') == [
        ("a", "1", ["1"]),
        ("keywords", "x y,z", ["x y", "z"]),
        ("c", "", [""]),
        ("b", "u,v", ["u,v"]),  # only keywords= and level= are lists
    ]
    assert tokenize('b="x y" keyword= "rest" a=1 ') == [
        ("b", "x y", ["x y"]),
        ("keyword", ' "rest" a=1 ', [' "rest" a=1 ']),
    ]
    with pytest.raises(ValueError):
        tokenize("a=1 lonely")
    with pytest.raises(ValueError):
        tokenize('a="open')
    with pytest.raises(ValueError, match="after a closing quote"):
        tokenize('a="x y",z')  # not a list key: nothing may follow the quote
    with pytest.raises(ValueError, match="after a closing quote"):
        tokenize('keywords="x"y')


def test_unterminated_quote_is_an_error() -> None:
    reply = error_of('QUERY keywords="disk full')
    assert b"quote" in reply.lower()


def test_token_without_equals_is_an_error() -> None:
    reply = error_of("QUERY keywords=a stray")
    assert b"stray" in reply


# ------------------------------------------------------------------ seed form
def test_seed_form_whole_rest_is_one_keyword() -> None:
    assert q("QUERY keyword=message 3") == Query(QuerySpec(keywords=(b"message 3",), raw=True))


def test_seed_form_with_equals_in_text() -> None:
    assert spec_of("QUERY keyword=user_id=123").keywords == (b"user_id=123",)
    spec = spec_of("QUERY keyword=request for user_id=123, reason: timeout")
    assert spec == QuerySpec(keywords=(b"request for user_id=123, reason: timeout",), raw=True)


def test_seed_form_keeps_raw_bytes_and_spaces() -> None:
    spec = spec_of(b"QUERY keyword=  two  spaces \xff")
    assert spec == QuerySpec(keywords=(b"  two  spaces \xff",), raw=True)


def test_seed_form_single_word_is_raw() -> None:
    assert spec_of("QUERY keyword=error") == QuerySpec(keywords=(b"error",), raw=True)


@pytest.mark.parametrize(
    "text",
    [
        "error limit=5",
        "error LIMIT=5",
        "payment failed order=123",
        '"disk full" order=desc',
        "disk limit=1",
        'a "quoted" b="c"',
        " lead and trail ",
        "keywords=x",
        "=",
    ],
)
def test_seed_form_takes_the_whole_rest_whatever_it_holds(text: str) -> None:
    assert spec_of("QUERY keyword=" + text) == QuerySpec(keywords=(text.encode(),), raw=True)


def test_seed_form_key_any_case() -> None:
    assert spec_of("QUERY KEYWORD=a b") == QuerySpec(keywords=(b"a b",), raw=True)


def test_keywords_plural_is_parameter_form() -> None:
    spec = spec_of("QUERY keywords=error")
    assert spec.raw is False and spec.keywords == (b"error",)


def test_keyword_after_other_parameters_is_stamped_and_takes_the_rest() -> None:
    spec = spec_of("QUERY limit=5 keyword=disk full order=desc")
    assert spec == QuerySpec(keywords=(b"disk full order=desc",), limit=5)


@pytest.mark.parametrize(
    "line",
    ["QUERY keyword=", "QUERY keywords=", 'QUERY keywords=""', "QUERY limit=2 keyword="],
)
def test_empty_keyword_is_an_error(line: str) -> None:
    assert b"Empty keyword" in error_of(line)


@pytest.mark.parametrize("value", ["a,", ",a", "a,,b", 'a,""'])
def test_empty_item_in_keywords_is_an_error(value: str) -> None:
    assert b"Empty keyword" in error_of(f"QUERY keywords={value} operator=OR")


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("value", ["yesterday", "-15x", "nan", "inf", "1e300", "15m", "2026-13-01"])
def test_invalid_time_message(value: str) -> None:
    assert error_of(f"QUERY time_from={value}") == (
        f"ERROR: Invalid time value '{value}' for time_from\n".encode()
    )
    assert error_of(f"QUERY time_to={value}") == (
        f"ERROR: Invalid time value '{value}' for time_to\n".encode()
    )


def test_empty_time_value_is_an_error() -> None:
    assert error_of("QUERY time_from=") == b"ERROR: Invalid time value '' for time_from\n"


@pytest.mark.parametrize("key", ["foo", "Colour", "keywordz", "limits"])
def test_unknown_parameter_message(key: str) -> None:
    assert error_of(f"QUERY {key}=1") == (
        f"ERROR: Unknown parameter '{key}'. Use HELP for usage.\n".encode()
    )


def test_unknown_parameter_in_follow() -> None:
    assert error_of("FOLLOW foo=1") == b"ERROR: Unknown parameter 'foo'. Use HELP for usage.\n"


def test_empty_regex_is_invalid_regex() -> None:
    assert error_of("QUERY regex=").startswith(b"ERROR: Invalid regex pattern: ")


@pytest.mark.parametrize("value", ["XOR", "", "and or"])
def test_bad_operator(value: str) -> None:
    reply = error_of(f'QUERY keywords=a operator="{value}"')
    assert b"operator" in reply.lower()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "", str(cmd.MAX_LIMIT + 1)])
def test_bad_limit(value: str) -> None:
    reply = error_of(f"QUERY limit={value}")
    assert b"limit" in reply.lower() and f"'{value}'".encode() in reply


@pytest.mark.parametrize("value", ["up", "", "descending"])
def test_bad_order(value: str) -> None:
    reply = error_of(f"QUERY order={value}")
    assert b"order" in reply.lower() and f"'{value}'".encode() in reply


@pytest.mark.parametrize("value", ["LOUD", "", "ERROR,nope"])
def test_bad_level(value: str) -> None:
    reply = error_of(f"QUERY level={value}")
    assert b"level" in reply.lower()


def test_error_reply_is_one_line_even_for_odd_bytes() -> None:
    reply = error_of(b"QUERY \xff\xfe=1")
    assert reply.startswith(b"ERROR: Unknown parameter '") and reply.endswith(
        b"'. Use HELP for usage.\n"
    )
    reply.decode("utf-8")  # the reply is valid UTF-8


# ------------------------------------------------------------------ time parsing
def test_parse_time_unix_seconds() -> None:
    assert parse_time("1700000000", NOW) == 1_700_000_000 * S
    assert parse_time("1700000000.5", NOW) == 1_700_000_000 * S + S // 2
    assert parse_time("0", NOW) == 0
    assert parse_time(" 42 ", NOW) == 42 * S


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("-30s", 30),
        ("-15m", 15 * 60),
        ("-2h", 2 * 3600),
        ("-1d", 86400),
        ("-1w", 7 * 86400),
        ("-1.5h", 5400),
    ],
)
def test_parse_time_relative(text: str, seconds: int) -> None:
    assert parse_time(text, NOW) == NOW - seconds * S


def test_parse_time_iso_utc() -> None:
    expected = calendar.timegm((2026, 11, 26, 17, 0, 0)) * S
    assert parse_time("2026-11-26T17:00:00Z", NOW) == expected
    assert parse_time("2026-11-26T17:00:00+00:00", NOW) == expected
    assert parse_time("2026-11-26T18:00:00+01:00", NOW) == expected
    assert parse_time("2026-11-26T17:00:00.25Z", NOW) == expected + S // 4


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        # the times the HTTP API prints: 9 digits, exact (a float is ~250 ns off here)
        ("2026-11-26T17:00:00.123456789Z", 123_456_789),
        ("2026-11-26T17:00:00.999999999Z", 999_999_999),
        ("2026-11-26T17:00:00.000000001Z", 1),
        ("2026-11-26T18:00:00.123456789+01:00", 123_456_789),
        ("2026-11-26 17:00:00,5Z", 500_000_000),
        ("20261126T170000.123456789Z", 123_456_789),
        ("2026-11-26T17:00:00.1234567891Z", 123_456_789),  # past the 9th digit: dropped
    ],
)
def test_parse_time_iso_fractions_are_exact_ns(text: str, ns: int) -> None:
    assert parse_time(text, NOW) == calendar.timegm((2026, 11, 26, 17, 0, 0)) * S + ns


def test_parse_time_unix_fractions_are_exact_ns() -> None:
    assert parse_time("1796322961.881205123", NOW) == 1_796_322_961_881_205_123
    assert parse_time("1796322961.000000001", NOW) == 1_796_322_961_000_000_001
    assert parse_time("1796322961.", NOW) == 1_796_322_961 * S
    assert parse_time(".5", NOW) == S // 2
    assert parse_time("-1.25", NOW) == -(S + S // 4)
    assert parse_time("-0.000000001h", NOW) == NOW - 3600


@pytest.mark.parametrize("text", ["", ".", "-", "1e9", "nan", "inf", "1.2.3", "100000000001"])
def test_parse_time_refuses_what_is_no_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, NOW)


def test_parse_time_iso_naive_is_local_time() -> None:
    expected = int(datetime(2026, 11, 26, 17, 0, 0).timestamp()) * S
    assert parse_time("2026-11-26T17:00:00", NOW) == expected


def test_time_params_through_parser() -> None:
    spec = spec_of("QUERY time_from=-15m time_to=2026-11-26T17:00:00Z")
    assert spec.time_from == NOW - 900 * S
    assert spec.time_to == calendar.timegm((2026, 11, 26, 17, 0, 0)) * S
    spec = spec_of("QUERY time_from=-2h time_to=-1d")
    assert (spec.time_from, spec.time_to) == (NOW - 7200 * S, NOW - 86400 * S)


def test_parse_command_uses_given_now() -> None:
    assert spec_of("QUERY time_from=-1m").time_from == NOW - 60 * S
    later = parse_command(b"QUERY time_from=-1m", NOW + 5 * S)
    assert isinstance(later, Query) and later.spec.time_from == NOW + 5 * S - 60 * S


# ------------------------------------------------------------------ TAIL
@pytest.mark.parametrize("arg", ["0", "-1", "x", "1 2", "2.5", str(cmd.MAX_LIMIT + 1), "+3"])
def test_tail_bad_argument(arg: str) -> None:
    reply = error_of(f"TAIL {arg}")
    assert reply.startswith(b"ERROR: Invalid line count '") and b"TAIL" in reply


@pytest.mark.parametrize("arg", ["\u00b2", "\u2460"])
def test_tail_non_ascii_digits_are_an_error_not_an_exception(arg: str) -> None:
    # '\u00b2'.isdigit() is True but int() rejects it: this once raised out of parse_command.
    reply = error_of(f"TAIL {arg}".encode())
    assert reply.startswith(b"ERROR: Invalid line count '")


# ------------------------------------------------------------------ FOLLOW
def test_follow_with_params() -> None:
    command = q("FOLLOW keywords=needle level=error")
    assert command == Follow(QuerySpec(keywords=(b"needle",), levels=frozenset({"ERROR"})))


def test_follow_keyword_takes_the_rest_of_the_line() -> None:
    command = q("FOLLOW keyword=needle")
    assert command == Follow(QuerySpec(keywords=(b"needle",)))
    command = q("FOLLOW level=ERROR keyword=disk full")
    assert command == Follow(QuerySpec(keywords=(b"disk full",), levels=frozenset({"ERROR"})))


# ------------------------------------------------------------------ HELP
def test_help_reply_first_line() -> None:
    assert HELP_TEXT.splitlines()[0] == "LogCaster Query Interface"


@pytest.mark.parametrize(
    "command", ["STATS", "COUNT", "QUERY", "TAIL", "FOLLOW", "HITS", "TOP", "HELP"]
)
def test_help_documents_every_command(command: str) -> None:
    lines = [ln for ln in HELP_TEXT.splitlines() if ln.strip().startswith(command)]
    assert lines, f"HELP does not list {command}"
    assert any("Example:" in ln and f"Example: {command}" in ln for ln in lines)
    # a description besides the syntax and the example
    assert any(len(ln.split("Example:")[0].split()) >= 3 for ln in lines)


@pytest.mark.parametrize("param", cmd.PARAMETERS)
def test_help_documents_every_parameter(param: str) -> None:
    lines = [ln for ln in HELP_TEXT.splitlines() if f"{param}=" in ln]
    assert lines, f"HELP does not mention {param}="
    assert any("Example:" in ln for ln in lines)


def test_help_states_the_seed_form_and_quoting_rules() -> None:
    assert "QUERY keyword=<text>" in HELP_TEXT and "whole rest of the line" in HELP_TEXT
    assert "Quoting:" in HELP_TEXT and 'regex=^\\{"level":"error"' in HELP_TEXT
    for example in ("HITS step=5m by=level", "TOP level keywords=db"):
        assert example in HELP_TEXT


def test_help_parameter_list_matches_spec() -> None:
    spec_params = {
        "keywords",
        "keyword",
        "operator",
        "regex",
        "time_from",
        "time_to",
        "level",
        "limit",
        "order",
    }
    assert spec_params <= set(cmd.PARAMETERS)  # the spec's parameters (more may be added)


# ------------------------------------------------------------------ fuzz


def _check_result(command: object) -> None:
    assert isinstance(command, cmd.Command)  # the union of every command type
    if isinstance(command, Error):
        reply = command.reply()
        assert reply.startswith(b"ERROR: ") and reply.endswith(b"\n")


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_arbitrary_bytes_never_raise(line: bytes) -> None:
    _check_result(parse_command(line, NOW))


_fragment = st.sampled_from(
    [
        "keywords=",
        "keyword=",
        "operator=",
        "regex=",
        "time_from=",
        "time_to=",
        "level=",
        "limit=",
        "order=",
        "OR",
        "and",
        "desc",
        "-15m",
        "-1.5h",
        "-99999999999999999999w",
        "2026-11-26T17:00:00Z",
        "1e400",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59",
        "\u00b2",
        "\u0665",
        "nan",
        '"',
        ",",
        " ",
        "=",
        "error",
        "[warn]",
        "\\",
        "(",
        "a+",
        "10000000",
        "99999999999",
        "\udcff",
        "ERROR,WARN",
        "x",
        "step=",
        "by=",
        "level",
        "1m",
        "0s",
        "36500d",
    ]
)
_text = st.lists(st.one_of(_fragment, st.text(max_size=4)), max_size=12).map("".join)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(
        [
            "QUERY ",
            "FOLLOW ",
            "TAIL ",
            "query ",
            "QUERY keyword=",
            "",
            "HITS ",
            "TOP ",
            "TOP level ",
        ]
    ),
    _text,
)
def test_fuzz_structured_commands_never_raise(verb: str, rest: str) -> None:
    line = (verb + rest).encode("utf-8", "surrogateescape")
    _check_result(parse_command(line, NOW))


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        ("QUERY level=LOUD", "QUERY"),
        ("query foo=1", "QUERY"),
        ("FOLLOW foo=1", "FOLLOW"),
        ("HITS step=0m", "HITS"),
        ("TOP bogus", "TOP"),
        ("TOP", "TOP"),
        ("TAIL abc", "TAIL"),
        ("BOGUS x", None),
        ("STATS x", None),
    ],
)
def test_a_refused_command_names_its_verb(line: str, verb: str | None) -> None:
    command = q(line)  # the verb it is counted as in the query metrics (None: no series)
    assert isinstance(command, Error) and command.verb == verb


# ------------------------------------------------------------------ HITS and TOP
def test_hits_parameters() -> None:
    command = q("HITS step=5m by=level keywords=disk level=ERROR,WARN time_from=-1h")
    assert command == cmd.Hits(
        QuerySpec(
            keywords=(b"disk",),
            levels=frozenset({"ERROR", "WARN"}),
            time_from=NOW - 3600 * S,
        ),
        300 * S,
        "level",
    )
    assert q("hits STEP=10s") == cmd.Hits(QuerySpec(), 10 * S, None)
    assert q("HITS step=1d BY=LEVEL") == cmd.Hits(QuerySpec(), 86400 * S, "level")
    assert q("HITS keyword=a b step=1m") == Error(
        "HITS needs step=<n><s|m|h|d>, e.g. HITS step=1m", "HITS"
    )  # keyword= took the rest of the line
    hits = q("HITS step=1m keyword=a b step=1m")
    assert isinstance(hits, cmd.Hits) and hits.spec.keywords == (b"a b step=1m",)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("HITS", b"needs step="),
        ("HITS by=level", b"needs step="),
        ("HITS step=", b"Invalid step ''"),
        ("HITS step=0s", b"Invalid step '0s'"),
        ("HITS step=1w", b"Invalid step '1w'"),
        ("HITS step=1m by=colour", b"Unknown field 'colour' for by=. Fields: level"),
        ("HITS step=1m limit=5", b"'limit' does not apply to HITS"),
        ("HITS step=1m order=desc", b"'order' does not apply to HITS"),
        ("HITS step=1m foo=1", b"Unknown parameter 'foo'"),
        ("HITS step=1m level=LOUD", b"Unknown level 'LOUD'"),
        ('HITS step=1m keywords="open', b"Unterminated quote"),
        ("HITS step=1m keywords=", b"Empty keyword"),
    ],
)
def test_hits_errors(line: str, needle: bytes) -> None:
    assert needle in error_of(line)


def test_top_parameters() -> None:
    assert q("TOP level") == cmd.Top(QuerySpec(), "level", 10)
    assert q("top LEVEL limit=3 keywords=disk") == cmd.Top(
        QuerySpec(keywords=(b"disk",)), "level", 3
    )
    command = q("TOP level time_from=-15m regex=db scope=all")
    assert command == cmd.Top(
        QuerySpec(regex="db", time_from=NOW - 900 * S, history=True), "level", 10
    )


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("TOP", b"TOP needs a field first"),
        ("TOP limit=3", b"TOP needs a field first"),
        ("TOP colour", b"Unknown field 'colour' for TOP. Fields: level"),
        ("TOP level limit=0", b"Invalid limit '0'"),
        ("TOP level limit=10001", b"Invalid limit '10001'"),
        ("TOP level order=desc", b"'order' does not apply to TOP"),
        ("TOP level stray", b"Expected key=value, got 'stray'"),
    ],
)
def test_top_errors(line: str, needle: bytes) -> None:
    assert needle in error_of(line)


# ------------------------------------------------------------------ quoting, generated
def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_value = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_bare = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=" ,"), min_size=1, max_size=12
).filter(lambda t: not t.startswith('"'))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["regex", "x", "time_to"]), _value), max_size=5))
def test_quoted_values_round_trip(pairs: list[tuple[str, str]]) -> None:
    text = " ".join(f"{k}={_quote(v)}" for k, v in pairs)
    assert tokenize(text) == [(k, v, [v]) for k, v in pairs]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(_bare.map(lambda t: (t, t)), _value.map(lambda v: (_quote(v), v))),
        min_size=1,
        max_size=5,
    )
)
def test_list_items_quoted_or_bare_round_trip(items: list[tuple[str, str]]) -> None:
    text = "keywords=" + ",".join(written for written, _ in items) + " level=x"
    expected = [v for _, v in items]
    assert tokenize(text) == [("keywords", ",".join(expected), expected), ("level", "x", ["x"])]


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters=" "), min_size=1, max_size=20
    ).filter(lambda t: not t.startswith('"'))
)
def test_unquoted_value_is_kept_as_written(value: str) -> None:
    assert tokenize(f"regex={value}") == [("regex", value, [value])]


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b))
def test_seed_form_keyword_is_the_exact_bytes(rest: bytes) -> None:
    assert spec_of(b"QUERY keyword=" + rest) == QuerySpec(keywords=(rest,), raw=True)
