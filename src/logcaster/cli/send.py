"""``logcaster send``: files or standard input to the ingest port, as they are or as
RFC 6587 octet-counted syslog frames, with a progress bar for large files."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..client import ClientError, send_stream
from ..config import ArgumentParser, IngestConfig
from .common import add_server_args, command_parser

NAME = "send"
SUMMARY = "send lines from files or standard input to the ingest port"
EXAMPLES = """\
  echo 'ERROR disk full on /var' | logcaster send
  logcaster send /var/log/syslog app.log        a progress bar on a terminal for big files
  logcaster send --syslog -p 6514 messages.log  octet-counted frames: 'LEN MSG' per line
"""
PROGRESS_FROM = 4 << 20  # files larger than this get a progress bar on a terminal


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    parser = command_parser(sub, NAME, SUMMARY, EXAMPLES)
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="files to send, in order; - is stdin (default: -)"
    )
    add_server_args(parser, port=IngestConfig().port, what="ingest")
    parser.add_argument(
        "--syslog",
        action="store_true",
        help="frame each line as RFC 6587 octet counting, 'LEN SP MSG' (default: lines as is)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr; auto: for files over 4 MiB when stderr is a terminal "
        "(default: auto)",
    )


def _open_all(names: list[str]) -> list[tuple[str, BinaryIO]]:
    opened: list[tuple[str, BinaryIO]] = []
    for name in names or ["-"]:
        if name == "-":
            opened.append(("<stdin>", sys.stdin.buffer))
            continue
        try:
            opened.append((name, open(name, "rb")))  # noqa: SIM115 (closed by run)
        except OSError as exc:
            for _, f in opened:
                if f is not sys.stdin.buffer:
                    f.close()
            raise ClientError(f"cannot read {name}: {exc.strerror or exc}") from None
    return opened


def _size(f: BinaryIO) -> int | None:
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError):
        return None
    import stat

    return st.st_size if stat.S_ISREG(st.st_mode) else None


@contextlib.contextmanager
def _progress(choice: str, name: str, size: int | None) -> Iterator[Callable[[int], None] | None]:
    wanted = choice == "always" or (
        choice == "auto" and size is not None and size > PROGRESS_FROM and sys.stderr.isatty()
    )
    if not wanted:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(file=sys.stderr, force_terminal=choice == "always" or None)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(os.path.basename(name), total=size)
        yield lambda done: bar.update(task, completed=done)


def run(args: argparse.Namespace) -> int:
    opened = _open_all(args.files)
    try:
        for name, f in opened:
            with _progress(args.progress, name, _size(f)) as progress:
                send_stream(
                    args.host,
                    args.port,
                    f,
                    syslog=args.syslog,
                    timeout=args.timeout,
                    progress=progress,
                )
    finally:
        for _, f in opened:
            if f is not sys.stdin.buffer:
                f.close()
    return 0
