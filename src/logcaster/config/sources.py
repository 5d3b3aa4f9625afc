"""Where settings come from besides flags: a TOML file (``--config``) and
``LOGCASTER_*`` environment variables, merged with precedence flags > environment >
file > defaults by :func:`load_config`. Errors are one line naming file and line,
or the variable.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .schema import ConfigError, Section, settings
from .sections import Config, env_vars, sections

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
