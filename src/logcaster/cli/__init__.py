"""``logcaster``: the command line. One module per command (``serve``, ``query``,
``stats``, ``tail``, ``grep``, ``send``, ``version``); this one builds the parser,
dispatches, and turns Ctrl-C, a closed stdout and connection errors into one line and
an exit status, never a traceback.

Exit status: 0 done, 1 an error reply or nothing matched (``grep``), 2 bad usage or a
server that cannot start, 130 interrupted (except a follow, which Ctrl-C ends: 0).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..client import ClientError
from ..config import ArgumentParser
from . import grep, query, send, serve, stats, tail, version
from .common import HelpFormatter

COMMANDS = (serve, query, tail, grep, stats, send, version)

OVERVIEW = """\
Log collection and query server, and its clients.

commands:
{commands}

examples:
  logcaster serve                         run the server (ingest :9999, query :9998)
  echo 'ERROR disk full' | logcaster send send lines from stdin
  logcaster tail -f level=ERROR           follow new ERROR lines
  logcaster grep 'timeout after [0-9]+'   search with a regex
  logcaster query QUERY keywords=db       any query-port command

'logcaster COMMAND --help' describes a command and its options.
"""


def build_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {m.NAME:<8} {m.SUMMARY}" for m in COMMANDS)
    parser = ArgumentParser(
        prog="logcaster",
        usage="logcaster COMMAND [ARGS...]",
        description=OVERVIEW.format(commands=listing),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"logcaster {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=ArgumentParser, help=argparse.SUPPRESS
    )
    for module in COMMANDS:
        module.add(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if extra:
        own = _subparser(parser, args.command)
        hint = getattr(args, "extra_hint", "")
        own.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    runner = {m.NAME: m.run for m in COMMANDS}[args.command]
    try:
        status: int = runner(args)
        return status
    except ClientError as exc:
        print(f"logcaster {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0 if getattr(args, "follow", False) else 130
    except BrokenPipeError:
        # stdout was closed (`logcaster grep x | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


__all__ = ["build_parser", "main"]
