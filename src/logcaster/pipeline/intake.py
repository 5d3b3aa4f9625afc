"""Where accepted lines go: the ring, the live taps and every store (files, ...).

Each input adapter hands a read's complete lines here once; the ring copies them
and the stores are handed read-only views of that copy. When a store falls
behind, :meth:`Intake.accept` tells the connection to stop reading; the store's
``on_drained`` ends up in :meth:`Intake.resume_all`, which restarts every paused
connection (backpressure instead of unbounded memory or lost lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..stats import Metric
from ..storage.batch import Store
from ..storage.ring import Ring
from .taps import LiveTaps


@dataclass(slots=True)
class Intake:
    ring: Ring
    taps: LiveTaps
    stores: list[Store] = field(default_factory=list)
    paused: int = 0  # times a connection was paused for a store
    _paused: dict[object, Callable[[], None]] = field(default_factory=dict)

    def accept(self, lines: bytes | memoryview, count: int | None = None) -> bool:
        """Store newline-terminated lines received now; True means "pause reading"."""
        now = time.time_ns()
        if not self.stores:
            stored = self.ring.append(lines, now, count)
            if self.taps:
                self.taps.publish(lines, now, stored)
            return False
        # The stores get views of the ring's copy (no copy of their own): the ring
        # keeps a block that a store still holds out of reuse.
        pieces: list[memoryview] = []
        stored = self.ring.append(lines, now, count, pieces)
        if self.taps:
            self.taps.publish(lines, now, stored)
        pause = False
        for store in self.stores:
            for piece in pieces:
                pause = store.submit(piece, now) or pause
        return pause

    def pause(self, key: object, resume: Callable[[], None]) -> None:
        self.paused += 1
        self._paused[key] = resume

    def forget(self, key: object) -> None:
        self._paused.pop(key, None)

    def resume_all(self) -> None:
        paused, self._paused = self._paused, {}
        for resume in paused.values():
            resume()

    def collect(self) -> Iterable[Metric]:
        if self.stores:  # only a store can make ingest wait
            yield Metric(
                "IngestPauses",
                self.paused,
                "times ingest waited for a store",
                "counter",
                "ingest_pauses",
            )
