"""``logcaster stats``: every counter the server keeps (``INFO``), one ``Name=value`` a line."""

from __future__ import annotations

import argparse

from ..client import http_get, stream_reply
from ..config import ArgumentParser
from .common import Output, add_query_args, command_parser
from .query import add_json_args
from .reply import check_head, split_head

NAME = "stats"
SUMMARY = "print every counter of the server (lines, drops, clients, files, ...)"
EXAMPLES = """\
  logcaster stats
  logcaster stats | grep -i dropped
  logcaster stats --json                  one JSON object, from the HTTP API
"""


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    parser = command_parser(sub, NAME, SUMMARY, EXAMPLES)
    add_query_args(parser)
    add_json_args(parser)


def run(args: argparse.Namespace) -> int:
    out = Output(color=False)
    if args.json:
        for chunk in http_get(
            args.host, args.http_port, "/api/v1/stats", timeout=args.timeout, token=args.token
        ):
            out.write(chunk)
        out.write(b"\n")
    else:
        head, rest = split_head(
            stream_reply(args.host, args.port, "INFO", timeout=args.timeout, token=args.token)
        )
        check_head(head)
        for chunk in rest:
            out.write(chunk)
    out.close()
    return 0
