"""Per-connection framing choice for the TCP ingest stream.

A :class:`StreamFramer` holds a connection's first bytes until
:func:`.octet.detect` can tell (at most 15 bytes, usually the first read)
whether the sender uses RFC 6587 octet counting; it then hands the stream,
those bytes included, to an :class:`~.octet.OctetFramer` or a
:class:`~.framing.LineFramer` for good, and relays their blocks and counters.
The choice costs one check per read and nothing per line.
"""

from __future__ import annotations

from .framing import EMPTY, LineFramer, Scratch, feed_through
from .octet import DETECT_BYTES, OctetFramer, detect


class StreamFramer:
    """One connection's framer: octet counting or newlines, chosen from its first bytes."""

    __slots__ = (
        "_fill",
        "_head",
        "chosen",
        "lines",
        "malformed",
        "max_line_bytes",
        "scratch",
        "truncated",
    )

    def __init__(self, max_line_bytes: int, scratch: Scratch | None = None) -> None:
        self.max_line_bytes = max_line_bytes
        self.scratch = scratch if scratch is not None else Scratch(max_line_bytes)
        self.chosen: LineFramer | OctetFramer | None = None
        self._head = b""  # bytes received before the choice
        self._fill = 0
        self.lines = 0
        self.truncated = 0
        self.malformed = 0

    @property
    def octet_counted(self) -> bool | None:
        """Whether the connection is octet counted; None until its first bytes tell."""
        return None if self.chosen is None else isinstance(self.chosen, OctetFramer)

    def get_buffer(self) -> memoryview:
        if self.chosen is not None:
            return self.chosen.get_buffer()
        p = len(self._head)
        if p:
            self.scratch.buf[:p] = self._head
        self._fill = p
        return self.scratch.view[p:]

    def commit(self, nbytes: int) -> memoryview:
        chosen = self.chosen
        if chosen is None:
            end = self._fill + nbytes
            octet = detect(bytes(self.scratch.buf[: min(end, DETECT_BYTES)]))
            if octet is None:
                self._head = bytes(self.scratch.buf[:end])
                self.lines = 0
                return EMPTY
            chosen = self._choose(octet)
            nbytes = end  # the held bytes are where the chosen framer's buffer starts
        block = chosen.commit(nbytes)
        self._relay(chosen)
        return block

    def close(self) -> bytes:
        chosen = self.chosen
        if chosen is None:
            chosen = self._choose(False)  # too short to be a count: plain text
            block = chosen.feed(self._head)
            self._head = b""
        else:
            block = b""
        tail = block + chosen.close()
        self._relay(chosen)
        return tail

    def feed(self, data: bytes) -> bytes:
        """Convenience for tests and tools: frame ``data``, return a copy of the entries."""
        return feed_through(self, data)

    def _choose(self, octet: bool) -> LineFramer | OctetFramer:
        framer: LineFramer | OctetFramer
        if octet:
            framer = OctetFramer(self.max_line_bytes, self.scratch)
        else:
            framer = LineFramer(self.max_line_bytes, self.scratch)
        framer.get_buffer()  # nothing pending: the bytes already read stay in place
        self.chosen = framer
        return framer

    def _relay(self, framer: LineFramer | OctetFramer) -> None:
        self.lines = framer.lines
        if framer.truncated:
            self.truncated += framer.truncated
            framer.truncated = 0
        if isinstance(framer, OctetFramer) and framer.malformed:
            self.malformed += framer.malformed
            framer.malformed = 0
