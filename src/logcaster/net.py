"""Sockets for the listeners: TCP and UDP listeners that report the address they
bound, TLS contexts, the open-file limit, the allocator's memory keeping and the
event loop.

A :class:`Listener` is one listening port (like an aiohttp *site*): the
lifecycle code starts and stops a list of them, whatever protocol each speaks.
:class:`TCPListener` is the one for asyncio protocols.
The connections it accepts belong to a :class:`Connections` owner, which makes
their protocol objects and closes them at shutdown. A :class:`UDPListener` is
the same for a datagram port: it binds a socket with a large receive buffer
and hands it to a :class:`DatagramReader`, which reads it on the event loop.
:func:`udp_drops` reads the kernel's count of datagrams dropped for a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .config import ConfigError

BACKLOG = 4096
UDP_RCVBUF = 8 << 20  # bytes of datagrams the kernel may queue for a UDP listener
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux: past rmem_max, as root


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Connections(Protocol):
    """The owner of one listener's connections."""

    def protocol(self) -> asyncio.BaseProtocol:
        """A protocol object for a new connection."""
        ...

    def close_all(self) -> None:
        """Shutdown: end every open connection (storing what it had sent)."""
        ...


class Listener(Protocol):
    """One listening port of any protocol, as the lifecycle code sees it."""

    name: str  # what the startup line calls it: "ingest", "query", "http"
    flag: str  # the setting that chose its port: "--port", "--query-port", "--http-port"
    host: str

    @property
    def port(self) -> int:
        """The port asked for (0: any free one)."""
        ...

    async def start(self) -> None:
        """Bind and start accepting."""
        ...

    @property
    def address(self) -> Address:
        """The address really bound (port 0 resolved)."""
        ...

    def close(self) -> None:
        """Stop accepting (connections already open go on)."""
        ...

    def close_connections(self) -> None:
        """Shutdown: end every open connection (storing what it had sent)."""
        ...

    async def wait_closed(self, timeout: float = 2.0) -> None: ...


class TCPListener:
    """One TCP port: bound by :meth:`start`, its real address in :attr:`address`."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        connections: Connections,
        tls: ssl.SSLContext | None = None,
        flag: str = "--port",
    ) -> None:
        self.name = name
        self.flag = flag
        self.host, self.port = host, port
        self.connections = connections
        self.tls = tls
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await create_server(
            loop, self.connections.protocol, self.host, self.port, self.tls
        )

    @property
    def address(self) -> Address:
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return Address(host, port)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def close_connections(self) -> None:
        self.connections.close_all()

    async def wait_closed(self, timeout: float = 2.0) -> None:
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout)


class DatagramReader(Protocol):
    """The owner of one UDP listener's socket."""

    def start(self, sock: socket.socket) -> None:
        """Begin reading ``sock`` (bound, non-blocking) on the running loop."""
        ...

    def stop(self) -> None:
        """Stop reading (the socket is closed by the listener)."""
        ...

    def close_all(self) -> None:
        """Shutdown: store what was received and not yet stored."""
        ...


class UDPListener:
    """One UDP port; ``port`` may be a function of the ports bound before it."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int | Callable[[], int],
        connections: DatagramReader,
        rcvbuf: int = UDP_RCVBUF,
    ) -> None:
        self.name = name
        self.flag = "--udp-port"
        self.host, self._port = host, port
        self.connections = connections
        self.rcvbuf = rcvbuf
        self.sock: socket.socket | None = None

    @property
    def port(self) -> int:
        return self._port() if callable(self._port) else self._port

    async def start(self) -> None:
        port = self.port
        try:
            self.sock = udp_socket(self.host, port, self.rcvbuf)
        except OSError as exc:
            raise ConfigError(
                f"--udp-port: cannot bind UDP {Address(self.host, port)}: {exc.strerror or exc}"
            ) from None
        self.connections.start(self.sock)

    @property
    def address(self) -> Address:
        assert self.sock is not None, "not started"
        host, port = self.sock.getsockname()[:2]
        return Address(host, port)

    def close(self) -> None:
        if self.sock is not None:
            self.connections.stop()

    def close_connections(self) -> None:
        self.connections.close_all()

    async def wait_closed(self, timeout: float = 2.0) -> None:
        if self.sock is not None:
            self.sock.close()


def udp_socket(host: str, port: int, rcvbuf: int = UDP_RCVBUF) -> socket.socket:
    """A bound, non-blocking UDP socket; ``::`` takes IPv4 too. The receive buffer is
    raised to ``rcvbuf`` (past the system limit when running as root)."""
    if host == "::" and socket.has_ipv6:
        family = socket.AF_INET6
    else:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def udp_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for ``sock`` (receive buffer full), from
    ``/proc/net/udp`` or ``udp6``; None where that is not available."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    name = "udp6" if sock.family == socket.AF_INET6 else "udp"
    try:
        table = Path("/proc/net", name).read_text()
    except OSError:
        return None
    for row in table.splitlines()[1:]:
        cols = row.split()
        if len(cols) >= 13 and cols[9] == inode:
            return int(cols[12])
    return None


def bind_error(listener: Listener, exc: OSError) -> ConfigError:
    """A failure to bind ``listener`` as a one-line error naming the flag that chose it."""
    where = f"{listener.flag} {listener.port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{where} is already in use (another server, or another listener)")
    if exc.errno == errno.EACCES:
        return ConfigError(f"{where}: permission denied (ports below 1024 need privileges)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"{where}: {listener.host} is not an address of this machine")
    return ConfigError(f"{where}: cannot listen on {listener.host}: {exc.strerror or exc}")


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) for the given PEM certificate and key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        why = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(f"--tls-cert/--tls-key: cannot load {cert} and {key}: {why}") from None
    return ctx


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, for servers that take a socket
    (aiohttp's ``SockSite``); dual-stack for ``::`` (IPv6 and IPv4-mapped clients)."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(addr)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def create_server(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], asyncio.BaseProtocol],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
) -> asyncio.Server:
    if host == "::" and socket.has_ipv6:
        # The event loop would open "::" IPv6-only.
        sock = bound_socket(host, port)
        return await loop.create_server(factory, sock=sock, backlog=BACKLOG, ssl=tls)
    return await loop.create_server(
        factory, host, port, backlog=BACKLOG, reuse_address=True, ssl=tls
    )


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard limit (10 000 clients need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


KEEP_FREED = 32 << 20  # bytes of freed heap kept for reuse before any is given back
OWN_MAPPING = 8 << 20  # allocations this large and up get (and give back) pages of their own


def keep_freed_memory() -> bool:
    """Have the allocator keep freed memory for reuse (glibc; False elsewhere).

    Every HTTP request allocates and frees its body's chunks (about a megabyte);
    by default glibc gives such freed memory back to the system at once, and the
    next request pays a page fault per 4 KiB for it again, more than parsing it
    costs. Kept, it is reused warm; what is kept is bounded by the peak use."""
    try:
        from ._speedups import keep_freed_memory as keep
    except ImportError:  # pragma: no cover - depends on the install
        return False
    return keep(KEEP_FREED, OWN_MAPPING)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed, else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
