"""``logcaster`` command line: serve, query, send."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .config import (
    ArgumentParser,
    ConfigError,
    IngestConfig,
    QueryConfig,
    add_config_arguments,
    config_from_args,
    env_vars,
)
from .values import parse_port


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="logcaster",
        description="Log collection and query server.",
    )
    parser.add_argument("--version", action="version", version=f"logcaster {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    serve = sub.add_parser("serve", help="run the server")
    add_config_arguments(serve)

    query = sub.add_parser("query", help="send one command to the query port, print the reply")
    query.add_argument("text", metavar="COMMAND", help="e.g. STATS, COUNT, 'QUERY keyword=error'")
    query_port = QueryConfig().port
    token_vars = env_vars("query", "auth_token")
    query.add_argument("--host", default="127.0.0.1", help="server address (127.0.0.1)")
    query.add_argument(
        "-q",
        "-p",
        "--port",
        type=parse_port_arg,
        default=query_port,
        help=f"query port ({query_port})",
    )
    query.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    query.add_argument(
        "--token",
        default=next((os.environ[v] for v in token_vars if os.environ.get(v)), ""),
        help="send 'AUTH TOKEN' first (default: " + " or ".join(f"${v}" for v in token_vars) + ")",
    )

    send = sub.add_parser("send", help="send standard input's lines to the ingest port")
    send.add_argument("--host", default="127.0.0.1", help="server address (127.0.0.1)")
    ingest_port = IngestConfig().port
    send.add_argument(
        "-p",
        "--port",
        type=parse_port_arg,
        default=ingest_port,
        help=f"ingest port ({ingest_port})",
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .app import serve
        from .storage.files import PersistError

        try:
            config = config_from_args(args)
        except ConfigError as exc:
            print(f"logcaster serve: error: {exc}", file=sys.stderr)
            return 2
        try:
            return serve(config)
        except PersistError as exc:
            print(f"logcaster serve: error: --dir: {exc}", file=sys.stderr)
            return 2
        except ConfigError as exc:
            print(f"logcaster serve: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"logcaster serve: error: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.command == "query":
        from .client import query

        try:
            reply = query(args.host, args.port, args.text, timeout=args.timeout, token=args.token)
        except OSError as exc:
            print(f"logcaster query: error: {exc}", file=sys.stderr)
            return 1
        sys.stdout.buffer.write(reply)
        sys.stdout.flush()
        return 1 if reply.startswith(b"ERROR") else 0
    from .client import send_stream

    try:
        send_stream(args.host, args.port, sys.stdin.buffer)
    except OSError as exc:
        print(f"logcaster send: error: {exc}", file=sys.stderr)
        return 1
    return 0
