"""The server's settings: one typed, frozen ``Config``, and the sources it is loaded from.

``Config`` is made of sections (``ingest``, ``query``, ``ring``, ``pool``, ``tls``,
``persist``), one class per concern. Each setting is declared once, in its section, with
``setting()``: default, parser, upper bound, help text, metavar and command-line flags. The
flags, the environment variables (``LOGCASTER_<SECTION>_<KEY>``) and the TOML config file's
keys (``[section] key = ...``) are all derived from those declarations.

Precedence: command-line flags > environment > config file > defaults.
Building a ``Config`` only checks values; ``check_startup`` does the name lookups and file
checks that need the machine, just before the server binds.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from .startup_checks import existing_file, resolvable_host
from .values import (
    MiB,
    format_size,
    parse_directory,
    parse_host,
    parse_megabytes,
    parse_milliseconds,
    parse_networks,
    parse_optional_path,
    parse_optional_seconds,
    parse_port,
    parse_positive_int,
    parse_seconds,
    parse_size,
    parse_switch,
    parse_token,
)

__all__ = [
    "ArgumentParser",
    "Config",
    "ConfigError",
    "ConfigFile",
    "IngestConfig",
    "MiB",
    "PersistConfig",
    "PoolConfig",
    "QueryConfig",
    "RingConfig",
    "Section",
    "Setting",
    "TLSConfig",
    "add_config_arguments",
    "check_startup",
    "config_from_args",
    "env_layer",
    "env_vars",
    "file_layer",
    "load_config",
    "read_config_file",
    "sections",
    "setting",
    "settings",
]

T = TypeVar("T")

ENV_PREFIX = "LOGCASTER_"
CONFIG_ENV = "LOGCASTER_CONFIG"
_SETTING = "logcaster.setting"


class ConfigError(ValueError):
    """An invalid setting; the one-line message names the flag, variable or file line."""


# ------------------------------------------------------------------ declarations


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
_GOT = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array"}


@dataclass(frozen=True, slots=True)
class Setting:
    """Everything about one setting except its name and default."""

    kind: type
    parse: Callable[[str], object]
    flags: tuple[str, ...]
    help: str
    metavar: str | None = None
    most: int | None = None
    check: Callable[[str], None] | None = None
    env_aliases: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """The long flag, which error messages name."""
        return self.flags[-1]

    @property
    def switch(self) -> bool:
        """An on/off setting: a flag without a value on the command line."""
        return self.kind is bool

    def from_text(self, text: str) -> object:
        """Parse ``text`` and apply the upper bound; ValueError without the setting's name."""
        value = self.parse(text)
        if self.most is not None and isinstance(value, int | float) and value > self.most:
            most = format_size(self.most) if self.parse is parse_size else str(self.most)
            raise ValueError(f"at most {most}")
        return value

    def from_value(self, value: object) -> object:
        """Check a value given as itself (an argument, a TOML native) and normalise it."""
        wanted: tuple[type, ...] = (int, float) if self.kind is float else (self.kind,)
        if isinstance(value, bool) is not (self.kind is bool) or not isinstance(value, wanted):
            got = _GOT.get(
                type(value), "a table" if isinstance(value, dict) else type(value).__name__
            )
            raise ValueError(f"expected {_KINDS[self.kind]}, got {got}")
        return self.from_text(str(value))

    def show(self, value: object) -> str:
        """``value`` as the text a user would write."""
        if self.parse is parse_size and isinstance(value, int):
            return format_size(value)
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


def setting(
    default: T,
    parse: Callable[[str], T],
    *flags: str,
    help: str,
    metavar: str | None = None,
    most: int | None = None,
    check: Callable[[str], None] | None = None,
    env_aliases: tuple[str, ...] = (),
    repr: bool = True,
) -> T:
    """A section field: its default plus the ``Setting`` that describes it."""
    about = Setting(type(default), parse, flags, help, metavar, most, check, env_aliases)
    return field(default=default, repr=repr, metadata={_SETTING: about})


def settings(cls: type[Section]) -> Iterator[tuple[str, Setting, object]]:
    """(name, setting, default) of each field of a section class, in declaration order."""
    for f in fields(cls):
        yield f.name, f.metadata[_SETTING], f.default


@dataclass(frozen=True, slots=True)
class Section:
    """A group of settings; its fields are declared with ``setting()``."""

    def __post_init__(self) -> None:
        for name, about, _ in settings(type(self)):
            value = getattr(self, name)
            try:
                checked = about.from_value(value)
            except ValueError as exc:
                raise ConfigError(f"{about.flag}: {exc}") from None
            if checked != value or type(checked) is not type(value):
                object.__setattr__(self, name, checked)


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
class Config:
    """Everything ``logcaster serve`` can be told. Defaults are production values."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    tls: TLSConfig = field(default_factory=TLSConfig)
    persist: PersistConfig = field(default_factory=PersistConfig)

    def __post_init__(self) -> None:
        for name, cls in sections():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name}: expected a {cls.__name__}")
        if bool(self.tls.cert) != bool(self.tls.key):
            raise ConfigError("--tls-cert: give both --tls-cert and --tls-key")
        if (self.ingest.tls or self.query.tls) and not self.tls.cert:
            raise ConfigError("--ingest-tls/--query-tls: need --tls-cert and --tls-key")

    @property
    def tls_ports(self) -> tuple[bool, bool]:
        """(ingest, query) TLS: with a certificate and neither switch, both ports."""
        if not self.tls.cert:
            return False, False
        if not (self.ingest.tls or self.query.tls):
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


# ------------------------------------------------------------------ sources

Layer = dict[str, dict[str, object]]
"""Values from one source: section name -> setting name -> checked value."""


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A config file's name (as the user wrote it, for messages) and its text."""

    name: str
    text: str


def read_config_file(path: str, origin: str = "--config") -> ConfigFile:
    """Read a config file; ``origin`` (the flag or variable that named it) heads errors."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"{origin}: no such file: {path}") from None
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return ConfigFile(path, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]*?)\s*\]")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]""")


def _line_of(text: str, section_name: str | None, key: str | None) -> int | None:
    """The line of ``key`` in ``[section_name]`` (or of the section's header), if found."""
    current: str | None = None
    fallback: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            current = header.group(1).strip("\"'")
            if current == section_name and fallback is None:
                fallback = number
                if key is None:
                    return number
            continue
        found = _KEY.match(line)
        if found is None:
            continue
        name = found.group(1).strip("\"'")
        if current == section_name and name == key:
            return number
        if current is None and name == section_name and fallback is None:
            fallback = number  # a dotted key at the top: ingest.port = 1
    return fallback


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def file_layer(file: ConfigFile) -> Layer:
    """The settings of a TOML config file, checked; errors name the file, line and key."""
    try:
        data = tomllib.loads(file.text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file.name}: {exc}") from None

    def fail(section_name: str | None, key: str | None, message: str) -> ConfigError:
        line = _line_of(file.text, section_name, key)
        where = file.name if line is None else f"{file.name}:{line}"
        return ConfigError(f"{where}: {message}")

    known = dict(sections())
    layer: Layer = {}
    for section_name, table in data.items():
        cls = known.get(section_name)
        if not isinstance(table, dict):
            names = ", ".join(f"[{n}]" for n in known)
            raise fail(None, section_name, f"{section_name}: not in a section; keys go in {names}")
        if cls is None:
            hint = _suggest(section_name, list(known))
            raise fail(section_name, None, f"[{section_name}]: unknown section{hint}")
        about = {name: a for name, a, _ in settings(cls)}
        values: dict[str, object] = {}
        for key, value in table.items():
            if key not in about:
                hint = _suggest(key, list(about))
                raise fail(section_name, key, f"[{section_name}] {key}: unknown key{hint}")
            try:
                if isinstance(value, str):
                    values[key] = about[key].from_text(value)
                else:
                    values[key] = about[key].from_value(value)
            except ValueError as exc:
                raise fail(section_name, key, f"[{section_name}] {key}: {exc}") from None
        layer[section_name] = values
    return layer


def env_layer(environ: Mapping[str, str]) -> Layer:
    """The settings given as ``LOGCASTER_<SECTION>_<KEY>`` variables (empty means unset)."""
    layer: Layer = {}
    for section_name, cls in sections():
        values: dict[str, object] = {}
        for name, about, _ in settings(cls):
            for var in env_vars(section_name, name):
                text = environ.get(var, "")
                if not text:
                    continue
                try:
                    values[name] = about.from_text(text)
                except ValueError as exc:
                    raise ConfigError(f"{var} ({about.flag}): {exc}") from None
                break
        layer[section_name] = values
    return layer


def load_config(
    cli: Mapping[str, Mapping[str, object]] | None = None,
    environ: Mapping[str, str] | None = None,
    file: ConfigFile | None = None,
) -> Config:
    """Merge the sources: ``cli`` (section -> key -> value) over ``environ`` over ``file``
    over the defaults. Pure: reads nothing but its arguments."""
    known = dict(sections())
    merged: dict[str, dict[str, object]] = {name: {} for name in known}
    for layer in (file_layer(file) if file else {}, env_layer(environ or {}), cli or {}):
        for section_name, values in layer.items():
            if section_name not in known:
                raise ConfigError(f"{section_name}: unknown section")
            merged[section_name].update(values)
    kwargs: dict[str, Any] = {}
    for name, cls in known.items():
        unknown = set(merged[name]) - {key for key, _, _ in settings(cls)}
        if unknown:
            raise ConfigError(f"[{name}] {min(unknown)}: unknown key")
        builder: Callable[..., Section] = cls
        kwargs[name] = builder(**merged[name])
    return Config(**kwargs)


# ------------------------------------------------------------------ command line


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line naming the offending flag."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _dest(section_name: str, key: str) -> str:
    return f"{section_name}_{key}"


def _converter(about: Setting) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return about.from_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = about.flag.lstrip("-")
    return convert


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and one flag per setting, grouped by section.

    Every default is None, so a flag that is not given leaves the lower sources in charge.
    """
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"TOML settings file; flags and {ENV_PREFIX}* variables override it "
        f"(or set {CONFIG_ENV})",
    )
    for section_name, cls in sections():
        title = f"[{section_name}] settings ({ENV_PREFIX}{section_name.upper()}_*)"
        group = parser.add_argument_group(title, (cls.__doc__ or "").strip().splitlines()[0])
        for name, about, default in settings(cls):
            dest = _dest(section_name, name)
            if about.switch:
                group.add_argument(
                    *about.flags, dest=dest, action="store_true", default=None, help=about.help
                )
                continue
            shown = about.show(default)
            group.add_argument(
                *about.flags,
                dest=dest,
                type=_converter(about),
                default=None,
                metavar=about.metavar,
                help=f"{about.help} (default: {shown})" if shown else about.help,
            )


def config_from_args(ns: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    """The Config of parsed flags over the environment over the config file over defaults.

    The file is ``--config``, else ``$LOGCASTER_CONFIG``; ``environ`` defaults to os.environ.
    """
    env = os.environ if environ is None else environ
    file = None
    if getattr(ns, "config", None):
        file = read_config_file(ns.config, "--config")
    elif env.get(CONFIG_ENV):
        file = read_config_file(env[CONFIG_ENV], CONFIG_ENV)
    cli: Layer = {}
    for section_name, cls in sections():
        given = {
            name: getattr(ns, _dest(section_name, name))
            for name, _, _ in settings(cls)
            if getattr(ns, _dest(section_name, name), None) is not None
        }
        cli[section_name] = given
    return load_config(cli, env, file)
