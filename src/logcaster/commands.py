"""Sans-IO parsing of query-port command lines into typed commands.

Wire format (byte-compatible with the original LogCaster MVP2 server):

- ``STATS``                  -> ``STATS: Total=<n>, Dropped=<n>, Current=<n>, Clients=<n>``
- ``COUNT``                  -> ``COUNT: <n>``
- ``QUERY keyword=<text>``   -> ``FOUND: <n> matches`` then each matching line;
  the keyword is the whole rest of the line, spaces included.
- anything else              -> ``ERROR: Unknown command``
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stats:
    pass


@dataclass(frozen=True, slots=True)
class Count:
    pass


@dataclass(frozen=True, slots=True)
class KeywordQuery:
    """The seed form: one case-sensitive literal, raw lines in the reply."""

    keyword: bytes


@dataclass(frozen=True, slots=True)
class Error:
    message: str

    def reply(self) -> bytes:
        return f"ERROR: {self.message}\n".encode()


Command = Stats | Count | KeywordQuery | Error

UNKNOWN = Error("Unknown command")


def parse_command(line: bytes) -> Command:
    """Parse one command line (without its line terminator)."""
    if line == b"STATS":
        return Stats()
    if line == b"COUNT":
        return Count()
    if line.startswith(b"QUERY keyword="):
        return KeywordQuery(line[len(b"QUERY keyword=") :])
    return UNKNOWN


def stats_line(total: int, dropped: int, current: int, clients: int) -> bytes:
    return (
        f"STATS: Total={total}, Dropped={dropped}, Current={current}, Clients={clients}\n".encode()
    )


def count_line(current: int) -> bytes:
    return f"COUNT: {current}\n".encode()


def found_line(count: int) -> bytes:
    return f"FOUND: {count} matches\n".encode()
