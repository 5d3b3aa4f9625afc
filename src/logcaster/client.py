"""Blocking clients for the server's ports, used by the ``logcaster`` commands: one
command to the query port with its reply streamed, a GET to the HTTP API streamed,
and a byte stream (or RFC 6587 octet-counted syslog frames) to the ingest port.

Socket errors become :class:`ClientError`, whose message names the address and the
flag that chose it and says what the user most likely has to do.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import socket
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

CHUNK = 1 << 16


class ClientError(Exception):
    """A connection problem, explained in one line."""


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def explain(exc: OSError, host: str, port: int, port_flag: str, timeout: float) -> ClientError:
    """``exc`` (from connecting to or reading ``host:port``) as a message a user can act on."""
    where = _where(host, port)
    if isinstance(exc, socket.gaierror):
        return ClientError(f"unknown host '{host}' (--host): the name does not resolve")
    if isinstance(exc, ConnectionRefusedError):
        return ClientError(
            f"cannot connect to {where}: connection refused; no server is listening there "
            f"(is 'logcaster serve' running, and is {port_flag} {port} its port?)"
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return ClientError(
            f"no answer from {where} within {timeout:g} s (--timeout): the host is down, "
            "a firewall drops the packets, or the server is overloaded"
        )
    if isinstance(exc, ConnectionResetError):
        return ClientError(f"{where} closed the connection (reset by the server)")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ClientError(f"cannot reach {where}: {exc.strerror} (--host)")
    return ClientError(f"{where}: {exc.strerror or exc}")


def connect(host: str, port: int, timeout: float, port_flag: str = "--port") -> socket.socket:
    """A TCP connection to ``host:port`` (``timeout`` for connecting and every read)."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise explain(exc, host, port, port_flag, timeout) from None


def stream_reply(
    host: str,
    port: int,
    command: str,
    *,
    timeout: float = 30.0,
    token: str = "",
    port_flag: str = "--port",
) -> Iterator[bytes]:
    """Send one command line (after ``AUTH token`` if given); yield the reply as it comes.

    ``timeout`` bounds connecting and the wait for the first byte; once the reply has
    started there is no read timeout (a FOLLOW may be quiet for hours).
    """
    sock = connect(host, port, timeout, port_flag)
    with sock:
        auth = f"AUTH {token}\n".encode() if token else b""
        try:
            sock.sendall(auth + command.encode("utf-8", "surrogateescape") + b"\n")
            first = sock.recv(CHUNK)
        except TimeoutError:
            raise ClientError(
                f"{_where(host, port)} accepted the connection but sent nothing within "
                f"{timeout:g} s (--timeout): is {port_flag} {port} a LogCaster query port?"
            ) from None
        except OSError as exc:
            raise explain(exc, host, port, port_flag, timeout) from None
        if not first:
            return
        yield first
        sock.settimeout(None)
        while True:
            try:
                chunk = sock.recv(CHUNK)
            except OSError as exc:
                raise explain(exc, host, port, port_flag, timeout) from None
            if not chunk:
                return
            yield chunk


def query(host: str, port: int, command: str, timeout: float = 30.0, token: str = "") -> bytes:
    """The whole reply to one command (for short replies: STATS, COUNT, INFO)."""
    return b"".join(stream_reply(host, port, command, timeout=timeout, token=token))


def http_get(
    host: str,
    port: int,
    path: str,
    params: Iterable[tuple[str, str]] = (),
    *,
    timeout: float = 30.0,
    token: str = "",
) -> Iterator[bytes]:
    """GET ``path?params`` on the HTTP API; yield the body as it comes.

    ``timeout`` bounds connecting and the wait for the answer's head; then there is no
    read timeout. An error answer (``{"error": ...}``) raises ClientError with its message.
    """
    target = path
    query_string = urllib.parse.urlencode(list(params))
    if query_string:
        target += "?" + query_string
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
        except OSError as exc:
            raise explain(exc, host, port, "--http-port", timeout) from None
        except http.client.HTTPException as exc:
            raise ClientError(
                f"{_where(host, port)} did not answer as HTTP ({type(exc).__name__}): "
                "is --http-port the server's HTTP port?"
            ) from None
        if response.status >= 400:
            body = response.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                body = str(json.loads(body).get("error", body))
            raise ClientError(f"HTTP {response.status}: {body.strip()}")
        if conn.sock is not None:
            conn.sock.settimeout(None)  # the reply started: no read timeout
        while True:
            try:
                chunk = response.read1(CHUNK)
            except OSError as exc:
                raise explain(exc, host, port, "--http-port", timeout) from None
            if not chunk:
                return
            yield chunk
    finally:
        conn.close()


def syslog_frames(data: bytes) -> tuple[bytes, bytes]:
    """RFC 6587 octet-counted frames (``LEN SP MSG``) for the complete lines of ``data``,
    and the unterminated rest. Trailing ``\\r`` is dropped, empty lines are skipped."""
    lines = data.split(b"\n")
    rest = lines.pop()
    msgs = [line.removesuffix(b"\r") for line in lines]
    return b"".join(b"%d %s" % (len(m), m) for m in msgs if m), rest


def send_stream(
    host: str,
    port: int,
    source: BinaryIO,
    chunk_size: int = CHUNK,
    *,
    syslog: bool = False,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy ``source`` to the ingest port (as is, or as syslog frames); return the bytes
    read from ``source``. Returns once the server has closed: every byte was read."""
    read = 0
    sock = connect(host, port, timeout)
    with sock:
        sock.settimeout(None)
        try:
            rest = b""
            while chunk := source.read(chunk_size):
                read += len(chunk)
                if syslog:
                    frames, rest = syslog_frames(rest + chunk)
                    chunk = frames
                if chunk:
                    sock.sendall(chunk)
                if progress is not None:
                    progress(read)
            if syslog and rest:
                frames, _ = syslog_frames(rest + b"\n")
                sock.sendall(frames)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1)  # wait for the server to close: every byte has been read
        except OSError as exc:
            raise explain(exc, host, port, "--port", timeout) from None
    return read
