"""Live taps: newly accepted lines pushed to whoever watches for matching ones
(the line port's ``FOLLOW``; later HTTP tails and IRC channels).

The intake calls :meth:`LiveTaps.publish` after each append, only when a tap is
open. Each tap has a backlog bound: while its sink holds more than that unsent,
new lines are counted instead of scanned and delivered, and the next delivery
carries how many went by; so does :meth:`LiveTaps.caught_up`, which the frontend
calls as soon as the reader has drained its backlog, so a follower hears what it
missed without waiting for the next matching line. A stalled reader therefore
costs ingest one check per read; a reading one costs the scan of each new block
for its filters. A tap that stays over its bound longer than the stall timeout
is cut.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..query.postfilter import Scanner
from ..stats import Metric

DEFAULT_BACKLOG = 1 << 20


class TapSink(Protocol):
    """The frontend's end of a tap: it renders matches its own way."""

    def buffered(self) -> int:
        """Bytes delivered and not yet sent to the reader."""
        ...

    def deliver(self, block: bytes, spans: array[int], ts_ns: int, skipped: int) -> None:
        """Matching lines ``block[s:e]`` for each span pair, all received at ``ts_ns``;
        ``skipped`` lines went by unseen since the last delivery."""
        ...

    def abort(self) -> None:
        """The tap has been cut: drop the reader."""
        ...


@dataclass(eq=False, slots=True)
class Tap:
    matcher: Scanner
    sink: TapSink
    skipped: int = 0
    stalled_since: float | None = None  # when its backlog first went over the bound


class LiveTaps:
    def __init__(self, backlog_bytes: int = DEFAULT_BACKLOG, stall_timeout: float = 10.0) -> None:
        self.backlog_bytes = backlog_bytes
        self.stall_timeout = stall_timeout  # a tap over its bound this long is cut
        self.cut = 0  # taps disconnected for not reading
        self.taps: set[Tap] = set()
        self.skipped = 0  # lines not delivered to slow taps, all time

    def __bool__(self) -> bool:
        return bool(self.taps)

    def add(self, matcher: Scanner, sink: TapSink) -> Tap:
        tap = Tap(matcher, sink)
        self.taps.add(tap)
        return tap

    def remove(self, tap: Tap) -> None:
        self.taps.discard(tap)

    def publish(self, lines_in: bytes | memoryview, ts_ns: int, lines: int) -> None:
        """Offer ``lines`` newly stored lines (newline-terminated) received at ``ts_ns``.

        ``lines_in`` may be a view into a receive buffer; it is copied only if
        some tap reads it.
        """
        block = b""
        for tap in list(self.taps):
            spec = tap.matcher.spec
            if (spec.time_from is not None and ts_ns < spec.time_from) or (
                spec.time_to is not None and ts_ns > spec.time_to
            ):
                continue
            if tap.sink.buffered() > self.backlog_bytes:
                self._behind(tap, lines)
                continue
            tap.stalled_since = None
            block = block or bytes(lines_in)
            spans: array[int] = array("q")
            if not tap.matcher.scan(block, 0, len(block), spans):
                continue
            skipped, tap.skipped = tap.skipped, 0
            tap.sink.deliver(block, spans, ts_ns, skipped)

    def caught_up(self, tap: Tap) -> None:
        """The tap's reader has drained its backlog: tell it now how many lines
        went by unseen, if any (a delivery of no lines)."""
        if tap.skipped and tap in self.taps and tap.sink.buffered() <= self.backlog_bytes:
            skipped, tap.skipped = tap.skipped, 0
            tap.stalled_since = None
            tap.sink.deliver(b"", array("q"), time.time_ns(), skipped)

    def _behind(self, tap: Tap, lines: int) -> None:
        tap.skipped += lines
        self.skipped += lines
        now = time.monotonic()
        if tap.stalled_since is None:
            tap.stalled_since = now
        elif now - tap.stalled_since > self.stall_timeout:
            self.cut += 1
            self.remove(tap)
            tap.sink.abort()

    def collect(self) -> Iterable[Metric]:
        yield Metric("Followers", len(self.taps), "live taps open", prom="live_taps")
        yield Metric(
            "FollowSkipped",
            self.skipped,
            "lines slow taps did not get",
            "counter",
            "live_tap_skipped_lines",
        )
        yield Metric("FollowCut", self.cut, "taps cut for not reading", "counter", "live_taps_cut")
