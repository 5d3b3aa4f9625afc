"""``logcaster query``: one query-port command, its reply printed as it arrives; with
``--json``, the same question asked of the HTTP API, answered as NDJSON."""

from __future__ import annotations

import argparse

from ..client import ClientError, http_get, stream_reply
from ..config import ArgumentParser, HttpConfig
from ..frontends.line.grammar import tokenize
from .common import Output, add_query_args, command_parser, parse_port_arg, use_color

NAME = "query"
SUMMARY = "send one command to the query port; print the reply as it arrives"
EXAMPLES = """\
  logcaster query STATS
  logcaster query TAIL 20
  logcaster query QUERY keywords=timeout,db level=ERROR limit=50
  logcaster query 'QUERY regex="user_id=[0-9]+ failed"'   quote what the shell would split
  logcaster query FOLLOW level=ERROR                       until Ctrl-C
  logcaster query --json QUERY keywords=disk               NDJSON from the HTTP API
"""
DETAILS = """\
The words of COMMAND are joined by single spaces into one command line (HELP lists
them). Lines are printed as the server sends them; once the reply has started there is
no timeout, and Ctrl-C ends a FOLLOW with exit status 0. An ERROR reply exits with 1."""


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    parser = command_parser(sub, NAME, SUMMARY, EXAMPLES, DETAILS)
    parser.add_argument("words", nargs="+", metavar="COMMAND", help="a query-port command line")
    add_query_args(parser)
    add_json_args(parser)
    parser.set_defaults(extra_hint=" (quote the command if a value starts with '-')")


def add_json_args(parser: argparse.ArgumentParser) -> None:
    port = HttpConfig().port
    parser.add_argument(
        "--json",
        action="store_true",
        help="ask the HTTP API instead and print its NDJSON (QUERY, FOLLOW, TAIL, STATS, INFO)",
    )
    parser.add_argument(
        "--http-port",
        type=parse_port_arg,
        default=port,
        metavar="PORT",
        help=f"the server's HTTP port, for --json (default: {port})",
    )


def http_form(command: str) -> tuple[str, list[tuple[str, str]]]:
    """The HTTP API endpoint and URL parameters that ask what ``command`` asks."""
    verb, _, rest = command.strip().partition(" ")
    verb = verb.upper()
    rest = rest.strip()
    if verb in ("STATS", "INFO"):
        return "/api/v1/stats", []
    if verb == "TAIL":
        return "/api/v1/query", [("limit", rest or "10")]
    if verb in ("QUERY", "FOLLOW"):
        path = "/api/v1/query" if verb == "QUERY" else "/api/v1/tail"
        if rest.startswith("keyword=") and "=" not in rest[len("keyword=") :]:
            return path, [("keyword", rest[len("keyword=") :])]
        try:
            return path, [(key, value) for key, value, _ in tokenize(rest)]
        except ValueError as exc:
            raise ClientError(str(exc)) from None
    raise ClientError(f"--json: {verb} has no JSON form; use QUERY, FOLLOW, TAIL, STATS or INFO")


def run(args: argparse.Namespace) -> int:
    command = " ".join(args.words)
    args.follow = command.lstrip().upper().startswith("FOLLOW")
    if args.json:
        path, params = http_form(command)
        out = Output(color=False)
        for chunk in http_get(
            args.host, args.http_port, path, params, timeout=args.timeout, token=args.token
        ):
            out.write(chunk)
        out.close()
        return 0
    out = Output(use_color(args.color))
    status = 0
    first = True
    try:
        for chunk in stream_reply(
            args.host, args.port, command, timeout=args.timeout, token=args.token
        ):
            if first:
                status = 1 if chunk.startswith(b"ERROR") else 0
                first = False
            out.write(chunk)
    finally:
        out.close()
    return status
