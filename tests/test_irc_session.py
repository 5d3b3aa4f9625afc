"""The IRC conversation without a socket: any sequence of messages, however odd, gets
well-formed replies (one message each, at most 512 bytes, valid UTF-8) and never an
exception; nicks stay unique and are freed when a session goes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from logcaster.frontends.irc.channels import Channel, Channels, Member
from logcaster.frontends.irc.chat import Chat
from logcaster.frontends.irc.message import MAX_LINE, MessageReader
from logcaster.frontends.irc.session import Hub
from logcaster.pipeline.taps import LiveTaps


@dataclass
class FakeClient:
    host: str = "127.0.0.1"
    out: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def buffered(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


class EchoCommands:
    async def run(self, session: Member, channel: Channel | None, text: str) -> list[bytes]:
        return [b"echo " + text.encode("utf-8", "replace")]


def hub(password: str = "") -> Hub:
    return Hub(Channels(LiveTaps()), EchoCommands(), password, "today")


def check_wire(data: bytes) -> None:
    assert data.endswith(b"\r\n")
    for raw in data.split(b"\r\n")[:-1]:
        assert raw and len(raw) + 2 <= MAX_LINE
        assert b"\r" not in raw and b"\n" not in raw and b"\0" not in raw
        raw.decode("utf-8")


COMMANDS = st.sampled_from(
    [
        "NICK",
        "USER",
        "PASS",
        "CAP",
        "PING",
        "PONG",
        "JOIN",
        "PART",
        "PRIVMSG",
        "NOTICE",
        "QUIT",
        "LIST",
        "NAMES",
        "TOPIC",
        "WHO",
        "MODE",
        "MOTD",
        "WHOIS",
        "001",
        "FOO",
    ]
)
WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
LINE = st.tuples(COMMANDS, st.lists(WORD, max_size=5), st.one_of(st.none(), WORD)).map(
    lambda t: (
        " ".join([t[0], *(w.replace(" ", "").lstrip(":") or "x" for w in t[1])])
        + (" :" + t[2] if t[2] is not None else "")
    )
)
START = ["NICK fuzzer", "USER fuzzer 0 * :Fuzz", "JOIN #logs-all,#logs-fuzz"]


@given(st.lists(LINE, max_size=25), st.booleans())
def test_any_messages_get_well_formed_replies(lines: list[str], register: bool) -> None:
    shared = hub()
    other = Chat(shared, FakeClient())
    for msg in MessageReader().feed(b"NICK other\r\nUSER o 0 * :O\r\nJOIN #logs-fuzz\r\n"):
        other.handle(msg)
    client = FakeClient()
    session = Chat(shared, client)
    text = "\r\n".join([*(START if register else []), *lines]) + "\r\n"
    loop = asyncio.new_event_loop()
    try:
        for msg in MessageReader().feed(text.encode("utf-8", "replace")):
            job = session.handle(msg)
            if job is not None:
                loop.run_until_complete(job)
    finally:
        loop.close()
    for data in client.out + other.client.out:  # type: ignore[attr-defined]
        check_wire(data)
    nicks = [s.nick.lower() for s in shared.nicks.values()]
    assert len(nicks) == len(set(nicks))
    session.gone("done")
    assert shared.find(session.nick) is None if session.nick else True
    assert all(session not in c.members for c in shared.channels)


def test_commands_wait_for_cap_end_and_password() -> None:
    shared = hub(password="irc-pass-1234")
    client = FakeClient()
    session = Chat(shared, client)
    for msg in MessageReader().feed(
        b"CAP LS 302\r\nPASS irc-pass-1234\r\nNICK n\r\nUSER n 0 * :N\r\n"
    ):
        session.handle(msg)
    assert not session.registered
    (end,) = MessageReader().feed(b"CAP END\r\n")
    session.handle(end)
    assert session.registered and b" 001 n " in b"".join(client.out)


def test_private_text_to_logcaster_is_a_command_with_or_without_bang() -> None:
    shared = hub()
    client = FakeClient()
    session = Chat(shared, client)
    for msg in MessageReader().feed(b"NICK n\r\nUSER n 0 * :N\r\n"):
        session.handle(msg)
    client.out.clear()
    (msg,) = MessageReader().feed(b"PRIVMSG logcaster :stats please\r\n")
    job = session.handle(msg)
    assert job is not None
    asyncio.run(job)
    assert client.out == [b":logcaster!logcaster@logcaster PRIVMSG n :echo stats please\r\n"]
