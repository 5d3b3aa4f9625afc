"""Checks of single setting values against the machine: name lookups and file existence.

These are the impure counterparts of ``values``: they run once, just before the server binds
(``config.check_startup``), never while a configuration is merely built or compared. Each raises
ValueError with a one-line message that does not name the setting; the caller adds the flag.
"""

from __future__ import annotations

import os
import socket

from .values import is_ip_literal


def resolvable_host(host: str) -> None:
    """An IP literal, or a host name the resolver knows."""
    if is_ip_literal(host):
        return
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        raise ValueError(f"{host!r} is neither an IP address nor a known host name") from None


def existing_file(path: str) -> None:
    """Empty (no file wanted), or the path of a regular file."""
    if path and not os.path.isfile(path):
        raise ValueError(f"no such file: {path}")
