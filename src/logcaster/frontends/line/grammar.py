"""Sans-IO parsing of query-port command lines into typed commands.

The original MVP2 protocol is kept byte for byte:

- ``STATS``                  -> ``STATS: Total=<n>, Dropped=<n>, Current=<n>, Clients=<n>``
- ``COUNT``                  -> ``COUNT: <n>``
- ``QUERY keyword=<text>``   -> ``FOUND: <n> matches`` then each matching raw line;
  the keyword is the whole rest of the line, whatever it holds (spaces, ``=``,
  quotes), as one literal.
- anything else              -> ``ERROR: Unknown command`` (plus a pointer to HELP)

and extended with ``QUERY key=value ...`` parameters (:func:`tokenize` has the
quoting rules), ``TAIL``, ``FOLLOW``, the aggregations ``HITS`` and ``TOP``, and
``HELP`` (see :mod:`.help`). Parsing never raises: a bad line becomes an
:class:`Error` whose reply is one ``ERROR: ...`` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ...query.aggregate import DEFAULT_TOP
from ...query.commands import hits_params, top_params
from ...query.errors import QueryError
from ...query.spec import MAX_LIMIT, PARAMETERS, Param, QuerySpec, build_spec
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
class Hits:
    """``HITS``: match counts per ``step`` ns of receive time, per value of ``by``."""

    spec: QuerySpec
    step: int
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Top:
    """``TOP``: the ``limit`` most frequent values of ``field`` among the matches."""

    spec: QuerySpec
    field: str
    limit: int = DEFAULT_TOP


@dataclass(frozen=True, slots=True)
class Error:
    message: str
    verb: str | None = None  # the command refused (QUERY, HITS, ...), counted as it is

    def reply(self) -> bytes:
        return error_line(self.message)


Command = Stats | Count | Help | Info | Query | Tail | Follow | Hits | Top | Error

UNKNOWN = Error("Unknown command. Use HELP for usage.")

LIST_KEYS = frozenset({"keywords", "level"})  # values that are comma-separated lists
REST_KEY = "keyword"  # its value is the whole rest of the line


def _quoted(text: str, i: int, key: str) -> tuple[str, int]:
    """The quoted string that opens at ``text[i]`` and the index after its closing quote."""
    n = len(text)
    chars: list[str] = []
    j = i + 1
    while j < n and text[j] != '"':
        if text[j] == "\\" and text[j + 1 : j + 2] in ('"', "\\"):
            j += 1  # \" and \\ are escapes; other backslashes stay
        chars.append(text[j])
        j += 1
    if j >= n:
        raise ValueError(f"Unterminated quote in value of '{key}'")
    return "".join(chars), j + 1


def _item_end(text: str, i: int, listed: bool) -> int:
    """Where an unquoted value (or list item) starting at ``text[i]`` ends."""
    space = text.find(" ", i)
    end = space if space >= 0 else len(text)
    if listed:
        comma = text.find(",", i, end)
        end = comma if comma >= 0 else end
    return end


def tokenize(text: str) -> list[Param]:
    """Split ``key=value`` tokens on spaces.

    Quoting: a value (or, for ``keywords=`` and ``level=``, one item of its comma
    list) that *begins* with ``"`` runs to the closing ``"``, spaces and commas
    included; inside it ``\\"`` is a quote and ``\\\\`` a backslash, and any
    other backslash stays as it is. After the closing quote comes a space, the
    end of the line or (in a list) a comma. A value that does not begin with
    ``"`` ends at the next space and keeps every ``"`` it holds. ``keyword=``
    takes the whole rest of the line, as it is, as its value.

    Returns ``(key, value, items)``: ``items`` is the list of a list key's
    items, else ``[value]``. Raises ValueError for a token without ``=``, an
    unterminated quote or text after a closing quote.
    """
    tokens: list[Param] = []
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
        lowered = key.lower()
        if lowered == REST_KEY:
            tokens.append((key, text[i:], [text[i:]]))
            break
        listed = lowered in LIST_KEYS
        items: list[str] = []
        while True:
            if text[i : i + 1] == '"':
                item, i = _quoted(text, i, key)
                if i < n and text[i] != " " and not (listed and text[i] == ","):
                    raise ValueError(
                        f"Unexpected '{text[i]}' after a closing quote in value of '{key}'"
                    )
            else:
                end = _item_end(text, i, listed)
                item, i = text[i:end], end
            items.append(item)
            if listed and text[i : i + 1] == ",":
                i += 1
                continue
            break
        tokens.append((key, ",".join(items), items if listed else [items[0]]))
    return tokens


def _params(rest: str) -> list[Param] | Error:
    try:
        return tokenize(rest)
    except ValueError as exc:  # a token the tokenizer cannot read
        return Error(f"{exc}. Use HELP for usage.")


def parse_spec(params: str, now_ns: int) -> QuerySpec | Error:
    """Parse the ``key=value`` parameters of QUERY or FOLLOW."""
    tokens = _params(params)
    if isinstance(tokens, Error):
        return tokens
    try:
        return build_spec(tokens, now_ns)
    except QueryError as exc:
        return Error(str(exc))


def parse_hits(rest: str, now_ns: int) -> Hits | Error:
    """``HITS step=<n><s|m|h|d> [by=FIELD] [filters]``."""
    tokens = _params(rest)
    if isinstance(tokens, Error):
        return tokens
    try:
        return Hits(*hits_params(tokens, now_ns))
    except QueryError as exc:
        return Error(str(exc))


def parse_top(rest: str, now_ns: int) -> Top | Error:
    """``TOP FIELD [limit=N] [filters]``."""
    name, _, params = rest.lstrip(" ").partition(" ")
    if not name or "=" in name:
        return Error("TOP needs a field first: TOP level [limit=N] [filters]")
    tokens = _params(params)
    if isinstance(tokens, Error):
        return tokens
    try:
        return Top(*top_params(name, tokens, now_ns))
    except QueryError as exc:
        return Error(str(exc))


def _parse_verb(verb: str, rest: str, now: int) -> Command:
    """The command of a line that begins with one of the query verbs."""
    if verb == "QUERY":
        spec = parse_spec(rest, now)
        if isinstance(spec, Error):
            return spec
        # The seed form: QUERY keyword=<text> answers with the stored lines as they are.
        seed = rest[: len(REST_KEY) + 1].lower() == REST_KEY + "="
        return Query(replace(spec, raw=True) if seed else spec)
    if verb == "FOLLOW":
        spec = parse_spec(rest, now)
        return spec if isinstance(spec, Error) else Follow(spec)
    if verb == "HITS":
        return parse_hits(rest, now)
    if verb == "TOP":
        return parse_top(rest, now)
    arg = rest.strip()  # TAIL
    if not arg:
        return Tail(DEFAULT_TAIL)
    if arg.isascii() and arg.isdigit() and 1 <= int(arg) <= MAX_LIMIT:
        return Tail(int(arg))
    return Error(f"Invalid line count '{arg}' for TAIL: a whole number from 1 to {MAX_LIMIT}")


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
    if verb in ("QUERY", "FOLLOW", "HITS", "TOP", "TAIL"):
        parsed = _parse_verb(verb, rest, now)
        return replace(parsed, verb=verb) if isinstance(parsed, Error) else parsed
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
    "Hits",
    "Info",
    "Query",
    "QuerySpec",
    "Stats",
    "Tail",
    "Top",
    "parse_command",
    "parse_spec",
    "tokenize",
]
