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

The frame loop runs once per frame in Python (a count must be read to find the
next one); the checks of a block of frames are C-speed ``bytes`` scans.
"""

from __future__ import annotations

from .framing import ELLIPSIS, EMPTY, Scratch, feed_through

MAX_COUNT_DIGITS = 9
# Count, space, "<", up to three PRI digits, ">": what detect() needs at most.
DETECT_BYTES = MAX_COUNT_DIGITS + 6
NEWLINE_ESCAPE = b"#012"
_DIGITS = frozenset(b"0123456789")
_BETWEEN = frozenset(b"\r\n\0")  # bytes skipped between frames


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


def clean_frame(msg: bytes) -> bytes:
    """A frame's message as stored: trailing CR/LF/NUL dropped, inner newlines escaped."""
    msg = msg.rstrip(b"\r\n\0")
    if b"\n" in msg:
        msg = msg.replace(b"\r\n", NEWLINE_ESCAPE).replace(b"\n", NEWLINE_ESCAPE)
    return msg


class OctetFramer:
    """Turns one octet-counted connection's byte stream into blocks of entries."""

    __slots__ = (
        "_discard",
        "_fill",
        "_pending",
        "_skip",
        "_text",
        "lines",
        "malformed",
        "max_line_bytes",
        "scratch",
        "truncated",
    )

    def __init__(self, max_line_bytes: int, scratch: Scratch | None = None) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.scratch = scratch if scratch is not None else Scratch(max_line_bytes)
        if len(self.scratch.buf) < max_line_bytes + DETECT_BYTES + 2:
            raise ValueError("scratch buffer too small for max_line_bytes")
        self._pending = b""  # an unfinished frame (count included) or text line
        self._skip = 0  # bytes of an over-long frame still to drop
        self._text = False  # reading a malformed stretch up to its newline
        self._discard = False  # ... and it was already cut: drop the rest
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
        """Account for ``nbytes`` read into the last buffer; return the complete entries."""
        buf = self.scratch.buf
        end = self._fill + nbytes
        max_line = self.max_line_bytes
        out: list[bytes | bytearray] = []
        append, find = out.append, buf.find
        pos = 0
        while pos < end:
            if self._skip:  # the rest of a frame cut to max_line_bytes
                n = min(self._skip, end - pos)
                self._skip -= n
                pos += n
                continue
            if self._text:
                pos = self._text_until_newline(buf, pos, end, out)
                if self._text:
                    break
                continue
            limit = pos + MAX_COUNT_DIGITS + 1
            sp = find(32, pos, limit if limit < end else end)
            if sp > pos:
                count = buf[pos:sp]
                if count.isdigit() and count[0] != 0x30:
                    size = int(count)
                    if size <= max_line:
                        frame_end = sp + 1 + size
                        if frame_end > end:
                            break  # the frame is still arriving
                        append(buf[sp + 1 : frame_end])
                        pos = frame_end
                        continue
                    if sp + 1 < end and buf[sp + 1] == 0x3C:  # a frame too long to keep
                        if sp + 1 + max_line > end:
                            break  # its head is still arriving
                        append(clean_frame(bytes(buf[sp + 1 : sp + 1 + max_line])) + ELLIPSIS)
                        self.truncated += 1
                        self._skip = size - max_line
                        pos = sp + 1 + max_line
                        continue
                    if sp + 1 == end:
                        break  # whether it is a frame shows with the next byte
            if buf[pos] in _BETWEEN:
                pos += 1
            elif sp < 0 and end - pos <= MAX_COUNT_DIGITS and buf[pos:end].isdigit():
                break  # a count still arriving
            else:
                self._bad_count()
        if self._text and self._discard:
            self._pending = b""
        else:
            self._pending = bytes(buf[pos:end])
        return self._block(out)

    def close(self) -> bytes:
        """The connection ended: return what an unfinished frame or text line held."""
        rest, self._pending = self._pending, b""
        text, discard, skip = self._text, self._discard, self._skip
        self._text = self._discard = False
        self._skip = 0
        if skip:
            self.malformed += 1  # an over-long frame cut by the peer
            return b""
        if discard:
            return b""
        if text:
            line = self._cut(rest.rstrip(b"\r\0"))
        elif rest:
            self.malformed += 1  # a frame cut by the peer: keep what came of it
            count, sp, msg = rest.partition(b" ")
            line = clean_frame(msg if sp else count)
        else:
            return b""
        return line + b"\n" if line else b""

    def feed(self, data: bytes) -> bytes:
        """Convenience for tests and tools: frame ``data``, return a copy of the entries."""
        return feed_through(self, data)

    # ------------------------------------------------------------ internals
    def _bad_count(self) -> None:
        """No count where one was due: keep the text up to the next newline."""
        self.malformed += 1
        self._text = True

    def _text_until_newline(
        self, buf: bytearray, pos: int, end: int, out: list[bytes | bytearray]
    ) -> int:
        nl = buf.find(b"\n", pos, end)
        if nl < 0:
            if not self._discard and end - pos > self.max_line_bytes + 1:
                out.append(bytes(buf[pos : pos + self.max_line_bytes]) + ELLIPSIS)
                self.truncated += 1
                self._discard = True
            return end if self._discard else pos
        if not self._discard:
            if nl - pos > self.max_line_bytes + 1:  # as if no newline had come yet
                out.append(bytes(buf[pos : pos + self.max_line_bytes]) + ELLIPSIS)
                self.truncated += 1
            else:
                out.append(self._cut(bytes(buf[pos:nl]).rstrip(b"\r\0")))
        self._text = self._discard = False
        return nl + 1

    def _block(self, out: list[bytes | bytearray]) -> memoryview:
        self.lines = 0
        if not out:
            return EMPTY
        data = b"\n".join(out) + b"\n"
        if (
            data.count(b"\n") != len(out)
            or b"\r\n" in data
            or b"\0\n" in data
            or data.startswith(b"\n")
            or b"\n\n" in data
        ):
            # Some frame holds a newline, ends in CR/NUL or is empty: clean each.
            kept = [m for m in (clean_frame(bytes(m)) for m in out) if m]
            data = b"\n".join(kept) + b"\n" if kept else b""
            self.lines = len(kept)
        else:
            self.lines = len(out)
        return memoryview(data)

    def _cut(self, line: bytes) -> bytes:
        if len(line) <= self.max_line_bytes:
            return line
        self.truncated += 1
        return line[: self.max_line_bytes] + ELLIPSIS
