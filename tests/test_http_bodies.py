"""Plain ingestion bodies read into reused buffers or, when large, gathered as their
chunks (``inputs/bodies.py``): every line of bodies of changing sizes (both kinds),
sent at once over a few connections, is stored as sent (a reused buffer never leaks
one body's bytes into another's)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from support import Server, wait_for

from logcaster.inputs.bodies import LEAST, BodyBuffers
from logcaster.net import keep_freed_memory


def test_buffers_are_reused_and_sized_for_the_next_bodies() -> None:
    pool = BodyBuffers()
    first = pool.take(1 << 20)
    assert len(first) >= (1 << 20) + (1 << 18)  # room for a slightly larger next body
    pool.give(first)
    assert pool.take((1 << 20) + 1000) is first
    assert len(pool.take(10)) == LEAST
    huge = pool.take(64 << 20)
    pool.give(huge)
    assert pool.take(1) is not huge  # a huge one is not kept


def test_the_allocator_is_told_to_keep_freed_memory() -> None:
    """``serve`` has glibc keep the memory each request's chunks free (see net.py)."""
    import platform

    from logcaster.inputs.payloads import native

    glibc = platform.libc_ver()[0] == "glibc" and native.ndjson_scan is not None
    assert keep_freed_memory() is glibc


async def _post_all(
    port: int, bodies: list[bytes], path: str, headers: dict[str, str] | None = None
) -> list[int]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=3)
    ) as http:  # keep-alive: the same connections carry several bodies

        async def post(body: bytes) -> int:
            url = f"http://127.0.0.1:{port}{path}"
            async with http.post(url, data=body, headers=headers) as resp:
                return resp.status

        return await asyncio.gather(*(post(b) for b in bodies))


def test_bodies_of_changing_sizes_are_stored_whole(server: Server) -> None:
    sizes = [3000, 40, 20000, 5, 70000, 120, 9000, 30000, 1, 50000]
    texts = [[f"b{i} line {k} " + "x" * (k % 37) for k in range(n)] for i, n in enumerate(sizes)]
    half = len(texts) // 2
    records = [[json.dumps({"_msg": x}) for x in lines] for lines in texts[:half]]
    bodies = [b"".join(r.encode() + b"\n" for r in recs) for recs in records]
    # a JSON line is stored as sent; a Loki entry as {"_msg": its text} (no labels here)
    want = [r for recs in records for r in recs]
    want += [json.dumps({"_msg": x}, separators=(",", ":")) for t in texts[half:] for x in t]
    assert set(asyncio.run(_post_all(server.http_port, bodies, "/insert/jsonline"))) == {204}
    loki = [
        json.dumps(
            {"streams": [{"stream": {}, "values": [[str(k), x] for k, x in enumerate(b)]}]}
        ).encode()
        for b in texts[half:]
    ]
    ctype = {"Content-Type": "application/json"}
    assert set(asyncio.run(_post_all(server.http_port, loki, "/loki/api/v1/push", ctype))) == {204}
    count = f"COUNT: {len(want)}\n".encode()
    wait_for(lambda: server.query("COUNT") == count, what="every line")
    stored = server.query("QUERY limit=10000000").decode().splitlines()
    got = sorted(line.split("] ", 1)[1] for line in stored if line.startswith("["))
    assert got == sorted(want)
