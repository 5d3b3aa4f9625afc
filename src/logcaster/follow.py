"""FOLLOW: push newly ingested lines that match a follower's filters.

The ingest path calls :meth:`FollowHub.publish` after each append, only when
someone follows. Every follower has a backlog bound: while more than that is
queued unsent on its connection, new lines are counted instead of scanned and
queued, and once it catches up it is told ``... <n> lines skipped``. A stalled
reader therefore costs ingest one check per read; a reading follower costs
the scan of each new block for its filters (C-speed for keywords).
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .search import Matcher, as_utf8, stamp

if TYPE_CHECKING:
    from .service import Peer

DEFAULT_BACKLOG = 1 << 20


@dataclass(eq=False, slots=True)
class Follower:
    matcher: Matcher
    peer: Peer
    skipped: int = 0
    stalled_since: float | None = None  # when its backlog first went over the bound


class FollowHub:
    def __init__(self, backlog_bytes: int = DEFAULT_BACKLOG, stall_timeout: float = 10.0) -> None:
        self.backlog_bytes = backlog_bytes
        self.stall_timeout = stall_timeout  # a follower over its bound this long is cut
        self.cut = 0  # followers disconnected for not reading
        self.followers: set[Follower] = set()
        self.skipped = 0  # lines not delivered to slow followers, all time

    def __bool__(self) -> bool:
        return bool(self.followers)

    def add(self, matcher: Matcher, peer: Peer) -> Follower:
        follower = Follower(matcher, peer)
        self.followers.add(follower)
        return follower

    def remove(self, follower: Follower) -> None:
        self.followers.discard(follower)

    def publish(self, lines_in: bytes | memoryview, ts_ns: int, lines: int) -> None:
        """Offer ``lines`` newly stored lines (newline-terminated) received at ``ts_ns``.

        A follower whose connection already holds more than the backlog bound
        unsent is not even scanned: the new lines count as skipped for it (it
        is told how many went by once it catches up), so a stalled follower
        costs ingest nothing but this check. ``lines_in`` may be a view into a
        receive buffer; it is copied only if some follower reads it.
        """
        prefix = b""
        block = b""
        for follower in list(self.followers):
            spec = follower.matcher.spec
            if (spec.time_from is not None and ts_ns < spec.time_from) or (
                spec.time_to is not None and ts_ns > spec.time_to
            ):
                continue
            if follower.peer.buffered() > self.backlog_bytes:
                self._behind(follower, lines)
                continue
            follower.stalled_since = None
            block = block or bytes(lines_in)
            spans: array[int] = array("q")
            if not follower.matcher.scan(block, 0, len(block), spans):
                continue
            prefix = prefix or stamp(ts_ns)
            out = []
            if follower.skipped:
                out.append(f"... {follower.skipped} lines skipped\n".encode())
                follower.skipped = 0
            for i in range(0, len(spans), 2):
                run = block[spans[i] : spans[i + 1] - 1]  # whole lines, last newline dropped
                out.append(prefix + run.replace(b"\n", b"\n" + prefix) + b"\n")
            follower.peer.push(as_utf8(b"".join(out)))

    def _behind(self, follower: Follower, lines: int) -> None:
        follower.skipped += lines
        self.skipped += lines
        now = time.monotonic()
        if follower.stalled_since is None:
            follower.stalled_since = now
        elif now - follower.stalled_since > self.stall_timeout:
            self.cut += 1
            self.remove(follower)
            follower.peer.abort()
