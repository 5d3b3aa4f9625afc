"""The server's own messages (startup line, shutdown, disk errors) on stdout/stderr.

A server must keep running, and keep obeying signals, when whoever reads its
output has gone away (``logcaster serve | head -1``): a message that cannot be
written is dropped.
"""

from __future__ import annotations

import contextlib
import sys


def say(message: str, *, error: bool = True) -> None:
    """Print one line to stderr (or stdout), flushed; never raise."""
    stream = sys.stderr if error else sys.stdout
    with contextlib.suppress(OSError, ValueError):  # closed pipe or file
        print(message, file=stream, flush=True)


def engine() -> str:
    """Which scanning engine this process runs, for the startup line and ``version``."""
    from . import scan

    if scan.HAVE_NATIVE:
        return "C accelerator (logcaster._speedups)"
    return "pure Python (NumPy fallback; no C compiler at install time: slower)"
