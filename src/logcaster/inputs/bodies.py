"""Plain HTTP ingestion bodies: a small one read into a buffer reused from request
to request, a large one gathered as the chunks aiohttp received.

A large body (parsed on a worker thread anyway) is kept as its chunks, no copy on
the event loop; the worker joins them (``b"".join`` drops the GIL from 1 MiB) and
parses the result. The event loop is what the ingest of every port waits for,
and a copy of each body on it cost about a tenth of its time under Loki pushes.

A smaller body of a known length without ``Content-Encoding`` is read chunk by
chunk straight into one buffer (one copy of each chunk, where aiohttp's
``request.read()`` grows a bytearray, a copy per chunk and per resize, then copies
it whole into bytes). The buffers are kept for the next requests: a fresh 1 MiB
buffer costs its pages' faults and zeroing on every request, since the allocator
hands freed ones back to the system. The parsers read a body through the buffer
protocol; a batch is new bytes, a view of a C scanner's own output, or (an
NDJSON body stored as it came) a view of the body, which ``Intake.accept``
copies into the ring (and the stores and taps into bytes of their own) before it
returns. So a buffer is given back once its batch is stored, never earlier.
"""

from __future__ import annotations

import zlib

from aiohttp import web

from .payloads.records import PayloadError, TooLarge

KEEP = 8  # buffers kept
LARGEST = 4 << 20  # bytes: larger bodies get a buffer of their own, not kept
LEAST = 1 << 20  # a new kept buffer is at least this large, and a quarter more than
# its body, so that the next bodies of about the same size fit it


class BodyBuffers:
    """A few reusable buffers; only the event loop's thread takes and gives them."""

    def __init__(self) -> None:
        self._free: list[bytearray] = []

    def take(self, length: int) -> bytearray:
        for i, buf in enumerate(self._free):
            if len(buf) >= length:
                return self._free.pop(i)
        return bytearray(max(length + length // 4, LEAST) if length <= LARGEST else length)

    def give(self, buf: bytearray) -> None:
        if len(buf) <= LARGEST + LARGEST // 4 and len(self._free) < KEEP:
            self._free.append(buf)

    async def read(self, request: web.Request, length: int) -> tuple[bytearray, memoryview]:
        """The body (``length`` bytes said, fewer if it ended early) as a view of a
        taken buffer; give the buffer back when the view is no longer used."""
        buf = self.take(length)
        view = memoryview(buf)
        pos = 0
        while pos < length:
            data, _ = await request.content.readchunk()
            if not data:
                break  # the body ended: aiohttp raises for one cut short
            end = pos + len(data)
            if end > length:  # more than Content-Length: aiohttp never frames so
                self.give(buf)
                raise web.HTTPRequestEntityTooLarge(max_size=length, actual_size=end)
            view[pos:end] = data
            pos = end
        return buf, view[:pos]


async def read_chunks(request: web.Request, length: int) -> list[bytes]:
    """The body (``length`` bytes said, fewer if it ended early) as the chunks that
    aiohttp received, not copied."""
    chunks: list[bytes] = []
    pos = 0
    while pos < length:
        data, _ = await request.content.readchunk()
        if not data:
            break  # the body ended: aiohttp raises for one cut short
        pos += len(data)
        if pos > length:  # more than Content-Length: aiohttp never frames so
            raise web.HTTPRequestEntityTooLarge(max_size=length, actual_size=pos)
        chunks.append(data)
    return chunks


def joined(chunks: list[bytes]) -> bytes:
    """The chunks as one body (the only one itself, no copy)."""
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def gunzip(body: bytes | list[bytes], limit: int) -> bytes:
    """A gzip body (or its chunks; one or more gzip members) inflated to at most
    ``limit`` bytes: :class:`TooLarge` past it (a bomb stops there),
    :class:`PayloadError` for one that does not inflate or ends early. For
    ``Content-Encoding: x-gzip``, gzip's old name (RFC 9110), which aiohttp passes
    on as sent."""
    out: list[bytes] = []
    size = 0
    rest = joined(body) if isinstance(body, list) else body
    while True:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflate.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise PayloadError(f"Invalid gzip body: {exc}") from None
        size += len(data)
        if size > limit:
            raise TooLarge(f"Decompressed body larger than {limit} bytes")
        if not inflate.eof:
            raise PayloadError("Invalid gzip body: cut short")
        out.append(data)
        rest = inflate.unused_data
        if not rest:
            return b"".join(out)
