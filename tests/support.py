"""Helpers shared by the tests: polling, socket helpers, reply parsers, a LogCaster server
run as a subprocess, the series' six lines and the on-disk persistence format.

Fixtures built on these live in ``conftest.py``; import the rest as ``from support import ...``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from logcaster.frontends.line.reader import AUTH_REQUIRED, TOO_LONG, Outcome, Refuse
from logcaster.frontends.line.reader import CommandLine as Command

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BANNER_RE = re.compile(
    r"LogCaster listening: ingest (\S+):(\d+), query (\S+):(\d+)"
    r"(?:, udp (\S+):(\d+))?(?:, http (\S+):(\d+))?(?:, irc (\S+):(\d+))?$",
    re.MULTILINE,
)
STATS_RE = re.compile(rb"STATS: Total=(\d+), Dropped=(\d+), Current=(\d+), Clients=(\d+)\n")
STOPPED_RE = re.compile(r"LogCaster stopped: Total=(\d+), Dropped=(\d+), Current=(\d+)")
STAMP = rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] "
STARTUP_TIMEOUT = 20.0

# Persistence on disk: rotated file names and the (offset, time) records of the .idx files.
NAME_RE = re.compile(r"log-(\d{8}-\d{6})(?:-(\d+))?\.log")
REC = struct.Struct("<qq")

# The series' six example lines.
SERIES = [
    b"2025-07-28 INFO: Application startup successful",
    b"2025-07-28 DEBUG: Database connection pool created with 10 connections",
    b"2025-07-28 WARNING: Configuration value 'timeout' is deprecated, use "
    b"'connection_timeout' instead",
    b"2025-07-28 ERROR: Failed to process user request for user_id=123, reason: timeout",
    b"2025-07-28 INFO: User logged in: admin",
    b"2025-07-28 ERROR: Critical failure in payment module, transaction_id=xyz-789",
]


# ------------------------------------------------------------------ polling
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


# ------------------------------------------------------------------ sockets
def recv_all(sock: socket.socket, tolerate_reset: bool = False) -> bytes:
    """Everything the peer sends until it closes.

    With ``tolerate_reset`` a reset (or broken pipe) just ends the reply instead of raising.
    """
    parts = []
    try:
        while chunk := sock.recv(1 << 16):
            parts.append(chunk)
    except (ConnectionResetError, BrokenPipeError):
        if not tolerate_reset:
            raise
    return b"".join(parts)


def query(
    port: int,
    command: bytes | str,
    terminator: bytes = b"\n",
    timeout: float = 15.0,
    shut_wr: bool = False,
    *,
    token: str | None = None,
    tls: ssl.SSLContext | None = None,
    tolerate_reset: bool = False,
) -> bytes:
    """One command on the query port; returns the whole reply (read until the server closes).

    ``token`` sends an ``AUTH`` line first; ``tls`` wraps the connection; ``tolerate_reset``
    lets a reset or broken pipe (the server refusing or cutting the client) end the exchange.
    """
    if isinstance(command, str):
        command = command.encode()
    head = b"" if token is None else b"AUTH " + token.encode() + b"\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        sock = raw if tls is None else tls.wrap_socket(raw, server_hostname="localhost")
        try:
            sock.sendall(head + command + terminator)
            if shut_wr:
                sock.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            if not tolerate_reset:
                raise
        return recv_all(sock, tolerate_reset)


def send(port: int, data: bytes, timeout: float = 15.0) -> None:
    """Send ``data`` on one ingest connection and close it.

    Half-closes and waits for the server to close its side: by then the server
    has read (and stored) every byte, so no polling is needed afterwards.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""


# ------------------------------------------------------------------ replies
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
    assert int(m.group(1)) == len(lines), f"FOUND: {m.group(1)!r} but {len(lines)} lines"
    return int(m.group(1)), lines


def parse_info(reply: bytes) -> dict[str, str]:
    """``INFO: <n> counters`` + ``name=value`` lines -> {name: value}; checks the count."""
    head, _, body = reply.partition(b"\n")
    m = re.fullmatch(rb"INFO: (\d+) counters", head)
    assert m, reply[:200]
    pairs = dict(line.split("=", 1) for line in body.decode().splitlines())
    assert len(pairs) == int(m.group(1)), reply[:200]
    return pairs


# ------------------------------------------------------------------ persistence files
def log_files(directory: Path) -> list[Path]:
    """Rotated files in rotation order (name stamp, then -N), then current.log if present.

    Worked out from the names alone, independent of ``logcaster.persist``.
    """
    rotated = []
    for p in directory.glob("log-*.log"):
        m = NAME_RE.fullmatch(p.name)
        assert m, f"unexpected rotated file name: {p.name}"
        rotated.append(((m.group(1), int(m.group(2) or 0)), p))
    files = [p for _, p in sorted(rotated)]
    cur = directory / "current.log"
    return [*files, cur] if cur.exists() else files


# ------------------------------------------------------------------ a server subprocess
def logcaster_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "logcaster", *args]


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
    http_port: int = 0  # 0: no HTTP listener
    udp_port: int = 0  # 0: no UDP listener
    irc_port: int = 0  # 0: no IRC listener
    # Defaults for the methods below when no timeout is given.
    query_timeout: float = 15.0
    send_timeout: float = 15.0
    stop_timeout: float = 5.0

    def query(self, command: bytes | str, **kw: object) -> bytes:
        """``query()`` on this server's query port; a socket error notes the server's state."""
        kw.setdefault("timeout", self.query_timeout)
        try:
            return query(self.query_port, command, **kw)  # type: ignore[arg-type]
        except OSError as exc:
            exc.add_note(
                f"query {command!r}: server exit status {self.proc.poll()}, "
                f"stderr: {self.stderr()[-2000:]!r}"
            )
            raise

    def send(self, data: bytes, timeout: float | None = None) -> None:
        send(self.ingest_port, data, self.send_timeout if timeout is None else timeout)

    def connect_ingest(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.ingest_port), timeout=15)

    def stats(self) -> dict[str, int]:
        return parse_stats(self.query("STATS"))

    def info(self) -> dict[str, str]:
        return parse_info(self.query("INFO"))

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

    def wait_total(self, total: int, timeout: float = 20.0) -> None:
        """Poll until Total reaches ``total``, then check it did not overshoot."""
        wait_for(lambda: self.stats()["Total"] >= total, timeout, what=f"Total={total}")
        assert self.stats()["Total"] == total

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stopped_total(self) -> int:
        """Total from the ``LogCaster stopped`` line on stderr."""
        m = STOPPED_RE.search(self.stderr())
        assert m, f"no 'LogCaster stopped' line in stderr: {self.stderr()!r}"
        return int(m.group(1))

    def stop(self, sig: int = signal.SIGTERM, timeout: float | None = None) -> int:
        """Send ``sig``; return the exit status (fails if it takes over ``timeout`` s)."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=self.stop_timeout if timeout is None else timeout)

    def reap(self) -> None:
        """Kill the server if it still runs and wait (up to 10 s) for it to go."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def start_server(
    io_dir: Path,
    *args: str,
    ingest_host: str | None = "127.0.0.1",
    cwd: Path | None = None,
    banner: bool = True,
    query_timeout: float = 15.0,
    send_timeout: float = 15.0,
    stop_timeout: float = 5.0,
) -> Server:
    """Start ``python -m logcaster serve -p 0 -q 0 ...``; wait (polling) for its banner.

    Its stdout and stderr go to ``io_dir/server-<n>.out`` and ``.err``; it runs in ``cwd``
    (default ``io_dir``, created if missing). With ``banner=False`` it returns at once,
    without ports: for a server expected to fail at start-up.
    """
    io_dir.mkdir(parents=True, exist_ok=True)
    n = len(list(io_dir.glob("server-*.out")))
    out = io_dir / f"server-{n}.out"
    err = io_dir / f"server-{n}.err"
    run_dir = cwd or io_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = logcaster_cmd("serve", "-p", "0", "-q", "0", "--http-port", "0")
    if ingest_host is not None:
        cmd += ["--host", ingest_host]
    cmd += list(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            cmd, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL, cwd=run_dir, env=env
        )
    timeouts = {
        "query_timeout": query_timeout,
        "send_timeout": send_timeout,
        "stop_timeout": stop_timeout,
    }
    if not banner:
        return Server(proc, "", "", 0, "", 0, out, err, **timeouts)

    def ready() -> re.Match[str] | None:
        m = BANNER_RE.search(out.read_text(errors="replace"))
        if m is None and proc.poll() is not None:
            raise AssertionError(
                f"server exited with {proc.returncode} before its banner: "
                f"{err.read_text(errors='replace')}"
            )
        return m

    try:
        m = wait_for(ready, STARTUP_TIMEOUT, what="the server's startup line")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Server(
        proc,
        m.group(0),
        m.group(1),
        int(m.group(2)),
        m.group(3),
        int(m.group(4)),
        out,
        err,
        int(m.group(8) or 0),
        int(m.group(6) or 0),
        int(m.group(10) or 0),
        **timeouts,
    )


# ---------------------------------------------------------- sans-IO reference models
def cut(data: bytes, points: list[int]) -> list[bytes]:
    at = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(at)]


def request_reference(token: bytes, data: bytes, max_line: int) -> Outcome:
    """What a reader given ``data`` in one piece, then EOF, answers."""
    authed = not token
    rest = data

    def line_outcome(line: bytes) -> Outcome:
        nonlocal authed
        if authed:
            return Command(line)
        verb, _, given = line.partition(b" ")
        if verb.upper() == b"AUTH" and given.strip() == token:
            authed = True
            return None
        return Refuse(AUTH_REQUIRED)

    while True:
        nl = rest.find(b"\n")
        if nl < 0:
            if len(rest) > max_line:
                return Refuse(TOO_LONG)
            line = rest.rstrip(b"\r")
            if line:
                outcome = line_outcome(line)
                if outcome is not None:
                    return outcome
            return None if authed else Refuse(AUTH_REQUIRED)
        if nl > max_line:
            return Refuse(TOO_LONG)
        outcome = line_outcome(rest[:nl].rstrip(b"\r"))
        if outcome is not None:
            return outcome
        rest = rest[nl + 1 :]
