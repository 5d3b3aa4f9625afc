"""Starting, measuring and stopping the servers under test.

Every child process is registered in :data:`CHILDREN` so ``run.py`` can kill
whatever is left in a ``finally`` block, whatever went wrong.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import proto

C_INGEST_PORT = 9999
C_QUERY_PORT = 9998
READY_RE = re.compile(r"LogCaster listening: ingest \S+:(\d+), query \S+:(\d+)")

CHILDREN: list[subprocess.Popen[bytes]] = []


def spawn(cmd: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a child in its own session and remember it for cleanup."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(cmd, start_new_session=True, **kwargs)  # type: ignore[call-overload]
    CHILDREN.append(proc)
    return proc


def kill(proc: subprocess.Popen[bytes], grace: float = 0.0) -> None:
    """SIGTERM (if ``grace`` > 0) then SIGKILL the child's process group."""
    if proc.poll() is None and grace > 0:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5.0)
    if proc in CHILDREN:
        CHILDREN.remove(proc)


def kill_all() -> None:
    for proc in list(CHILDREN):
        kill(proc)


def _descendants(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in task.read_text().split():
                pids.extend(_descendants(int(child)))
    return pids


def rss_bytes(pid: int) -> int:
    """VmRSS of a process and its descendants, in bytes."""
    total = 0
    for one in _descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live descendants, in seconds.

    Fields 14 and 15 of ``/proc/PID/stat`` (clock ticks), counted after the
    ``)`` that ends the command name; they include all of the process's threads.
    """
    ticks = 0
    for one in _descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def nofile_limit(pid: int) -> int:
    """The soft 'Max open files' of a process (-1 if unknown or unlimited)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return -1


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    ingest_port: int
    query_port: int
    grace: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    def stats(self) -> proto.Stats:
        return proto.stats(self.query_port)

    def stop(self) -> None:
        kill(self.proc, self.grace)


class LineReader:
    """Reads a child's stdout lines on a thread (and keeps draining it after)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.put(raw.decode(errors="replace"))
        self.lines.put("")

    def wait_for(self, pattern: re.Pattern[str], deadline: float) -> re.Match[str]:
        """Return the first line matching ``pattern``; raise on EOF or deadline."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if match := pattern.search(line):
                return match
            if line == "":
                raise RuntimeError(
                    f"{self.proc.args!r} closed its stdout (exit {self.proc.poll()})"
                )
        raise TimeoutError(f"no line matching {pattern.pattern!r} in time")

    def rest(self, timeout: float) -> list[str]:
        """Lines printed until EOF (waits at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        out: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line == "":
                break
            out.append(line)
        return out


def start_logcaster(
    python: str, src_dir: Path, extra: list[str], log: Path, timeout: float = 30.0
) -> Server:
    """Start ``python -m logcaster serve -p 0 -q 0`` and parse the bound ports."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src_dir), env.get("PYTHONPATH")) if p)
    cmd = [python, "-m", "logcaster", "serve", "--host", "127.0.0.1", "-p", "0", "-q", "0"]
    cmd += ["--http-port", "0", *extra]
    with log.open("ab") as err:
        proc = spawn(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    try:
        match = LineReader(proc).wait_for(READY_RE, time.monotonic() + timeout)
    except BaseException:
        kill(proc)
        raise
    return Server("LogCaster", proc, int(match.group(1)), int(match.group(2)), grace=10.0)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def wait_ports_free(ports: tuple[int, ...], deadline: float) -> None:
    while not all(port_free(p) for p in ports):
        if time.monotonic() > deadline:
            raise RuntimeError(f"ports {ports} are still in use; is another server running?")
        time.sleep(0.05)


def start_c(binary: Path, timeout: float = 15.0) -> Server:
    """Start the C reference server on its fixed ports; ready once STATS answers."""
    deadline = time.monotonic() + timeout
    wait_ports_free((C_INGEST_PORT, C_QUERY_PORT), deadline)
    proc = spawn([str(binary)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proto.wait_stats(C_QUERY_PORT, deadline)
    except BaseException:
        kill(proc)
        raise
    return Server("C", proc, C_INGEST_PORT, C_QUERY_PORT, grace=0.0)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def build_c(repo: Path, out_dir: Path, timeout: float = 300.0) -> Path:
    """Build the C reference server with the shared build script."""
    script = repo.parent / "shared" / "reference" / "build-c-reference.sh"
    subprocess.run(
        ["bash", str(script), str(out_dir)],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )
    return out_dir / "bin" / "logcaster-c"
