"""The IRC port of a running server, over raw sockets: registration and its errors,
level channels fed from the ingest port, custom channel filters, every ``!`` command,
the RFC 2812 commands clients send, injection attempts, slow readers and the
IRC counters."""

from __future__ import annotations

import re

import pytest
from irc_support import IrcClient, IrcServer, irc_factory, irc_server, said
from support import SERIES, parse_info, wait_for

__all__ = ["irc_factory", "irc_server"]  # fixtures used below

PASSWORD = "irc-pass-1234"


def client(srv: IrcServer, nick: str, channel: str | None = None) -> IrcClient:
    c = IrcClient(srv.irc_port)
    c.register(nick)
    if channel:
        c.join(channel)
    return c


def line_in(c: IrcClient, channel: str, text: bytes) -> bytes:
    """The PRIVMSG of the pseudo-user to ``channel`` that carries ``text``."""
    head = rb"^:logcaster!logcaster@logcaster PRIVMSG " + re.escape(channel.encode()) + rb" :"
    return c.expect(head + rb".*" + re.escape(text))[-1]


# ------------------------------------------------------------------ registration
def test_registration_with_cap_negotiation_gives_welcome_isupport_and_motd(irc_server) -> None:
    with IrcClient(irc_server.irc_port) as c:
        c.send("CAP LS 302", "NICK alice", "USER alice 0 * :Alice")
        assert c.expect(rb"CAP \* LS")[-1] == b":logcaster CAP * LS :"
        c.send("CAP END")
        lines = c.expect(rb"^:logcaster 376 alice ")
        numerics = [ln.split(b" ")[1] for ln in lines if ln.startswith(b":logcaster ")]
        for code in (b"001", b"002", b"003", b"004", b"005", b"375", b"372", b"376"):
            assert code in numerics
        assert b":logcaster 001 alice :Welcome to LogCaster, alice!alice@127.0.0.1" in lines
        c.send("PING :are-you-there")
        assert c.expect(rb"PONG")[-1] == b":logcaster PONG logcaster are-you-there"


def test_nick_collision_is_433_and_other_registration_errors(irc_server) -> None:
    with client(irc_server, "alice"), IrcClient(irc_server.irc_port) as c:
        c.send("JOIN #logs-all")
        assert c.expect(rb" 451 ")[-1] == b":logcaster 451 * :You have not registered"
        c.send("NICK ALICE")
        assert c.expect(rb" 433 ")[-1] == b":logcaster 433 * ALICE :Nickname is already in use"
        c.send("NICK logcaster")
        assert b" 433 * logcaster " in c.expect(rb" 433 ")[-1]
        c.send("NICK")
        assert c.expect(rb" 431 ")[-1] == b":logcaster 431 * :No nickname given"
        c.send("NICK 9lives")
        assert c.expect(rb" 432 ")[-1] == b":logcaster 432 * 9lives :Erroneous nickname"
        c.send("USER onlyone")
        assert c.expect(rb" 461 ")[-1] == b":logcaster 461 * USER :Not enough parameters"
        c.register("bob")
        c.send("USER bob 0 * :again")
        assert c.expect(rb" 462 ")[-1] == b":logcaster 462 bob :You may not reregister"
        c.send("FROBNICATE now")
        assert c.expect(rb" 421 ")[-1] == b":logcaster 421 bob FROBNICATE :Unknown command"
        c.send("JOIN #general")
        assert b" 403 bob #general " in c.expect(rb" 403 ")[-1]


def test_password_is_required_when_set(irc_factory) -> None:
    srv = irc_factory("--irc-password", PASSWORD)
    with IrcClient(srv.irc_port) as c:
        c.send("PASS wrong-password", "NICK eve", "USER eve 0 * :Eve")
        assert c.expect(rb" 464 ")[-1] == b":logcaster 464 eve :Password incorrect"
        c.wait_closed()
        assert b"ERROR :Closing Link" in c.raw
    with IrcClient(srv.irc_port) as c:
        c.register("ok", password=PASSWORD)
    assert parse_info(srv.query("INFO"))["IrcPasswordFailures"] == "1"


# ------------------------------------------------------------------ level channels
def test_error_channel_gets_error_lines_and_not_info(irc_server) -> None:
    with client(irc_server, "watcher", "#logs-error") as c:
        irc_server.send(b"\n".join(SERIES) + b"\n")
        first = line_in(c, "#logs-error", b"Failed to process user request")
        last = line_in(c, "#logs-error", b"Critical failure in payment module")
        body = first.split(b" :", 1)[1]
        assert re.fullmatch(rb"\[\d\d:\d\d:\d\d\] ERROR 2025-07-28 ERROR: Failed.*timeout", body)
        assert b"Critical" in last
        c.send("PING :sync")
        between = c.expect(rb"PONG")
        assert not any(b"INFO" in ln or b"DEBUG" in ln or b"WARNING" in ln for ln in c.seen)
        assert not any(b"PRIVMSG" in ln for ln in between)


@pytest.mark.parametrize(
    ("channel", "wanted", "unwanted"),
    [
        ("#logs-info", b"Application startup successful", b"Database connection pool"),
        ("#logs-debug", b"Database connection pool", b"User logged in"),
        ("#logs-warning", b"is deprecated", b"Critical failure"),
    ],
)
def test_level_channels_route_by_the_engines_level(irc_server, channel, wanted, unwanted) -> None:
    with client(irc_server, "w", channel) as c:
        irc_server.send(b"\n".join(SERIES) + b"\n<11>Dec  1 12:00:00 db1 app: " + wanted + b"\n")
        line_in(c, channel, wanted)
        c.send("PING :sync")
        c.expect(rb"PONG")
        assert not any(unwanted in ln for ln in c.seen)


def test_syslog_pri_level_decides_like_the_engine(irc_server) -> None:
    """A channel selects exactly what the engine's level query selects."""
    lines = [b"<11>Dec  1 12:00:00 db1 app: pri says error", b"<14>Dec  1 12:00:00 db1 app: info"]
    with client(irc_server, "w", "#logs-error") as c:
        irc_server.send(b"\n".join(lines) + b"\nERROR sentinel\n")
        line_in(c, "#logs-error", b"sentinel")
        got = [ln for ln in said(c.seen) if b"sentinel" not in ln]
    reply = irc_server.query("QUERY level=ERROR").split(b"\n")[1:-1]
    engine = [ln for ln in reply if b"sentinel" not in ln]
    assert len(got) == len(engine)
    assert all(any(e.split(b"] ", 1)[1] in g for g in got) for e in engine)


def test_all_channel_gets_every_line_and_list_counts_members(irc_server) -> None:
    with client(irc_server, "a", "#logs-all") as a, client(irc_server, "b", "#logs-all") as b:
        irc_server.send(b"\n".join(SERIES) + b"\n")
        for c in (a, b):
            for line in SERIES:
                line_in(c, "#logs-all", line.split(b": ", 1)[1])
        a.send("LIST")
        listed = a.expect(rb" 323 ")
        assert any(ln.startswith(b":logcaster 322 a #logs-all 2 :") for ln in listed)
        assert any(ln.startswith(b":logcaster 322 a #logs-error 0 :") for ln in listed)
        assert b"b!b@127.0.0.1 JOIN #logs-all" in b"\n".join(a.seen)


# ------------------------------------------------------------------ custom channels
def test_custom_channel_filters_are_anded_listed_and_removed(irc_server) -> None:
    with client(irc_server, "ops", "#logs-payments") as c:
        assert c.ask("#logs-payments", "!filter add keyword:payment", b"added")
        assert c.ask("#logs-payments", "!filter add level:ERROR", b"2 filters")
        assert said(c.ask("#logs-payments", "!filter list", b"2\\. level:ERROR")) == [
            b"1. keyword:payment",
            b"2. level:ERROR",
        ]
        irc_server.send(b"INFO payment ok\nERROR payment declined\nERROR disk full\n")
        assert b"payment declined" in line_in(c, "#logs-payments", b"declined")
        c.send("PING :sync")
        c.expect(rb"PONG")
        assert not any(b"payment ok" in ln or b"disk full" in ln for ln in c.seen)
        assert c.ask("#logs-payments", "!filter remove 1", b"removed")
        irc_server.send(b"ERROR disk again\n")
        line_in(c, "#logs-payments", b"disk again")
        reply = said(c.ask("#logs-payments", "!filter add regex:[unclosed", b"ERROR"))
        assert reply == [b"ERROR: Invalid regex pattern: missing ]: [unclosed"]
        reply = said(c.ask("#logs-payments", "!filter add colour:red", b"ERROR"))
        assert reply[0].startswith(b"ERROR: Invalid filter 'colour:red'")
        assert c.ask("#logs-payments", "!filter add host:web1", b"added")
        irc_server.send(b"<11>Dec  1 12:00:00 web1 nginx: ERROR upstream\nERROR web2 elsewhere\n")
        line_in(c, "#logs-payments", b"upstream")
        c.send("PING :sync2")
        c.expect(rb"sync2")
        assert not any(b"web2 elsewhere" in ln for ln in c.seen)


def test_filters_only_in_custom_channels(irc_server) -> None:
    with client(irc_server, "u", "#logs-all") as c:
        reply = said(c.ask("#logs-all", "!filter add keyword:x", b"ERROR"))
        assert reply == [b"ERROR: !filter works in a custom channel: /join #logs-<name>"]


# ------------------------------------------------------------------ commands
def test_query_commands_use_the_engine(irc_server) -> None:
    irc_server.send(b"\n".join(SERIES) + b"\n")
    irc_server.wait_total(len(SERIES))
    with client(irc_server, "q", "#logs-all") as c:
        assert said(c.ask("#logs-all", "!query COUNT", b"COUNT")) == [b"COUNT: 6"]
        assert said(c.ask("#logs-all", "!query COUNT level:ERROR", b"COUNT")) == [b"COUNT: 2"]
        reply = said(c.ask("#logs-all", "!query COUNT level:ERROR keyword:payment", b"COUNT"))
        assert reply == [b"COUNT: 1"]
        found = said(c.ask("#logs-all", "!query SEARCH INFO: 2025", b"startup successful"))
        assert found[0] == b"FOUND: 2 matches, newest first"
        assert b"User logged in" in found[1] and b"startup successful" in found[2]
        assert re.match(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] 2025-07-28", found[1])
        last = said(c.ask("logcaster", "!query LAST 2", b"payment module"))
        assert [ln.split(b"] ", 1)[1] for ln in last] == SERIES[-2:]
        assert said(c.ask("#logs-all", "!query COUNT level:LOUD", b"ERROR")) == [
            b"ERROR: Unknown level 'LOUD'"
        ]
        assert said(c.ask("#logs-all", "!bogus", b"ERROR")) == [
            b"ERROR: Unknown command '!bogus'. Try !help"
        ]
        helped = said(c.ask("logcaster", "!help", b"Channels:"))
        assert any(ln.startswith(b"!query COUNT") for ln in helped)


def test_search_reply_is_capped_by_max_reply(irc_factory) -> None:
    srv = irc_factory("--irc-max-reply", "3")
    srv.send(b"".join(b"ERROR number %d\n" % i for i in range(10)))
    srv.wait_total(10)
    with client(srv, "q") as c:
        reply = said(c.ask("logcaster", "!query SEARCH number", b"more"))
        assert reply[0] == b"FOUND: 10 matches, newest first"
        assert [ln.split(b"] ", 1)[1] for ln in reply[1:4]] == [
            b"ERROR number 9",
            b"ERROR number 8",
            b"ERROR number 7",
        ]
        assert reply[4:] == [b"... 7 more: use the query port or HTTP API"]
        last = said(c.ask("logcaster", "!query LAST 5", b"more"))
        assert last[-1] == b"... 2 more: use the query port or HTTP API" and len(last) == 4


def test_stats_and_stream_toggle(irc_server) -> None:
    irc_server.send(b"INFO one\n")
    irc_server.wait_total(1)
    with client(irc_server, "s", "#logs-all") as c:
        stats = b", ".join(said(c.ask("logcaster", "!stats", b"IrcCut=")))
        assert b"Total=1" in stats and b"IrcClients=1" in stats
        assert said(c.ask("#logs-all", "!stream status", b"stream")) == [b"#logs-all: stream on"]
        assert said(c.ask("#logs-all", "!stream off", b"stream")) == [b"#logs-all: stream off"]
        irc_server.send(b"INFO while off\n")
        irc_server.wait_total(2)
        c.send("PING :sync")
        c.expect(rb"PONG")
        assert said(c.ask("logcaster", "!stream on #logs-all", b"stream")) == [
            b"#logs-all: stream on"
        ]
        irc_server.send(b"INFO back on\n")
        line_in(c, "#logs-all", b"back on")
        assert not any(b"while off" in ln for ln in c.seen)


# ------------------------------------------------------------------ chat and RFC commands
def test_channel_chat_names_topic_who_mode_part_quit(irc_server) -> None:
    with client(irc_server, "ann", "#logs-team") as a, client(irc_server, "ben") as b:
        names = b.join("#logs-team")
        assert b":logcaster 353 ben = #logs-team :@logcaster ann ben" in names
        assert b":logcaster 332 ben #logs-team :Custom channel" in b"\n".join(names)
        a.expect(rb"^:ben!ben@127.0.0.1 JOIN #logs-team")
        b.send("PRIVMSG #logs-team :hello ann")
        assert a.expect(rb"hello ann")[-1] == b":ben!ben@127.0.0.1 PRIVMSG #logs-team :hello ann"
        b.send("PRIVMSG ann :psst")
        assert a.expect(rb"psst")[-1] == b":ben!ben@127.0.0.1 PRIVMSG ann psst"
        b.send("PRIVMSG nobody :hi")
        assert b.expect(rb" 401 ")[-1] == b":logcaster 401 ben nobody :No such nick/channel"
        b.send("TOPIC #logs-team :payments team")
        assert a.expect(rb"TOPIC")[-1] == b":ben!ben@127.0.0.1 TOPIC #logs-team :payments team"
        b.send("TOPIC #logs-error :mine")
        assert b" 482 ben #logs-error " in b.expect(rb" 482 ")[-1]
        b.send("WHO #logs-team")
        who = b.expect(rb" 315 ")
        assert sum(b" 352 ben #logs-team " in ln for ln in who) == 3
        b.send("MODE #logs-team", "MODE #logs-team b", "MODE ben")
        assert b.expect(rb" 324 ")[-1] == b":logcaster 324 ben #logs-team +nt"
        assert b" 368 ben #logs-team " in b.expect(rb" 368 ")[-1]
        assert b.expect(rb" 221 ")[-1] == b":logcaster 221 ben +i"
        b.send("MOTD")
        assert b.expect(rb" 376 ")
        b.send("NAMES #logs-team")
        assert b.expect(rb" 366 ")
        b.send("PART #logs-team :bye")
        assert a.expect(rb"PART")[-1] == b":ben!ben@127.0.0.1 PART #logs-team bye"
        b.send("PART #logs-team")
        assert b" 442 ben #logs-team " in b.expect(rb" 442 ")[-1]
        b.join("#logs-team")
        b.send("QUIT :gone home")
        b.wait_closed()
        assert a.expect(rb"QUIT")[-1] == b":ben!ben@127.0.0.1 QUIT :Quit: gone home"
    # The nick is free again once its holder has quit.
    with client(irc_server, "ben"):
        pass


def test_log_content_cannot_inject_irc_protocol(irc_server) -> None:
    evil = [
        b"ERROR a\rQUIT :owned",
        b"ERROR b\x00JOIN #logs-evil",
        b"ERROR c\r\n:logcaster 001 victim :fake",  # the ring splits on LF: two lines
        b"ERROR " + "é".encode() * 400 + b"\xff\xfe tail",
    ]
    with client(irc_server, "v", "#logs-all") as c:
        irc_server.send(b"\n".join(evil) + b"\nINFO end\n")
        line_in(c, "#logs-all", b"INFO end")
        for raw in c.raw.split(b"\r\n")[:-1]:
            assert b"\r" not in raw and b"\n" not in raw and b"\0" not in raw
            assert len(raw) + 2 <= 512
            raw.decode("utf-8")
        logs = [ln for ln in c.seen if ln.startswith(b":logcaster!logcaster@logcaster PRIVMSG")]
        assert any(ln.endswith(b"ERROR a QUIT :owned") for ln in logs)
        # A NUL ends a message at ingest: the rest arrives as its own line, still as text.
        assert any(ln.endswith(b"ERROR b") for ln in logs)
        assert any(ln.endswith(b" JOIN #logs-evil") for ln in logs)
        assert not any(ln.startswith((b"QUIT", b"JOIN", b":logcaster 001 victim")) for ln in c.seen)
        assert any(ln.endswith("\ufffd\ufffd tail".encode()) for ln in logs)
        c.send("PING :still-here")
        c.expect(rb"still-here")


def test_slow_reader_gets_skip_notice_and_others_are_not_slowed(irc_server) -> None:
    slow = IrcClient(irc_server.irc_port, rcvbuf=4096)
    slow.register("slow")
    slow.join("#logs-all")
    with slow, client(irc_server, "fast", "#logs-all") as fast:
        line = b"INFO " + b"x" * 200 + b"\n"
        for _ in range(20):
            irc_server.send(line * 500)
        irc_server.send(b"INFO the-end\n")
        wait_for(
            lambda: int(irc_server.info()["IrcLinesSkipped"]) > 0, what="lines skipped for slow"
        )
        fast.until(lambda ln: b"the-end" in ln or b"lines skipped" in ln, timeout=30)
        notice = slow.expect(rb"NOTICE #logs-all :\.\.\. \d+ lines skipped", timeout=30)[-1]
        assert int(re.search(rb"(\d+) lines skipped", notice).group(1)) > 0
        info = irc_server.info()
        assert int(info["IrcLinesSent"]) > 0 and info["IrcClients"] == "2"
