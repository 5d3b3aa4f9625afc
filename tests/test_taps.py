"""Live taps (``logcaster.pipeline.taps``): backlog bound, skipped-line counts, and the
notice delivered as soon as a reader has caught up."""

from __future__ import annotations

from array import array

from logcaster.pipeline.taps import LiveTaps
from logcaster.query.matcher import Matcher
from logcaster.query.spec import QuerySpec


class RecordingSink:
    """A sink whose unsent backlog the test sets by hand."""

    def __init__(self) -> None:
        self.backlog = 0
        self.got: list[tuple[bytes, int]] = []  # (delivered lines, skipped) per delivery
        self.aborted = False

    def buffered(self) -> int:
        return self.backlog

    def deliver(self, block: bytes, spans: array[int], ts_ns: int, skipped: int) -> None:
        lines = b"".join(block[spans[i] : spans[i + 1]] for i in range(0, len(spans), 2))
        self.got.append((lines, skipped))

    def abort(self) -> None:
        self.aborted = True


def test_caught_up_reports_skipped_lines_without_a_new_match() -> None:
    taps = LiveTaps(backlog_bytes=100)
    sink = RecordingSink()
    tap = taps.add(Matcher(QuerySpec(keywords=(b"hit",))), sink)
    taps.publish(b"hit 1\nmiss\n", 1, 2)
    assert sink.got == [(b"hit 1\n", 0)]
    sink.backlog = 101  # the reader stalls: new lines are counted, not delivered
    taps.publish(b"hit 2\nhit 3\nmiss\n", 2, 3)
    assert len(sink.got) == 1 and tap.skipped == 3 and taps.skipped == 3
    taps.caught_up(tap)  # still over the bound: nothing yet
    assert len(sink.got) == 1
    sink.backlog = 0
    taps.caught_up(tap)
    assert sink.got[-1] == (b"", 3) and tap.skipped == 0
    taps.caught_up(tap)  # told once only
    taps.publish(b"hit 4\n", 3, 1)
    assert sink.got[1:] == [(b"", 3), (b"hit 4\n", 0)]


def test_caught_up_on_a_removed_tap_delivers_nothing() -> None:
    taps = LiveTaps(backlog_bytes=0)
    sink = RecordingSink()
    tap = taps.add(Matcher(QuerySpec()), sink)
    sink.backlog = 1
    taps.publish(b"a\n", 1, 1)
    taps.remove(tap)
    sink.backlog = 0
    taps.caught_up(tap)
    assert sink.got == [] and not sink.aborted
