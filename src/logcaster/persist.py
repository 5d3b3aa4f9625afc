"""Durable plain-text log files: a writer thread, rotation, retention, recovery, reload.

Layout of ``--dir``:

- ``current.log``: the raw lines, one per line, as ``grep`` and ``tail -f`` expect;
- ``current.idx``: its sidecar index, one little-endian ``(end offset, receive time
  ns)`` pair of int64 per written chunk: the lines of ``current.log`` up to that
  byte offset (and after the previous entry's) were received at that time;
- ``log-YYYYMMDD-HHMMSS[-N].log`` / ``.idx``: rotated files, oldest deleted first
  once all files together exceed ``--retention-mb``.

The ingest path hands each stored block to :meth:`PersistWriter.submit`; a
dedicated thread drains the queue in batches (one large write per file per
batch) and fsyncs at least every ``--fsync-ms``. When the disk falls behind,
:attr:`PersistWriter.backlog` grows past its high-water mark and ingest
connections stop being read until it drains: nothing accepted is dropped.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import struct
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .console import say
from .ring import Block

CURRENT = "current.log"
CURRENT_IDX = "current.idx"
IDX_RECORD = struct.Struct("<qq")
HIGH_WATER = 64 << 20  # queued bytes at which ingest is paused
LOW_WATER = 16 << 20  # ... and resumed
BATCH_BYTES = 8 << 20
ERROR_REPORT_S = 60.0
RETRY_S = 1.0


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
    return sorted(found, key=lambda f: _rotation_key(f.path.name))


def _rotation_key(name: str) -> tuple[str, int]:
    """``log-YYYYMMDD-HHMMSS[-N].log`` -> (``YYYYMMDD-HHMMSS``, N)."""
    stem = name[len("log-") : -len(".log")]
    n = stem[16:]
    return stem[:15], int(n) if n.isdigit() else 0


def all_files(directory: Path) -> list[LogFile]:
    """Every log file, oldest first, ``current.log`` last."""
    return [*rotated_files(directory), LogFile(directory / CURRENT, directory / CURRENT_IDX)]


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


# ------------------------------------------------------------------ recovery
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


def open_block(log: LogFile) -> Block | None:
    """A read-only, memory-mapped view of a log file as a search block."""
    try:
        with log.path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return None
            buf = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):
        return None
    offs, tss = read_index(log.index, size)
    return Block.from_buffer(buf, size, offs, tss)


def load_newest(
    directory: Path, max_lines: int, max_bytes: int
) -> list[tuple[bytes, array[int], array[int]]]:
    """The newest lines on disk, oldest first, as ``(data, chunk offsets, chunk times)``
    per file, at most ``max_lines`` lines and ``max_bytes`` bytes in all."""
    parts: list[tuple[bytes, array[int], array[int]]] = []
    lines = nbytes = 0
    for log in reversed(all_files(directory)):
        if lines >= max_lines or nbytes >= max_bytes:
            break
        try:
            data = log.path.read_bytes()
        except FileNotFoundError:
            continue
        data = data[: data.rfind(b"\n") + 1]
        if not data:
            continue
        offs, tss = read_index(log.index, len(data))
        start = 0
        have = data.count(b"\n")
        if have > max_lines - lines or len(data) > max_bytes - nbytes:
            # Keep only this file's newest lines.
            want = max_lines - lines
            start = len(data)
            while want and start > 0:
                nl = data.rfind(b"\n", 0, start - 1)
                cand = nl + 1
                if len(data) - cand > max_bytes - nbytes:
                    break
                start, want = cand, want - 1
            have = data.count(b"\n", start)
        if start:
            i = max(0, _bisect_right(offs, start) - 1)
            offs, tss = array("q", [0, *(o - start for o in offs[i + 1 :])]), tss[i:]
            data = data[start:]
        if data:
            parts.append((data, offs, tss))
            lines += have
            nbytes += len(data)
    parts.reverse()
    return parts


def _bisect_right(a: array[int], x: int) -> int:
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


# -------------------------------------------------------------------- writer
@dataclass(slots=True)
class PersistStats:
    lines: int = 0  # lines written
    bytes: int = 0  # bytes written
    files_rotated: int = 0
    files_deleted: int = 0
    write_errors: int = 0
    not_persisted: int = 0  # lines given up on during a disk failure


class PersistWriter:
    """Writes submitted blocks to ``current.log`` on a dedicated thread."""

    def __init__(
        self,
        directory: Path,
        max_file_bytes: int,
        retention_bytes: int,
        fsync_ms: int,
        on_drained: Callable[[], None] | None = None,
        opener: Callable[[Path], int] | None = None,
    ) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.retention_bytes = retention_bytes
        self.fsync_s = fsync_ms / 1000.0
        self.on_drained = on_drained  # called (on the writer thread) below low water
        self._open = opener or (lambda p: os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        self.stats = PersistStats()
        self._queue: queue.SimpleQueue[tuple[bytes, int] | None] = queue.SimpleQueue()
        self._backlog_lock = threading.Lock()
        self.backlog = 0  # bytes submitted and not yet written
        self._idle = threading.Condition()
        self._submitted = self._written = 0
        self._failing = False
        self._last_report = -ERROR_REPORT_S
        self._data_fd = -1
        self._idx_fd = -1
        self._size = 0
        self._idx_size = 0
        self._dirty = False
        self._last_sync = time.monotonic()
        self._last_rotation = ("", -1)  # (second, number) of the newest rotated name
        self._thread = threading.Thread(target=self._run, name="logcaster-persist", daemon=True)

    # ------------------------------------------------------------- producer
    def start(self) -> None:
        recover(self.directory)
        self._reopen()
        self._thread.start()

    def submit(self, data: bytes, ts_ns: int) -> bool:
        """Queue newline-terminated lines; True when ingest should pause (high water)."""
        with self._backlog_lock:
            self.backlog += len(data)
            self._submitted += 1
            over = self.backlog > HIGH_WATER
        self._queue.put((data, ts_ns))
        return over

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far has been written (not synced)."""
        with self._idle:
            target = self._submitted
            return self._idle.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write and fsync everything submitted, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._close_files()

    @property
    def queue_depth(self) -> int:
        return self._submitted - self._written

    # -------------------------------------------------------------- thread
    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[tuple[bytes, int]] = []
            size = 0
            while item is not None:
                batch.append(item)
                size += len(item[0])
                if size >= BATCH_BYTES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if item is None:
                stop = True
            if batch:
                self._write_batch(batch)
            self._maybe_sync(force=stop or self.fsync_s == 0)
        self._maybe_sync(force=True)

    def _write_batch(self, batch: list[tuple[bytes, int]]) -> None:
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
                if self.backlog > HIGH_WATER:
                    # Give up on the rest of this batch rather than stall ingest
                    # behind a dead disk; the lines stay in memory.
                    item, pos = done
                    rest = [batch[item][0][pos:], *(d for d, _ in batch[item + 1 :])]
                    self.stats.not_persisted += sum(d.count(b"\n") for d in rest)
                    break
                time.sleep(RETRY_S)
                self._reopen_quietly()
        self._done(batch)

    def _write(self, batch: list[tuple[bytes, int]], done: list[int]) -> None:
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

    def _write_parts(self, batch: list[tuple[bytes, int]], done: list[int]) -> None:
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
                    end = data.rfind(b"\n", pos, pos + room) + 1
                if end <= pos:
                    if size > 0:  # start a new file for what does not fit
                        commit(item, pos)
                        self._rotate()
                        size = self._size
                        continue
                    end = data.find(b"\n", pos + room) + 1 or len(data)
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
        self.stats.lines += data.count(b"\n")
        self.stats.bytes += len(data)

    def _done(self, batch: list[tuple[bytes, int]]) -> None:
        with self._backlog_lock:
            before = self.backlog
            self.backlog -= sum(len(d) for d, _ in batch)
            after = self.backlog
        with self._idle:
            self._written += len(batch)
            self._idle.notify_all()
        if before > LOW_WATER >= after and self.on_drained is not None:
            self.on_drained()

    def _maybe_sync(self, force: bool) -> None:
        if not self._dirty or self._data_fd < 0:
            return
        now = time.monotonic()
        if force or now - self._last_sync >= self.fsync_s:
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
        keys = [_rotation_key(f.path.name) for f in rotated_files(self.directory)]
        last = self._last_rotation[1] if self._last_rotation[0] == stamp else -1
        n = max([last, *(k[1] for k in keys if k[0] == stamp)]) + 1
        name = f"log-{stamp}" if n == 0 else f"log-{stamp}-{n}"
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
