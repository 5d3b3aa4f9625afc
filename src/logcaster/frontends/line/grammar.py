"""Sans-IO parsing of query-port command lines into typed commands.

The original MVP2 protocol is kept byte for byte:

- ``STATS``                  -> ``STATS: Total=<n>, Dropped=<n>, Current=<n>, Clients=<n>``
- ``COUNT``                  -> ``COUNT: <n>``
- ``QUERY keyword=<text>``   -> ``FOUND: <n> matches`` then each matching raw line;
  the keyword is the whole rest of the line, spaces included.
- anything else              -> ``ERROR: Unknown command`` (plus a pointer to HELP)

and extended with ``QUERY key=value ...`` parameters, ``TAIL``, ``FOLLOW`` and
``HELP`` (see :mod:`.help`). Parsing never raises: a bad line becomes an
:class:`Error` whose reply is one ``ERROR: ...`` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ...query.errors import QueryError
from ...query.spec import MAX_LIMIT, PARAMETERS, QuerySpec, build_spec
from .render import error_line

DEFAULT_TAIL = 10


@dataclass(frozen=True, slots=True)
class Stats:
    pass


@dataclass(frozen=True, slots=True)
class Count:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Info:
    """``INFO`` (or ``STATS verbose``): every counter, one ``name=value`` per line."""


@dataclass(frozen=True, slots=True)
class Query:
    spec: QuerySpec


@dataclass(frozen=True, slots=True)
class Tail:
    count: int


@dataclass(frozen=True, slots=True)
class Follow:
    spec: QuerySpec


@dataclass(frozen=True, slots=True)
class Error:
    message: str

    def reply(self) -> bytes:
        return error_line(self.message)


Command = Stats | Count | Help | Info | Query | Tail | Follow | Error

UNKNOWN = Error("Unknown command. Use HELP for usage.")


def tokenize(text: str) -> list[tuple[str, str, list[str]]]:
    """Split ``key=value`` tokens on spaces; double quotes protect spaces and commas.

    Inside quotes ``\\"`` is a quote and ``\\\\`` a backslash; any other backslash
    is kept as is, so regexes such as ``regex="\\d+ ms"`` need no doubling.

    Returns ``(key, value, items)`` where ``items`` is the value split on
    unquoted commas. Raises ValueError for a token without ``=`` or an
    unterminated quote.
    """
    tokens: list[tuple[str, str, list[str]]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        eq = text.find("=", i)
        space = text.find(" ", i)
        if eq < 0 or (0 <= space < eq):
            end = space if space >= 0 else n
            raise ValueError(f"Expected key=value, got '{text[i:end]}'")
        key = text[i:eq]
        i = eq + 1
        value: list[str] = []
        items: list[str] = []
        item: list[str] = []
        while i < n and text[i] != " ":
            ch = text[i]
            if ch == '"':
                close = i + 1
                chars: list[str] = []
                while close < n and text[close] != '"':
                    if text[close] == "\\" and text[close + 1 : close + 2] in ('"', "\\"):
                        close += 1  # \" and \\ are escapes; other backslashes stay
                    chars.append(text[close])
                    close += 1
                if close >= n:
                    raise ValueError(f"Unterminated quote in value of '{key}'")
                value.extend(chars)
                item.extend(chars)
                i = close + 1
                continue
            if ch == ",":
                items.append("".join(item))
                item = []
            else:
                item.append(ch)
            value.append(ch)
            i += 1
        items.append("".join(item))
        tokens.append((key, "".join(value), items))
    return tokens


def parse_spec(params: str, now_ns: int) -> QuerySpec | Error:
    """Parse the ``key=value`` parameters of QUERY or FOLLOW."""
    try:
        return build_spec(tokenize(params), now_ns)
    except QueryError as exc:
        return Error(str(exc))
    except ValueError as exc:  # a token the tokenizer cannot read
        return Error(f"{exc}. Use HELP for usage.")


def _is_seed_form(rest: str) -> bool:
    """``keyword=<text>`` whose text holds no further ``param=value`` token."""
    if not rest.startswith("keyword="):
        return False
    later = rest[len("keyword=") :].split(" ")[1:]
    return not any(tok.split("=", 1)[0].lower() in PARAMETERS for tok in later if "=" in tok)


def parse_command(line: bytes, now_ns: int | None = None) -> Command:
    """Parse one command line (without its line terminator)."""
    if line == b"STATS":
        return Stats()
    if line == b"COUNT":
        return Count()
    text = line.decode("utf-8", "surrogateescape")
    verb, _, rest = text.partition(" ")
    verb = verb.upper()
    now = time.time_ns() if now_ns is None else now_ns
    if verb == "QUERY":
        if _is_seed_form(rest):
            return Query(QuerySpec(keywords=(line[len(b"QUERY keyword=") :],), raw=True))
        spec = parse_spec(rest, now)
        return spec if isinstance(spec, Error) else Query(spec)
    if verb == "FOLLOW":
        spec = parse_spec(rest, now)
        return spec if isinstance(spec, Error) else Follow(spec)
    if verb == "TAIL":
        arg = rest.strip()
        if not arg:
            return Tail(DEFAULT_TAIL)
        if arg.isascii() and arg.isdigit() and 1 <= int(arg) <= MAX_LIMIT:
            return Tail(int(arg))
        return Error(f"Invalid line count '{arg}' for TAIL: a whole number from 1 to {MAX_LIMIT}")
    if verb == "HELP" and not rest.strip():
        return Help()
    if (verb == "INFO" and not rest.strip()) or (
        verb == "STATS" and rest.strip().lower() == "verbose"
    ):
        return Info()
    if verb in ("STATS", "COUNT") and not rest.strip():
        return Stats() if verb == "STATS" else Count()
    return UNKNOWN


__all__ = [
    "DEFAULT_TAIL",
    "MAX_LIMIT",
    "PARAMETERS",
    "UNKNOWN",
    "Command",
    "Count",
    "Error",
    "Follow",
    "Help",
    "Info",
    "Query",
    "QuerySpec",
    "Stats",
    "Tail",
    "parse_command",
    "parse_spec",
    "tokenize",
]
