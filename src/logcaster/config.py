"""One typed configuration for the server, and its 1:1 mapping onto CLI flags.

Fields are grouped by prefix (``ingest_``, ``query_``, ``ring_``, ``pool_``);
each field's metadata names its flag(s), so the command line is generated from
this class and cannot drift from it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

MiB = 1 << 20


class ConfigError(ValueError):
    """An invalid setting; the message names the flag."""


def _flag(
    *names: str, help: str, metavar: str | None = None, switch: bool = False
) -> dict[str, Any]:
    return {"flags": names, "help": help, "metavar": metavar, "switch": switch}


def parse_port(text: str) -> int:
    value = _parse_int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port (1-65535, or 0 for any free port)")
    return value


def parse_positive_int(text: str) -> int:
    value = _parse_int(text)
    if value < 1:
        raise ValueError(f"{value} must be at least 1")
    return value


_SIZE = re.compile(r"^\s*([0-9][0-9_]*)\s*(?:([KMG])(?:i?B)?|B)?\s*$", re.IGNORECASE)
_SCALE = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """Bytes, with an optional binary suffix: ``65536``, ``512M``, ``512MiB``, ``1G``."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size (a whole number, optionally K, M or G)")
    value = int(m.group(1).replace("_", "")) * _SCALE.get((m.group(2) or "").upper(), 1)
    if value < 1:
        raise ValueError(f"{text!r} must be at least 1 byte")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{text!r} must be a positive number of seconds")
    return value


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
    value = _parse_int(text)
    if not 0 <= value <= 3_600_000:
        raise ValueError(f"{value} must be from 0 to 3600000 milliseconds")
    return value


def parse_directory(text: str) -> str:
    if not text.strip() or "\0" in text:
        raise ValueError(f"{text!r} is not a directory path")
    return text


def parse_switch(text: str) -> bool:
    if text not in ("True", "False"):
        raise ValueError(f"{text!r} is not on or off")
    return text == "True"


def parse_optional_seconds(text: str) -> float:
    """Seconds, or 0 for "never"."""
    return 0.0 if text.strip() in ("0", "0.0") else parse_seconds(text)


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
    if text and (len(text) < 8 or any(c.isspace() for c in text)):
        raise ValueError("a token is at least 8 characters, without spaces")
    return text


def parse_file(text: str) -> str:
    if text and not os.path.isfile(text):
        raise ValueError(f"no such file: {text}")
    return text


def parse_host(text: str) -> str:
    host = text.strip()
    if not host:
        raise ValueError("empty address")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            socket.getaddrinfo(host, None)
        except OSError:
            raise ValueError(f"{host!r} is neither an IP address nor a known host name") from None
    return host


def _parse_int(text: str) -> int:
    try:
        return int(text.strip().replace("_", ""), 10)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``logcaster serve`` can be told. Defaults are production values."""

    ingest_host: str = field(
        default="0.0.0.0",
        metadata=_flag("--host", help="ingest bind address (default: all interfaces)"),
    )
    ingest_port: int = field(
        default=9999,
        metadata=_flag("-p", "--port", help="ingest TCP port; 0 picks a free one (default: 9999)"),
    )
    ingest_max_line_bytes: int = field(
        default=65536,
        metadata=_flag(
            "--max-line-bytes",
            help="longer lines are cut to this size and end in '...' (default: 65536)",
        ),
    )
    query_host: str = field(
        default="127.0.0.1",
        metadata=_flag("--query-host", help="query bind address (default: loopback only)"),
    )
    query_port: int = field(
        default=9998,
        metadata=_flag("-q", "--query-port", help="query TCP port; 0 picks a free one (9998)"),
    )
    query_timeout: float = field(
        default=10.0,
        metadata=_flag(
            "--query-timeout",
            help="seconds a query connection may take to send its command (default: 10)",
        ),
    )
    ring_capacity: int = field(
        default=1_000_000,
        metadata=_flag("-c", "--capacity", help="lines held in memory (default: 1000000)"),
    )
    ring_max_memory: int = field(
        default=512 * MiB,
        metadata=_flag(
            "--max-memory",
            help="bytes of log data held in memory, K/M/G suffixes allowed (default: 512M)",
        ),
    )
    pool_workers: int = field(
        default=4,
        metadata=_flag("-w", "--workers", help="worker threads that run queries (default: 4)"),
    )
    pool_queue_size: int = field(
        default=64,
        metadata=_flag(
            "--queue-size",
            help="jobs waiting for a worker before clients are paused (default: 64)",
        ),
    )

    ingest_max_clients: int = field(
        default=10_000,
        metadata=_flag(
            "--max-clients",
            help="ingest connections open at once; more are closed at once (10000)",
        ),
    )
    ingest_idle_timeout: float = field(
        default=0.0,
        metadata=_flag(
            "--idle-timeout",
            help="close ingest connections silent this many seconds; 0: never (default)",
        ),
    )
    ingest_allow: str = field(
        default="",
        metadata=_flag(
            "--ingest-allow",
            metavar="CIDR[,CIDR]",
            help="only these networks may connect to the ingest port (default: any)",
        ),
    )
    ingest_tls: bool = field(
        default=False,
        metadata=_flag("--ingest-tls", switch=True, help="TLS on the ingest port (--tls-cert)"),
    )
    query_max_clients: int = field(
        default=64,
        metadata=_flag("--max-query-clients", help="query connections open at once (default: 64)"),
    )
    query_auth_token: str = field(
        default="",
        repr=False,
        metadata=_flag(
            "--auth-token",
            metavar="TOKEN",
            help="query clients must first send 'AUTH TOKEN' (or set LOGCASTER_AUTH_TOKEN)",
        ),
    )
    query_tls: bool = field(
        default=False,
        metadata=_flag("--query-tls", switch=True, help="TLS on the query port (--tls-cert)"),
    )
    tls_cert: str = field(
        default="",
        metadata=_flag("--tls-cert", metavar="PEM", help="TLS certificate chain (PEM)"),
    )
    tls_key: str = field(
        default="",
        metadata=_flag("--tls-key", metavar="PEM", help="TLS private key (PEM)"),
    )
    persist_enabled: bool = field(
        default=False,
        metadata=_flag(
            "-P", "--persist", switch=True, help="also write every line to files in --dir"
        ),
    )
    persist_dir: str = field(
        default="./logs",
        metadata=_flag("-d", "--dir", help="directory for log files, created if missing (./logs)"),
    )
    persist_max_file_mb: float = field(
        default=10.0,
        metadata=_flag(
            "-s", "--max-file-mb", help="rotate current.log at this size, MiB (default: 10)"
        ),
    )
    persist_retention_mb: float = field(
        default=1024.0,
        metadata=_flag(
            "--retention-mb",
            help="keep at most this many MiB of log files; oldest deleted first (1024)",
        ),
    )
    persist_fsync_ms: int = field(
        default=1000,
        metadata=_flag(
            "--fsync-ms",
            help="data reaches the disk at least this often; 0: after every write (1000)",
        ),
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            parse = PARSERS[f.name]
            try:
                parse(str(getattr(self, f.name)))
            except ValueError as exc:
                raise ConfigError(f"{f.metadata['flags'][-1]}: {exc}") from None
        if self.ingest_max_line_bytes > 64 * MiB:
            raise ConfigError("--max-line-bytes: at most 64M")
        upper = {
            "pool_workers": 256,
            "pool_queue_size": 1_000_000,
            "ring_capacity": 1_000_000_000,
            "ingest_max_clients": 1_000_000,
            "query_max_clients": 100_000,
        }
        for name, most in upper.items():
            if getattr(self, name) > most:
                flag = next(f.metadata["flags"][-1] for f in fields(self) if f.name == name)
                raise ConfigError(f"{flag}: at most {most}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert: give both --tls-cert and --tls-key")
        if (self.ingest_tls or self.query_tls) and not self.tls_cert:
            raise ConfigError("--ingest-tls/--query-tls: need --tls-cert and --tls-key")

    @property
    def tls_ports(self) -> tuple[bool, bool]:
        """(ingest, query) TLS: with a certificate and neither switch, both ports."""
        if not self.tls_cert:
            return False, False
        if not (self.ingest_tls or self.query_tls):
            return True, True
        return self.ingest_tls, self.query_tls


PARSERS: dict[str, Callable[[str], object]] = {
    "ingest_host": parse_host,
    "ingest_port": parse_port,
    "ingest_max_line_bytes": parse_size,
    "query_host": parse_host,
    "query_port": parse_port,
    "query_timeout": parse_seconds,
    "ring_capacity": parse_positive_int,
    "ring_max_memory": parse_size,
    "pool_workers": parse_positive_int,
    "pool_queue_size": parse_positive_int,
    "ingest_max_clients": parse_positive_int,
    "ingest_idle_timeout": parse_optional_seconds,
    "ingest_allow": parse_networks,
    "ingest_tls": parse_switch,
    "query_max_clients": parse_positive_int,
    "query_auth_token": parse_token,
    "query_tls": parse_switch,
    "tls_cert": parse_file,
    "tls_key": parse_file,
    "persist_enabled": parse_switch,
    "persist_dir": parse_directory,
    "persist_max_file_mb": parse_megabytes,
    "persist_retention_mb": parse_megabytes,
    "persist_fsync_ms": parse_milliseconds,
}


METAVARS: dict[Callable[[str], object], str] = {
    parse_host: "ADDR",
    parse_port: "PORT",
    parse_size: "BYTES",
    parse_seconds: "SECONDS",
    parse_optional_seconds: "SECONDS",
    parse_positive_int: "N",
    parse_megabytes: "MB",
    parse_milliseconds: "MS",
    parse_directory: "DIR",
}


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line naming the offending flag."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per Config field, each parsed and range-checked by its parser."""
    for f in fields(Config):
        if f.metadata["switch"]:
            parser.add_argument(
                *f.metadata["flags"], dest=f.name, action="store_true", help=f.metadata["help"]
            )
            continue
        parse = PARSERS[f.name]

        def convert(text: str, _parse: Callable[[str], object] = parse) -> object:
            try:
                return _parse(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        convert.__name__ = f.name.split("_", 1)[1].replace("_", "-")
        parser.add_argument(
            *f.metadata["flags"],
            dest=f.name,
            type=convert,
            default=f.default if f.default is not MISSING else None,
            help=f.metadata["help"],
            metavar=f.metadata["metavar"] or METAVARS.get(parse, "VALUE"),
        )


def config_from_args(ns: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """The Config of parsed flags; LOGCASTER_AUTH_TOKEN fills in a missing --auth-token."""
    values = {f.name: getattr(ns, f.name) for f in fields(Config)}
    env = os.environ if environ is None else environ
    if not values["query_auth_token"] and env.get("LOGCASTER_AUTH_TOKEN"):
        values["query_auth_token"] = env["LOGCASTER_AUTH_TOKEN"]
    return Config(**values)


ArgumentParser = _ArgumentParser
