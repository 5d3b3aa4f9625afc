"""The sections of ``Config``, one class per concern, each setting declared once;
the whole ``Config``, its cross-section checks, and the startup checks that need the
machine (name lookups, files).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields

from ..startup_checks import existing_file, resolvable_host
from ..values import (
    OFF,
    MiB,
    parse_directory,
    parse_host,
    parse_megabytes,
    parse_milliseconds,
    parse_networks,
    parse_optional_path,
    parse_optional_seconds,
    parse_port,
    parse_port_or_off,
    parse_positive_int,
    parse_seconds,
    parse_size,
    parse_switch,
    parse_token,
    parse_udp_port,
)
from .irc import IrcConfig
from .schema import ENV_PREFIX, ConfigError, Section, Setting, setting, settings
from .store import StoreConfig


@dataclass(frozen=True, slots=True)
class IngestConfig(Section):
    """The ingest listener: where log lines are received."""

    host: str = setting(
        "0.0.0.0",
        parse_host,
        "--host",
        metavar="ADDR",
        check=resolvable_host,
        help="ingest bind address; 0.0.0.0: all interfaces",
    )
    port: int = setting(
        9999, parse_port, "-p", "--port", metavar="PORT", help="ingest TCP port; 0 picks a free one"
    )
    max_line_bytes: int = setting(
        65536,
        parse_size,
        "--max-line-bytes",
        metavar="BYTES",
        most=64 * MiB,
        help="longer lines are cut to this size and end in '...'",
    )
    max_clients: int = setting(
        10_000,
        parse_positive_int,
        "--max-clients",
        metavar="N",
        most=1_000_000,
        help="ingest connections open at once; more are closed at once",
    )
    idle_timeout: float = setting(
        0.0,
        parse_optional_seconds,
        "--idle-timeout",
        metavar="SECONDS",
        help="close ingest connections silent this many seconds; 0: never",
    )
    allow: str = setting(
        "",
        parse_networks,
        "--ingest-allow",
        metavar="CIDR[,CIDR]",
        help="only these networks may connect to the ingest port (default: any)",
    )
    tls: bool = setting(
        False, parse_switch, "--ingest-tls", help="TLS on the ingest port (--tls-cert)"
    )
    udp_port: str = setting(
        "same",
        parse_udp_port,
        "--udp-port",
        metavar="PORT|same|off",
        help="ingest UDP port, one message per datagram; same: the TCP port's number",
    )


@dataclass(frozen=True, slots=True)
class QueryConfig(Section):
    """The query listener: where commands are answered."""

    host: str = setting(
        "127.0.0.1",
        parse_host,
        "--query-host",
        metavar="ADDR",
        check=resolvable_host,
        help="query bind address; the default is loopback only",
    )
    port: int = setting(
        9998,
        parse_port,
        "-q",
        "--query-port",
        metavar="PORT",
        help="query TCP port; 0 picks a free one",
    )
    timeout: float = setting(
        10.0,
        parse_seconds,
        "--query-timeout",
        metavar="SECONDS",
        help="seconds a query connection may take to send its command",
    )
    max_clients: int = setting(
        64,
        parse_positive_int,
        "--max-query-clients",
        metavar="N",
        most=100_000,
        help="query connections open at once",
    )
    auth_token: str = setting(
        "",
        parse_token,
        "--auth-token",
        metavar="TOKEN",
        env_aliases=("LOGCASTER_AUTH_TOKEN",),
        repr=False,
        help="query clients must first send 'AUTH TOKEN' (or set LOGCASTER_AUTH_TOKEN)",
    )
    tls: bool = setting(
        False, parse_switch, "--query-tls", help="TLS on the query port (--tls-cert)"
    )


@dataclass(frozen=True, slots=True)
class RingConfig(Section):
    """The in-memory ring of recent lines; whichever limit is hit first evicts."""

    capacity: int = setting(
        1_000_000,
        parse_positive_int,
        "-c",
        "--capacity",
        metavar="N",
        most=1_000_000_000,
        help="lines held in memory",
    )
    max_memory: int = setting(
        512 * MiB,
        parse_size,
        "--max-memory",
        metavar="BYTES",
        help="bytes of log data held in memory, K/M/G suffixes allowed",
    )


@dataclass(frozen=True, slots=True)
class PoolConfig(Section):
    """The worker threads that run queries."""

    workers: int = setting(
        4,
        parse_positive_int,
        "-w",
        "--workers",
        metavar="N",
        most=256,
        help="worker threads that run queries",
    )
    queue_size: int = setting(
        64,
        parse_positive_int,
        "--queue-size",
        metavar="N",
        most=1_000_000,
        help="jobs waiting for a worker before clients are paused",
    )


@dataclass(frozen=True, slots=True)
class TLSConfig(Section):
    """Certificate and key for the TLS listeners."""

    cert: str = setting(
        "",
        parse_optional_path,
        "--tls-cert",
        metavar="PEM",
        check=existing_file,
        help="TLS certificate chain (PEM)",
    )
    key: str = setting(
        "",
        parse_optional_path,
        "--tls-key",
        metavar="PEM",
        check=existing_file,
        help="TLS private key (PEM)",
    )


@dataclass(frozen=True, slots=True)
class PersistConfig(Section):
    """Writing every line to rotated files on disk."""

    enabled: bool = setting(
        False, parse_switch, "-P", "--persist", help="also write every line to files in --dir"
    )
    dir: str = setting(
        "./logs",
        parse_directory,
        "-d",
        "--dir",
        metavar="DIR",
        help="directory for log files, created if missing",
    )
    max_file_mb: float = setting(
        10.0,
        parse_megabytes,
        "-s",
        "--max-file-mb",
        metavar="MB",
        help="rotate current.log at this size, MiB",
    )
    retention_mb: float = setting(
        1024.0,
        parse_megabytes,
        "--retention-mb",
        metavar="MB",
        help="keep at most this many MiB of log files; oldest deleted first",
    )
    fsync_ms: int = setting(
        1000,
        parse_milliseconds,
        "--fsync-ms",
        metavar="MS",
        help="data reaches the disk at least this often; 0: after every write",
    )


@dataclass(frozen=True, slots=True)
class HttpConfig(Section):
    """The HTTP listener: JSON query API, live tail, stats, /metrics."""

    host: str = setting(
        "127.0.0.1",
        parse_host,
        "--http-host",
        metavar="ADDR",
        check=resolvable_host,
        help="HTTP bind address; the default is loopback only (it shows every log)",
    )
    port: int = setting(
        9997,
        parse_port_or_off,
        "--http-port",
        metavar="PORT",
        help="HTTP port; 0 picks a free one, off disables",
    )
    tls: bool = setting(False, parse_switch, "--http-tls", help="TLS on the HTTP port (--tls-cert)")
    max_body: int = setting(
        16 * MiB,
        parse_size,
        "--http-max-body",
        metavar="BYTES",
        most=1 << 30,
        help="largest request body accepted (413 past it)",
    )


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``logcaster serve`` can be told. Defaults are production values."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    tls: TLSConfig = field(default_factory=TLSConfig)
    persist: PersistConfig = field(default_factory=PersistConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    irc: IrcConfig = field(default_factory=IrcConfig)

    def __post_init__(self) -> None:
        for name, cls in sections():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name}: expected a {cls.__name__}")
        if bool(self.tls.cert) != bool(self.tls.key):
            raise ConfigError("--tls-cert: give both --tls-cert and --tls-key")
        if (self.ingest.tls or self.query.tls) and not self.tls.cert:
            raise ConfigError("--ingest-tls/--query-tls: need --tls-cert and --tls-key")
        if self.http.tls and not self.tls.cert:
            raise ConfigError("--http-tls: needs --tls-cert and --tls-key")
        if self.irc.tls and not self.tls.cert:
            raise ConfigError("--irc-tls: needs --tls-cert and --tls-key")
        self._check_ports_differ()

    def _check_ports_differ(self) -> None:
        """Two listeners given one port (0, a free one each, aside) fail before binding."""
        taken: dict[int, str] = {}
        for flag, port in (
            ("--port", self.ingest.port),
            ("--query-port", self.query.port),
            ("--http-port", self.http.port),
            ("--irc-port", self.irc.port if self.irc.enabled else 0),
        ):
            if port in (0, OFF):
                continue
            if port in taken:
                raise ConfigError(f"{flag} {port}: {taken[port]} already uses this port")
            taken[port] = flag

    @property
    def tls_ports(self) -> tuple[bool, bool]:
        """(ingest, query) TLS: with a certificate and no TLS switch at all, both ports."""
        if not self.tls.cert:
            return False, False
        if not (self.ingest.tls or self.query.tls or self.http.tls or self.irc.tls):
            return True, True
        return self.ingest.tls, self.query.tls


def sections() -> Iterator[tuple[str, type[Section]]]:
    """(name, class) of each section of ``Config``, in declaration order."""
    for f in fields(Config):
        cls = f.default_factory
        assert isinstance(cls, type) and issubclass(cls, Section)
        yield f.name, cls


def _setting_of(section_name: str, key: str) -> Setting:
    cls = dict(sections())[section_name]
    return next(about for name, about, _ in settings(cls) if name == key)


def env_vars(section_name: str, key: str) -> tuple[str, ...]:
    """The environment variables of one setting, the one that wins first."""
    about = _setting_of(section_name, key)
    return (f"{ENV_PREFIX}{section_name}_{key}".upper(), *about.env_aliases)


def check_startup(config: Config) -> None:
    """Checks that need the machine: host names resolve, TLS files exist.

    Run just before binding; raises ConfigError naming the flag.
    """
    for section_name, cls in sections():
        values = getattr(config, section_name)
        for name, about, _ in settings(cls):
            if about.check is None:
                continue
            try:
                about.check(str(getattr(values, name)))
            except ValueError as exc:
                raise ConfigError(f"{about.flag}: {exc}") from None
