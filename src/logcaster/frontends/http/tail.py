"""The HTTP live tail's end of a live tap: matching lines are encoded as they arrive
and written to the response by one writer task; a reader that falls behind is told
``{"skipped": N}`` instead of slowing ingest, as soon as it has caught up.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable

from aiohttp import web

from .render import Framing, live_records, skipped_record


class TailSink:
    """Queues encoded records for one streaming response (the tap's ``TapSink``)."""

    def __init__(
        self,
        response: web.StreamResponse,
        transport: asyncio.Transport | None,
        framing: Framing,
    ) -> None:
        self.response = response
        self.transport = transport
        self.framing = framing
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self.closed = asyncio.Event()  # the reader went away, or the tap was cut

    def buffered(self) -> int:
        transport = self.transport
        queued = transport.get_write_buffer_size() if transport is not None else 0
        return self._pending_bytes + queued

    def deliver(self, block: bytes, spans: array[int], ts_ns: int, skipped: int) -> None:
        if skipped:
            self.push(skipped_record(skipped, self.framing))
        if spans:
            self.push(live_records(block, spans, ts_ns, self.framing))

    def push(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._wake.set()

    def abort(self) -> None:
        self.closed.set()
        self._wake.set()

    async def run(self, caught_up: Callable[[], None]) -> None:
        """Write what is queued until the reader disconnects or the tap is cut. Each
        time all of it is written (a write waits while the reader is behind), call
        ``caught_up``: the tap's count of lines that went by, if any, comes now, not
        with the next matching line."""
        caught_up()  # lines may have gone by during the backfill
        while not self.closed.is_set():
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            data = b"".join(self._pending)
            self._pending, self._pending_bytes = [], 0
            try:
                await self.response.write(data)
            except (ConnectionError, RuntimeError):  # the client has gone
                self.closed.set()
            else:
                if not self._pending:
                    caught_up()
