"""The ``[irc]`` section: the IRC listener (the series' ``-i`` / ``-I PORT``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..startup_checks import resolvable_host
from ..values import (
    parse_host,
    parse_port,
    parse_positive_int,
    parse_switch,
    parse_token,
)
from .schema import Section, setting


@dataclass(frozen=True, slots=True)
class IrcConfig(Section):
    """The IRC listener: live logs in channels, ! commands from any IRC client."""

    enabled: bool = setting(
        False, parse_switch, "-i", "--irc", help="serve IRC on --irc-host:--irc-port"
    )
    host: str = setting(
        "127.0.0.1",
        parse_host,
        "--irc-host",
        metavar="ADDR",
        check=resolvable_host,
        help="IRC bind address; the default is loopback only (it shows every log)",
    )
    port: int = setting(
        6667,
        parse_port,
        "-I",
        "--irc-port",
        metavar="PORT",
        help="IRC TCP port; 0 picks a free one",
    )
    password: str = setting(
        "",
        parse_token,
        "--irc-password",
        metavar="PASSWORD",
        repr=False,
        help="IRC clients must send this with PASS before registering",
    )
    tls: bool = setting(False, parse_switch, "--irc-tls", help="TLS on the IRC port (--tls-cert)")
    max_reply: int = setting(
        20,
        parse_positive_int,
        "--irc-max-reply",
        metavar="N",
        most=1000,
        help="log lines a ! command shows at most",
    )
