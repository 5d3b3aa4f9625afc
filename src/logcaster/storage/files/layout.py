"""The layout of ``--dir``: file names, their order, and the directory check.

- ``current.log``: the raw lines, one per line, as ``grep`` and ``tail -f`` expect;
- ``current.idx``: its sidecar index, one little-endian ``(end offset, receive time
  ns)`` pair of int64 per written chunk: the lines of ``current.log`` up to that
  byte offset (and after the previous entry's) were received at that time;
- ``log-YYYYMMDD-HHMMSS[-N].log`` / ``.idx``: rotated files, oldest deleted first
  once all files together exceed ``--retention-mb``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

CURRENT = "current.log"
CURRENT_IDX = "current.idx"
IDX_RECORD = struct.Struct("<qq")


class PersistError(Exception):
    """The persistence directory cannot be used (reported at start, exit status 2)."""


@dataclass(frozen=True, slots=True)
class LogFile:
    """One on-disk log file and its index."""

    path: Path
    index: Path

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size + self.index.stat().st_size
        except FileNotFoundError:
            return 0


def rotated_files(directory: Path) -> list[LogFile]:
    """Rotated files, oldest first (their names sort by rotation time)."""
    found = []
    for path in directory.glob("log-*.log"):
        found.append(LogFile(path, path.with_suffix(".idx")))
    return sorted(found, key=lambda f: rotation_key(f.path.name))


def rotation_key(name: str) -> tuple[str, int]:
    """``log-YYYYMMDD-HHMMSS[-N].log`` -> (``YYYYMMDD-HHMMSS``, N)."""
    stem = name[len("log-") : -len(".log")]
    n = stem[16:]
    return stem[:15], int(n) if n.isdigit() else 0


def rotated_name(stamp: str, n: int) -> str:
    """The stem of the ``n``-th file rotated in the second ``stamp``."""
    return f"log-{stamp}" if n == 0 else f"log-{stamp}-{n}"


def current_file(directory: Path) -> LogFile:
    return LogFile(directory / CURRENT, directory / CURRENT_IDX)


def all_files(directory: Path) -> list[LogFile]:
    """Every log file, oldest first, ``current.log`` last."""
    return [*rotated_files(directory), current_file(directory)]


def check_directory(directory: Path) -> None:
    """Create ``directory`` (with parents) and prove it writable, or raise PersistError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PersistError(f"cannot create {directory}: {exc.strerror or exc}") from None
    if not directory.is_dir():
        raise PersistError(f"{directory} is not a directory")
    probe = directory / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PersistError(f"cannot write in {directory}: {exc.strerror or exc}") from None
