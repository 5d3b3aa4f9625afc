"""Fields of a stored log line, read lazily at query time (never on ingest).

Sans-IO, pure functions of one line (without its newline): :func:`fields_of` gives
every field it can read, and :func:`host_of`, :func:`app_of`, :func:`facility_of` are
the fast paths of the filters ``host=``, ``app=`` and ``facility=``.
:func:`structured_level` is the level of a JSON line with a numeric ``level``
(GELF: 0-7 as syslog severities; pino and bunyan: 10-69 by tens). Formats read:

- RFC 5424: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`` (``-`` for empty, a
  BOM before MSG dropped); SD parameters become ``SDID.NAME`` fields.
- RFC 3164 and what real senders make of it: ``<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG``,
  without a host (Perl's Sys::Syslog: ``<PRI>TIMESTAMP app[pid]: msg``), without a
  timestamp (``<PRI>app: msg``) or bare (Python's SysLogHandler: ``<PRI>msg``);
  rsyslog's ``#012`` escapes stay text.
- JSON objects (GELF included): every top-level key, nested keys joined by dots;
  GELF's ``short_message`` is also ``msg``.
- logfmt ``key=value`` pairs (double-quoted values with ``\\"`` and ``\\\\``), also in
  a syslog message's MSG, as is a JSON object there.

Nothing here raises on any input: unreadable parts are simply not fields.
"""

from __future__ import annotations

import json
import math
import re

SEVERITY_LEVELS = ("EMERG", "ALERT", "CRITICAL", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")
# pino's and bunyan's numeric levels by tens: 10 trace ... 60 fatal (a custom one between)
PINO_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    *(f"local{i}" for i in range(8)),
)
_FACILITY_ALIASES = {"auth2": "authpriv", "clock": "solaris-cron"}

_BOM = b"\xef\xbb\xbf"
_TS3164 = re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?: |$)")
_TS3339 = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*(?: |$)")
_TAG = re.compile(rb"([^\s\[\]:]{1,64})(?:\[([^\]\s]*)\])?:(?: |$)")
_LOGFMT = re.compile(rb'(?:^|(?<=\s))([A-Za-z_][\w.\-/@]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
# What _host_app reads of the usual RFC 3164 line, as one match (a host word followed
# by a space is never a tag, which needs a ':').
_FAST3164 = re.compile(
    rb"<(?:[0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
    rb"([^\s\[\]:]+) ([^\s\[\]:]{1,64})(?:\[[^\]\s]*\])?: "
)
_UNESCAPE = re.compile(rb"\\(.)")
_HOST_KV = re.compile(rb'(?:^|(?<=\s))host=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_APP_KV = re.compile(rb'(?:^|(?<=\s))app=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_HEADER_KEYS = ("host", "app", "facility")  # a syslog line's come from its header only
# A JSON object's host and app, the first of these keys with a scalar value: GELF's
# and the usual names; OpenTelemetry's resource attributes (as OTLP records are
# stored) and ECS's, flattened or nested (a dotted name without a member of its own
# is looked for in the object its first part names: {"host":{"name":"web-1"}}, as
# Filebeat and Elastic's ECS loggers write it); pino's and bunyan's "hostname";
# syslog-ng's macros as its format-json and elasticsearch-http() write them (HOST,
# PROGRAM), rsyslog's property names (hostname, programname), journald's fields as
# ``journalctl -o json`` and the shippers' journald inputs give them (_HOSTNAME,
# SYSLOG_IDENTIFIER); Loki 3's service_name label.
_HOST_KEYS = ("host", "host.name", "hostname", "HOST", "_HOSTNAME")
_APP_KEYS = (
    *("app", "_app", "appname", "application", "service", "service.name", "service_name"),
    *("PROGRAM", "program", "programname", "SYSLOG_IDENTIFIER"),
)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def facility_name(text: str) -> str | None:
    """A facility given as a name (any case) or a number 0-23, as its name; else None."""
    value = text.strip().lower()
    if value.isdigit() and len(value) <= 2:
        n = int(value)
        return FACILITIES[n] if n < len(FACILITIES) else None
    value = _FACILITY_ALIASES.get(value, value)
    return value if value in FACILITIES else None


def _pri(line: bytes) -> tuple[int, int] | None:
    """``(PRI, end of <PRI>)`` of a line that starts with a valid PRI."""
    if line[:1] != b"<":
        return None
    close = line.find(b">", 1, 5)
    digits = line[1:close]
    if close < 2 or not digits.isdigit() or (len(digits) > 1 and digits[:1] == b"0"):
        return None
    pri = int(digits)
    return (pri, close + 1) if pri <= 191 else None


def _word(line: bytes, pos: int) -> tuple[bytes, int]:
    """The word at ``pos`` and where the next one starts."""
    end = line.find(b" ", pos)
    if end < 0:
        return line[pos:], len(line)
    return line[pos:end], end + 1


def _syslog(line: bytes) -> dict[str, bytes] | None:
    """The syslog header of ``line`` (raw values), MSG under ``msg``; None if none."""
    found = _pri(line)
    if found is None:
        return None
    pri, pos = found
    out = {"pri": str(pri).encode(), "facility": FACILITIES[pri >> 3].encode()}
    out["severity"] = str(pri & 7).encode()
    if line[pos : pos + 2] == b"1 ":  # RFC 5424
        names = ("timestamp", "host", "app", "procid", "msgid")
        pos += 2
        for name in names:
            value, pos = _word(line, pos)
            if value and value != b"-":
                out[name] = value
        pos = _structured_data(line, pos, out)
        msg = line[pos:]
        out["msg"] = msg[3:] if msg.startswith(_BOM) else msg
        return out
    ts = _TS3164.match(line, pos) or _TS3339.match(line, pos)
    if ts is not None:
        out["timestamp"] = line[pos : ts.end()].rstrip(b" ")
        pos = ts.end()
        tag = _TAG.match(line, pos)
        if tag is None:  # HOST TAG: MSG, or HOST MSG
            host, after = _word(line, pos)
            if host:
                out["host"] = host
                pos = after
            tag = _TAG.match(line, pos)
    else:
        tag = _TAG.match(line, pos)
    if tag is not None:
        out["app"] = tag.group(1)
        if tag.group(2):
            out["procid"] = tag.group(2)
        pos = tag.end()
    out["msg"] = line[pos:]
    return out


def _structured_data(line: bytes, pos: int, out: dict[str, bytes]) -> int:
    """Read RFC 5424 SD elements at ``pos`` into ``out``; where MSG starts."""
    if line[pos : pos + 1] == b"-":
        return min(pos + 2, len(line))
    n = len(line)
    while pos < n and line[pos : pos + 1] == b"[":
        i = pos + 1
        sd_id, i = _until(line, i, b" ]")
        while i < n and line[i : i + 1] == b" ":
            name, i = _until(line, i + 1, b"=]")
            if line[i : i + 2] != b'="':
                break
            i += 2
            value = bytearray()
            while i < n and line[i : i + 1] != b'"':
                if line[i : i + 1] == b"\\" and i + 1 < n:
                    i += 1
                value += line[i : i + 1]
                i += 1
            i += 1
            if sd_id and name:
                out[_text(sd_id) + "." + _text(name)] = bytes(value)
        close = line.find(b"]", i)
        if close < 0:
            return n
        pos = close + 1
    return pos + 1 if line[pos : pos + 1] == b" " else pos


def _until(line: bytes, i: int, stops: bytes) -> tuple[bytes, int]:
    j = i
    while j < len(line) and line[j] not in stops:
        j += 1
    return line[i:j], j


def _json(line: bytes) -> dict[str, object] | None:
    """The JSON object ``line`` holds, or None."""
    text = line.strip()
    if text[:1] != b"{" or text[-1:] != b"}":
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _flatten(obj: dict[str, object], prefix: str, out: dict[str, str]) -> None:
    for key, value in obj.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            _flatten(value, name + ".", out)
        elif isinstance(value, str):
            out[name] = value
        else:
            out[name] = json.dumps(value, separators=(",", ":"))


def _unquote(raw: bytes) -> bytes:
    if raw[:1] == b'"' and raw[-1:] == b'"' and len(raw) >= 2:
        return _UNESCAPE.sub(rb"\1", raw[1:-1])
    return raw


def _text_fields(msg: bytes, out: dict[str, str], keep: tuple[str, ...] = ()) -> None:
    """Fields of a message body: a JSON object's, else logfmt pairs (never overriding
    a field already found, nor setting one of ``keep``)."""
    obj = _json(msg)
    found: dict[str, str] = {}
    if obj is not None:
        _flatten(obj, "", found)
        if "short_message" in found:
            found.setdefault("msg", found["short_message"])
    else:
        for m in _LOGFMT.finditer(msg):
            found.setdefault(_text(m.group(1)), _text(_unquote(m.group(2))))
    for key, value in found.items():
        if key not in keep:
            out.setdefault(key, value)


def fields_of(line: bytes) -> dict[str, str]:
    """Every field of ``line`` (without its newline) by name; values as text."""
    try:
        out: dict[str, str] = {}
        header = _syslog(line)
        if header is not None:
            out = {k: _text(v) for k, v in header.items()}
            out["level"] = SEVERITY_LEVELS[int(header["severity"])]
            _text_fields(header["msg"], out, _HEADER_KEYS)
        else:
            _text_fields(line, out)
        return out
    except Exception:  # defensive: a field reader never fails a query
        return {}


def _host_app(line: bytes) -> tuple[bytes | None, bytes | None] | None:
    """``(HOST, APP)`` of a syslog line (None where absent), as :func:`_syslog` reads
    them but without the rest of the header; None for a line without a PRI."""
    fast = _FAST3164.match(line)
    if fast is not None:  # the usual HOST TAG[PID]: form, in one match
        return fast.group(1), fast.group(2)
    found = _pri(line)
    if found is None:
        return None
    pos = found[1]
    if line[pos : pos + 2] == b"1 ":
        words = line[pos + 2 :].split(b" ", 3)  # TIMESTAMP HOST APP rest
        host, app = [*words, b"", b""][1:3]
        return (host if host and host != b"-" else None), (app if app and app != b"-" else None)
    ts = _TS3164.match(line, pos) or _TS3339.match(line, pos)
    name: bytes | None = None
    if ts is not None:
        pos = ts.end()
        if _TAG.match(line, pos) is None:
            word, after = _word(line, pos)
            if word:
                name, pos = word, after
    tag = _TAG.match(line, pos)
    return name, (tag.group(1) if tag is not None else None)


def host_of(line: bytes) -> str | None:
    """The host a line names: its syslog HOST, a JSON ``host`` (or ``host.name``,
    flattened or nested, ``hostname``), a logfmt ``host=``."""
    header = _host_app(line)
    if header is not None:
        return _text(header[0]) if header[0] is not None else None
    return _plain_value(line, _HOST_KEYS, _HOST_KV)


def app_of(line: bytes) -> str | None:
    """The application a line names: syslog APP-NAME or TAG, a JSON ``app`` (or
    ``_app``, ``appname``, ``application``, ``service``, ``service.name``, or GELF
    1.0's ``facility`` when it is no syslog facility: graypy's logger name), a logfmt
    ``app=``."""
    header = _host_app(line)
    if header is not None:
        return _text(header[1]) if header[1] is not None else None
    found = _plain_value(line, _APP_KEYS, _APP_KV)
    if found is None and line[:1] == b"{":
        gelf = _plain_value(line, "facility", _APP_KV)
        if gelf is not None and facility_name(gelf) is None:
            return gelf
    return found


def _plain_value(line: bytes, keys: str | tuple[str, ...], kv: re.Pattern[bytes]) -> str | None:
    obj = _json(line)
    if obj is not None:
        for key in (keys,) if isinstance(keys, str) else keys:
            value = obj.get(key)
            if value is None and "." in key:
                outer, _, inner = key.partition(".")
                nested = obj.get(outer)
                value = nested.get(inner) if isinstance(nested, dict) else None
            if isinstance(value, str):
                return value
            if value is not None and not isinstance(value, dict | list):
                return json.dumps(value)
        return None
    m = kv.search(line)
    return _text(_unquote(m.group(1))) if m else None


def facility_of(line: bytes) -> str | None:
    """The syslog facility name of a line's PRI, or of a JSON ``facility`` that is one."""
    found = _pri(line)
    if found is not None:
        return FACILITIES[found[0] >> 3]
    obj = _json(line)
    if obj is not None:
        value = obj.get("facility")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return facility_name(str(value))
    return None


def structured_level(line: bytes) -> str | None:
    """The level of a JSON line whose ``level`` is a whole number 0-7 (GELF, as syslog
    severities) or 10-69 (pino and bunyan: 10 TRACE, 20 DEBUG, 30 INFO, 40 WARN, 50
    ERROR, 60 FATAL, by tens), as a canonical level name; None for any other line."""
    if b'"level"' not in line:
        return None
    obj = _json(line)
    if obj is None:
        return None
    value = obj.get("level")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    if 0 <= value <= 7:
        return SEVERITY_LEVELS[int(value)]
    if 10 <= value <= 69:
        return PINO_LEVELS[int(value) // 10 - 1]
    return None
