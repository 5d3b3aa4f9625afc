"""Sans-IO GELF datagrams: chunk reassembly and decompression.

A GELF UDP datagram is JSON, zlib- or gzip-compressed JSON, or one chunk of a
larger message: magic ``0x1e 0x0f``, an 8-byte message id, a sequence number
and a sequence count (at most 128), then that part of the payload. The
:class:`GelfAssembler` returns the message's text once every chunk has come;
the message is stored as its JSON text. GELF over TCP needs none of this: it
is NUL-delimited JSON, framed by :mod:`.framing`.

Memory is bounded: at most ``max_pending`` incomplete messages and
``max_pending_bytes`` of their chunks are held, the oldest given up first; an
incomplete message is given up ``expiry`` seconds after its first chunk
(Graylog's default: 5 s). Decompression stops one byte past ``max_bytes`` (a
compressed bomb costs no more; the caller cuts the text as any over-long
message). A chunk that contradicts itself, or gzip data that does not
decompress, is counted in ``malformed``; data that does not decompress is kept
as text.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

CHUNK_MAGIC = b"\x1e\x0f"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_HEADER = 12
MAX_CHUNKS = 128


def compressed(data: bytes) -> bool:
    """Whether ``data`` starts like gzip, or zlib with the usual 32 KiB window."""
    if data[:2] == GZIP_MAGIC:
        return True
    return len(data) >= 2 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0


def is_gelf(data: bytes) -> bool:
    """Whether a datagram needs the assembler (chunked or compressed)."""
    return data[:2] == CHUNK_MAGIC or compressed(data)


@dataclass(slots=True)
class _Partial:
    first_seen: float
    count: int
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class GelfAssembler:
    """Reassembles chunked GELF messages and decompresses compressed ones."""

    def __init__(
        self,
        max_bytes: int,
        expiry: float = 5.0,
        max_pending: int = 1024,
        max_pending_bytes: int = 32 << 20,
    ) -> None:
        self.max_bytes = max_bytes
        self.expiry = expiry
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._partial: OrderedDict[bytes, _Partial] = OrderedDict()
        self._bytes = 0
        self.reassembled = 0  # chunked messages completed
        self.expired = 0  # incomplete messages given up (expiry or memory bound)
        self.malformed = 0  # bad chunks, gzip data that would not decompress

    @property
    def pending(self) -> int:
        return len(self._partial)

    def feed(self, data: bytes, now: float) -> bytes | None:
        """The message a datagram completes (its text), or None (more chunks due, or bad)."""
        self.expire(now)
        if data[:2] == CHUNK_MAGIC:
            whole = self._chunk(data, now)
            if whole is None:
                return None
            data = whole
        return self._decompress(data) if compressed(data) else data

    def expire(self, now: float) -> None:
        """Give up incomplete messages older than ``expiry`` seconds."""
        limit = now - self.expiry
        partial = self._partial
        while partial:
            key, oldest = next(iter(partial.items()))
            if oldest.first_seen > limit:
                break
            self._drop(key)
            self.expired += 1

    def _chunk(self, data: bytes, now: float) -> bytes | None:
        if len(data) < CHUNK_HEADER:
            self.malformed += 1
            return None
        msg_id, seq, count = data[2:10], data[10], data[11]
        if count == 0 or count > MAX_CHUNKS or seq >= count:
            self.malformed += 1
            return None
        if count == 1:
            return data[CHUNK_HEADER:]
        part = self._partial.get(msg_id)
        if part is None:
            part = self._partial[msg_id] = _Partial(now, count)
            while len(self._partial) > self.max_pending:
                self._drop(next(iter(self._partial)))
                self.expired += 1
        elif part.count != count:
            self.malformed += 1
            return None
        if seq in part.parts:
            return None  # a duplicate
        payload = data[CHUNK_HEADER:]
        part.parts[seq] = payload
        part.size += len(payload)
        self._bytes += len(payload)
        if len(part.parts) == count:
            self._drop(msg_id)
            self.reassembled += 1
            return b"".join(part.parts[i] for i in range(count))
        while self._bytes > self.max_pending_bytes and self._partial:
            key = next(iter(self._partial))
            self._drop(key)
            self.expired += 1
            if key == msg_id:
                break
        return None

    def _drop(self, key: bytes) -> None:
        part = self._partial.pop(key)
        self._bytes -= part.size

    def _decompress(self, data: bytes) -> bytes:
        # wbits 47: zlib or gzip, whichever the header says.
        inflater = zlib.decompressobj(47)
        try:
            text = inflater.decompress(data, self.max_bytes + 1)
        except zlib.error:
            if data[:2] == GZIP_MAGIC:
                self.malformed += 1
            return data  # not compressed after all: kept as text
        return text
