"""A streamed reply's body (``/api/v1/query``), sent straight from its buffers.

aiohttp's ``StreamResponse.write`` copies every chunk on the event loop (it joins
the chunk to its chunked framing, and the transport keeps a copy of what the socket
does not take at once), then waits for the transport to drain: for a reply of tens
of megabytes, the whole body copied again on the event loop, and sent in bursts.
:class:`Body` sends each large chunk from the buffer it was rendered into, its
chunked framing beside it in the same ``sendmsg`` (:class:`~logcaster.direct.DirectWriter`,
as the line port sends its replies); the headers and the last chunk still go
through aiohttp. A TLS connection, a ``HEAD`` request, a small chunk and one that
finds the transport's buffer holding bytes (order first) go aiohttp's way, as a
copy when the buffer is to be reused.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from ...direct import DIRECT_MIN, DirectWriter
from .render import Piece


class Body:
    """Writes the pieces of one streamed response, in order; :meth:`close` at the end."""

    def __init__(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        self._response = response
        self._transport = request.transport
        self._chunked = response.chunked
        self._direct: DirectWriter | None = None
        if self._transport is not None and request.method != hdrs.METH_HEAD:
            direct = DirectWriter(self._transport)
            self._direct = direct if direct.usable else None

    async def write(self, piece: Piece) -> None:
        """Write ``piece`` (a :class:`~.render.Filled` buffer is given back once sent);
        raises ``ConnectionResetError`` once the client has gone."""
        if isinstance(piece, bytes):
            await self._write(piece)
            return
        await self._write(memoryview(piece.buf)[: piece.end])
        piece.done()  # not after a failure: a traceback may still hold a view of it

    async def _write(self, data: bytes | memoryview) -> None:
        size = len(data)
        if not size:
            return
        transport, direct = self._transport, self._direct
        if (
            direct is None
            or transport is None
            or size < DIRECT_MIN
            or transport.is_closing()
            or transport.get_write_buffer_size()
        ):
            await self._response.write(data if isinstance(data, bytes) else bytes(data))
            return
        parts = (b"%x\r\n" % size, data, b"\r\n") if self._chunked else (data,)
        sent = False
        try:
            sent = await direct.send(*parts)
        finally:
            if not sent:  # failed or cancelled mid-chunk: the stream is cut
                transport.abort()
        if not sent:
            raise ConnectionResetError("the client has gone")

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
            self._direct = None
