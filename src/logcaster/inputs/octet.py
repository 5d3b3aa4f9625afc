"""Sans-IO RFC 6587 octet-counted framing: ``LEN SP MSG`` frames, as sent by
``logger --octet-count``, rsyslog ``TCP_Framing="octet-counted"``, syslog-ng
``syslog()`` and every RFC 5425 (syslog over TLS) sender.

:func:`detect` tells from a connection's first bytes whether it speaks octet
counting: a count (1 to 9 digits, no leading zero), one space, then a syslog
PRI (``<`` 1 to 3 digits ``>``). A plain line that starts with digits
(``2026-11-26T...``, ``200 OK``) never matches.

An :class:`OctetFramer` turns such a stream into the same newline-terminated
blocks a :class:`~.framing.LineFramer` returns, so the ring stays
newline-delimited: each frame is one entry; a newline (``\\n``, or ``\\r\\n``)
*inside* a frame is stored as ``#012``, rsyslog's escape for it; trailing
``\\r``/``\\n``/NUL of a frame and newlines between frames are dropped; empty
frames are skipped.

A frame whose count exceeds ``max_line_bytes`` is cut like an over-long line
(its first ``max_line_bytes`` bytes and ``...``; ``truncated``) and the rest of
it is dropped, so the stream stays in step. Bad input never stops the
connection: a count that is not a number, has a leading zero or more than 9
digits, or a long count not followed by a PRI, cannot delimit its frame; it is
counted in ``malformed`` and the bytes from it up to the next newline are kept
as one text entry (cut like an over-long line), after which frames are
expected again. A frame cut by the peer closing is stored as far as it got and
counted in ``malformed`` too.

The frame loop (:mod:`.octet_split`) runs in C with the GIL released, once per
read, not per frame: it writes a read's entries, cleaned, into an output buffer
shared like the receive buffer, and hands back the state a frame still
arriving needs. Python keeps the per-read bookkeeping (the pending bytes, the
counters). Without the C extension the same loop runs in Python, with the same
results.
"""

from __future__ import annotations

from .framing import ELLIPSIS, EMPTY, Scratch, feed_through
from .octet_split import (
    DISCARD,
    MAX_COUNT_DIGITS,
    NEWLINE_ESCAPE,
    TEXT,
    SplitFrames,
    clean_frame,
    out_size,
    split_frames,
)

__all__ = ["DETECT_BYTES", "NEWLINE_ESCAPE", "OctetFramer", "clean_frame", "detect"]

# Count, space, "<", up to three PRI digits, ">": what detect() needs at most.
DETECT_BYTES = MAX_COUNT_DIGITS + 6
_DIGITS = frozenset(b"0123456789")


def detect(head: bytes) -> bool | None:
    """Whether a stream starting with ``head`` is octet counted; None: not known yet."""
    i, n = 0, len(head)
    while i < n and i < MAX_COUNT_DIGITS and head[i] in _DIGITS:
        if i == 0 and head[0] == 0x30:
            return False
        i += 1
    if i == n:
        return None
    if i == 0 or head[i] != 0x20:
        return False
    i += 1
    if i == n:
        return None
    if head[i] != 0x3C:  # "<"
        return False
    i += 1
    start = i
    while i < n and i - start < 3 and head[i] in _DIGITS:
        i += 1
    if i == n:
        return None
    return i > start and head[i] == 0x3E  # ">"


class OctetFramer:
    """Turns one octet-counted connection's byte stream into blocks of entries."""

    __slots__ = (
        "_fill",
        "_out",
        "_pending",
        "_skip",
        "_split",
        "_state",
        "lines",
        "malformed",
        "max_line_bytes",
        "scratch",
        "truncated",
    )

    def __init__(
        self, max_line_bytes: int, scratch: Scratch | None = None, split: SplitFrames | None = None
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.scratch = scratch if scratch is not None else Scratch(max_line_bytes)
        size = len(self.scratch.buf)
        if size < max_line_bytes + DETECT_BYTES + 2:
            raise ValueError("scratch buffer too small for max_line_bytes")
        if self.scratch.out is None or len(self.scratch.out) < out_size(size):
            self.scratch.out = bytearray(out_size(size))
        self._out = self.scratch.out  # entries of the last commit, shared like the scratch
        self._split = split if split is not None else split_frames
        self._pending = b""  # an unfinished frame (count included) or text line
        self._skip = 0  # bytes of an over-long frame still to drop
        self._state = 0  # TEXT: reading a malformed stretch up to its newline; DISCARD: cut
        self._fill = 0
        self.lines = 0
        self.truncated = 0
        self.malformed = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def get_buffer(self) -> memoryview:
        p = len(self._pending)
        if p:
            self.scratch.buf[:p] = self._pending
        self._fill = p
        return self.scratch.view[p:]

    def commit(self, nbytes: int) -> memoryview:
        """Account for ``nbytes`` read into the last buffer; return the complete entries.

        The view is valid until the next commit of a framer sharing the scratch
        buffer: copy it before then.
        """
        buf = self.scratch.buf
        end = self._fill + nbytes
        out = self._out
        n, pos, self._skip, state, self.lines, truncated, malformed = self._split(
            buf, end, self.max_line_bytes, self._skip, self._state, out
        )
        self._state = state
        if truncated or malformed:
            self.truncated += truncated
            self.malformed += malformed
        if state & DISCARD or pos == end:
            self._pending = b""
        else:
            self._pending = bytes(buf[pos:end])
        return memoryview(out)[:n] if n else EMPTY

    def close(self) -> bytes:
        """The connection ended: return what an unfinished frame or text line held."""
        rest, self._pending = self._pending, b""
        state, skip = self._state, self._skip
        self._state = self._skip = 0
        if skip:
            self.malformed += 1  # an over-long frame cut by the peer
            return b""
        if state & DISCARD:
            return b""
        if state & TEXT:
            line = self._cut(rest.rstrip(b"\r\0"))
        elif rest:
            self.malformed += 1  # a frame cut by the peer: keep what came of it
            count, sp, msg = rest.partition(b" ")
            line = clean_frame(msg if sp else count)
            if sp and count.isdigit() and int(count) > self.max_line_bytes:
                # an over-long frame, cut before max_line_bytes of it came: cut as any
                # over-long line once cleaned (a newline in it grew to "#012")
                line = self._cut(line)
        else:
            return b""
        return line + b"\n" if line else b""

    def feed(self, data: bytes) -> bytes:
        """Convenience for tests and tools: frame ``data``, return a copy of the entries."""
        return feed_through(self, data)

    def _cut(self, line: bytes) -> bytes:
        if len(line) <= self.max_line_bytes:
            return line
        self.truncated += 1
        return line[: self.max_line_bytes] + ELLIPSIS
