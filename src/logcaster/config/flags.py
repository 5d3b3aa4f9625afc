"""The command line of ``logcaster serve``: one flag per setting, generated from the
declarations, parsed into the top layer of :func:`~.sources.load_config`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import Any

from .schema import CONFIG_ENV, ENV_PREFIX, Setting, settings
from .sections import Config, sections
from .sources import Layer, load_config, read_config_file

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
