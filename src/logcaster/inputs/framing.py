"""Sans-IO line framing for the ingest stream.

A :class:`LineFramer` is fed the bytes of one connection, however they are cut,
and returns the *complete* lines as one normalised block. A NUL byte ends a line
just as ``\\n`` does (NUL-terminated senders: Python's ``SysLogHandler``, GELF
over TCP, Perl's ``\\n\\0``); every line ends in ``\\n``, trailing ``\\r``/``\\n``
are stripped, empty lines are gone, and lines longer than ``max_line_bytes`` are
cut to that size with ``...`` appended (the rest of such a line, up to its
newline, is discarded and counted once in ``truncated``).

The common case costs a handful of C-speed ``bytearray`` scans per read (one of
them the ``memchr`` for NUL) and no per-line Python work: the block of complete
lines is returned as a view into the receive buffer and is only copied once,
into the ring. Reads that contain
``\\r\\n``, NUL, empty lines or over-long lines take a slower path.

The receive buffer (:class:`Scratch`) is shared by every framer of an event
loop: a connection keeps only its pending partial line, which is copied to the
front of the scratch buffer before each read. Idle connections therefore cost
bytes, not a receive buffer each.
"""

from __future__ import annotations

from typing import Protocol

from ..scan import clean_lines

EMPTY = memoryview(b"")
NUL_TO_NEWLINE = bytes.maketrans(b"\0", b"\n")
ELLIPSIS = b"..."
DEFAULT_READ_SIZE = 256 * 1024
# Room beyond a line for what precedes it in other framings (an RFC 6587 count).
HEADER_ROOM = 16


class Framer(Protocol):
    """What every framer of a byte stream offers its adapter (lines, frames, either)."""

    scratch: Scratch

    def get_buffer(self) -> memoryview: ...

    def commit(self, nbytes: int) -> memoryview | bytes: ...


def feed_through(framer: Framer, data: bytes) -> bytes:
    """Frame ``data`` as reads would arrive, return a copy of what the framer gives
    (for tests and tools; adapters use get_buffer/commit directly)."""
    out = bytearray()
    view = memoryview(data)
    while view:
        space = framer.get_buffer()
        n = min(len(space), len(view), framer.scratch.read_size)
        space[:n] = view[:n]
        view = view[n:]
        out += framer.commit(n)
    return bytes(out)


class Scratch:
    """A receive buffer shared by the framers of one thread (one at a time)."""

    __slots__ = ("buf", "max_line_bytes", "out", "read_size", "view")

    def __init__(self, max_line_bytes: int, read_size: int = DEFAULT_READ_SIZE) -> None:
        self.max_line_bytes = max_line_bytes
        self.read_size = read_size
        # Room for a pending partial line (at most max_line_bytes + 1, or a frame
        # with its count) plus a read.
        self.buf = bytearray(max_line_bytes + 2 + HEADER_ROOM + read_size)
        self.view = memoryview(self.buf)
        self.out: bytearray | None = None  # octet-counted entries, made by the first OctetFramer


class LineFramer:
    """Turns one connection's byte stream into normalised blocks of lines."""

    __slots__ = (
        "_discard",
        "_fill",
        "_pending",
        "lines",
        "max_line_bytes",
        "scratch",
        "truncated",
    )

    def __init__(self, max_line_bytes: int, scratch: Scratch | None = None) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.scratch = scratch if scratch is not None else Scratch(max_line_bytes)
        if len(self.scratch.buf) < max_line_bytes + 2 + 1:
            raise ValueError("scratch buffer too small for max_line_bytes")
        self._pending = b""  # start of a line whose newline has not arrived
        self._discard = False  # inside the discarded tail of a truncated line
        self._fill = 0
        self.truncated = 0  # lines cut to max_line_bytes so far
        self.lines = 0  # lines in the block the last commit() returned

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held for the next read."""
        return len(self._pending)

    # ---------------------------------------------------------------- feeding
    def get_buffer(self) -> memoryview:
        """Return writable space for the next read (a view into the scratch buffer)."""
        p = len(self._pending)
        scratch = self.scratch
        if p:
            scratch.buf[:p] = self._pending
        self._fill = p
        return scratch.view[p:]

    def commit(self, nbytes: int) -> memoryview:
        """Account for ``nbytes`` written into the last buffer; return complete lines.

        ``lines`` tells how many lines it holds. The view is valid until the
        next :meth:`get_buffer` call of any framer sharing the scratch buffer:
        copy it before then.
        """
        buf = self.scratch.buf
        start = 0
        end = self._fill + nbytes
        self.lines = 0
        if buf.find(0, self._fill, end) >= 0:  # NUL ends a message too
            buf[self._fill : end] = buf[self._fill : end].translate(NUL_TO_NEWLINE)
        if self._discard:
            nl = buf.find(b"\n", 0, end)
            if nl < 0:
                self._pending = b""
                return EMPTY
            self._discard = False
            start = nl + 1
        last = buf.rfind(b"\n", start, end)
        tail_start = last + 1 if last >= 0 else start
        tail_len = end - tail_start
        cr_run = False
        if tail_len > self.max_line_bytes + 1:
            # Trailing '\r's may yet turn out to end the line: they do not count,
            # and one stands for any number of them (the pending tail stays bounded).
            content = len(bytes(buf[tail_start:end]).rstrip(b"\r"))
            if content < tail_len:
                cr_run = True
                tail_len = max(content, self.max_line_bytes)
        if tail_len > self.max_line_bytes + 1:
            # An over-long line still in progress: keep its head, drop the rest.
            head = bytes(buf[tail_start : tail_start + self.max_line_bytes])
            self._discard = True
            self._pending = b""
            self.truncated += 1
            done = bytes(self._normalise(buf, start, tail_start)) if last >= 0 else b""
            self.lines += 1
            return memoryview(done + head + ELLIPSIS + b"\n")
        if cr_run:
            self._pending = bytes(buf[tail_start : tail_start + tail_len]) + b"\r"
        else:
            self._pending = bytes(buf[tail_start:end])
        if last < 0:
            return EMPTY
        return self._normalise(buf, start, last + 1)

    def close(self) -> bytes:
        """The connection ended: return its unterminated last line, if any."""
        line = self._pending.rstrip(b"\r")
        self._pending = b""
        if self._discard or not line:
            self._discard = False
            return b""
        return self._cut(line) + b"\n"

    def feed(self, data: bytes) -> bytes:
        """Convenience for tests and tools: frame ``data``, return a copy of the lines."""
        return feed_through(self, data)

    # ---------------------------------------------------------- normalising
    def _normalise(self, buf: bytearray, start: int, end: int) -> memoryview:
        """Lines in ``buf[start:end]`` (which ends with a newline), normalised.

        One C-speed pass counts the lines and checks that none is empty,
        over-long or ends in ``\r``; only a block that fails is rebuilt.
        """
        lines = clean_lines(buf, start, end, self.max_line_bytes)
        if lines >= 0:
            self.lines = lines
            return self.scratch.view[start:end]
        data = self._normalise_slow(bytes(buf[start:end]))
        self.lines = data.count(b"\n")
        return memoryview(data)

    def _normalise_slow(self, data: bytes) -> bytes:
        """Normalise a block that failed the fast check. Linear in its size."""
        data = data.replace(b"\r\n", b"\n")  # the common reason: a CRLF sender
        if clean_lines(data, 0, len(data), self.max_line_bytes) >= 0:
            return data
        while b"\n\n" in data:  # empty lines: Perl's "\n\0", blank lines between messages
            data = data.replace(b"\n\n", b"\n")
        data = data.removeprefix(b"\n")
        if clean_lines(data, 0, len(data), self.max_line_bytes) >= 0:
            return data
        out = []
        for line in data.split(b"\n")[:-1]:
            line = line.rstrip(b"\r")
            if line:
                out.append(self._cut(line))
        return b"\n".join(out) + b"\n" if out else b""

    def _cut(self, line: bytes) -> bytes:
        if len(line) <= self.max_line_bytes:
            return line
        self.truncated += 1
        return line[: self.max_line_bytes] + ELLIPSIS
