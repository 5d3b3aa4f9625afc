"""IRC messages, sans-IO: :class:`MessageReader` turns received bytes into
:class:`Message` values (RFC 2812 framing, any split of the byte stream), and
:func:`encode` turns a message back into one wire line that no parameter can end
early: CR, LF and NUL are replaced, and the line is kept within 512 bytes
without cutting a UTF-8 sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 512  # bytes, CR LF included (RFC 2812 2.3)
MAX_TAGS = 8191  # an IRCv3 tag section may come before the 512 bytes
MAX_PARAMS = 15
_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})


@dataclass(frozen=True, slots=True)
class Message:
    command: str  # upper case: "PRIVMSG", "001"
    params: tuple[str, ...] = ()
    prefix: str = ""

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default


def parse_line(raw: bytes) -> Message | None:
    """One received line (no CR LF) -> a Message; None for a line with no command."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("@"):  # IRCv3 message tags: ignored
        _, _, text = text.partition(" ")
    text = text.lstrip(" ")
    prefix = ""
    if text.startswith(":"):
        prefix, _, text = text[1:].partition(" ")
        text = text.lstrip(" ")
    head, sep, trailing = text.partition(" :")
    words = [w for w in head.split(" ") if w]  # spaces only: other bytes are text
    if not words:
        return None
    command, middle = words[0].upper(), words[1:]
    params = [*middle, trailing] if sep else middle
    if len(params) > MAX_PARAMS:  # the rest of the line is the last parameter
        params = [*params[: MAX_PARAMS - 1], " ".join(params[MAX_PARAMS - 1 :])]
    return Message(command, tuple(params), prefix)


class MessageReader:
    """Bytes in, messages out. Lines end in LF (a CR before it is dropped); empty
    lines are skipped; a line over the limit is dropped whole and counted."""

    def __init__(self, max_line: int = MAX_LINE + MAX_TAGS) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._discarding = False  # inside an overlong line: drop until its LF
        self.overlong = 0  # lines dropped for their length
        self.malformed = 0  # lines without a command

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = bytes(buf[start:nl])
            start = nl + 1
            if self._discarding:
                self._discarding = False
                continue
            self._take(line, out)
        del buf[:start]
        if len(buf) > self.max_line:
            if not self._discarding:
                self.overlong += 1
            self._discarding = True
            buf.clear()
        return out

    def _take(self, line: bytes, out: list[Message]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.max_line:
            self.overlong += 1
            return
        if not line.strip(b" \r\0"):
            return
        msg = parse_line(line)
        if msg is None:
            self.malformed += 1
        else:
            out.append(msg)


def safe(text: str) -> str:
    """``text`` with CR, LF and NUL replaced by spaces: it cannot end a message."""
    if "\r" in text or "\n" in text or "\0" in text:
        return text.translate(_UNSAFE)
    return text


def utf8_cut(data: bytes, size: int) -> int:
    """The largest cut point <= ``size`` in ``data`` that does not split a UTF-8 sequence."""
    if size >= len(data):
        return len(data)
    cut = max(size, 0)
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def encode(command: str, *params: str, prefix: str = "") -> bytes:
    """One wire line, CR LF included, at most 512 bytes (the last parameter is cut)."""
    words = [safe(p).replace(" ", "").lstrip(":") or "*" for p in params[:-1]]
    head = (f":{safe(prefix).replace(' ', '')} " if prefix else "") + " ".join(
        [safe(command).replace(" ", ""), *words]
    )
    data = head.encode("utf-8", "replace")
    if params:
        last = safe(params[-1])
        if not last or " " in last or last.startswith(":"):
            last = ":" + last
        tail = last.encode("utf-8", "replace")
        room = MAX_LINE - 2 - len(data) - 1
        data += b" " + tail[: utf8_cut(tail, room)]
    return data[: MAX_LINE - 2] + b"\r\n"


def split_text(data: bytes, room: int) -> list[bytes]:
    """``data`` (valid UTF-8) cut into pieces of at most ``room`` bytes, UTF-8 safe."""
    room = max(room, 4)  # room for one whole UTF-8 sequence
    pieces: list[bytes] = []
    while len(data) > room:
        cut = utf8_cut(data, room) or room
        pieces.append(data[:cut])
        data = data[cut:]
    pieces.append(data)
    return pieces
