"""Where accepted lines go: the ring, live followers and (with -P) the log files.

The ingest adapter hands each read's complete lines here once. When the file
writer falls behind, :meth:`Intake.accept` tells the connection to stop
reading; :meth:`Intake.resume_all` restarts every paused connection once the
writer has drained (backpressure instead of unbounded memory or lost lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .follow import FollowHub
from .persist import PersistWriter
from .ring import Ring


@dataclass(slots=True)
class Counters:
    """Gauges and counters shown by STATS and INFO."""

    clients: int = 0  # ingest connections open now
    truncated: int = 0  # lines cut to --max-line-bytes
    reloaded: int = 0  # lines read back from disk at start
    paused: int = 0  # times an ingest connection was paused for the writer
    rejected: int = 0  # ingest connections closed at once: --max-clients reached
    denied: int = 0  # ingest connections closed at once: not in --ingest-allow
    idle_closed: int = 0  # ingest connections closed by --idle-timeout
    query_rejected: int = 0  # query connections refused: --max-query-clients reached
    query_evicted: int = 0  # waiting query connections closed to make room for a new one
    auth_failures: int = 0  # query connections without the right AUTH line


@dataclass(slots=True)
class Intake:
    ring: Ring
    follow: FollowHub
    counters: Counters
    writer: PersistWriter | None = None
    _paused: dict[object, Callable[[], None]] = field(default_factory=dict)

    def accept(self, lines: bytes | memoryview, count: int | None = None) -> bool:
        """Store newline-terminated lines received now; True means "pause reading"."""
        now = time.time_ns()
        stored = self.ring.append(lines, now, count)
        if self.follow:
            self.follow.publish(lines, now, stored)
        return self.writer is not None and self.writer.submit(bytes(lines), now)

    def pause(self, key: object, resume: Callable[[], None]) -> None:
        self.counters.paused += 1
        self._paused[key] = resume

    def forget(self, key: object) -> None:
        self._paused.pop(key, None)

    def resume_all(self) -> None:
        paused, self._paused = self._paused, {}
        for resume in paused.values():
            resume()
