"""The lines a ClickHouse store holds until its next flush, and when a burst of
ingest defers that flush.

While ingest runs a burst (a gathered read of at least ``BUSY_BYTES``, and for
``BUSY_S`` after the last one), full batches wait, up to ``DEFER_BYTES`` of lines
held, and go out once it slows: encoding them meanwhile would take the GIL from the
ingest thread, and an insert thread at nice 10 holding it on busy cores is slow to
give it back. The lines are the ring's blocks (views, not copies).
"""

from __future__ import annotations

from ...scan import count_lines
from ..batch import Item

BUSY_BYTES = 1 << 20
BUSY_S = 0.1
DEFER_BYTES = 256 << 20


class Pending:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.lines: list[int] = []  # the lines of each item
        self.rows = 0
        self.bytes = 0
        self.since = 0.0  # when the oldest item came (monotonic)
        self.busy_until = 0.0  # ingest counts as running a burst until then

    def __len__(self) -> int:
        return len(self.items)

    def add(self, batch: list[Item], now: float) -> None:
        """Hold one gathered read (``now``: monotonic time)."""
        if not self.items:
            self.since = now
        size = sum(len(data) for data, _ in batch)
        if size >= BUSY_BYTES:
            self.busy_until = now + BUSY_S
        lines = [count_lines(data, 0, len(data)) for data, _ in batch]
        self.items += batch
        self.lines += lines
        self.rows += sum(lines)
        self.bytes += size

    def deferred(self, now: float) -> bool:
        """True while ingest runs a burst and less than DEFER_BYTES are held."""
        return now < self.busy_until and self.bytes < DEFER_BYTES

    def take(self, batch_rows: int) -> list[list[Item]]:
        """Everything held, in order, in batches cut where they reach ``batch_rows``
        lines (as a flush cuts them while ingest is not busy); nothing is held
        afterwards."""
        batches: list[list[Item]] = []
        at = 0
        while at < len(self.items):
            end, rows = at, 0
            while end < len(self.items) and (rows < batch_rows or end == at):
                rows += self.lines[end]
                end += 1
            batches.append(self.items[at:end])
            at = end
        self.items, self.lines = [], []
        self.rows = self.bytes = 0
        return batches
