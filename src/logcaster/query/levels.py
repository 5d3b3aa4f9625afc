"""Severity levels: the names a user may ask for and the tokens found in log lines.

A line's level is its *first* level token in one of the usual forms:
an upper-case word (``ERROR``, ``WARN:``), a bracketed word in any case
(``[error]``), a ``level=``/``severity=`` pair (``level=error``) or a JSON
field (``"level":"error"``). Aliases fold onto one canonical name.
"""

from __future__ import annotations

import re2

from .regex import re2_options

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


def canonical_level(name: str) -> str | None:
    """The canonical level for a user-given name (any case), or None."""
    return ALIASES.get(name.strip().upper())


def _token_pattern(words: list[str]) -> str:
    upper = "|".join(words)
    anycase = "(?i:" + upper + ")"
    return (
        rf"(?:\b({upper})\b"
        rf"|\[({anycase})\]"
        rf"|\b(?i:level|severity|lvl)\s*[=:]\s*\"?({anycase})\b"
        rf"|\"(?i:level|severity)\"\s*:\s*\"({anycase})\")"
    )


_ALL_WORDS = sorted(ALIASES, key=len, reverse=True)
LEVEL_TOKEN = re2.compile(_token_pattern(_ALL_WORDS).encode(), re2_options())


def level_of(line: bytes) -> str | None:
    """The canonical level of a log line, or None when it names none."""
    m = LEVEL_TOKEN.search(line)
    if m is None:
        return None
    word = next(g for g in m.groups() if g)
    return ALIASES[word.decode("ascii").upper()]


def candidate_pattern(levels: frozenset[str]) -> re2._Regexp:
    """A pattern matching any token of the given levels (lines to check with level_of)."""
    words = sorted((w for w, c in ALIASES.items() if c in levels), key=len, reverse=True)
    return re2.compile(_token_pattern(words).encode(), re2_options())
