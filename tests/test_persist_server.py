"""Persistence (-P) end to end: `python -m logcaster serve` subprocesses driven over TCP."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BANNER_RE = re.compile(r"LogCaster listening: ingest \S+:(\d+), query \S+:(\d+)")
RELOAD_RE = re.compile(r"LogCaster reloaded (\d+) lines from (\d+) file\(s\) in (\d+\.\d+) s")
STOPPED_RE = re.compile(r"LogCaster stopped: Total=(\d+), Dropped=(\d+), Current=(\d+)")
STATS_RE = re.compile(rb"STATS: Total=(\d+), Dropped=(\d+), Current=(\d+), Clients=(\d+)\n")
NAME_RE = re.compile(r"log-(\d{8}-\d{6})(?:-(\d+))?\.log")
STAMP = rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] "
REC = struct.Struct("<qq")


# ------------------------------------------------------------------ helpers
def wait_for(pred: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def recv_all(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(1 << 16):
        parts.append(chunk)
    return b"".join(parts)


@dataclass
class Srv:
    proc: subprocess.Popen[bytes]
    ingest_port: int
    query_port: int
    out: Path
    err: Path

    def query(self, command: str) -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", self.query_port), timeout=15) as s:
                s.sendall(command.encode() + b"\n")
                return recv_all(s)
        except OSError as exc:
            raise AssertionError(
                f"query {command!r} failed: {exc}; server exit status {self.proc.poll()}, "
                f"stderr: {self.stderr()[-2000:]!r}"
            ) from None

    def send(self, data: bytes) -> None:
        """One ingest connection; returns once the server has read (stored) everything."""
        with socket.create_connection(("127.0.0.1", self.ingest_port), timeout=15) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            assert s.recv(1) == b""

    def stats(self) -> dict[str, int]:
        reply = self.query("STATS")
        m = STATS_RE.fullmatch(reply)
        assert m, f"STATS not byte-compatible: {reply!r}"
        return dict(
            zip(("Total", "Dropped", "Current", "Clients"), map(int, m.groups()), strict=True)
        )

    def info(self) -> dict[str, str]:
        head, _, body = self.query("INFO").partition(b"\n")
        m = re.fullmatch(rb"INFO: (\d+) counters", head)
        assert m, head
        pairs = dict(line.split("=", 1) for line in body.decode().splitlines())
        assert len(pairs) == int(m.group(1))
        return pairs

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def term(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def stopped_total(self) -> int:
        m = STOPPED_RE.search(self.stderr())
        assert m, f"no 'LogCaster stopped' line in stderr: {self.stderr()!r}"
        return int(m.group(1))


def found(reply: bytes) -> tuple[int, list[bytes]]:
    head, sep, body = reply.partition(b"\n")
    m = re.fullmatch(rb"FOUND: (\d+) matches", head)
    assert m and sep, f"malformed QUERY reply: {reply[:200]!r}"
    lines = body.split(b"\n")[:-1] if body else []
    assert int(m.group(1)) == len(lines)
    return int(m.group(1)), lines


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Srv]]:
    procs: list[subprocess.Popen[bytes]] = []
    io_dir = tmp_path / "io"
    io_dir.mkdir()

    def start(*args: str, cwd: Path | None = None, banner: bool = True) -> Srv:
        n = len(procs)
        out, err = io_dir / f"server-{n}.out", io_dir / f"server-{n}.err"
        run_dir = cwd or tmp_path
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "logcaster", "serve", "-p", "0", "-q", "0"]
        cmd += ["--host", "127.0.0.1", *args]
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(
                cmd,
                stdout=fo,
                stderr=fe,
                stdin=subprocess.DEVNULL,
                cwd=run_dir,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        procs.append(proc)
        if not banner:
            return Srv(proc, 0, 0, out, err)

        def ready() -> re.Match[str] | None:
            m = BANNER_RE.search(out.read_text(errors="replace"))
            if m is None and proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {proc.returncode} before its banner: "
                    f"{err.read_text(errors='replace')[-2000:]}"
                )
            return m

        m = wait_for(ready, 20, "the server's banner")
        assert isinstance(m, re.Match)
        return Srv(proc, int(m.group(1)), int(m.group(2)), out, err)

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)


def log_files(directory: Path) -> list[Path]:
    """Rotated files in rotation order (name stamp, then -N), then current.log."""
    rotated = []
    for p in directory.glob("log-*.log"):
        m = NAME_RE.fullmatch(p.name)
        assert m, f"unexpected rotated file name: {p.name}"
        rotated.append(((m.group(1), int(m.group(2) or 0)), p))
    files = [p for _, p in sorted(rotated)]
    cur = directory / "current.log"
    return [*files, cur] if cur.exists() else files


def disk_lines(directory: Path) -> list[bytes]:
    """Every line on disk, oldest first; each file must end in a newline."""
    out: list[bytes] = []
    for p in log_files(directory):
        data = p.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{p.name} ends in a torn line"
        out += data.split(b"\n")[:-1]
    return out


# ------------------------------------------------------------------- tests
def test_persistence_off_by_default_then_on(launch, tmp_path: Path) -> None:
    run = tmp_path / "run"
    srv = launch("-d", "test_logs", cwd=run)  # no -P: the directory must not appear
    assert "reloaded" not in srv.stdout()
    srv.send(b"not persisted\n")
    assert found(srv.query("QUERY keywords=persisted scope=all"))[0] == 1  # ring only
    assert srv.info()["Persist"] == "off"
    assert srv.term() == 0
    assert list(run.iterdir()) == []

    d = tmp_path / "persist" / "nested" / "dir"  # parents are created
    srv = launch("-P", "-d", str(d), cwd=run)
    m = RELOAD_RE.search(srv.stdout())
    assert m and m.group(1) == "0"
    srv.send(b"hello persistence world\n")
    assert srv.term() == 0
    assert (d / "current.log").read_bytes() == b"hello persistence world\n"
    assert list(run.iterdir()) == []

    run2 = tmp_path / "run2"
    srv = launch("-P", cwd=run2)  # default --dir ./logs
    srv.send(b"default dir\n")
    assert srv.term(signal.SIGINT) == 0  # SIGINT writes everything out too
    assert (run2 / "logs" / "current.log").read_bytes() == b"default dir\n"


@pytest.mark.parametrize("where", ["regular-file", "under-regular-file"])
def test_unusable_directory_exits_2(launch, tmp_path: Path, where: str) -> None:
    f = tmp_path / "afile"
    f.write_text("keep me")
    target = f if where == "regular-file" else f / "sub" / "dir"
    srv = launch("-P", "-d", str(target), banner=False)
    assert srv.proc.wait(timeout=20) == 2
    err = srv.stderr().strip()
    assert len(err.splitlines()) == 1 and "--dir" in err, err
    assert "Traceback" not in err
    assert "LogCaster listening" not in srv.stdout()
    assert f.read_text() == "keep me"


def test_rotation_names_order_and_counters(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    srv = launch("-P", "-d", str(d), "-s", "0.01")  # 10485-byte files
    sent = [b"rot-%06d %s" % (i, b"p" * 90) for i in range(3000)]  # ~300 KB
    srv.send(b"\n".join(sent) + b"\n")
    wait_for(lambda: srv.info()["PersistedLines"] == "3000", what="all lines written")
    info = srv.info()
    assert info["Persist"] == "on"
    for key in ("PersistedBytes", "Files", "WriteQueue", "WriteErrors", "Truncated", "Reloaded"):
        assert key in info
    assert info["WriteErrors"] == "0" and info["WriteQueue"] == "0"
    assert int(info["PersistedBytes"]) == sum(len(x) + 1 for x in sent)
    assert srv.query("STATS verbose").split(b"\n")[1:] == srv.query("INFO").split(b"\n")[1:]
    assert srv.stats() == {"Total": 3000, "Dropped": 0, "Current": 3000, "Clients": 0}
    assert srv.term() == 0

    files = log_files(d)
    rotated = files[:-1]
    assert len(rotated) >= 25
    assert int(info["Files"]) == len(files)
    assert all(p.stat().st_size <= int(0.01 * (1 << 20)) for p in files)
    assert any(NAME_RE.fullmatch(p.name).group(2) for p in rotated), "no same-second -N name"
    assert len({p.name for p in rotated}) == len(rotated)
    assert disk_lines(d) == sent
    for p in files:  # each index ends exactly at its file's size
        raw = p.with_suffix(".idx").read_bytes()
        if p.stat().st_size:
            assert REC.unpack(raw[-16:])[0] == p.stat().st_size


def test_retention_keeps_newest_in_order(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    srv = launch("-P", "-d", str(d), "-s", "0.01", "--retention-mb", "0.05")
    sent = [b"ret-%06d %s" % (i, b"p" * 90) for i in range(10000)]  # ~1 MB, ~100 rotations
    srv.send(b"\n".join(sent) + b"\n")
    wait_for(lambda: srv.info()["PersistedLines"] == "10000", what="all lines written")
    info = srv.info()
    assert srv.term() == 0
    assert int(info["FilesDeleted"]) > 0
    total = sum(p.stat().st_size + p.with_suffix(".idx").stat().st_size for p in log_files(d))
    assert total <= 0.05 * (1 << 20) + 10485 * 2
    kept = disk_lines(d)
    assert kept == sent[-len(kept) :]  # the oldest were deleted, the rest in order


def test_restart_reloads_lines_with_original_times(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    srv = launch("-P", "-d", str(d))
    srv.send(b"".join(b"alpha-%d\n" % i for i in range(5)))
    t_a = time.time()
    time.sleep(1.1)  # deliberate: two batches with distinct receive seconds
    t_b = time.time()
    srv.send(b"".join(b"beta-%d\n" % i for i in range(5)))
    mid = f"{(t_a + t_b) / 2:.3f}"
    tail_before = srv.query("TAIL 20")
    early_before = srv.query(f"QUERY regex=^(alpha|beta) time_to={mid}")
    late_before = srv.query(f"QUERY regex=^(alpha|beta) time_from={mid}")
    assert found(early_before)[1] == [ln for ln in tail_before.split(b"\n") if b"alpha" in ln]
    assert len(found(late_before)[1]) == 5
    assert all(b"beta" in ln for ln in found(late_before)[1])
    assert srv.term() == 0

    srv = launch("-P", "-d", str(d))
    m = RELOAD_RE.search(srv.stdout())
    assert m and (m.group(1), m.group(2)) == ("10", "1"), srv.stdout()
    assert srv.stdout().index("reloaded") < srv.stdout().index("listening")
    assert srv.info()["Reloaded"] == "10"
    assert srv.query("TAIL 20") == tail_before
    assert srv.query(f"QUERY regex=^(alpha|beta) time_to={mid}") == early_before
    assert srv.query(f"QUERY regex=^(alpha|beta) time_from={mid}") == late_before
    # The files' own indexes give the same split.
    assert srv.query(f"QUERY regex=^(alpha|beta) time_to={mid} scope=all") == early_before
    assert srv.query(f"QUERY regex=^(alpha|beta) time_from={mid} scope=all") == late_before
    srv.send(b"gamma\n")
    assert srv.term() == 0
    assert disk_lines(d)[-1] == b"gamma"

    # Reload is bounded by the ring's capacity: only the newest lines come back.
    srv = launch("-P", "-d", str(d), "-c", "4")
    m = RELOAD_RE.search(srv.stdout())
    assert m and m.group(1) == "4"
    tail = srv.query("TAIL 10").split(b"\n")[:-1]
    assert [ln[22:] for ln in tail] == [b"beta-2", b"beta-3", b"beta-4", b"gamma"]
    assert tail[:3] == tail_before.split(b"\n")[7:10]  # same stamps as before the restarts
    assert srv.term() == 0


def test_scope_all_searches_files(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    srv = launch("-P", "-d", str(d), "-c", "10")
    srv.send(b"needle-early\n")
    srv.send(b"".join(b"filler-%04d\n" % i for i in range(40)))
    assert found(srv.query("QUERY keywords=needle-early")) == (0, [])
    n, lines = found(srv.query("QUERY keywords=needle-early scope=all"))
    assert n == 1 and re.fullmatch(STAMP + rb"needle-early", lines[0])
    assert found(srv.query("QUERY keywords=filler scope=all"))[0] == 40
    assert found(srv.query("QUERY keywords=filler scope=ring"))[0] == 10
    # Same reply format: a line still in the ring reads the same from either scope.
    assert srv.query("QUERY keywords=filler-0039 scope=all") == srv.query(
        "QUERY keywords=filler-0039"
    )
    n, lines = found(srv.query("QUERY keywords=filler scope=all limit=3 order=desc"))
    assert [ln[22:] for ln in lines] == [b"filler-0039", b"filler-0038", b"filler-0037"]
    assert srv.query("QUERY keywords=x scope=disk").startswith(b"ERROR: ")
    assert srv.term() == 0

    srv = launch("-P", "-d", str(d), "-c", "10")  # still found after a restart
    assert found(srv.query("QUERY keywords=needle-early scope=all"))[0] == 1
    assert found(srv.query("QUERY keywords=needle-early"))[0] == 0
    assert srv.term() == 0


def test_startup_cuts_torn_tail(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    (d / "current.log").write_bytes(b"one\ntwo\nthr")
    (d / "current.idx").write_bytes(
        REC.pack(4, 1_700_000_000 * 10**9) + REC.pack(11, 1_700_000_001 * 10**9)
    )
    srv = launch("-P", "-d", str(d))
    m = RELOAD_RE.search(srv.stdout())
    assert m and m.group(1) == "2"
    assert (d / "current.log").read_bytes() == b"one\ntwo\n"
    srv.send(b"three\n")
    assert srv.term() == 0
    assert (d / "current.log").read_bytes() == b"one\ntwo\nthree\n"


def test_restart_with_empty_current_log(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    srv = launch("-P", "-d", str(d))
    assert srv.term() == 0
    srv = launch("-P", "-d", str(d))
    assert RELOAD_RE.search(srv.stdout())
    assert srv.term() == 0


class Streamer(threading.Thread):
    """Streams ``seq-%08d`` lines on one connection, in odd-sized writes, until stopped.

    About 250 lines per 5 ms (at most ~50k lines/s), so "a fraction of a second of
    input" is a meaningful bound on what kill -9 may lose.
    """

    def __init__(self, port: int, line_pad: int = 40) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.pad = b"." * line_pad
        self.stop = threading.Event()
        self.sent_lines = 0

    def run(self) -> None:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=15) as s,
        ):
            i = 0
            while not self.stop.is_set():
                data = b"".join(b"seq-%08d %s\n" % (j, self.pad) for j in range(i, i + 250))
                for pos in range(0, len(data), 3001):  # lines split across writes
                    s.sendall(data[pos : pos + 3001])
                i += 250
                self.sent_lines = i
                time.sleep(0.005)


def check_sequence(lines: list[bytes]) -> int:
    """Lines must be whole ``seq-N`` lines numbered 0, 1, 2, ... with no gap."""
    for k, ln in enumerate(lines):
        m = re.fullmatch(rb"seq-(\d{8}) \.+", ln)
        assert m, f"line {k} on disk is not whole: {ln[:80]!r}"
        assert int(m.group(1)) == k, f"gap or reorder at line {k}: {ln[:30]!r}"
    return len(lines)


def test_sigkill_loses_only_a_bounded_suffix(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    # No rotation here: a kill right after one leaves an empty current.log, which
    # trips the recover() bug covered by test_restart_with_empty_current_log.
    srv = launch("-P", "-d", str(d), "--fsync-ms", "100")
    streamer = Streamer(srv.ingest_port)
    t0 = time.monotonic()
    streamer.start()
    wait_for(lambda: srv.stats()["Total"] >= 30_000, 20, "30k lines received")
    total_before = srv.stats()["Total"]
    rate = total_before / (time.monotonic() - t0)  # lines/s the server took in
    srv.proc.kill()  # SIGKILL mid-stream
    srv.proc.wait(timeout=10)
    streamer.stop.set()
    streamer.join(timeout=10)
    assert srv.proc.returncode == -signal.SIGKILL

    srv = launch("-P", "-d", str(d), "--fsync-ms", "100")  # recovery runs here
    on_disk = check_sequence(disk_lines(d))  # also: every file ends in a newline
    m = RELOAD_RE.search(srv.stdout())
    assert m and int(m.group(1)) == on_disk
    lost = total_before - on_disk
    # Lines in the page cache survive kill -9: only the writer's queue may be lost,
    # well under a fifth of a second of input (the fsync window is 0.1 s).
    bound = max(3_000, int(rate * 0.2))
    print(f"kill -9: Total before={total_before}, on disk={on_disk}, lost={lost}, bound={bound}")
    assert lost <= bound, (total_before, on_disk, rate)
    assert on_disk >= 25_000
    tail = srv.query("TAIL 1")
    assert tail.endswith(b"seq-%08d %s\n" % (on_disk - 1, b"." * 40))
    assert srv.term() == 0


def test_sigterm_under_load_loses_nothing(launch, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    srv = launch("-P", "-d", str(d), "--fsync-ms", "0", "-s", "2")
    clients, per = 4, 60_000
    errors: list[BaseException] = []

    def client(c: int) -> None:
        try:
            data = b"".join(b"c%d-%08d %s\n" % (c, i, b"#" * 40) for i in range(per))
            with socket.create_connection(("127.0.0.1", srv.ingest_port), timeout=15) as s:
                s.sendall(data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:2]
    assert srv.term() == 0  # immediately after the last byte left the clients
    total = srv.stopped_total()
    assert total > 0
    lines = disk_lines(d)
    assert len(lines) == total, f"accepted {total}, on disk {len(lines)}"
    # Each connection's lines are on disk whole, in order, as a prefix of what it sent;
    # shutdown stores a connection's unterminated last line as is, so each client's
    # last line may be a prefix of its next line.
    per_client: dict[int, list[bytes]] = {c: [] for c in range(clients)}
    for ln in lines:
        m = re.match(rb"c(\d)-", ln)
        assert m, ln[:80]
        per_client[int(m.group(1))].append(ln)
    for c, got in per_client.items():
        whole = [b"c%d-%08d %s" % (c, i, b"#" * 40) for i in range(len(got))]
        assert got[:-1] == whole[:-1], f"client {c}: gap, duplicate, reorder or torn line"
        if got:
            assert whole[-1].startswith(got[-1]), f"client {c}: bad last line {got[-1]!r}"
