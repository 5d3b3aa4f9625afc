"""Crash recovery of ``current.log``: a torn last line is cut off, and the index is
read (or rebuilt) so that every byte of data has a receive time.
"""

from __future__ import annotations

import contextlib
import os
import time
from array import array
from pathlib import Path

from .layout import CURRENT, CURRENT_IDX, IDX_RECORD


def read_index(index: Path, data_size: int) -> tuple[array[int], array[int]]:
    """``(chunk start offsets, chunk times)`` of a log file, clipped to its data.

    A torn last record is ignored; data past the last record (written before
    its index entry, then a crash) is one more chunk stamped with the last time
    known (or the file's modification time).
    """
    offs: array[int] = array("q")
    tss: array[int] = array("q")
    raw = b""
    with contextlib.suppress(FileNotFoundError):
        raw = index.read_bytes()
    start = 0
    usable = len(raw) - len(raw) % IDX_RECORD.size
    for end, ts in IDX_RECORD.iter_unpack(raw[:usable]):
        end = min(end, data_size)
        if end <= start:
            continue
        offs.append(start)
        tss.append(ts)
        start = end
    if start < data_size:
        offs.append(start)
        if tss:
            tss.append(tss[-1])
        else:
            try:
                tss.append(int(index.with_suffix(".log").stat().st_mtime * 1e9))
            except OSError:
                tss.append(time.time_ns())
    return offs, tss


def recover(directory: Path) -> int:
    """Cut a torn last line off ``current.log`` and rewrite its index to match.

    Returns the number of bytes cut.
    """
    path = directory / CURRENT
    if not path.exists():
        return 0
    size = path.stat().st_size
    cut = 0
    if size:
        with path.open("rb+") as f:
            back = min(size, 1 << 20)
            while True:
                f.seek(size - back)
                tail = f.read(back)
                nl = tail.rfind(b"\n")
                if nl >= 0 or back == size:
                    keep = size - back + nl + 1 if nl >= 0 else 0
                    break
                back = min(size, back * 2)
            if keep < size:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
                cut = size - keep
                size = keep
    offs, tss = read_index(directory / CURRENT_IDX, size)
    ends = [*offs[1:], size] if len(offs) else []
    records = b"".join(IDX_RECORD.pack(e, t) for e, t in zip(ends, tss, strict=True))
    tmp = directory / (CURRENT_IDX + ".tmp")
    tmp.write_bytes(records)
    os.replace(tmp, directory / CURRENT_IDX)
    return cut
