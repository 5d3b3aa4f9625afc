"""``logcaster serve``: run the server with the settings of flags, environment and file."""

from __future__ import annotations

import argparse
import sys

from ..config import ArgumentParser, ConfigError, add_config_arguments, config_from_args

NAME = "serve"
SUMMARY = "run the server: ingest, query and HTTP ports"
EXAMPLES = """\
  logcaster serve                              ingest :9999, query 127.0.0.1:9998, HTTP :9997
  logcaster serve -p 5140 -q 0 --http-port off  0 picks a free port; the startup line says which
  logcaster serve -P -d /var/lib/logcaster     also write every line to files
  logcaster serve --config /etc/logcaster.toml
"""


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    from .common import command_parser

    parser = command_parser(
        sub,
        NAME,
        SUMMARY,
        EXAMPLES,
        "Settings: flags > LOGCASTER_<SECTION>_<KEY> variables > --config file > defaults.",
    )
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..app import serve
    from ..storage.files import PersistError

    def fail(message: str) -> int:
        print(f"logcaster serve: error: {message}", file=sys.stderr)
        return 2

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        return serve(config)
    except PersistError as exc:
        return fail(f"--dir: {exc}")
    except ConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(exc.strerror or str(exc))
