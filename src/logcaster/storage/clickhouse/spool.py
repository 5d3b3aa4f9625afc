"""The spool: batches ClickHouse did not take, kept on the node's disk in order until
it takes them, within a byte bound.

One file per batch (``<seq>.batch``): a header line ``<batch id> <rows>`` and then the
batch's items, each ``<receive time ns> <byte count>\\n`` followed by that many bytes
of newline-terminated lines. A file is written under a temporary name and renamed, so
a crash leaves whole batches or none.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..batch import Item


@dataclass(frozen=True, slots=True)
class Spooled:
    path: Path
    batch_id: str
    rows: int
    items: list[Item]


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):
            tmp.unlink()
        files = self._files()
        self._seq = int(files[-1].stem) + 1 if files else 0
        self.bytes = sum(f.stat().st_size for f in files)

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("*.batch"), key=lambda p: int(p.stem))

    def __len__(self) -> int:
        return len(self._files())

    def add(self, batch_id: str, rows: int, items: list[Item]) -> bool:
        """Keep a batch; False (nothing written) when it would pass the byte bound."""
        parts: list[bytes | memoryview] = [f"{batch_id} {rows}\n".encode()]
        for data, ts in items:
            parts.append(f"{ts} {len(data)}\n".encode())
            parts.append(data)
        blob = b"".join(parts)
        if self.bytes + len(blob) > self.max_bytes:
            return False
        path = self.directory / f"{self._seq:012d}.batch"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._seq += 1
        self.bytes += len(blob)
        return True

    def oldest(self) -> Spooled | None:
        """The first batch still waiting, or None."""
        for path in self._files():
            try:
                return _read(path)
            except (OSError, ValueError):  # unreadable: set aside, never replayed twice
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".bad"))
        return None

    def remove(self, spooled: Spooled) -> None:
        with contextlib.suppress(FileNotFoundError):
            size = spooled.path.stat().st_size
            spooled.path.unlink()
            self.bytes -= size


def _read(path: Path) -> Spooled:
    raw = path.read_bytes()
    head, _, rest = raw.partition(b"\n")
    batch_id, rows = head.decode().split(" ")
    items: list[Item] = []
    pos = 0
    while pos < len(rest):
        nl = rest.index(b"\n", pos)
        ts, size = map(int, rest[pos:nl].split(b" "))
        start = nl + 1
        items.append((rest[start : start + size], ts))
        pos = start + size
    return Spooled(path, batch_id, int(rows), items)
