"""``logcaster tail``: the newest matching lines, and with ``-f`` every new one as it
arrives, like ``tail -f`` over the server's lines."""

from __future__ import annotations

import argparse

from ..client import stream_reply
from ..config import ArgumentParser
from .common import Output, add_query_args, command_parser, use_color
from .reply import check_head, filter_params, found_count, split_head

NAME = "tail"
SUMMARY = "print the newest lines; with -f, then every new line as it arrives"
EXAMPLES = """\
  logcaster tail                          the newest 10 lines
  logcaster tail -n 100 level=ERROR       the newest 100 ERROR lines
  logcaster tail -f                       then follow, until Ctrl-C
  logcaster tail -f -n 0 --level ERROR,WARN keywords=db
"""
DETAILS = """\
FILTER is any QUERY parameter as key=value (keywords=, regex=, level=, time_from=, ...;
'logcaster query HELP' lists them). Lines are stamped with their receive time."""


def add_filter_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("filters", nargs="*", metavar="FILTER", help="key=value QUERY parameter")
    parser.add_argument(
        "-l", "--level", metavar="LEVELS", help="only lines of these levels, e.g. ERROR,WARN"
    )
    parser.add_argument(
        "--since", metavar="TIME", help="received at or after TIME: -15m, ISO 8601, Unix seconds"
    )
    parser.add_argument("--until", metavar="TIME", help="received at or before TIME")


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    parser = command_parser(sub, NAME, SUMMARY, EXAMPLES, DETAILS)
    parser.add_argument(
        "-f", "--follow", action="store_true", help="then print new lines until Ctrl-C"
    )
    parser.add_argument(
        "-n",
        "--lines",
        type=_count,
        default=10,
        metavar="N",
        help="how many of the newest lines first; 0: none (default: 10)",
    )
    add_filter_args(parser)
    add_query_args(parser)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of lines")
    return int(text)


def run(args: argparse.Namespace) -> int:
    params = filter_params(args.filters, args.level, args.since, args.until)
    out = Output(use_color(args.color))

    try:
        live = None
        if args.follow:
            # Subscribe first, then read the backlog: no line falls between the two
            # (one that arrives meanwhile may be printed twice).
            head, live = split_head(
                stream_reply(
                    args.host,
                    args.port,
                    f"FOLLOW {params}".rstrip(),
                    timeout=args.timeout,
                    token=args.token,
                )
            )
            check_head(head)
        if args.lines:
            head, rest = split_head(
                stream_reply(
                    args.host,
                    args.port,
                    f"QUERY {params} limit={args.lines}".replace("  ", " "),
                    timeout=args.timeout,
                    token=args.token,
                )
            )
            found_count(head)
            for chunk in rest:
                out.write(chunk)
        if live is not None:
            for chunk in live:
                out.write(chunk)
    finally:
        out.close()
    return 0
