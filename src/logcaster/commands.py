"""Sans-IO parsing of query-port command lines into typed commands.

The original MVP2 protocol is kept byte for byte:

- ``STATS``                  -> ``STATS: Total=<n>, Dropped=<n>, Current=<n>, Clients=<n>``
- ``COUNT``                  -> ``COUNT: <n>``
- ``QUERY keyword=<text>``   -> ``FOUND: <n> matches`` then each matching raw line;
  the keyword is the whole rest of the line, spaces included.
- anything else              -> ``ERROR: Unknown command`` (plus a pointer to HELP)

and extended with ``QUERY key=value ...`` parameters, ``TAIL``, ``FOLLOW`` and
``HELP``; see :data:`HELP_TEXT`. Parsing never raises: a bad line becomes an
:class:`Error` whose reply is one ``ERROR: ...`` line.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from .levels import canonical_level

MAX_LIMIT = 10_000_000
DEFAULT_TAIL = 10


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """What a QUERY or FOLLOW selects. Filters combine with AND."""

    keywords: tuple[bytes, ...] = ()
    any_keyword: bool = False  # operator=OR among keywords
    regex: str | None = None
    time_from: int | None = None  # ns since the epoch, inclusive
    time_to: int | None = None
    levels: frozenset[str] = field(default_factory=frozenset)
    limit: int | None = None  # the newest N matches
    descending: bool = False
    raw: bool = False  # seed form: reply lines are the stored bytes, no timestamp
    history: bool = False  # scope=all: search the persisted files, not only memory


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
        return f"ERROR: {self.message}\n".encode("utf-8", "replace")


Command = Stats | Count | Help | Info | Query | Tail | Follow | Error

UNKNOWN = Error("Unknown command. Use HELP for usage.")

PARAMETERS = (
    "keywords",
    "keyword",
    "operator",
    "regex",
    "time_from",
    "time_to",
    "level",
    "limit",
    "order",
    "scope",
)

HELP_TEXT = """\
LogCaster Query Interface
Commands (one per connection; replies end when the server closes):
  STATS                       counters: Total, Dropped, Current, Clients. Example: STATS
  INFO                        every counter (also STATS verbose): persistence, truncation, queues. Example: INFO
  COUNT                       lines held in memory. Example: COUNT
  QUERY [param=value ...]     matching lines, oldest first, '[time] line'. Example: QUERY keywords=error limit=20
  QUERY keyword=<text>        original form: rest of line is one literal, raw lines. Example: QUERY keyword=disk full
  TAIL [n]                    the newest n lines (default 10), oldest first. Example: TAIL 50
  FOLLOW [param=value ...]    stream new matching lines until you disconnect; a follower too slow to read is told '... N lines skipped'. Example: FOLLOW level=ERROR
  HELP                        this text. Example: HELP
Parameters (combine with AND; quote values with spaces: keywords="disk full",timeout):
  keywords=a,b,c              case-sensitive substrings (alias keyword=). Example: keywords=timeout,db
  operator=AND|OR             how keywords combine (default AND). Example: keywords=error,fatal operator=OR
  regex=PATTERN               RE2 regex, linear time; (?i) for case-insensitive. Example: regex=user_id=[0-9]+
  time_from=T / time_to=T     inclusive receive-time bounds: Unix seconds, ISO 8601 or -15m/-2h/-1d. Example: time_from=-15m
  level=L1[,L2]               level token: ERROR, [error], level=error, "level":"error". Example: level=ERROR,WARN
  limit=N                     only the newest N matches. Example: limit=100
  order=asc|desc              oldest first (default) or newest first. Example: order=desc
  scope=ring|all              memory only (default) or also the log files written with -P. Example: scope=all keywords=panic
Replies: 'FOUND: <n> matches' then one line per match; errors are one 'ERROR: ...' line.
"""

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now_ns: int) -> int:
    """Unix seconds, ISO 8601 or ``-<n><s|m|h|d|w>`` relative to now -> ns since epoch."""
    value = text.strip()
    rel = _RELATIVE.match(value)
    if rel:
        return now_ns - int(float(rel.group(1)) * _UNITS[rel.group(2)] * 1e9)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds != seconds or abs(seconds) > 1e11:
            raise ValueError(value)
        return int(seconds * 1e9)
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    dt = datetime.fromisoformat(iso)  # naive values are server local time
    return int(dt.timestamp() * 1e9)


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


def _is_seed_form(rest: str) -> bool:
    """``keyword=<text>`` whose text holds no further ``param=value`` token."""
    if not rest.startswith("keyword="):
        return False
    later = rest[len("keyword=") :].split(" ")[1:]
    return not any(tok.split("=", 1)[0].lower() in PARAMETERS for tok in later if "=" in tok)


def parse_spec(params: str, now_ns: int) -> QuerySpec | Error:
    """Parse the ``key=value`` parameters of QUERY or FOLLOW."""
    try:
        tokens = tokenize(params)
    except ValueError as exc:
        return Error(f"{exc}. Use HELP for usage.")
    keywords: list[bytes] = []
    opts: dict[str, object] = {}
    for key, value, items in tokens:
        k = key.lower()
        if k in ("keywords", "keyword"):
            keywords.extend(i.encode("utf-8", "surrogateescape") for i in items if i)
        elif k == "operator":
            op = value.upper()
            if op not in ("AND", "OR"):
                return Error(f"Invalid operator '{value}'. Use AND or OR.")
            opts["any_keyword"] = op == "OR"
        elif k == "regex":
            if not value:
                return Error("Invalid regex pattern: empty pattern")
            opts["regex"] = value
        elif k in ("time_from", "time_to"):
            try:
                opts[k] = parse_time(value, now_ns)
            except (ValueError, OverflowError, OSError):
                return Error(f"Invalid time value '{value}' for {k}")
        elif k == "level":
            levels = set()
            for item in items:
                level = canonical_level(item)
                if level is None:
                    return Error(f"Unknown level '{item}'")
                levels.add(level)
            opts["levels"] = frozenset(levels)
        elif k == "limit":
            try:
                limit = int(value)
            except ValueError:
                limit = -1
            if not 1 <= limit <= MAX_LIMIT:
                return Error(f"Invalid limit '{value}': a whole number from 1 to {MAX_LIMIT}")
            opts["limit"] = limit
        elif k == "scope":
            scope = value.lower()
            if scope not in ("ring", "all"):
                return Error(f"Invalid scope '{value}'. Use ring or all.")
            opts["history"] = scope == "all"
        elif k == "order":
            order = value.lower()
            if order not in ("asc", "desc"):
                return Error(f"Invalid order '{value}'. Use asc or desc.")
            opts["descending"] = order == "desc"
        else:
            return Error(f"Unknown parameter '{key}'. Use HELP for usage.")
    return QuerySpec(keywords=tuple(keywords), **opts)  # type: ignore[arg-type]


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


def stats_line(total: int, dropped: int, current: int, clients: int) -> bytes:
    return (
        f"STATS: Total={total}, Dropped={dropped}, Current={current}, Clients={clients}\n".encode()
    )


def count_line(current: int) -> bytes:
    return f"COUNT: {current}\n".encode()


def found_line(count: int) -> bytes:
    return f"FOUND: {count} matches\n".encode()
