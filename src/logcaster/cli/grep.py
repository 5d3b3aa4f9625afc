"""``logcaster grep``: a regular-expression search of the server's lines, exit status
as grep's (0 matched, 1 nothing matched, 2 an error)."""

from __future__ import annotations

import argparse
import sys

from ..client import ClientError, stream_reply
from ..config import ArgumentParser
from .common import Output, add_query_args, command_parser, use_color
from .reply import filter_params, found_count, quote, split_head
from .tail import add_filter_args

NAME = "grep"
SUMMARY = "search the lines held with a regular expression (RE2); exit 1 if none match"
EXAMPLES = """\
  logcaster grep 'timeout after [0-9]+ ms'
  logcaster grep -i 'disk (full|error)' --since -1h
  logcaster grep -m 20 'user_id=42\\b' level=ERROR scope=all
  logcaster grep panic && echo found
"""
DETAILS = """\
PATTERN is RE2 syntax (linear time); FILTER is any QUERY parameter as key=value.
Matches are printed oldest first, stamped with their receive time."""


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    parser = command_parser(sub, NAME, SUMMARY, EXAMPLES, DETAILS)
    parser.add_argument("pattern", metavar="PATTERN", help="regular expression (RE2 syntax)")
    parser.add_argument("-i", "--ignore-case", action="store_true", help="case-insensitive match")
    parser.add_argument(
        "-m", "--max-count", type=int, metavar="N", help="only the newest N matches"
    )
    add_filter_args(parser)
    add_query_args(parser)


def run(args: argparse.Namespace) -> int:
    pattern = f"(?i){args.pattern}" if args.ignore_case else args.pattern
    params = filter_params(args.filters, args.level, args.since, args.until)
    command = f"QUERY regex={quote(pattern)} {params}".rstrip()
    if args.max_count is not None:
        command += f" limit={args.max_count}"
    out = Output(use_color(args.color))
    try:
        head, rest = split_head(
            stream_reply(args.host, args.port, command, timeout=args.timeout, token=args.token)
        )
        count = found_count(head)
        for chunk in rest:
            out.write(chunk)
    except ClientError as exc:
        print(f"logcaster grep: error: {exc}", file=sys.stderr)
        return 2
    finally:
        out.close()
    return 0 if count else 1
