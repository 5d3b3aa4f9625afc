"""Shared helpers: a LogCaster server run as a subprocess, socket helpers, polling."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "logcaster",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("logcaster")

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BANNER_RE = re.compile(r"LogCaster listening: ingest (\S+):(\d+), query (\S+):(\d+)")
STATS_RE = re.compile(rb"STATS: Total=(\d+), Dropped=(\d+), Current=(\d+), Clients=(\d+)\n")
STARTUP_TIMEOUT = 20.0


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def logcaster_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "logcaster", *args]


def recv_all(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(1 << 16):
        parts.append(chunk)
    return b"".join(parts)


def query(
    port: int,
    command: bytes | str,
    terminator: bytes = b"\n",
    timeout: float = 15.0,
    shut_wr: bool = False,
) -> bytes:
    """One command on the query port; returns the whole reply (read until the server closes)."""
    if isinstance(command, str):
        command = command.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(command + terminator)
        if shut_wr:
            sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def send(port: int, data: bytes, timeout: float = 15.0) -> None:
    """Send ``data`` on one ingest connection and close it.

    Half-closes and waits for the server to close its side: by then the server
    has read (and stored) every byte, so no polling is needed afterwards.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""


def parse_stats(reply: bytes) -> dict[str, int]:
    m = STATS_RE.fullmatch(reply)
    assert m, f"malformed STATS reply: {reply!r}"
    return dict(zip(("Total", "Dropped", "Current", "Clients"), map(int, m.groups()), strict=True))


def parse_found(reply: bytes) -> tuple[int, list[bytes]]:
    """``FOUND: <n> matches`` + lines -> (n, lines); checks the framing of the reply."""
    head, sep, body = reply.partition(b"\n")
    m = re.fullmatch(rb"FOUND: (\d+) matches", head)
    assert m and sep, f"malformed QUERY reply: {reply[:200]!r}"
    assert body == b"" or body.endswith(b"\n"), "reply must end with a newline"
    lines = body.split(b"\n")[:-1] if body else []
    return int(m.group(1)), lines


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    banner: str
    ingest_host: str
    ingest_port: int
    query_host: str
    query_port: int
    stdout_path: Path
    stderr_path: Path

    def query(self, command: bytes | str, **kw: object) -> bytes:
        return query(self.query_port, command, **kw)  # type: ignore[arg-type]

    def send(self, data: bytes) -> None:
        send(self.ingest_port, data)

    def connect_ingest(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.ingest_port), timeout=15)

    def stats(self) -> dict[str, int]:
        return parse_stats(self.query("STATS"))

    def found(self, keyword: bytes | str) -> tuple[int, list[bytes]]:
        if isinstance(keyword, str):
            keyword = keyword.encode()
        return parse_found(self.query(b"QUERY keyword=" + keyword))

    def wait_stats(self, timeout: float = 10.0, **expected: int) -> dict[str, int]:
        """Poll STATS until every given field has the given value."""
        last: dict[str, int] = {}

        def check() -> bool:
            last.update(self.stats())
            return all(last[k] == v for k, v in expected.items())

        try:
            wait_for(check, timeout, what=f"STATS {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last STATS: {last}") from None
        return last

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send ``sig``; return the exit status (fails if it takes over ``timeout`` s)."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_server(tmp_path: Path, *args: str, ingest_host: str | None = "127.0.0.1") -> Server:
    """Start ``python -m logcaster serve -p 0 -q 0 ...``; wait (polling) for its banner."""
    n = len(list(tmp_path.glob("server-*.out")))
    out = tmp_path / f"server-{n}.out"
    err = tmp_path / f"server-{n}.err"
    cmd = logcaster_cmd("serve", "-p", "0", "-q", "0")
    if ingest_host is not None:
        cmd += ["--host", ingest_host]
    cmd += list(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            cmd, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL, cwd=tmp_path, env=env
        )

    def banner() -> re.Match[str] | None:
        m = BANNER_RE.search(out.read_text(errors="replace"))
        if m is None and proc.poll() is not None:
            raise AssertionError(
                f"server exited with {proc.returncode} before its banner: "
                f"{err.read_text(errors='replace')}"
            )
        return m

    try:
        m = wait_for(banner, STARTUP_TIMEOUT, what="the server's startup line")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Server(
        proc, m.group(0), m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), out, err
    )


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def factory(*args: str, **kw: str | None) -> Server:
        srv = start_server(tmp_path, *args, **kw)
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        if srv.proc.poll() is None:
            srv.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            srv.proc.wait(timeout=10)


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    return server_factory()
