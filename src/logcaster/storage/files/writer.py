"""Writing ``--dir``: :class:`PersistWriter` appends every accepted line to
``current.log`` and its index, rotates it at ``--max-file-mb``, deletes the oldest
files past ``--retention-mb`` and fsyncs at least every ``--fsync-ms``.

It is a :class:`~logcaster.storage.batch.BatchWriter`: one large write per file per
batch, on the writer thread, with the shared backpressure. A failing disk is
retried; lines it cannot take stay in memory and are counted.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ...console import say
from ...scan import count_lines
from ...stats import Metric
from ..batch import BatchWriter, Item
from ..ring import BlockView
from .history import history_views
from .layout import CURRENT, CURRENT_IDX, IDX_RECORD, rotated_files, rotated_name, rotation_key

ERROR_REPORT_S = 60.0
RETRY_S = 1.0


@dataclass(slots=True)
class PersistStats:
    lines: int = 0  # lines written
    bytes: int = 0  # bytes written
    files_rotated: int = 0
    files_deleted: int = 0
    write_errors: int = 0
    not_persisted: int = 0  # lines given up on during a disk failure


class PersistWriter(BatchWriter):
    """Appends submitted blocks to ``current.log`` (and its index) on the writer thread."""

    def __init__(
        self,
        directory: Path,
        max_file_bytes: int,
        retention_bytes: int,
        fsync_ms: int,
        on_drained: Callable[[], None] | None = None,
        opener: Callable[[Path], int] | None = None,
    ) -> None:
        super().__init__("logcaster-persist", on_drained)
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.retention_bytes = retention_bytes
        self.fsync_s = fsync_ms / 1000.0
        self._open = opener or (lambda p: os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        self.stats = PersistStats()
        self._failing = False
        self._last_report = -ERROR_REPORT_S
        self._data_fd = -1
        self._idx_fd = -1
        self._size = 0
        self._idx_size = 0
        self._dirty = False
        self._last_sync = time.monotonic()
        self._last_rotation = ("", -1)  # (second, number) of the newest rotated name

    # ------------------------------------------------------ writer thread
    def open(self) -> None:
        self._reopen()

    def close_sink(self) -> None:
        self._close_files()

    def write_batch(self, batch: list[Item]) -> None:
        done = [0, 0]  # (item, byte) up to which the batch is safely on file
        while True:
            try:
                self._write(batch, done)
                if self._failing:
                    self._failing = False
                    say("LogCaster: persistence resumed")
                break
            except OSError as exc:
                self.stats.write_errors += 1
                self._failing = True
                now = time.monotonic()
                if now - self._last_report >= ERROR_REPORT_S:
                    self._last_report = now
                    say(
                        f"LogCaster: cannot write to {self.directory}: {exc.strerror or exc};"
                        " serving from memory, retrying"
                    )
                if self.over_high_water():
                    # Give up on the rest of this batch rather than stall ingest
                    # behind a dead disk; the lines stay in memory.
                    item, pos = done
                    rest = [batch[item][0][pos:], *(d for d, _ in batch[item + 1 :])]
                    self.stats.not_persisted += sum(count_lines(d, 0, len(d)) for d in rest)
                    break
                time.sleep(RETRY_S)
                self._reopen_quietly()

    def _write(self, batch: list[Item], done: list[int]) -> None:
        if self._data_fd < 0:
            self._reopen()
        try:
            self._write_parts(batch, done)
        except OSError:
            # Undo a partial write so the retry can neither tear nor duplicate lines.
            for fd, size in ((self._data_fd, self._size), (self._idx_fd, self._idx_size)):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)
            raise

    def _write_parts(self, batch: list[Item], done: list[int]) -> None:
        """Append the batch from ``done`` on, rotating whenever current.log is full.

        A chunk that would overflow the file is cut at its last line that fits;
        a single line longer than the limit fills a file of its own. ``done``
        advances after every successful file write, so a retry resumes there.
        """
        limit = self.max_file_bytes
        data_parts: list[memoryview] = []
        records: list[bytes] = []
        size = self._size

        def commit(item: int, pos: int) -> None:
            nonlocal data_parts, records
            if data_parts:
                self._append(data_parts, records, size)
                data_parts, records = [], []
            done[0], done[1] = item, pos

        item, pos = done
        while item < len(batch):
            data, ts = batch[item]
            view = memoryview(data)
            while pos < len(data):
                room = limit - size
                if len(data) - pos <= room:
                    end = len(data)
                else:
                    end = pos + bytes(view[pos : pos + room]).rfind(b"\n") + 1
                if end <= pos:
                    if size > 0:  # start a new file for what does not fit
                        commit(item, pos)
                        self._rotate()
                        size = self._size
                        continue
                    nl = bytes(view[pos + room :]).find(b"\n")
                    end = pos + room + nl + 1 if nl >= 0 else len(data)
                data_parts.append(view[pos:end])
                size += end - pos
                records.append(IDX_RECORD.pack(size, ts))
                pos = end
                if size >= limit:
                    commit(item, pos)
                    self._rotate()
                    size = self._size
            item, pos = item + 1, 0
        commit(item, pos)

    def _append(self, data_parts: list[memoryview], records: list[bytes], size: int) -> None:
        """Write data then index of one file; ``size`` is the data file's size after."""
        data = b"".join(data_parts)
        _write_all(self._data_fd, data)
        index = b"".join(records)
        _write_all(self._idx_fd, index)
        self._size = size
        self._idx_size += len(index)
        self._dirty = True
        self.stats.lines += count_lines(data, 0, len(data))  # memchr, GIL released
        self.stats.bytes += len(data)

    def sync(self, force: bool) -> None:
        if not self._dirty or self._data_fd < 0:
            return
        now = time.monotonic()
        if force or self.fsync_s == 0 or now - self._last_sync >= self.fsync_s:
            try:
                os.fsync(self._data_fd)
                os.fsync(self._idx_fd)
            except OSError:
                self.stats.write_errors += 1
                return
            self._dirty = False
            self._last_sync = now

    # ------------------------------------------------------------ files
    def _reopen(self) -> None:
        self._close_files()
        self._data_fd = self._open(self.directory / CURRENT)
        self._idx_fd = self._open(self.directory / CURRENT_IDX)
        self._size = os.fstat(self._data_fd).st_size
        self._idx_size = os.fstat(self._idx_fd).st_size

    def _reopen_quietly(self) -> None:
        try:
            self._reopen()
        except OSError:
            self._close_files()

    def _close_files(self) -> None:
        for fd in (self._data_fd, self._idx_fd):
            if fd >= 0:
                try:
                    if self._dirty:
                        os.fsync(fd)
                finally:
                    os.close(fd)
        self._data_fd = self._idx_fd = -1
        self._dirty = False

    def _rotate(self) -> None:
        os.fsync(self._data_fd)
        os.fsync(self._idx_fd)
        self._dirty = False
        self._close_files()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        # Names must sort in rotation order even after retention deleted some
        # of this second's files: never reuse a number, never go back.
        keys = [rotation_key(f.path.name) for f in rotated_files(self.directory)]
        last = self._last_rotation[1] if self._last_rotation[0] == stamp else -1
        n = max([last, *(k[1] for k in keys if k[0] == stamp)]) + 1
        name = rotated_name(stamp, n)
        self._last_rotation = (stamp, n)
        os.replace(self.directory / CURRENT_IDX, self.directory / f"{name}.idx")
        os.replace(self.directory / CURRENT, self.directory / f"{name}.log")
        self.stats.files_rotated += 1
        self._reopen()
        _fsync_dir(self.directory)
        self._apply_retention()

    def _apply_retention(self) -> None:
        files = rotated_files(self.directory)
        total = sum(f.size for f in files) + self._size
        for f in files:
            if total <= self.retention_bytes:
                break
            total -= f.size
            for p in (f.path, f.index):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self.stats.files_deleted += 1

    def file_count(self) -> int:
        return len(rotated_files(self.directory)) + 1

    # ------------------------------------------------------------- readers
    def history_views(self) -> tuple[BlockView, ...]:
        """Every persisted line, oldest first (``scope=all``): what was submitted is
        written out first, so a search sees every line accepted before it."""
        self.flush(timeout=10.0)
        return history_views(self.directory)

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        yield Metric("Persist", "on", "whether lines are also written to --dir")
        yield Metric("PersistedLines", s.lines, "lines written to files", "counter")
        yield Metric("PersistedBytes", s.bytes, "bytes written to files", "counter")
        yield Metric("Files", self.file_count(), "log files in --dir", prom="persist_files")
        yield Metric(
            "FilesRotated",
            s.files_rotated,
            "current.log rotations",
            "counter",
            "persist_files_rotated",
        )
        yield Metric(
            "FilesDeleted",
            s.files_deleted,
            "files deleted by retention",
            "counter",
            "persist_files_deleted",
        )
        yield Metric(
            "WriteQueue",
            self.queue_depth,
            "blocks waiting for the writer",
            prom="persist_queue_blocks",
        )
        yield Metric(
            "WriteBacklogBytes",
            self.backlog,
            "bytes waiting for the writer",
            prom="persist_backlog_bytes",
        )
        yield Metric(
            "WriteErrors",
            s.write_errors,
            "failed writes or fsyncs",
            "counter",
            "persist_write_errors",
        )
        yield Metric(
            "NotPersisted",
            s.not_persisted,
            "lines given up on during a disk failure",
            "counter",
            "persist_skipped_lines",
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
