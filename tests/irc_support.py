"""Helpers for the IRC tests: a LogCaster server started with ``--irc`` (its IRC port
read from the startup line) and a raw-socket IRC client that reads by polling."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import Server, start_server

IRC_BANNER_RE = re.compile(r", irc (\S+):(\d+)$", re.MULTILINE)

IrcServer = Server  # a server started with -i: its irc_port is set


def start_irc_server(io_dir: Path, *args: str) -> IrcServer:
    """``logcaster serve -p 0 -q 0 --http-port 0 -i -I 0 ...``; waits for its startup line."""
    srv = start_server(io_dir, "-i", "-I", "0", *args)
    assert srv.irc_port, srv.banner
    return srv


@pytest.fixture
def irc_factory(tmp_path: Path) -> Iterator[Callable[..., IrcServer]]:
    servers: list[IrcServer] = []

    def factory(*args: str) -> IrcServer:
        srv = start_irc_server(tmp_path / f"irc-{len(servers)}", *args)
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        srv.reap()


@pytest.fixture
def irc_server(irc_factory: Callable[..., IrcServer]) -> IrcServer:
    return irc_factory()


class IrcClient:
    """A raw IRC connection: send lines, read the server's lines until one matches."""

    def __init__(self, port: int, rcvbuf: int | None = None, timeout: float = 15.0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.timeout = timeout
        self._buf = b""
        self.seen: list[bytes] = []  # every line read, CR LF removed
        self.raw = b""  # every byte read
        self.closed = False
        self.pos = 0  # seen[pos:] not yet returned by until()

    def __enter__(self) -> IrcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, *lines: str | bytes) -> None:
        data = b"".join((x.encode() if isinstance(x, str) else x) + b"\r\n" for x in lines)
        self.sock.sendall(data)

    def _read(self, deadline: float) -> bool:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.raw += chunk
        self._buf += chunk
        *lines, self._buf = self._buf.split(b"\r\n")
        self.seen.extend(lines)
        return True

    def until(self, pred: Callable[[bytes], object], timeout: float | None = None) -> list[bytes]:
        """Lines not yet returned, up to the first for which ``pred`` is true (included)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        start = checked = self.pos
        while True:
            for i in range(checked, len(self.seen)):
                if pred(self.seen[i]):
                    self.pos = i + 1
                    return self.seen[start : i + 1]
            checked = len(self.seen)
            if self.closed or time.monotonic() >= deadline:
                raise AssertionError(f"no matching line; last lines: {self.seen[-8:]!r}")
            self._read(deadline)

    def expect(self, pattern: bytes, timeout: float | None = None) -> list[bytes]:
        """Lines read until one matching the regex ``pattern``."""
        rx = re.compile(pattern)
        return self.until(lambda line: rx.search(line), timeout)

    def wait_closed(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            assert time.monotonic() < deadline, "the server did not close the connection"
            self._read(deadline)

    def register(self, nick: str, password: str | None = None) -> list[bytes]:
        if password is not None:
            self.send(f"PASS {password}")
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} tester")
        return self.expect(rb"^:logcaster 376 ")

    def join(self, channel: str) -> list[bytes]:
        self.send(f"JOIN {channel}")
        return self.expect(rb"^:logcaster 366 \S+ " + re.escape(channel.encode()) + rb" ")

    def ask(self, target: str, text: str, last: bytes) -> list[bytes]:
        """Say ``text`` to ``target``; the pseudo-user's lines until one matching ``last``."""
        self.send(f"PRIVMSG {target} :{text}")
        lines = self.expect(rb"^:logcaster!logcaster@logcaster PRIVMSG \S+ :.*" + last)
        return [ln for ln in lines if ln.startswith(b":logcaster!")]


def said(lines: list[bytes]) -> list[bytes]:
    """The text of each PRIVMSG among ``lines``."""
    return [ln.split(b" :", 1)[1] for ln in lines if b" PRIVMSG " in ln]
