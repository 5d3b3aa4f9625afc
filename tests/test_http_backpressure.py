"""HTTP ingestion when a store falls behind: the request that crossed the high-water
mark is accepted, the next ones are refused with 503 and ``Retry-After`` until the
store drains, and nothing accepted is lost. In-process, over real sockets: a real
file writer whose disk is held stuck, the ingestion routes on an aiohttp server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from logcaster.frontends.http.server import json_errors
from logcaster.inputs.http import HttpIngest
from logcaster.pipeline.intake import Intake
from logcaster.pipeline.taps import LiveTaps
from logcaster.storage import batch as B
from logcaster.storage.factory import BlockFactory
from logcaster.storage.files import PersistWriter
from logcaster.storage.files import writer as W
from logcaster.storage.ring import DEFAULT_BLOCK_SIZE, Ring


def body(tag: str, n: int) -> bytes:
    return b"".join(
        b'{"batch":"%s","n":%d,"pad":"%s"}\n' % (tag.encode(), i, b"x" * 40) for i in range(n)
    )


def resume_soon(loop: asyncio.AbstractEventLoop, intake: Intake) -> None:
    """What the server does on a store's on_drained (from the writer's thread)."""
    with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to resume
        loop.call_soon_threadsafe(intake.resume_all)


def test_503_until_the_store_drains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "HIGH_WATER", 1000)
    monkeypatch.setattr(B, "LOW_WATER", 200)
    gate = threading.Event()
    real = W._write_all

    def stuck(fd: int, data: bytes) -> None:
        gate.wait(20)  # the disk is stuck until the test opens the gate
        real(fd, data)

    monkeypatch.setattr(W, "_write_all", stuck)

    async def scenario() -> tuple[Ring, PersistWriter, HttpIngest]:
        loop = asyncio.get_running_loop()
        ring = Ring(10_000, 1 << 24, DEFAULT_BLOCK_SIZE, BlockFactory(DEFAULT_BLOCK_SIZE))
        intake = Intake(ring, LiveTaps(stall_timeout=5.0))
        writer = PersistWriter(
            tmp_path / "logs",
            1 << 20,
            1 << 30,
            0,
            on_drained=lambda: resume_soon(loop, intake),
        )
        (tmp_path / "logs").mkdir()
        writer.start()
        intake.stores.append(writer)
        ingest = HttpIngest(intake, 1000, 1 << 20)
        app = web.Application(middlewares=[json_errors])
        ingest.add_routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/insert/jsonline"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(url, data=body("first", 30)) as r:
                    assert r.status == 204  # crossed the high-water mark: still accepted
                assert ingest.behind
                for _ in range(3):
                    async with http.post(url, data=body("refused", 5)) as r:
                        assert r.status == 503 and r.headers["Retry-After"] == "1"
                        assert "behind" in (await r.json())["error"]
                assert ring.total == 30
                gate.set()
                for _ in range(500):  # poll until the writer has drained
                    async with http.post(url, data=body("after", 5)) as r:
                        if r.status == 204:
                            break
                        assert r.status == 503
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("still refused after the store drained")
        finally:
            await runner.cleanup()
        return ring, writer, ingest

    ring, writer, ingest = asyncio.run(scenario())
    assert (
        not ingest.behind
        and ring.total == 35
        and ingest.stats.busy >= 3
        and ingest.stats.refused >= 3
    )
    assert writer.flush(10)
    writer.close()
    disk = (tmp_path / "logs" / "current.log").read_bytes()
    assert disk == body("first", 30) + body("after", 5)
