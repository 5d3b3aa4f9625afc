"""Unit tests of logcaster.persist, in-process: writer, rotation, retention, recovery, reload."""

from __future__ import annotations

import errno
import itertools
import os
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import REC, log_files, wait_for

from logcaster.storage import batch as B
from logcaster.storage import files as P
from logcaster.storage.files import writer as W


# ------------------------------------------------------------------ helpers
def disk_lines(directory: Path) -> list[bytes]:
    out: list[bytes] = []
    for p in log_files(directory):
        data = p.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{p.name} does not end in a newline"
        out += data.splitlines(keepends=True)
    return out


def idx_records(path: Path) -> list[tuple[int, int]]:
    raw = path.read_bytes()
    assert len(raw) % 16 == 0
    return list(REC.iter_unpack(raw))


def numbered(n: int, width: int = 20, start: int = 0) -> list[bytes]:
    return [b"line-%06d-%s\n" % (i, b"x" * width) for i in range(start, start + n)]


@pytest.fixture
def writers() -> Iterator[list[P.PersistWriter]]:
    made: list[P.PersistWriter] = []
    yield made
    for w in made:
        w.close(timeout=5)


@pytest.fixture
def make_writer(tmp_path: Path, writers: list[P.PersistWriter]) -> Callable[..., P.PersistWriter]:
    def make(
        max_file_bytes: int = 1 << 20,
        retention_bytes: int = 1 << 30,
        fsync_ms: int = 0,
        directory: Path | None = None,
        **kw: object,
    ) -> P.PersistWriter:
        d = directory or tmp_path / "logs"
        d.mkdir(parents=True, exist_ok=True)
        w = P.PersistWriter(d, max_file_bytes, retention_bytes, fsync_ms, **kw)  # type: ignore[arg-type]
        w.start()
        writers.append(w)
        return w

    return make


def freeze_stamp(monkeypatch: pytest.MonkeyPatch, stamps: Callable[[], str]) -> None:
    """Replace persist's view of time.strftime only (the global time module is untouched)."""
    proxy = types.SimpleNamespace(
        **{k: getattr(time, k) for k in dir(time) if not k.startswith("_")}
    )
    proxy.strftime = lambda fmt, *a: stamps()
    monkeypatch.setattr(W, "time", proxy)


# --------------------------------------------------------- check_directory
def test_check_directory_creates_parents(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b" / "c"
    P.check_directory(d)
    assert d.is_dir()
    assert list(d.iterdir()) == []  # the probe file is removed


def test_check_directory_rejects_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(P.PersistError):
        P.check_directory(f)
    with pytest.raises(P.PersistError):
        P.check_directory(f / "sub")
    assert f.read_text() == "x"


# ------------------------------------------------------------------ writer
def test_writer_writes_raw_lines_and_index(make_writer, tmp_path: Path) -> None:
    w = make_writer()
    w.submit(b"first\nsecond\n", 1_000)
    w.submit(b"third\n", 2_000)
    assert w.flush(timeout=5)
    d = tmp_path / "logs"
    assert (d / "current.log").read_bytes() == b"first\nsecond\nthird\n"
    assert idx_records(d / "current.idx") == [(13, 1_000), (19, 2_000)]
    assert w.stats.lines == 3 and w.stats.bytes == 19
    assert w.backlog == 0 and w.queue_depth == 0


def test_writer_appends_to_existing_current_log(make_writer, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    w = make_writer()
    w.submit(b"one\n", 5)
    w.close()
    w2 = make_writer()
    w2.submit(b"two\n", 7)
    w2.close()
    assert (d / "current.log").read_bytes() == b"one\ntwo\n"
    assert idx_records(d / "current.idx") == [(4, 5), (8, 7)]


def test_close_writes_everything_submitted(make_writer, tmp_path: Path) -> None:
    w = make_writer(fsync_ms=60_000)
    sent = numbered(5000)
    for i in range(0, len(sent), 7):
        w.submit(b"".join(sent[i : i + 7]), i)
    w.close()
    assert disk_lines(tmp_path / "logs") == sent


def test_fsync_zero_syncs_after_each_batch(make_writer, monkeypatch) -> None:
    synced: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(W.os, "fsync", counting)
    w = make_writer(fsync_ms=0)
    w.submit(b"a\n", 1)
    wait_for(lambda: len(set(synced)) >= 2, 5.0, interval=0.005, what="fsync of data and index")
    assert {w._data_fd, w._idx_fd} <= set(synced)


def test_fsync_interval_defers_sync(make_writer, monkeypatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(W.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    w = make_writer(fsync_ms=60_000)
    for i in range(20):
        w.submit(b"line %d\n" % i, i)
        w.flush(timeout=5)
    assert synced == []  # inside the 60 s window: no fsync per batch
    w.close()
    assert len(synced) >= 2  # ... but close syncs


# ------------------------------------------------------- rotation/retention
def test_rotation_cuts_at_line_boundaries_in_order(make_writer, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=100)
    sent = numbered(40)  # 33 bytes each
    # Mixed chunk sizes: some chunks span several files.
    pos = 0
    for n in (1, 3, 8, 2, 11, 1, 14):
        w.submit(b"".join(sent[pos : pos + n]), 1_000 + pos)
        pos += n
    assert pos == 40
    w.close()
    files = log_files(d)
    assert len(files) >= 12
    for p in files:
        assert p.stat().st_size <= 100
    assert disk_lines(d) == sent
    assert w.stats.files_rotated == len(files) - 1
    # Each file's index ends at its size and stamps are the chunk's submit times.
    for p in files:
        recs = idx_records(p.with_suffix(".idx"))
        assert recs and recs[-1][0] == p.stat().st_size
        assert all(1_000 <= ts < 1_040 for _, ts in recs)


def test_same_second_rotations_get_numbered_names(make_writer, tmp_path, monkeypatch) -> None:
    freeze_stamp(monkeypatch, lambda: "20240101-120000")
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=66)  # two 33-byte lines per file
    sent = numbered(10)
    for line in sent:
        w.submit(line, 1)
    w.close()
    names = sorted(p.name for p in d.glob("log-*.log"))
    assert names == sorted(
        ["log-20240101-120000.log"] + [f"log-20240101-120000-{n}.log" for n in range(1, 5)]
    )
    assert [f.path.name for f in P.rotated_files(d)] == [
        "log-20240101-120000.log",
        *(f"log-20240101-120000-{n}.log" for n in range(1, 5)),
    ]
    assert disk_lines(d) == sent


def test_rotated_files_sort_numerically_past_nine(tmp_path: Path) -> None:
    for n in ("", "-2", "-10", "-1", "-9"):
        (tmp_path / f"log-20240101-120000{n}.log").write_bytes(b"")
    (tmp_path / "log-20231231-235959-3.log").write_bytes(b"")
    got = [f.path.name for f in P.rotated_files(tmp_path)]
    assert got == [
        "log-20231231-235959-3.log",
        "log-20240101-120000.log",
        "log-20240101-120000-1.log",
        "log-20240101-120000-2.log",
        "log-20240101-120000-9.log",
        "log-20240101-120000-10.log",
    ]
    assert P.all_files(tmp_path)[-1].path.name == "current.log"


def test_retention_deletes_oldest_first_distinct_seconds(
    make_writer, tmp_path, monkeypatch
) -> None:
    clock = iter(range(100, 160))
    freeze_stamp(monkeypatch, lambda: f"20240101-120{next(clock)}")
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=66, retention_bytes=300)
    sent = numbered(30)
    for line in sent:
        w.submit(line, 1)
    w.close()
    kept = disk_lines(d)
    assert 0 < len(kept) < len(sent)
    assert kept == sent[-len(kept) :]  # a suffix: the oldest were deleted
    assert w.stats.files_deleted > 0
    total = sum(p.stat().st_size + p.with_suffix(".idx").stat().st_size for p in log_files(d))
    assert total <= 300 + 66 + 2 * 16


def test_retention_same_second_keeps_newest(make_writer, tmp_path, monkeypatch) -> None:
    freeze_stamp(monkeypatch, lambda: "20240101-120000")
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=66, retention_bytes=300)
    sent = numbered(30)
    for line in sent:
        w.submit(line, 1)
    w.close()
    kept = disk_lines(d)
    assert kept and kept == sent[-len(kept) :]


def test_line_longer_than_limit_gets_its_own_file(make_writer, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=50)
    sent = [b"short\n", b"L" * 120 + b"\n", b"after\n"]
    w.submit(b"".join(sent), 1)
    w.close()
    files = log_files(d)
    assert [p.read_bytes() for p in files] == [b"short\n", b"L" * 120 + b"\n", b"after\n"]


# ------------------------------------------------------------------ recovery
def test_recover_cuts_torn_tail_and_fixes_index(tmp_path: Path) -> None:
    (tmp_path / "current.log").write_bytes(b"one\ntwo\nthr")
    # Index says: "one\n" at t=10, "two\nthr" at t=20 (written before the crash).
    (tmp_path / "current.idx").write_bytes(REC.pack(4, 10) + REC.pack(11, 20))
    assert P.recover(tmp_path) == 3
    assert (tmp_path / "current.log").read_bytes() == b"one\ntwo\n"
    assert idx_records(tmp_path / "current.idx") == [(4, 10), (8, 20)]
    assert P.recover(tmp_path) == 0  # idempotent


def test_recover_data_without_index_entry(tmp_path: Path) -> None:
    (tmp_path / "current.log").write_bytes(b"one\ntwo\nthree\npart")
    (tmp_path / "current.idx").write_bytes(REC.pack(4, 10))
    assert P.recover(tmp_path) == 4
    assert (tmp_path / "current.log").read_bytes() == b"one\ntwo\nthree\n"
    assert idx_records(tmp_path / "current.idx") == [(4, 10), (14, 10)]


def test_recover_torn_tail_longer_than_lookback(tmp_path: Path) -> None:
    big = b"ok\n" + b"z" * (3 << 20)  # more than the first 1 MiB look-back
    (tmp_path / "current.log").write_bytes(big)
    assert P.recover(tmp_path) == 3 << 20
    assert (tmp_path / "current.log").read_bytes() == b"ok\n"
    assert [end for end, _ in idx_records(tmp_path / "current.idx")] == [3]


def test_recover_empty_current_log(tmp_path: Path) -> None:
    (tmp_path / "current.log").write_bytes(b"")
    (tmp_path / "current.idx").write_bytes(b"")
    assert P.recover(tmp_path) == 0
    assert (tmp_path / "current.log").read_bytes() == b""


def test_recover_only_a_torn_line(tmp_path: Path) -> None:
    (tmp_path / "current.log").write_bytes(b"no newline at all")
    assert P.recover(tmp_path) == len(b"no newline at all")
    assert (tmp_path / "current.log").read_bytes() == b""
    assert idx_records(tmp_path / "current.idx") == []


def test_recover_without_current_log(tmp_path: Path) -> None:
    assert P.recover(tmp_path) == 0
    assert not (tmp_path / "current.log").exists()


def test_read_index_ignores_torn_record(tmp_path: Path) -> None:
    idx = tmp_path / "current.idx"
    idx.write_bytes(REC.pack(4, 100) + REC.pack(8, 200) + REC.pack(12, 300)[:7])
    offs, tss = P.read_index(idx, 12)
    # Two whole records; the 4 bytes after offset 8 are one more chunk at the last time.
    assert list(offs) == [0, 4, 8]
    assert list(tss) == [100, 200, 200]


def test_read_index_clips_to_data_and_skips_empty(tmp_path: Path) -> None:
    idx = tmp_path / "x.idx"
    idx.write_bytes(REC.pack(4, 1) + REC.pack(4, 2) + REC.pack(50, 3) + REC.pack(60, 4))
    offs, tss = P.read_index(idx, 10)
    assert list(offs) == [0, 4] and list(tss) == [1, 3]


def test_read_index_missing_uses_mtime(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"a\nb\n")
    os.utime(log, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    offs, tss = P.read_index(tmp_path / "x.idx", 4)
    assert list(offs) == [0]
    assert abs(tss[0] - 1_600_000_000_000_000_000) < 1_000_000_000


# -------------------------------------------------------------- load_newest
def _lines_with_ts(parts) -> list[tuple[bytes, int]]:
    out = []
    for data, offs, tss in parts:
        ends = [*offs[1:], len(data)]
        for s, e, ts in zip(offs, ends, tss, strict=True):
            out += [(ln, ts) for ln in data[s:e].splitlines(keepends=True)]
    return out


def test_load_newest_across_files_keeps_order_and_times(make_writer, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=100)
    sent = numbered(20)
    for i in range(0, 20, 2):  # chunks of two lines, stamped 1000+i
        w.submit(sent[i] + sent[i + 1], 1000 + i)
    w.close()
    assert len(log_files(d)) > 3
    everything = _lines_with_ts(P.load_newest(d, 1000, 1 << 20))
    assert everything == [(sent[i], 1000 + i - i % 2) for i in range(20)]
    newest = _lines_with_ts(P.load_newest(d, 7, 1 << 20))
    assert newest == everything[-7:]  # cut inside a file and a chunk: times still right
    by_bytes = _lines_with_ts(P.load_newest(d, 1000, 33 * 5))
    assert by_bytes == everything[-5:]


def test_load_newest_ignores_unterminated_tail(tmp_path: Path) -> None:
    (tmp_path / "current.log").write_bytes(b"a\nb\npart")
    (tmp_path / "current.idx").write_bytes(REC.pack(2, 7) + REC.pack(4, 9))
    assert _lines_with_ts(P.load_newest(tmp_path, 10, 1 << 20)) == [(b"a\n", 7), (b"b\n", 9)]


def test_open_block(tmp_path: Path) -> None:
    assert P.open_block(P.LogFile(tmp_path / "nope.log", tmp_path / "nope.idx")) is None
    (tmp_path / "e.log").write_bytes(b"")
    assert P.open_block(P.LogFile(tmp_path / "e.log", tmp_path / "e.idx")) is None
    (tmp_path / "x.log").write_bytes(b"a\nbb\n")
    (tmp_path / "x.idx").write_bytes(REC.pack(2, 5) + REC.pack(5, 6))
    blk = P.open_block(P.LogFile(tmp_path / "x.log", tmp_path / "x.idx"))
    assert blk is not None
    assert bytes(blk.buf[: blk.used]) == b"a\nbb\n"
    assert list(blk.chunk_ts) == [5, 6] and (blk.ts_min, blk.ts_max) == (5, 6)


# ------------------------------------------------------------ fault injection
class Disk:
    """A switchable fault in persist._write_all: ENOSPC, optionally after a partial write."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, partial: bool = False) -> None:
        self.real = W._write_all
        self.failing = False
        self.partial = partial
        self.failures = 0
        monkeypatch.setattr(W, "_write_all", self)

    def __call__(self, fd: int, data: bytes) -> None:
        if self.failing:
            self.failures += 1
            if self.partial and len(data) > 1:
                self.real(fd, bytes(data[: len(data) // 2 + 1]))  # tear a line
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(fd, data)


@pytest.mark.parametrize("partial", [False, True], ids=["enospc", "torn-write"])
def test_write_failure_counts_errors_and_recovers(
    make_writer, tmp_path, monkeypatch, capsys, partial: bool
) -> None:
    monkeypatch.setattr(W, "RETRY_S", 0.02)
    disk = Disk(monkeypatch, partial)
    d = tmp_path / "logs"
    w = make_writer(fsync_ms=0)
    sent = numbered(300)
    for line in sent[:100]:
        w.submit(line, 1)
    assert w.flush(5)
    disk.failing = True
    for line in sent[100:200]:
        assert w.submit(line, 2) is False  # still accepting, no pause at this size
    wait_for(lambda: w.stats.write_errors >= 3, 5.0, interval=0.005, what="repeated write errors")
    if not partial:  # (a torn write is undone right after it; don't race it)
        assert disk_lines(d) == sent[:100]
    disk.failing = False
    for line in sent[200:]:
        w.submit(line, 3)
    assert w.flush(10)
    w.close()
    assert disk_lines(d) == sent  # complete, whole lines, nothing duplicated
    assert w.stats.lines == 300 and w.stats.not_persisted == 0
    recs = idx_records(d / "current.idx")
    assert recs[-1][0] == (d / "current.log").stat().st_size
    assert all(b[0] > a[0] for a, b in itertools.pairwise(recs))
    err = capsys.readouterr().err
    assert err.count("cannot write to") == 1  # reported once, not per retry
    assert "No space left on device" in err and "persistence resumed" in err


def test_opener_fault_then_recovery(make_writer, tmp_path, monkeypatch) -> None:
    """The files open on a full device (/dev/full); the writer reopens and recovers."""
    monkeypatch.setattr(W, "RETRY_S", 0.02)
    state = {"full": True}

    def opener(path: Path) -> int:
        if state["full"]:
            return os.open("/dev/full", os.O_WRONLY)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    d = tmp_path / "logs"
    w = make_writer(opener=opener)
    sent = numbered(50)
    w.submit(b"".join(sent[:25]), 1)
    wait_for(lambda: w.stats.write_errors >= 2, 5.0, interval=0.005, what="ENOSPC from /dev/full")
    state["full"] = False
    w.submit(b"".join(sent[25:]), 2)
    assert w.flush(10)
    w.close()
    assert disk_lines(d) == sent
    assert idx_records(d / "current.idx")[-1][0] == len(b"".join(sent))


def test_write_failure_mid_batch_after_rotation_no_duplicates(
    make_writer, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(W, "RETRY_S", 0.02)
    real = W._write_all
    calls = {"n": 0}

    def flaky(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the data write of the second file in the batch
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(W, "_write_all", flaky)
    d = tmp_path / "logs"
    w = make_writer(max_file_bytes=100)
    sent = numbered(6)
    w.submit(b"".join(sent), 1)  # one chunk spanning two files
    assert w.flush(5)
    w.close()
    assert w.stats.write_errors == 1
    assert disk_lines(d) == sent


# --------------------------------------------------------------- backpressure
def test_backpressure_high_water_and_drain(make_writer, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(B, "HIGH_WATER", 1000)
    monkeypatch.setattr(B, "LOW_WATER", 200)
    gate = threading.Event()
    real = W._write_all

    def slow(fd: int, data: bytes) -> None:
        gate.wait(10)  # the disk is stuck until the test opens the gate
        real(fd, data)

    monkeypatch.setattr(W, "_write_all", slow)
    drained = threading.Event()
    d = tmp_path / "logs"
    w = make_writer(on_drained=drained.set)
    chunk = b"".join(numbered(10))  # 330 bytes
    results = [w.submit(chunk, i) for i in range(6)]
    # backlog after each submit: 330, 660, 990, 1320, ... -> pause from the 4th on
    assert results == [False, False, False, True, True, True]
    assert w.backlog == 6 * 330
    assert not drained.is_set()
    gate.set()
    assert drained.wait(5), "on_drained not called after the writer caught up"
    assert w.flush(5)
    assert w.backlog == 0
    w.close()
    assert disk_lines(d) == numbered(10) * 6


def test_on_drained_not_called_without_pressure(make_writer, monkeypatch) -> None:
    monkeypatch.setattr(B, "HIGH_WATER", 10_000)
    monkeypatch.setattr(B, "LOW_WATER", 5_000)
    calls: list[int] = []
    w = make_writer(on_drained=lambda: calls.append(1))
    for i in range(20):
        assert w.submit(b"small line\n", i) is False
    assert w.flush(5)
    assert calls == []
