"""The frame loop of RFC 6587 octet counting, over one receive buffer.

:func:`split_frames` turns a buffer of ``LEN SP MSG`` frames into the cleaned,
newline-terminated entries an :class:`~.octet.OctetFramer` stores, and returns
where the undecided rest of the buffer starts and the state to carry into the
next read. The C version (``_speedups.split_frames``, ``_frames.c``) runs with
the GIL released; :func:`py_split_frames` is the reference semantics and the
fallback where no compiler was present at install time.
``tests/test_octet_split.py`` checks that both agree on arbitrary streams cut
at arbitrary places.

The arguments: ``buf[0:end]`` (the pending bytes of the last read, then the
new ones), ``max_line``, ``skip`` (bytes of an over-long frame still to drop),
``state`` (:data:`TEXT`: a malformed stretch of text runs on to its newline;
:data:`DISCARD`: it was already cut, the rest is dropped) and ``out``, a
``bytearray`` of at least :func:`out_size` bytes that receives the entries.
The result: ``(out_len, pos, skip, state, lines, truncated, malformed)``.
"""

from __future__ import annotations

from collections.abc import Callable

from .framing import ELLIPSIS

TEXT = 1
DISCARD = 2
MAX_COUNT_DIGITS = 9
NEWLINE_ESCAPE = b"#012"
_BETWEEN = frozenset(b"\r\n\0")  # bytes skipped between frames

Split = tuple[int, int, int, int, int, int, int]
SplitFrames = Callable[[bytearray, int, int, int, int, bytearray], Split]


def out_size(buf_size: int) -> int:
    """Bytes an output buffer needs for a receive buffer of ``buf_size`` bytes
    (a newline inside a frame becomes the four bytes ``#012``)."""
    return 4 * buf_size + 16


def clean_frame(msg: bytes) -> bytes:
    """A frame's message as stored: trailing CR/LF/NUL dropped, inner newlines escaped."""
    msg = msg.rstrip(b"\r\n\0")
    if b"\n" in msg:
        msg = msg.replace(b"\r\n", NEWLINE_ESCAPE).replace(b"\n", NEWLINE_ESCAPE)
    return msg


def py_split_frames(
    buf: bytearray, end: int, max_line: int, skip: int, state: int, out: bytearray
) -> Split:
    """Pure-Python :func:`split_frames`: one loop turn per frame."""
    if len(out) < out_size(end):
        raise ValueError("output buffer smaller than 4 bytes per input byte")
    loop = _Loop(buf, end, max_line, skip, state)
    pos = loop.run()
    data = b"".join(x + b"\n" for x in (clean_frame(m) for m in loop.frames) if x)
    out[: len(data)] = data
    return (
        len(data),
        pos,
        loop.skip,
        loop.state,
        data.count(b"\n"),
        loop.truncated,
        loop.malformed,
    )


class _Loop:
    """The state of one py_split_frames call."""

    __slots__ = ("buf", "end", "frames", "malformed", "max_line", "skip", "state", "truncated")

    def __init__(self, buf: bytearray, end: int, max_line: int, skip: int, state: int) -> None:
        self.buf, self.end, self.max_line = buf, end, max_line
        self.skip, self.state = skip, state
        self.frames: list[bytes] = []  # entries before cleaning
        self.truncated = self.malformed = 0

    def run(self) -> int:
        buf, end, max_line = self.buf, self.end, self.max_line
        append, find = self.frames.append, buf.find
        pos = 0
        while pos < end:
            if self.skip:  # the rest of a frame cut to max_line
                n = min(self.skip, end - pos)
                self.skip -= n
                pos += n
                continue
            if self.state & TEXT:
                pos = self._text_until_newline(pos)
                if self.state & TEXT:
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
                        append(bytes(buf[sp + 1 : frame_end]))
                        pos = frame_end
                        continue
                    if sp + 1 < end and buf[sp + 1] == 0x3C:  # a frame too long to keep
                        if sp + 1 + max_line > end:
                            break  # its head is still arriving
                        append(clean_frame(bytes(buf[sp + 1 : sp + 1 + max_line])) + ELLIPSIS)
                        self.truncated += 1
                        self.skip = size - max_line
                        pos = sp + 1 + max_line
                        continue
                    if sp + 1 == end:
                        break  # whether it is a frame shows with the next byte
            if buf[pos] in _BETWEEN:
                pos += 1
            elif sp < 0 and end - pos <= MAX_COUNT_DIGITS and buf[pos:end].isdigit():
                break  # a count still arriving
            else:  # no count where one was due: keep the text up to the next newline
                self.malformed += 1
                self.state = TEXT
        return pos

    def _text_until_newline(self, pos: int) -> int:
        buf, end, max_line = self.buf, self.end, self.max_line
        discard = bool(self.state & DISCARD)
        nl = buf.find(b"\n", pos, end)
        if nl < 0:
            if not discard and end - pos > max_line + 1:
                self.frames.append(bytes(buf[pos : pos + max_line]) + ELLIPSIS)
                self.truncated += 1
                self.state |= DISCARD
                discard = True
            return end if discard else pos
        if not discard:
            if nl - pos > max_line + 1:  # as if no newline had come yet
                self.frames.append(bytes(buf[pos : pos + max_line]) + ELLIPSIS)
                self.truncated += 1
            else:
                self.frames.append(self.cut(bytes(buf[pos:nl]).rstrip(b"\r\0")))
        self.state = 0
        return nl + 1

    def cut(self, line: bytes) -> bytes:
        if len(line) <= self.max_line:
            return line
        self.truncated += 1
        return line[: self.max_line] + ELLIPSIS


HAVE_NATIVE = True
try:
    from .._speedups import split_frames as split_frames
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NATIVE = False
    split_frames = py_split_frames
