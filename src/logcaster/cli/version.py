"""``logcaster version``: the versions of LogCaster, Python, its libraries, and the engine."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata

from .. import __version__
from ..config import ArgumentParser
from ..console import engine

NAME = "version"
SUMMARY = "print the versions of LogCaster, Python, uvloop, RE2 and the engine"
EXAMPLES = "  logcaster version\n"


def add(sub: argparse._SubParsersAction[ArgumentParser]) -> None:
    from .common import command_parser

    command_parser(sub, NAME, SUMMARY, EXAMPLES)


def _dist(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def lines() -> list[str]:
    return [
        f"LogCaster {__version__}",
        f"Python    {platform.python_version()} ({platform.python_implementation()})",
        f"uvloop    {_dist('uvloop')}",
        f"RE2       google-re2 {_dist('google-re2')}",
        f"aiohttp   {_dist('aiohttp')}",
        f"engine    {engine()}",
    ]


def run(args: argparse.Namespace) -> int:
    print("\n".join(lines()))
    return 0
