"""Channel routing: which log lines reach which channel, and each member's share.

Every channel with a streaming member holds one live tap (not one per member):
the level channels' taps select by the engine's level detection, ``#logs-all``'s
takes every line, a custom ``#logs-<name>`` channel's is built from its filters
by ``build_spec`` (AND-combined). A delivery is rendered once per channel and
written to each member whose send queue is under its bound; a member over it
has the lines counted instead, and gets ``... N lines skipped`` once it drains.
Deliveries are queued and flushed a few times a second (one write per member per
flush, not per ingest read), and each channel renders at most ``rate`` lines a
second (IRC is read by people): lines past that are counted as skipped the same
way, so ingest never waits.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ...pipeline.taps import LiveTaps, Tap
from ...query.errors import QueryError
from ...query.levels import canonical_level
from ...query.matcher import Matcher
from ...query.spec import Param, QuerySpec, build_spec
from ...scan import count_lines
from .render import live_messages, notice

QUEUE_BYTES = 256 << 10  # a member's send queue bound
LINES_PER_SECOND = 500  # lines a channel renders each second at most
NOTICE_EVERY = 1.0  # seconds between two skip notices to one member
CUSTOM_NAME = re.compile(r"#logs-[A-Za-z0-9_.\-]{1,40}\Z")

# name -> (levels, topic)
BUILTIN: dict[str, tuple[frozenset[str], str]] = {
    "#logs-all": (frozenset(), "Every log line LogCaster receives"),
    "#logs-error": (frozenset({"ERROR"}), "Log lines at level ERROR (engine level detection)"),
    "#logs-warning": (frozenset({"WARN"}), "Log lines at level WARN/WARNING"),
    "#logs-info": (frozenset({"INFO"}), "Log lines at level INFO"),
    "#logs-debug": (frozenset({"DEBUG"}), "Log lines at level DEBUG"),
}
FILTER_KINDS = ("keyword", "level", "regex", "host")


Schedule = Callable[[Callable[[], None]], None]


def _count(block: bytes, spans: array[int]) -> int:
    return sum(count_lines(block, spans[i], spans[i + 1]) for i in range(0, len(spans), 2))


class Member(Protocol):
    """A connection as a channel sees it."""

    nick: str

    def buffered(self) -> int:
        """Bytes queued for the client and not yet sent."""
        ...

    def send(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Membership:
    streaming: bool = True  # !stream on|off
    skipped: int = 0  # lines not sent since the last notice
    noticed: float = 0.0  # when the last skip notice went out (monotonic)


@dataclass(frozen=True, slots=True)
class Filter:
    kind: str  # one of FILTER_KINDS
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def param(self) -> Param:
        if self.kind == "host":
            return ("regex", host_pattern(self.value), [])
        if self.kind == "level":
            return ("level", self.value, self.value.split(","))
        return (self.kind, self.value, [self.value])


def host_pattern(host: str) -> str:
    """An RE2 pattern for lines whose syslog header (RFC 3164 or 5424, PRI optional)
    names ``host``."""
    return (
        r"(?i)^(?:<\d{1,3}>)?(?:\d{1,2} \S+|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
        + re.escape(host)
        + r"(?: |$)"
    )


def parse_filter(text: str) -> Filter:
    """``kind:value`` -> a Filter; QueryError for anything else."""
    kind, sep, value = text.strip().partition(":")
    kind = kind.lower()
    if not sep or kind not in FILTER_KINDS or not value:
        raise QueryError(f"Invalid filter '{text}'. Use keyword:X, level:X, regex:X or host:X")
    if kind == "level":
        for item in value.split(","):
            if canonical_level(item) is None:
                raise QueryError(f"Unknown level '{item}'")
    return Filter(kind, value)


def filters_spec(filters: Iterable[Filter]) -> QuerySpec:
    """The spec selecting lines that pass every filter; QueryError if there is none."""
    found = list(filters)
    if sum(f.kind == "level" for f in found) > 1:
        raise QueryError("One level: filter per channel (level:ERROR,WARN takes several)")
    if sum(f.kind in ("regex", "host") for f in found) > 1:
        raise QueryError("One regex: or host: filter per channel")
    return build_spec((f.param() for f in found), time.time_ns())


@dataclass(eq=False, slots=True)
class Channel:
    """One channel: its members, its filters and its tap (the tap's sink is the channel)."""

    name: str
    topic: str
    builtin: bool
    taps: LiveTaps
    levels: frozenset[str] = frozenset()
    filters: list[Filter] = field(default_factory=list)
    members: dict[Member, Membership] = field(default_factory=dict)
    tap: Tap | None = None
    matcher: Matcher | None = None
    rate: float = LINES_PER_SECOND
    queue_bytes: int = QUEUE_BYTES
    sent: int = 0  # log lines written to members (one per member)
    skipped: int = 0  # log lines a member did not get (one per member)
    schedule: Schedule | None = None  # runs a flush soon; None: deliveries flush at once
    _budget: float = LINES_PER_SECOND
    _refilled: float = field(default_factory=time.monotonic)
    _pending: list[tuple[bytes, array[int], int]] = field(default_factory=list)
    _pending_bytes: int = 0
    _overflow: int = 0  # lines the taps counted instead of delivering
    _flush_due: bool = False
    _notices: dict[int, bytes] = field(default_factory=dict)  # the same count, once

    # ------------------------------------------------------------ membership
    def spec(self) -> QuerySpec:
        if self.builtin:
            return QuerySpec(levels=self.levels)
        return filters_spec(self.filters)

    def set_filters(self, filters: list[Filter]) -> None:
        """Replace the filters (QueryError, and no change, if they are invalid)."""
        matcher = Matcher(filters_spec(filters))
        self.filters = filters
        self.matcher = matcher
        if self.tap is not None:
            self.taps.remove(self.tap)
            self.tap = self.taps.add(matcher, self)

    def add(self, member: Member) -> None:
        self.members.setdefault(member, Membership())
        self._update_tap()

    def remove(self, member: Member) -> None:
        self.members.pop(member, None)
        self._update_tap()

    def set_streaming(self, member: Member, on: bool) -> None:
        state = self.members.get(member)
        if state is not None:
            state.streaming = on
            self._update_tap()

    def _update_tap(self) -> None:
        wanted = any(m.streaming for m in self.members.values())
        if wanted and self.tap is None:
            if self.matcher is None:
                self.matcher = Matcher(self.spec())
            self.tap = self.taps.add(self.matcher, self)
        elif not wanted and self.tap is not None:
            self.taps.remove(self.tap)
            self.tap = None

    def close(self) -> None:
        self.members.clear()
        self._update_tap()

    # -------------------------------------------------------------- TapSink
    def buffered(self) -> int:
        """Bytes queued for the next flush: over the taps' bound, ingest only counts
        lines for this channel. Each member's own queue has its own bound."""
        return self._pending_bytes

    def abort(self) -> None:
        self.tap = None  # cut by the taps: a later join opens a new one

    def deliver(self, block: bytes, spans: array[int], ts_ns: int, skipped: int) -> None:
        """Queue a delivery for the next flush (or flush now, without a scheduler).

        Ingest pays a list append per read. While the queue holds more than the
        taps' backlog bound, the taps count new lines instead of scanning them
        (see :meth:`buffered`); that count arrives here as ``skipped``."""
        self._overflow += skipped
        self._pending.append((block, spans, ts_ns))
        self._pending_bytes += spans[-1] - spans[0] if spans else 0
        if self.schedule is None:
            self.flush()
        elif not self._flush_due:
            self._flush_due = True
            self.schedule(self.flush)

    def flush(self) -> None:
        """Render what is queued, once, within the channel's rate, and write it to each
        streaming member under its bound; count the rest as skipped."""
        self._flush_due = False
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        overflow, self._overflow = self._overflow, 0
        if self.tap is None:
            self._update_tap()  # cut by the taps while flushes were late: reopen
        receivers = [(m, s) for m, s in self.members.items() if s.streaming]
        ready = [m.buffered() <= self.queue_bytes for m, _ in receivers]
        if not any(ready):
            lines = overflow + sum(_count(b, sp) for b, sp, _ in pending)
            self._skip(receivers, lines)
            return
        now = time.monotonic()
        self._budget = min(self.rate, self._budget + (now - self._refilled) * self.rate)
        self._refilled = now
        level = next(iter(self.levels)) if len(self.levels) == 1 else None
        chunks: list[bytes] = []
        done = 0
        left = overflow
        for block, spans, ts_ns in pending:
            budget = max(0, int(self._budget) - done)
            data, n, rest = live_messages(self.name, block, spans, ts_ns, level, budget)
            chunks.append(data)
            done += n
            left += rest
        self._budget -= done
        data = b"".join(chunks)
        for (member, state), ok in zip(receivers, ready, strict=True):
            if not ok:
                self._skip([(member, state)], done + left)
                continue
            self._notify(member, state, now)
            if data:
                member.send(data)
                self.sent += done
            if left:
                self._skip([(member, state)], left)

    def _skip(self, receivers: list[tuple[Member, Membership]], lines: int) -> None:
        for _, state in receivers:
            state.skipped += lines
            self.skipped += lines

    def _notify(self, member: Member, state: Membership, now: float) -> None:
        """``... N lines skipped``, at most once a second per member."""
        if state.skipped and now - state.noticed >= NOTICE_EVERY:
            text = self._notices.get(state.skipped)
            if text is None:
                text = notice(self.name, f"... {state.skipped} lines skipped")
                if len(self._notices) > 64:
                    self._notices.clear()
                self._notices[state.skipped] = text
            member.send(text)
            state.skipped = 0
            state.noticed = now

    def flush_notices(self) -> None:
        """Tell each member that has drained how many lines it missed."""
        now = time.monotonic()
        for member, state in self.members.items():
            if state.skipped and member.buffered() <= self.queue_bytes:
                self._notify(member, state, now)


class Channels:
    """Every channel by name: the built-in ones, and custom ones while they have members."""

    def __init__(self, taps: LiveTaps, schedule: Schedule | None = None) -> None:
        self.taps = taps
        self.schedule = schedule
        self.retired_sent = 0  # the counters of custom channels that have closed
        self.retired_skipped = 0
        self._all: dict[str, Channel] = {}
        for name, (levels, topic) in BUILTIN.items():
            self._all[name] = Channel(name, topic, True, taps, levels, schedule=schedule)

    def __iter__(self) -> Iterator[Channel]:
        return iter(list(self._all.values()))

    def __len__(self) -> int:
        return len(self._all)

    def get(self, name: str) -> Channel | None:
        return self._all.get(name.lower())

    def open(self, name: str) -> Channel | None:
        """The channel called ``name``, made if it is a new custom one; None if the
        name is not a LogCaster channel."""
        found = self.get(name)
        if found is not None:
            return found
        if not CUSTOM_NAME.match(name):
            return None
        channel = Channel(
            name.lower(),
            "Custom channel: every line until filtered (!filter add keyword:X)",
            False,
            self.taps,
            schedule=self.schedule,
        )
        self._all[channel.name] = channel
        return channel

    def leave(self, channel: Channel, member: Member) -> None:
        channel.remove(member)
        if not channel.builtin and not channel.members:
            del self._all[channel.name]
            channel.close()
            self.retired_sent += channel.sent
            self.retired_skipped += channel.skipped

    def leave_all(self, member: Member) -> list[Channel]:
        """Remove ``member`` everywhere; the channels it was in."""
        left = [c for c in self if member in c.members]
        for channel in left:
            self.leave(channel, member)
        return left

    def of(self, member: Member) -> list[Channel]:
        return [c for c in self if member in c.members]

    def close(self) -> None:
        for channel in self:
            channel.close()
