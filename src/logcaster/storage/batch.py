"""The storage seam: :class:`Store`, what the intake hands accepted lines to, and
:class:`BatchWriter`, the one queue-and-thread mechanism every store builds on.

The ingest path calls :meth:`BatchWriter.submit` with each stored block; a
dedicated thread drains the queue in batches and hands each batch to the
store's :meth:`~BatchWriter.write_batch`. Woken by an item, the thread first
waits ``gather_s`` (10 ms) so that a burst's reads are taken together: woken once
per read, it would take the GIL from the event loop thread at every read.

When the store falls behind, :attr:`BatchWriter.backlog` grows past the
high-water mark and ``submit`` asks ingest to stop reading; once the backlog
is below the low-water mark again ``on_drained`` is called so that reading
resumes: nothing accepted is dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ..stats import Metric

HIGH_WATER = 64 << 20  # queued bytes at which ingest is paused
LOW_WATER = 16 << 20  # ... and resumed
BATCH_BYTES = 8 << 20
GATHER_S = 0.01  # once woken, the writer thread waits this long for more items

# Newline-terminated lines and their receive time (ns). The lines are bytes or a
# read-only view of the ring's bytes, which stay unchanged while the view lives.
Item = tuple[bytes | memoryview, int]


class Store(Protocol):
    """Where accepted lines go besides the ring."""

    def submit(self, data: bytes | memoryview, ts_ns: int) -> bool:
        """Queue lines (kept as given: never changed afterwards); True asks ingest to
        pause until ``on_drained``."""
        ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float = 30.0) -> None: ...

    def collect(self) -> Iterable[Metric]: ...


class BatchWriter:
    """A bounded-by-backpressure queue drained in batches by one thread.

    Subclasses implement :meth:`open`, :meth:`write_batch`, :meth:`sync` and
    :meth:`close_sink`; every call but ``open`` happens on the writer thread.
    """

    def __init__(self, name: str, on_drained: Callable[[], None] | None = None) -> None:
        self.on_drained = on_drained  # called (on the writer thread) below low water
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._backlog_lock = threading.Lock()
        self.backlog = 0  # bytes submitted and not yet written
        self.high_water = HIGH_WATER  # a store may hold more (or less) before pausing
        self.low_water = LOW_WATER
        self._idle = threading.Condition()
        self._submitted = self._written = 0
        self.tick_s: float | None = None  # if set, sync(False) runs this often when idle
        self.gather_s = GATHER_S
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # ----------------------------------------------------------- subclass
    def open(self) -> None:
        """Get ready to write (called by :meth:`start`, on the caller's thread)."""

    def write_batch(self, batch: list[Item]) -> None:
        raise NotImplementedError

    def sync(self, force: bool) -> None:
        """Make what was written durable (``force``: now, else when it is due)."""

    def close_sink(self) -> None:
        """Release what :meth:`open` acquired (after the thread has stopped)."""

    # ------------------------------------------------------------- producer
    def start(self) -> None:
        self.open()
        self._thread.start()

    def submit(self, data: bytes | memoryview, ts_ns: int) -> bool:
        """Queue newline-terminated lines; True when ingest should pause (high water)."""
        with self._backlog_lock:
            self.backlog += len(data)
            self._submitted += 1
            over = self.backlog > self.high_water
        self._queue.put((data, ts_ns))
        return over

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far has been written (not synced)."""
        with self._idle:
            target = self._submitted
            return self._idle.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write and sync everything submitted, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self.close_sink()

    @property
    def queue_depth(self) -> int:
        return self._submitted - self._written

    def over_high_water(self) -> bool:
        return self.backlog > self.high_water

    # -------------------------------------------------------------- thread
    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                item = self._queue.get(timeout=self.tick_s)
            except queue.Empty:
                self.sync(force=False)
                continue
            if item is not None and self.gather_s and self.backlog < BATCH_BYTES:
                # Let a burst's reads gather instead of waking (and taking the GIL
                # from ingest) once per read.
                time.sleep(self.gather_s)
            batch: list[Item] = []
            size = 0
            while item is not None:
                batch.append(item)
                size += len(item[0])
                if size >= BATCH_BYTES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if item is None:
                stop = True
            if batch:
                self.write_batch(batch)
                self._done(batch)
            self.sync(force=stop)
        self.sync(force=True)

    def _done(self, batch: list[Item]) -> None:
        with self._backlog_lock:
            before = self.backlog
            self.backlog -= sum(len(d) for d, _ in batch)
            after = self.backlog
        with self._idle:
            self._written += len(batch)
            self._idle.notify_all()
        if before > self.low_water >= after and self.on_drained is not None:
            self.on_drained()
