"""SQL expressions giving a line's host, app and syslog facility, with the semantics of
:func:`~logcaster.query.fields.host_of`, :func:`~logcaster.query.fields.app_of` and
:func:`~logcaster.query.fields.facility_of`, for MATERIALIZED columns: ClickHouse
computes them on insert, so no Python runs per line.

The syslog forms (RFC 5424, RFC 3164 with or without HOST or timestamp, bare PRI) and
logfmt ``host=``/``app=`` are regular and are written here as RE2 patterns. Two
kinds of line are not decided exactly, and are flagged in the ``fuzzy`` column so a
query verifies them on the node with the engine's own readers:

- a JSON object that is no syslog line (its keys need a JSON parser, which 18.16 has
  not in a form that matches Python's ``json``);
- a line with a byte outside ASCII: ClickHouse runs RE2 in UTF-8 mode, where an
  invalid byte matches no character class and ``{1,64}`` counts characters.

Values are ``Nullable(String)``: NULL where the engine's reader returns None.
"""

from __future__ import annotations

from ...query.fields import FACILITIES

WS = r"\t\n\x0b\x0c\r "  # Python's \s for bytes (RE2's lacks \v)
PRI = r"<(?:[0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>"
TS3164 = r"[A-Z][a-z]{2} [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
TS3339 = rf"[0-9]{{4}}-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9][^{WS}]*"
TS = rf"(?:{TS3164}|{TS3339})(?: |$)"
TAG_NAME = rf"([^{WS}\[\]:]{{1,64}})"
TAG_REST = rf"(?:\[[^\]{WS}]*\])?:(?: |$)"
TAG = TAG_NAME + TAG_REST
_UNESCAPE = r"'\\\\(.)', '\\1'"  # replaceRegexpAll's pattern and replacement
_PRI_DIGITS = "'^<([0-9]{1,3})>'"


def _q(text: str) -> str:
    """A SQL string literal of ``text`` (our own patterns only, never user input)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _has(line: str, pattern: str) -> str:
    return f"match({line}, {_q(pattern)})"


def _get(line: str, pattern: str) -> str:
    return f"extract({line}, {_q(pattern)})"


def _nonempty(value: str, dash: bool = False) -> str:
    """``value`` or NULL when empty (or ``-``, RFC 5424's nil value)."""
    empty = f"{value} = ''" + (f" OR {value} = '-'" if dash else "")
    return f"if({empty}, NULL, {value})"


def _logfmt(line: str, key: str) -> str:
    """The logfmt ``key=`` value (unquoted), or NULL without one."""
    where = rf"(?:^|[{WS}]){key}="
    raw = _get(line, where + rf'("(?:[^"\\]|\\.)*"|[^{WS}"]*)')
    ends = f"substring({raw}, 1, 1) = '\"' AND substring({raw}, length({raw}), 1) = '\"'"
    quoted = f"length({raw}) >= 2 AND {ends}"
    inner = f"substring({raw}, 2, length({raw}) - 2)"
    value = f"if({quoted}, replaceRegexpAll({inner}, {_UNESCAPE}), {raw})"
    return f"if({_has(line, where)}, {value}, NULL)"


def host_expression(line: str = "line") -> str:
    """The host of ``line`` (exact unless the ``fuzzy`` expression is 1)."""
    rfc5424 = _nonempty(_get(line, rf"^{PRI}1 [^ ]* ([^ ]*)"), dash=True)
    after_ts = f"if({_has(line, rf'^{PRI}{TS}{TAG}')}, '', {_get(line, rf'^{PRI}{TS}([^ ]+)')})"
    rfc3164 = _nonempty(after_ts)
    return (
        f"multiIf({_has(line, rf'^{PRI}1 ')}, {rfc5424}, "
        f"{_has(line, '^' + PRI)}, {rfc3164}, {_logfmt(line, 'host')})"
    )


def app_expression(line: str = "line") -> str:
    """The app of ``line`` (exact unless the ``fuzzy`` expression is 1)."""
    rfc5424 = _nonempty(_get(line, rf"^{PRI}1 [^ ]* [^ ]* ([^ ]*)"), dash=True)
    tag_first = _get(line, rf"^{PRI}{TS}{TAG}")
    tag_after_host = _get(line, rf"^{PRI}{TS}[^ ]+ {TAG}")
    with_ts = f"if({_has(line, rf'^{PRI}{TS}{TAG}')}, {tag_first}, {tag_after_host})"
    without_ts = _get(line, rf"^{PRI}{TAG}")
    rfc3164 = _nonempty(f"if({_has(line, rf'^{PRI}{TS}')}, {with_ts}, {without_ts})")
    return (
        f"multiIf({_has(line, rf'^{PRI}1 ')}, {rfc5424}, "
        f"{_has(line, '^' + PRI)}, {rfc3164}, {_logfmt(line, 'app')})"
    )


def facility_expression(line: str = "line") -> str:
    """The facility name of ``line``'s PRI (exact unless ``fuzzy``; NULL without PRI)."""
    names = ", ".join(_q(f) for f in FACILITIES)
    pri = f"toUInt16OrZero(extract({line}, {_PRI_DIGITS}))"
    return f"if({_has(line, '^' + PRI)}, [{names}][intDiv({pri}, 8) + 1], NULL)"


def fuzzy_expression(line: str = "line") -> str:
    """1 where the three columns above may differ from the engine's readers."""
    json = _has(line, rf"^[{WS}]*\{{.*\}}[{WS}]*$")
    ascii_only = _has(line, r"^[\x00-\x7f]*$")
    return f"toUInt8(NOT {ascii_only} OR (NOT {_has(line, '^' + PRI)} AND {json}))"


FIELD_COLUMNS = {
    "host": ("Nullable(String)", host_expression),
    "app": ("Nullable(String)", app_expression),
    "facility": ("Nullable(String)", facility_expression),
    "fuzzy": ("UInt8", fuzzy_expression),
}
