"""The server's settings: one typed, frozen ``Config``, and the sources it is loaded from.

``Config`` is made of sections (``ingest``, ``query``, ``ring``, ``pool``, ``tls``,
``persist``, ``http``, ``irc``), one class per concern. Each setting is declared once, in
its section, with ``setting()``: default, parser, upper bound, help text, metavar and
command-line flags. The flags, the environment variables (``LOGCASTER_<SECTION>_<KEY>``)
and the TOML config file's keys (``[section] key = ...``) are all derived from those
declarations.

Precedence: command-line flags > environment > config file > defaults.
Building a ``Config`` only checks values; ``check_startup`` does the name lookups and file
checks that need the machine, just before the server binds.
"""

from ..values import MiB, parse_size
from .flags import ArgumentParser, add_config_arguments, config_from_args
from .irc import IrcConfig
from .schema import ConfigError, Section, Setting, setting, settings
from .sections import (
    Config,
    HttpConfig,
    IngestConfig,
    PersistConfig,
    PoolConfig,
    QueryConfig,
    RingConfig,
    TLSConfig,
    check_startup,
    env_vars,
    sections,
)
from .sources import ConfigFile, env_layer, file_layer, load_config, read_config_file
from .store import StoreConfig

__all__ = [
    "ArgumentParser",
    "Config",
    "ConfigError",
    "ConfigFile",
    "HttpConfig",
    "IngestConfig",
    "IrcConfig",
    "MiB",
    "PersistConfig",
    "PoolConfig",
    "QueryConfig",
    "RingConfig",
    "Section",
    "Setting",
    "StoreConfig",
    "TLSConfig",
    "add_config_arguments",
    "check_startup",
    "config_from_args",
    "env_layer",
    "env_vars",
    "file_layer",
    "load_config",
    "parse_size",
    "read_config_file",
    "sections",
    "setting",
    "settings",
]
