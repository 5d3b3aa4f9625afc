"""The IRC wire format, sans-IO: the reader fed byte-at-a-time and in any split gives
the same messages; encoded lines never exceed 512 bytes and no parameter can end a
message; log lines are split UTF-8-safely and can never inject IRC protocol."""

from __future__ import annotations

import time
from array import array

from hypothesis import given
from hypothesis import strategies as st
from support import cut

from logcaster.frontends.irc.message import (
    MAX_LINE,
    Message,
    MessageReader,
    encode,
    parse_line,
    split_text,
    utf8_cut,
)
from logcaster.frontends.irc.render import live_messages, log_messages

SESSION = (
    b"CAP LS 302\r\n"
    b"PASS secret-pass\r\n"
    b"NICK alice\r\n"
    b"USER alice 0 * :Alice Liddell\r\n"
    b"\r\n"
    b"@time=2026-12-01T00:00:00Z :alice!a@h PRIVMSG #logs-all :hello: world  two\r\n"
    b"JOIN #logs-error,#logs-app\n"
    b"ping :token with spaces\r\n"
    b"MODE   #logs-all   +b\r\n"
)
EXPECTED = [
    Message("CAP", ("LS", "302")),
    Message("PASS", ("secret-pass",)),
    Message("NICK", ("alice",)),
    Message("USER", ("alice", "0", "*", "Alice Liddell")),
    Message("PRIVMSG", ("#logs-all", "hello: world  two"), "alice!a@h"),
    Message("JOIN", ("#logs-error,#logs-app",)),
    Message("PING", ("token with spaces",)),
    Message("MODE", ("#logs-all", "+b")),
]


def feed_all(pieces: list[bytes]) -> tuple[list[Message], MessageReader]:
    reader = MessageReader()
    out: list[Message] = []
    for piece in pieces:
        out.extend(reader.feed(piece))
    return out, reader


def test_whole_session_in_one_piece() -> None:
    got, reader = feed_all([SESSION])
    assert got == EXPECTED
    assert reader.overlong == reader.malformed == 0


def test_byte_at_a_time() -> None:
    got, _ = feed_all([SESSION[i : i + 1] for i in range(len(SESSION))])
    assert got == EXPECTED


@given(st.lists(st.integers(0, len(SESSION)), max_size=12))
def test_any_split_gives_the_same_messages(points: list[int]) -> None:
    assert feed_all(cut(SESSION, points))[0] == EXPECTED


@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_any_bytes_split_anywhere_parse_like_one_piece(data: bytes, points: list[int]) -> None:
    whole, r1 = feed_all([data])
    parts, r2 = feed_all(cut(data, points))
    assert whole == parts
    assert (r1.overlong, r1.malformed) == (r2.overlong, r2.malformed)
    for msg in whole:
        assert msg.command and " " not in msg.command


def test_overlong_line_is_dropped_counted_and_the_next_line_kept() -> None:
    reader = MessageReader(max_line=100)
    out = reader.feed(b"PRIVMSG #a :" + b"x" * 300)
    out += reader.feed(b"y" * 300 + b"\r\nNICK bob\r\n")
    assert out == [Message("NICK", ("bob",))]
    assert reader.overlong == 1


def test_line_with_only_a_prefix_is_malformed() -> None:
    reader = MessageReader()
    assert reader.feed(b":only.a.prefix\r\nPING x\r\n") == [Message("PING", ("x",))]
    assert reader.malformed == 1


def test_more_than_15_parameters_fold_into_the_last() -> None:
    msg = parse_line(b"CMD " + b" ".join(b"p%d" % i for i in range(20)))
    assert msg is not None and len(msg.params) == 15
    assert msg.params[-1] == " ".join(f"p{i}" for i in range(14, 20))


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\r\n\0: "),
    max_size=700,
)


@given(TEXT, TEXT)
def test_encoded_lines_are_one_message_of_at_most_512_bytes(target: str, text: str) -> None:
    data = encode("PRIVMSG", target, text, prefix="logcaster!logcaster@logcaster")
    assert len(data) <= MAX_LINE
    assert data.endswith(b"\r\n")
    body = data[:-2]
    assert b"\r" not in body and b"\n" not in body and b"\0" not in body
    body.decode("utf-8")  # never cut inside a UTF-8 sequence
    reader = MessageReader()
    (msg,) = reader.feed(data)
    assert msg.command == "PRIVMSG" and len(msg.params) == 2
    assert text.translate({13: 32, 10: 32, 0: 32}).startswith(msg.params[1])


def test_injection_in_a_parameter_stays_in_its_message() -> None:
    data = encode("PRIVMSG", "#logs-all", "hi\r\nQUIT :bye\0\nJOIN #x", prefix="x")
    assert data.count(b"\r\n") == 1 and data.endswith(b"\r\n")
    assert MessageReader().feed(data) == [
        Message("PRIVMSG", ("#logs-all", "hi  QUIT :bye  JOIN #x"), "x")
    ]


@given(st.text(max_size=400).map(lambda s: s.encode()), st.integers(4, 120))
def test_split_text_is_utf8_safe_and_loses_nothing(data: bytes, room: int) -> None:
    pieces = split_text(data, room)
    assert b"".join(pieces) == data
    for piece in pieces:
        assert len(piece) <= room
        piece.decode("utf-8")


def test_utf8_cut_backs_off_to_a_sequence_start() -> None:
    data = "aé€😀".encode()  # 1 + 2 + 3 + 4 bytes
    assert [utf8_cut(data, n) for n in range(11)] == [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]


@given(st.binary(max_size=2000))
def test_log_lines_render_as_safe_privmsgs_whatever_their_bytes(line: bytes) -> None:
    line = line.replace(b"\n", b"")  # the ring splits lines on LF
    block = line + b"\n"
    data, done, left = live_messages("#logs-all", block, array("q", [0, len(block)]), 0, None, 5)
    assert (done, left) == (1, 0)
    messages = data.split(b"\r\n")
    assert messages[-1] == b""
    for raw in messages[:-1]:
        assert len(raw) + 2 <= MAX_LINE
        assert b"\r" not in raw and b"\n" not in raw and b"\0" not in raw
        raw.decode("utf-8")
        assert raw.startswith(b":logcaster!logcaster@logcaster PRIVMSG #logs-all :")
    msgs = MessageReader().feed(data)
    assert len(msgs) == len(messages) - 1


def test_long_line_is_split_and_rejoins_to_the_text() -> None:
    text = ("ERROR " + "é€x" * 300).encode()
    parts = log_messages("#logs-error", b"[12:00:00] ERROR ", text)
    assert len(parts) > 1 and all(len(p) <= MAX_LINE for p in parts)
    bodies = [MessageReader().feed(p)[0].params[1] for p in parts]
    assert bodies[0].startswith("[12:00:00] ERROR ERROR ")
    assert all(b.startswith("... ") for b in bodies[1:])
    rejoined = bodies[0][len("[12:00:00] ERROR ") :] + "".join(b[4:] for b in bodies[1:])
    assert rejoined == text.decode()


def test_live_delivery_stops_at_its_budget_and_counts_the_rest() -> None:
    block = b"".join(b"INFO line %d\n" % i for i in range(10))
    now = time.time_ns()
    data, done, left = live_messages("#logs-all", block, array("q", [0, len(block)]), now, None, 3)
    assert (done, left) == (3, 7)
    assert data.count(b"\r\n") == 3 and b"INFO line 2" in data and b"line 3" not in data


def test_level_prefix_comes_from_the_engine_or_the_channel() -> None:
    block = b"2026 ERROR disk\nno level here\n"
    spans = array("q", [0, len(block)])
    data, _, _ = live_messages("#logs-all", block, spans, 0, None, 10)
    first, second = (m.params[1] for m in MessageReader().feed(data))
    assert first.split("] ", 1)[1] == "ERROR 2026 ERROR disk"
    assert second.split("] ", 1)[1] == "no level here"
    data, _, _ = live_messages("#logs-warning", b"x WARNING y\n", array("q", [0, 12]), 0, "WARN", 9)
    assert MessageReader().feed(data)[0].params[1].endswith("] WARN x WARNING y")
