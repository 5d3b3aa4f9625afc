"""What every ``logcaster`` client command shares: help layout, the connection flags,
``--color``, and the output stream (chunks written as they come, level colouring).

Colouring works on whole chunks with compiled regular expressions (a substitution
template, no Python call per line), and only on complete lines: a line cut by a chunk
boundary is held until its newline arrives.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import BinaryIO

from ..config import ArgumentParser, QueryConfig, env_vars
from ..values import parse_port

ENGINE_FLAGS = ("--host", "--port", "--timeout", "--token")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; options in one column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def command_parser(
    sub: argparse._SubParsersAction[ArgumentParser],
    name: str,
    summary: str,
    examples: str,
    details: str = "",
) -> ArgumentParser:
    """A subcommand: its one-line ``summary`` (listed by ``logcaster``), then its examples."""
    description = summary + (f"\n\n{details}" if details else "")
    parser: ArgumentParser = sub.add_parser(
        name,
        prog=f"logcaster {name}",
        help=summary,
        description=description,
        epilog="examples:\n" + examples.rstrip("\n"),
        formatter_class=HelpFormatter,
    )
    return parser


def parse_port_arg(text: str) -> int:
    try:
        port = parse_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if port == 0:
        raise argparse.ArgumentTypeError("0 is not a port to connect to")
    return port


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}': give a number of seconds above 0")
    return value


def add_server_args(parser: argparse.ArgumentParser, *, port: int, what: str) -> None:
    """``--host``, ``--port`` (of the given default), ``--timeout``."""
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDR", help="server address (default: 127.0.0.1)"
    )
    flags = ("-q", "-p", "--port") if what == "query" else ("-p", "--port")
    parser.add_argument(
        *flags,
        type=parse_port_arg,
        default=port,
        metavar="PORT",
        help=f"the server's {what} port (default: {port})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="for connecting and for the reply to start; none once it has (default: 30)",
    )


def add_query_args(parser: argparse.ArgumentParser) -> None:
    """The query-port connection flags, the token, and --color."""
    add_server_args(parser, port=QueryConfig().port, what="query")
    token_vars = env_vars("query", "auth_token")
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        default=next((os.environ[v] for v in token_vars if os.environ.get(v)), ""),
        help="send 'AUTH TOKEN' first (default: "
        + " or ".join(f"${v}" for v in token_vars)
        + ", else none)",
    )
    add_color_arg(parser)


def add_color_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        "--colour",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour lines' levels; auto: when stdout is a terminal and NO_COLOR is unset "
        "(default: auto)",
    )


def use_color(choice: str, stream: object = None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    out = sys.stdout if stream is None else stream
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


RESET = b"\x1b[0m"
_WORDS = {
    rb"FATAL|CRIT|CRITICAL|PANIC|EMERG|EMERGENCY|ALERT|ERROR|ERR|SEVERE": b"\x1b[1;31m",
    rb"WARN|WARNING": b"\x1b[33m",
    rb"INFO|NOTICE": b"\x1b[32m",
    rb"DEBUG|TRACE": b"\x1b[2m",
}
# An upper-case level word, or the value of level=... / "level":"..." in any case.
LEVEL_RULES = [
    (
        re.compile(
            rb"\b(" + words + rb")\b|(?i:(?:(?<=level=)|(?<=\"level\":\"))(" + words + rb"))\b"
        ),
        colour + rb"\1\2" + RESET,
    )
    for words, colour in _WORDS.items()
]


def colour_levels(data: bytes) -> bytes:
    """``data`` with each level token wrapped in its colour."""
    for pattern, template in LEVEL_RULES:
        data = pattern.sub(template, data)
    return data


class Output:
    """The command's stdout: each chunk written and flushed as it arrives."""

    def __init__(self, color: bool, stream: BinaryIO | None = None) -> None:
        self.stream = sys.stdout.buffer if stream is None else stream
        self.color = color
        self._partial = b""

    def write(self, chunk: bytes) -> None:
        if self.color:
            chunk = self._partial + chunk
            cut = chunk.rfind(b"\n") + 1
            chunk, self._partial = colour_levels(chunk[:cut]), chunk[cut:]
        if chunk:
            self.stream.write(chunk)
            self.stream.flush()

    def close(self) -> None:
        if self._partial:
            self.stream.write(colour_levels(self._partial))
            self._partial = b""
        self.stream.flush()
