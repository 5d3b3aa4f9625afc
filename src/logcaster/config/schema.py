"""How a setting is declared: :func:`setting` puts a :class:`Setting` (parser, bound,
help, metavar, flags, startup check) on a section field, and :class:`Section` checks
every field of a section when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import TypeVar

from ..values import (
    format_size,
    parse_size,
    parse_udp_port,
)

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
        if self.parse is parse_udp_port and type(value) is int:
            value = str(value)  # a port written as a number: udp_port = 514
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
