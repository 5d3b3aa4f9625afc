"""Severity levels: the names a user may ask for and the tokens found in log lines.

A syslog PRI at the line's start (``<11>``: severity ``11 & 7`` = 3, ERROR) gives
the level; in a JSON object line, its first JSON level member (``"level":"error"``;
``"severity"``, ECS's ``"log.level"`` and syslog-ng's ``"PRIORITY"`` too) does;
otherwise it is the line's *first* level token in one of the usual forms: an
upper-case word (``ERROR``, ``WARN:``), a bracketed word in any case (``[error]``),
a ``level=``/``severity=`` pair (``level=error``) or such a JSON member. Aliases
fold onto one canonical name; case folding is ASCII only. ``docs/levels.md`` states
every rule. :func:`level_of` is the reference; the block scanner's C twin
(``_filters.c``) must agree with it.
"""

from __future__ import annotations

import re

import re2

from .regex import literal_options

ALIASES = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "DBG": "DEBUG",
    "INFO": "INFO",
    "INFORMATIONAL": "INFO",
    "NOTICE": "NOTICE",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "CRITICAL": "CRITICAL",
    "CRIT": "CRITICAL",
    "FATAL": "FATAL",
    "ALERT": "ALERT",
    "EMERG": "EMERG",
    "EMERGENCY": "EMERG",
    "PANIC": "EMERG",
}


# Level codes shared with the C scanner (index = code; 0 = no level).
LEVEL_CODES = (
    "",
    "TRACE",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARN",
    "ERROR",
    "CRITICAL",
    "FATAL",
    "ALERT",
    "EMERG",
)
CODE_OF = {name: code for code, name in enumerate(LEVEL_CODES) if name}
# syslog severity (PRI & 7) -> canonical level
SEVERITIES = ("EMERG", "ALERT", "CRITICAL", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")
_PRI = re.compile(rb"<(0|[1-9][0-9]{0,2})>")


def canonical_level(name: str) -> str | None:
    """The canonical level for a user-given name (any case), or None."""
    return ALIASES.get(name.strip().upper())


def _key_pattern(words: list[str]) -> str:
    """A JSON level member: ``"level":"error"`` (or severity, log.level, priority)."""
    anycase = "(?i:" + "|".join(words) + ")"
    return rf"\"(?i:level|severity|log\.level|priority)\"\s*:\s*\"({anycase})\""


def _token_pattern(words: list[str]) -> str:
    upper = "|".join(words)
    anycase = "(?i:" + upper + ")"
    return (
        rf"(?:\b({upper})\b"
        rf"|\[({anycase})\]"
        rf"|\b(?i:level|severity|lvl)\s*[=:]\s*\"?({anycase})\b"
        rf"|{_key_pattern(words)})"
    )


_ALL_WORDS = sorted(ALIASES, key=len, reverse=True)
# Latin-1 mode: bytes are characters, so (?i) folds ASCII letters only.
LEVEL_TOKEN = re2.compile(_token_pattern(_ALL_WORDS).encode(), literal_options())
LEVEL_KEY = re2.compile(_key_pattern(_ALL_WORDS).encode(), literal_options())
_OBJECT = re.compile(rb"[ \t\r]*\{")  # a line that is (or starts as) a JSON object


def object_line(line: bytes) -> bool:
    """Whether ``line`` is (or starts as) a JSON object: its level member decides."""
    return _OBJECT.match(line) is not None


def level_of(line: bytes) -> str | None:
    """The canonical level of a log line (without its newline), or None."""
    pri = _PRI.match(line)
    if pri is not None and int(pri.group(1)) <= 191:
        return SEVERITIES[int(pri.group(1)) & 7]
    # A JSON object's own level member decides over words in its other members:
    # {"_msg":"retry after ERROR","level":"info"} is INFO (Loki labels, OTLP
    # severities and ECS documents are stored after the message).
    m = LEVEL_KEY.search(line) if object_line(line) else None
    if m is None:
        m = LEVEL_TOKEN.search(line)
    if m is None:
        return None
    word = next(g for g in m.groups() if g)
    return ALIASES[word.decode("ascii").upper()]


def level_mask(levels: frozenset[str]) -> int:
    """The bit mask of level codes for a set of canonical levels (0 for none)."""
    mask = 0
    for level in levels:
        mask |= 1 << CODE_OF[level]
    return mask
