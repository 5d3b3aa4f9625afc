"""Parsers for single setting values: text in, typed value out, or ValueError with a message.

Pure functions only: no DNS lookups and no filesystem access (those belong to the startup
checks). Every configuration source (flags, environment, config file) goes through these, so a
value means the same thing wherever it is written.
"""

from __future__ import annotations

import ipaddress
import math
import re

MiB = 1 << 20

_SIZE = re.compile(r"^\s*([0-9][0-9_]*)\s*(?:([KMG])(?:i?B)?|B)?\s*$", re.IGNORECASE)
_SCALE = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _parse_int(text: str) -> int:
    try:
        return int(text.strip().replace("_", ""), 10)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def parse_port(text: str) -> int:
    """A TCP port, 0 meaning "any free port"."""
    value = _parse_int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port (1-65535, or 0 for any free port)")
    return value


OFF = -1  # a listener that is switched off


def parse_port_or_off(text: str) -> int:
    """A TCP/UDP port as :func:`parse_port`, or ``off`` (also ``-1``) for no listener."""
    if text.strip().lower() in ("off", "-1"):
        return OFF
    return parse_port(text)


def parse_udp_port(text: str) -> str:
    """A UDP port: a number (0 picks a free one), ``same`` (the TCP port's number) or ``off``."""
    word = text.strip().lower()
    if word in ("same", "off"):
        return word
    if not word.replace("_", "").isdigit():
        raise ValueError(f"{text!r} is not a port, 'same' or 'off'")
    return str(parse_port(word))


def parse_positive_int(text: str) -> int:
    """A whole number of at least 1."""
    value = _parse_int(text)
    if value < 1:
        raise ValueError(f"{value} must be at least 1")
    return value


def parse_count(text: str) -> int:
    """A whole number of at least 0."""
    value = _parse_int(text)
    if value < 0:
        raise ValueError(f"{value} must not be negative")
    return value


def parse_size(text: str) -> int:
    """Bytes, with an optional binary suffix: ``65536``, ``512M``, ``512MiB``, ``1G``."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size (a whole number, optionally K, M or G)")
    value = int(m.group(1).replace("_", "")) * _SCALE.get((m.group(2) or "").upper(), 1)
    if value < 1:
        raise ValueError(f"{text!r} must be at least 1 byte")
    return value


def format_size(value: int) -> str:
    """The shortest text ``parse_size`` reads back as ``value``: ``512M``, ``65536``."""
    for suffix in ("G", "M", "K"):
        if value % _SCALE[suffix] == 0:
            return f"{value // _SCALE[suffix]}{suffix}"
    return str(value)


def parse_seconds(text: str) -> float:
    """A positive, finite number of seconds, fractions allowed."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{text!r} must be a positive number of seconds")
    return value


def parse_optional_seconds(text: str) -> float:
    """Seconds, or 0 for "never"."""
    return 0.0 if text.strip() in ("0", "0.0") else parse_seconds(text)


def parse_megabytes(text: str) -> float:
    """Megabytes (MiB), fractions allowed: ``10``, ``0.01``."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of megabytes") from None
    if not 0 < value < 1 << 30:
        raise ValueError(f"{text!r} must be a positive number of megabytes")
    return value


def parse_milliseconds(text: str) -> int:
    """Whole milliseconds from 0 to one hour."""
    value = _parse_int(text)
    if not 0 <= value <= 3_600_000:
        raise ValueError(f"{value} must be from 0 to 3600000 milliseconds")
    return value


def parse_directory(text: str) -> str:
    """A directory path (not checked for existence)."""
    if not text.strip() or "\0" in text:
        raise ValueError(f"{text!r} is not a directory path")
    return text


def parse_path(text: str) -> str:
    """A non-empty file path (not checked for existence)."""
    if not text.strip() or "\0" in text:
        raise ValueError(f"{text!r} is not a file path")
    return text


def parse_optional_path(text: str) -> str:
    """A file path, or empty for "none"."""
    return text if text == "" else parse_path(text)


def parse_text(text: str) -> str:
    """Any one-line text, empty allowed."""
    if "\n" in text or "\0" in text:
        raise ValueError("must be one line of text")
    return text.strip()


def parse_switch(text: str) -> bool:
    """On or off: true/false, yes/no, on/off, 1/0 (any case)."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not on or off")


parse_bool = parse_switch


def parse_networks(text: str) -> str:
    """A comma-separated list of CIDR networks (or addresses), normalised."""
    if not text.strip():
        return ""
    nets = []
    for part in text.split(","):
        try:
            nets.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a network like 10.0.0.0/8") from None
    return ",".join(nets)


def parse_token(text: str) -> str:
    """An access token of at least 8 characters without spaces, or empty for "none".

    The message never repeats the token.
    """
    if text and (len(text) < 8 or any(c.isspace() for c in text)):
        raise ValueError("a token is at least 8 characters, without spaces")
    return text


def parse_host(text: str) -> str:
    """An IP address literal or a syntactically plausible host name (not resolved here)."""
    host = text.strip()
    if not host:
        raise ValueError("empty address")
    if is_ip_literal(host):
        return host
    if len(host) > 253 or _HOST_NAME.match(host) is None:
        raise ValueError(f"{host!r} is neither an IP address nor a host name")
    return host


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (so needs no name lookup)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
