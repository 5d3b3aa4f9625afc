"""Shared fixtures: LogCaster servers run as subprocesses. Helpers live in ``support.py``."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support import Server, start_server

settings.register_profile(
    "logcaster",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("logcaster")

# A background job of a non-interactive shell starts with SIGINT ignored, and so
# would every client these tests start: Python then never raises KeyboardInterrupt,
# and the tests that press Ctrl-C on a FOLLOW wait for a client that cannot stop.
# Ctrl-C as in a terminal, whatever ran the tests (children take the default).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Starts servers (``support.start_server``; output in ``io_dir``, default ``tmp_path``)
    and kills whichever still run at teardown."""
    servers: list[Server] = []

    def factory(*args: str, io_dir: Path | None = None, **kw: object) -> Server:
        srv = start_server(io_dir or tmp_path, *args, **kw)  # type: ignore[arg-type]
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        srv.reap()


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    return server_factory()
