"""Blocking clients for the two ports, used by ``logcaster query`` and ``logcaster send``."""

from __future__ import annotations

import socket
from typing import BinaryIO


def query(host: str, port: int, command: str, timeout: float = 30.0, token: str = "") -> bytes:
    """Send one command line (after ``AUTH token`` if given); return the whole reply."""
    auth = f"AUTH {token}\n".encode() if token else b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(auth + command.encode("utf-8") + b"\n")
        parts: list[bytes] = []
        while chunk := sock.recv(1 << 16):
            parts.append(chunk)
    return b"".join(parts)


def send_stream(host: str, port: int, source: BinaryIO, chunk_size: int = 1 << 16) -> int:
    """Copy ``source`` to the ingest port as is; return the bytes sent."""
    sent = 0
    with socket.create_connection((host, port)) as sock:
        while chunk := source.read(chunk_size):
            sock.sendall(chunk)
            sent += len(chunk)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # wait for the server to close: every byte has been read
    return sent
