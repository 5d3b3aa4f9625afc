"""What a query asks for, as plain values: :class:`QuerySpec`, built from ``key=value``
parameters by :func:`build_spec`, with user-given times read by :func:`parse_time`.

The parameters are the same for every frontend (the line port's ``QUERY``, the HTTP
API's URL parameters), so their names, checks and error messages live here; a bad
value raises :class:`QueryError`, whose message every frontend shows as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .errors import QueryError
from .fields import facility_name
from .levels import canonical_level

MAX_LIMIT = 10_000_000
MAX_COMMAND_BYTES = 64 * 1024  # the longest query text a frontend reads: a line-port command

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
    "host",
    "app",
    "facility",
    "field.NAME",
)
FIELD_PREFIX = "field."


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """``host=``, ``app=``, ``facility=`` or ``field.NAME=``: the field ``name`` of a
    line equals ``value`` (starts with it, when ``prefix``)."""

    name: str  # "host", "app", "facility" or "field.NAME"
    value: str
    prefix: bool = False

    def accepts(self, found: str | None) -> bool:
        if found is None:
            return False
        return found.startswith(self.value) if self.prefix else found == self.value


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """What a search or a live tap selects. Filters combine with AND."""

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
    cluster: bool = False  # scope=cluster: search the shared store (ClickHouse) instead
    fields: tuple[FieldFilter, ...] = ()  # host=, app=, facility=, field.NAME=


_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SECONDS = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?$")
# An ISO 8601 time's fraction of a second: the date, "T" or a space, hh:mm:ss, the
# digits, then the end or an offset.
_ISO_FRACTION = re.compile(r"^([^T ]*[T ]\d\d:?\d\d:?\d\d)[.,](\d+)((?:[Zz]|[+-].*)?)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_SECONDS = 10**11
NS = 1_000_000_000


def _ns(whole: str, fraction: str) -> int:
    """``whole.fraction`` seconds as ns, exactly (digits past the 9th are dropped)."""
    return int(whole or "0") * NS + int((fraction + "000000000")[:9])


def parse_time(text: str, now_ns: int) -> int:
    """Unix seconds, ISO 8601 or ``-<n><s|m|h|d|w>`` relative to now -> ns since epoch.

    Exact to the nanosecond, with no float in between: ``1700000000.123456789`` and
    ``2026-11-26T17:00:00.123456789Z`` are the receive times the API prints, and a
    record's own time must select it as an inclusive bound.
    """
    value = text.strip()
    rel = _RELATIVE.match(value)
    if rel:
        whole, _, fraction = rel.group(1).partition(".")
        return now_ns - _ns(whole, fraction) * _UNITS[rel.group(2)]
    unix = _SECONDS.match(value)
    if unix and (unix.group(2) or unix.group(3)):
        sign, whole, fraction = unix.groups(default="")
        ns = _ns(whole, fraction)
        if ns > _MAX_SECONDS * NS:
            raise ValueError(value)
        return -ns if sign == "-" else ns
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    extra = 0
    split = _ISO_FRACTION.match(iso)
    if split:  # datetime keeps microseconds only: the fraction is read here
        iso = split.group(1) + split.group(3)
        extra = _ns("", split.group(2))
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive values are server local time
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000 + extra


Param = tuple[str, str, list[str]]  # (key, value, the items of a list value, else [value])


def build_spec(params: Iterable[Param], now_ns: int) -> QuerySpec:
    """The QuerySpec of ``key=value`` parameters; raises QueryError for a bad one."""
    keywords: list[bytes] = []
    fields: list[FieldFilter] = []
    opts: dict[str, object] = {}
    for key, value, items in params:
        k = key.lower()
        if k == "keywords":
            if not all(items):
                raise QueryError(
                    f"Empty keyword in keywords='{value}': give each keyword some text"
                )
            keywords.extend(i.encode("utf-8", "surrogateescape") for i in items)
        elif k == "keyword":
            if not value:
                raise QueryError("Empty keyword: keyword= takes the rest of the line as its text")
            keywords.append(value.encode("utf-8", "surrogateescape"))
        elif k == "operator":
            op = value.upper()
            if op not in ("AND", "OR"):
                raise QueryError(f"Invalid operator '{value}'. Use AND or OR.")
            opts["any_keyword"] = op == "OR"
        elif k == "regex":
            if not value:
                raise QueryError("Invalid regex pattern: empty pattern")
            opts["regex"] = value
        elif k in ("time_from", "time_to"):
            try:
                opts[k] = parse_time(value, now_ns)
            except (ValueError, OverflowError, OSError):
                raise QueryError(f"Invalid time value '{value}' for {k}") from None
        elif k == "level":
            levels = set()
            for item in items:
                level = canonical_level(item)
                if level is None:
                    raise QueryError(f"Unknown level '{item}'")
                levels.add(level)
            opts["levels"] = frozenset(levels)
        elif k == "limit":
            try:
                limit = int(value)
            except ValueError:
                limit = -1
            if not 1 <= limit <= MAX_LIMIT:
                raise QueryError(f"Invalid limit '{value}': a whole number from 1 to {MAX_LIMIT}")
            opts["limit"] = limit
        elif k == "scope":
            scope = value.lower()
            if scope not in ("ring", "all", "cluster"):
                raise QueryError(f"Invalid scope '{value}'. Use ring, all or cluster.")
            opts["history"] = scope == "all"
            opts["cluster"] = scope == "cluster"
        elif k == "order":
            order = value.lower()
            if order not in ("asc", "desc"):
                raise QueryError(f"Invalid order '{value}'. Use asc or desc.")
            opts["descending"] = order == "desc"
        elif k in ("host", "app", "facility") or k.startswith(FIELD_PREFIX):
            fields.append(field_filter(key, value))
        else:
            raise QueryError(f"Unknown parameter '{key}'. Use HELP for usage.")
    return QuerySpec(keywords=tuple(keywords), fields=tuple(fields), **opts)  # type: ignore[arg-type]


def field_filter(key: str, value: str) -> FieldFilter:
    """The filter of ``host=``, ``app=``, ``facility=`` or ``field.NAME=`` (NAME keeps
    its case); raises QueryError."""
    k = key.lower()
    if k == "facility":
        name = facility_name(value)
        if name is None:
            raise QueryError(
                f"Unknown facility '{value}'. Use a name (kern, user, auth, daemon, "
                "local0 ... local7) or a number 0-23."
            )
        return FieldFilter("facility", name)
    if k.startswith(FIELD_PREFIX):
        field = key[len(FIELD_PREFIX) :]
        if not field:
            raise QueryError(f"Empty field name in '{key}': use field.NAME=VALUE")
        k = FIELD_PREFIX + field
    if not value:
        raise QueryError(f"Empty value for {key}=: give a value (a trailing * for a prefix)")
    if value.endswith("*"):
        return FieldFilter(k, value[:-1], prefix=True)
    return FieldFilter(k, value)
