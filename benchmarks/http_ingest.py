"""HTTP ingestion vs TCP line ingest: lines/s with N concurrent clients, same messages.

Each mode gets a fresh LogCaster (from this checkout's ``src/``) on 127.0.0.1:

- ``tcp``: the raw lines over N ingest connections (the reference);
- ``jsonline``: ``POST /insert/jsonline``, ``{"_msg": <line>}`` per line;
- ``loki-json``: ``POST /loki/api/v1/push``, one stream per request;
- ``loki-protobuf``: the same push as snappy-compressed protobuf.

HTTP clients send prepared bodies of ``--batch`` lines each over keep-alive
connections (a thread per client, in this process, not the server's). A mode's
time runs from the first byte sent until the server's Total reaches the line count.
Prints lines/s per mode and each HTTP mode's share of the TCP rate.

    python benchmarks/http_ingest.py                 # 300k lines per mode, 4 clients, 3 rounds
    python benchmarks/http_ingest.py --lines 100000 --clients 4 --batch 1000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cramjam
from workload import generate_lines

REPO = Path(__file__).resolve().parents[1]
BANNER = re.compile(r"ingest \S+:(\d+), query \S+:(\d+),.* http \S+:(\d+)")
PHASE_LIMIT = 120.0  # seconds a mode may take


def start_server(capacity: int) -> tuple[subprocess.Popen[bytes], int, int, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "logcaster", "serve", "--host", "127.0.0.1", "-p", "0"]
    cmd += ["-q", "0", "--http-port", "0", "-c", str(capacity), "--max-memory", "2G"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if m := BANNER.search(line):
            return proc, int(m.group(1)), int(m.group(2)), int(m.group(3))
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("LogCaster did not start")


def total(query_port: int) -> int:
    with socket.create_connection(("127.0.0.1", query_port), timeout=10) as s:
        s.sendall(b"STATS\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    m = re.search(rb"Total=(\d+)", reply)
    assert m, reply
    return int(m.group(1))


def wait_total(query_port: int, want: int, deadline: float) -> None:
    while total(query_port) < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for Total={want}")
        time.sleep(0.005)


def tcp_sender(port: int, data: bytes) -> Callable[[], None]:
    def send() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)

    return send


def http_sender(port: int, path: str, bodies: list[bytes], ctype: str) -> Callable[[], None]:
    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for body in bodies:
            conn.request("POST", path, body=body, headers={"Content-Type": ctype})
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 204):
                raise SystemExit(f"{path}: HTTP {resp.status}")
        conn.close()

    return send


def loki_protobuf(lines: list[str]) -> bytes:
    """A logproto.PushRequest of one stream, written field by field (wire format)."""

    def key_len(field: int, payload: bytes) -> bytes:
        return varint(field << 3 | 2) + varint(len(payload)) + payload

    entries = b"".join(
        key_len(2, key_len(1, varint(1 << 3) + varint(1_764_600_000)) + key_len(2, x.encode()))
        for x in lines
    )
    stream = key_len(1, b'{app="bench", host="h1"}') + entries
    return bytes(cramjam.snappy.compress_raw(key_len(1, stream)))


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def bodies_for(mode: str, lines: list[str], batch: int) -> tuple[str, str, list[bytes]]:
    groups = [lines[i : i + batch] for i in range(0, len(lines), batch)]
    if mode == "jsonline":
        out = ["".join(json.dumps({"_msg": x}) + "\n" for x in g).encode() for g in groups]
        return "/insert/jsonline", "application/x-ndjson", out
    if mode == "loki-json":
        out = [
            json.dumps(
                {"streams": [{"stream": {"app": "bench"}, "values": [["1", x] for x in g]}]}
            ).encode()
            for g in groups
        ]
        return "/loki/api/v1/push", "application/json", out
    return "/loki/api/v1/push", "application/x-protobuf", [loki_protobuf(g) for g in groups]


def run_mode(mode: str, lines: list[str], clients: int, batch: int) -> float:
    """Lines/s of one mode on a fresh server."""
    proc, ingest, query, http_port = start_server(len(lines) + 1000)
    try:
        shares = [lines[i::clients] for i in range(clients)]
        if mode == "tcp":
            senders = [tcp_sender(ingest, "".join(x + "\n" for x in s).encode()) for s in shares]
        else:
            senders = []
            for share in shares:
                path, ctype, bodies = bodies_for(mode, share, batch)
                senders.append(http_sender(http_port, path, bodies, ctype))
        threads = [threading.Thread(target=fn) for fn in senders]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(PHASE_LIMIT)
        wait_total(query, len(lines), time.monotonic() + PHASE_LIMIT)
        elapsed = time.perf_counter() - t0
        assert total(query) == len(lines), "lines lost or duplicated"
        return len(lines) / elapsed
    finally:
        proc.kill()
        proc.wait(10)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000, help="lines per mode")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--batch", type=int, default=1000, help="lines per HTTP request")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is printed")
    args = parser.parse_args(argv)
    lines = generate_lines(args.lines)
    modes = ["tcp", "jsonline", "loki-json", "loki-protobuf"]
    rates: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes:
            rate = run_mode(mode, lines, args.clients, args.batch)
            rates[mode].append(rate)
            print(f"round {r + 1} {mode:14s} {rate:12,.0f} lines/s", flush=True)
    med = {m: sorted(v)[len(v) // 2] for m, v in rates.items()}
    print(f"\n{args.lines:,} lines per mode, {args.clients} clients, {args.batch} lines/request")
    print(f"{'mode':14s} {'lines/s':>12s}  vs tcp")
    for mode in modes:
        print(f"{mode:14s} {med[mode]:12,.0f}  {med[mode] / med['tcp']:6.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
