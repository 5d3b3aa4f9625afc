"""RequestReader: a query connection's optional ``AUTH <token>`` line, then one command line.

Unit tests of the rules (64 KiB limit, AUTH handling, CR/LF, EOF) and a
Hypothesis fuzz against a small reference model: arbitrary bytes, cut into
arbitrary reads, give the command or one of the two defined refusals, never
another exception, and the same answer however the bytes are cut.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import cut, request_reference

import logcaster.frontends.line.reader as request_mod
from logcaster.frontends.line.reader import (
    AUTH_REQUIRED,
    MAX_LINE_BYTES,
    TOO_LONG,
    Outcome,
    Refuse,
    RequestReader,
)
from logcaster.frontends.line.reader import CommandLine as Command

TOKEN = "s3cret-token-42"


def run(reader: RequestReader, chunks: list[bytes], eof: bool = True) -> Outcome:
    """Feed the chunks as separate reads (then EOF); the first outcome that is not None."""
    outcome: Outcome = None
    for chunk in chunks:
        got = reader.feed(chunk)
        if outcome is None:
            outcome = got
        else:
            assert got is None, "a reader answered twice"
    if eof:
        got = reader.eof()
        if outcome is None:
            outcome = got
        else:
            assert got is None, "a reader answered again at EOF"
    return outcome


# ------------------------------------------------------------------ no token


def test_replies_are_the_documented_lines() -> None:
    assert AUTH_REQUIRED == b"ERROR: Authentication required\n"
    assert TOO_LONG == b"ERROR: Command line too long (limit 65536 bytes)\n"
    assert MAX_LINE_BYTES == 65536


@pytest.mark.parametrize("data", [b"STATS\n", b"STATS\r\n", b"STATS\r\r\n", b"STATS"])
def test_command_without_token(data: bytes) -> None:
    assert run(RequestReader(), [data]) == Command(b"STATS")


def test_command_is_known_as_soon_as_its_newline_arrives() -> None:
    reader = RequestReader()
    assert reader.feed(b"QUERY keyword=a b") is None
    assert not reader.done
    assert reader.feed(b" c\nignored") == Command(b"QUERY keyword=a b c")
    assert reader.done
    assert reader.feed(b"more\n") is None
    assert reader.eof() is None


def test_byte_at_a_time() -> None:
    data = b"QUERY regex=[a-z]+ limit=5\r\n"
    assert run(RequestReader(), [bytes([b]) for b in data]) == Command(data[:-2])


def test_empty_line_is_an_empty_command() -> None:
    # An empty line is a command (answered 'Unknown command'), not a reason to wait.
    assert RequestReader().feed(b"\n") == Command(b"")


def test_eof_with_nothing_sent_is_silent_without_token() -> None:
    assert RequestReader().eof() is None


def test_only_the_first_line_counts() -> None:
    assert run(RequestReader(), [b"COUNT\nSTATS\nHELP\n"]) == Command(b"COUNT")


@pytest.mark.parametrize("extra", [0, 1])
def test_limit_counts_the_bytes_before_the_newline(extra: int) -> None:
    line = b"x" * (MAX_LINE_BYTES + extra)
    outcome = run(RequestReader(), [line + b"\n"])
    assert outcome == (Command(line) if extra == 0 else Refuse(TOO_LONG))


def test_over_long_line_refused_before_its_newline_arrives() -> None:
    reader = RequestReader()
    assert reader.feed(b"x" * MAX_LINE_BYTES) is None
    assert reader.feed(b"y") == Refuse(TOO_LONG)
    assert reader.done
    assert reader.feed(b"z" * 1000 + b"\n") is None


def test_one_megabyte_command_refused_and_buffer_released() -> None:
    reader = RequestReader()
    outcome = None
    for _ in range(16):  # 16 x 64 KiB reads
        outcome = outcome or reader.feed(b"Q" * 65536)
    assert outcome == Refuse(TOO_LONG)
    assert len(reader._buf) == 0, "a refused reader must not keep the bytes"


def test_small_custom_limit() -> None:
    assert run(RequestReader(max_line_bytes=4), [b"abcd\n"]) == Command(b"abcd")
    assert run(RequestReader(max_line_bytes=4), [b"abcde\n"]) == Refuse(TOO_LONG)


# --------------------------------------------------------------------- token


@pytest.mark.parametrize(
    "chunks",
    [
        [b"AUTH s3cret-token-42\nSTATS\n"],
        [b"AUTH s3cret-token-42\r\nSTATS\r\n"],
        [b"AUTH s3cret-token-42\n", b"STATS\n"],
        [b"auth s3cret-token-42\nSTATS\n"],
        [b"AUTH   s3cret-token-42  \nSTATS\n"],
        [b"AUTH s3cret-", b"token-42\nST", b"ATS"],
    ],
)
def test_right_token_then_command(chunks: list[bytes]) -> None:
    assert run(RequestReader(TOKEN), chunks) == Command(b"STATS")


@pytest.mark.parametrize(
    "first",
    [
        b"STATS",
        b"AUTH",
        b"AUTH ",
        b"AUTH wrong-token-42",
        b"AUTH s3cret-token-4",  # a prefix
        b"AUTH s3cret-token-421",  # an extension
        b"AUTH S3CRET-TOKEN-42",  # tokens are case-sensitive
        b"AUTH s3cret-token-42 STATS",  # token and command on one line
        b"s3cret-token-42",
        b"AUTHs3cret-token-42",
        b"",
        b"AUTH \xff\xfe\x00",
    ],
)
def test_anything_but_the_right_auth_line_is_refused(first: bytes) -> None:
    reader = RequestReader(TOKEN)
    assert reader.feed(first + b"\nSTATS\n") == Refuse(AUTH_REQUIRED)
    assert reader.done


def test_eof_before_auth_is_refused() -> None:
    assert RequestReader(TOKEN).eof() == Refuse(AUTH_REQUIRED)
    assert run(RequestReader(TOKEN), [b"STATS"]) == Refuse(AUTH_REQUIRED)


def test_auth_then_eof_without_command_is_silent() -> None:
    assert run(RequestReader(TOKEN), [b"AUTH s3cret-token-42\n"]) is None


def test_auth_line_without_newline_at_eof_is_not_a_command() -> None:
    # The AUTH line at EOF authenticates but there is no command: nothing to answer.
    assert run(RequestReader(TOKEN), [b"AUTH s3cret-token-42"]) is None


def test_over_long_auth_line_is_too_long_not_auth_required() -> None:
    outcome = run(RequestReader(TOKEN), [b"AUTH " + b"x" * MAX_LINE_BYTES + b"\n"])
    assert outcome == Refuse(TOO_LONG)


def test_over_long_command_after_auth() -> None:
    outcome = run(RequestReader(TOKEN), [b"AUTH s3cret-token-42\n" + b"x" * (MAX_LINE_BYTES + 1)])
    assert outcome == Refuse(TOO_LONG)


def test_non_ascii_token() -> None:
    token = "jeton-été-€"
    auth = b"AUTH " + token.encode() + b"\n"
    assert run(RequestReader(token), [auth, b"COUNT\n"]) == Command(b"COUNT")
    assert run(RequestReader(token), [b"AUTH jeton-ete-E\nCOUNT\n"]) == Refuse(AUTH_REQUIRED)


def test_token_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = request_mod.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(request_mod.hmac, "compare_digest", spy)
    assert run(RequestReader(TOKEN), [b"AUTH nope-nope-nope\n"]) == Refuse(AUTH_REQUIRED)
    assert calls == [(b"nope-nope-nope", TOKEN.encode())]


def test_refusals_never_echo_the_token_or_the_input() -> None:
    for chunks in ([b"AUTH s3cret-token-4\n"], [b"x" * 70000], [b"s3cret-token-42\n"]):
        outcome = run(RequestReader(TOKEN), chunks)
        assert isinstance(outcome, Refuse)
        assert TOKEN.encode() not in outcome.reply
        assert b"s3cret" not in outcome.reply


# -------------------------------------------------------------------- fuzzing


atoms = st.sampled_from(
    [
        b"AUTH s3cret-token-42\n",
        b"AUTH s3cret-token-42\r\n",
        b"auth  s3cret-token-42 \n",
        b"AUTH wrong\n",
        b"AUTH ",
        b"s3cret-token-42",
        b"STATS",
        b"QUERY regex=[unclosed",
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"\x00",
        b"\xff\xfe",
        b"x" * 9,
    ]
)
streams = st.one_of(st.lists(atoms, max_size=12).map(b"".join), st.binary(max_size=200))


@settings(max_examples=1500)
@given(
    data=streams,
    token=st.sampled_from(["", TOKEN]),
    max_line=st.sampled_from([4, 16, 64, MAX_LINE_BYTES]),
    points=st.lists(st.integers(min_value=0, max_value=1000), max_size=8),
    eof=st.booleans(),
)
def test_fuzz_any_bytes_any_cuts(
    data: bytes, token: str, max_line: int, points: list[int], eof: bool
) -> None:
    reader = RequestReader(token, max_line_bytes=max_line)
    outcome = run(reader, cut(data, points), eof=eof)
    assert outcome is None or isinstance(outcome, Command | Refuse)
    if isinstance(outcome, Refuse):
        assert outcome.reply in (AUTH_REQUIRED, TOO_LONG)
        assert reader.done
    if isinstance(outcome, Command):
        assert b"\n" not in outcome.line
        assert not outcome.line.endswith(b"\r")
        assert len(outcome.line) <= max_line
        assert reader.done
    # However the bytes were cut, the answer is the one the whole stream gets.
    whole = RequestReader(token, max_line_bytes=max_line)
    expected = request_reference(token.encode(), data, max_line)
    if eof:
        assert outcome == expected
        assert run(whole, [data]) == expected
    elif outcome is not None:
        assert outcome == expected
    # Between reads the buffer holds at most one unfinished line within the limit.
    assert len(reader._buf) <= max_line
