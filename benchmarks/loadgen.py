"""Load generator for the LogCaster benchmarks; always runs in its own process.

Modes (each prints one JSON object as its last stdout line):

* ``ingest``: N clients send disjoint slices of a payload file as fast as
  loopback allows, each its slice ``--repeat`` times over one connection
  (``sendall`` of 256 KiB chunks cut anywhere, prepared before the clock
  starts), then poll STATS until the server has absorbed everything
  (``--completion total``: Total reaches baseline + lines sent; ``stable``:
  Total unchanged for a while, for the C server whose Total counts recv()
  calls). With ``--server-pid`` it also reports the server's CPU seconds
  (utime + stime) over the timed interval, and always its own.
* ``stream``: N clients loop over the payload (unpaced, or ``--rate`` lines/s
  in total) until stdin closes or ``--max-seconds`` pass; prints
  ``STREAMING`` once all are sending.
* ``idle``: opens ``--count`` idle ingest connections, prints ``CONNECTED n``,
  holds them until stdin closes or ``--max-seconds`` pass.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import proto
import servers

CHUNK = 256 * 1024  # ingest: one Python-level sendall per 256 KiB
STREAM_CHUNK = 64 * 1024  # stream: ~64 KiB pieces ending on a line, for smooth pacing
POLL_S = 0.002


@dataclass
class SenderResult:
    nbytes: int = 0
    lines: int = 0
    finished: float = 0.0
    error: str = ""


@dataclass
class IngestResult:
    clients: int
    repeat: int
    lines: int
    nbytes: int
    seconds: float
    senders_seconds: float
    final_total: int
    completed: bool
    server_cpu_s: float | None  # server utime + stime during the timed interval
    loadgen_cpu_s: float  # this process's utime + stime during the timed interval
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = dict(self.__dict__)
        data["lines_per_s"] = self.lines / self.seconds if self.seconds > 0 else 0.0
        data["bytes_per_s"] = self.nbytes / self.seconds if self.seconds > 0 else 0.0
        return json.dumps(data)


def split_payload(payload: bytes, parts: int) -> list[memoryview]:
    """Cut the payload into ``parts`` slices at line boundaries."""
    view = memoryview(payload)
    bounds = [0]
    for i in range(1, parts):
        target = max(len(payload) * i // parts, bounds[-1])
        nl = payload.find(b"\n", target)
        bounds.append(len(payload) if nl < 0 else nl + 1)
    bounds.append(len(payload))
    return [view[a:b] for a, b in itertools.pairwise(bounds)]


def chunked(data: memoryview, size: int = CHUNK) -> list[memoryview]:
    """Views of ``size`` bytes (the last one shorter), cut anywhere."""
    return [data[offset : offset + size] for offset in range(0, len(data), size)]


def send_slice(
    port: int,
    data: memoryview,
    repeat: int,
    start: threading.Barrier,
    timeout: float,
    out: SenderResult,
) -> None:
    """One ingest client: connect, wait for the start signal, stream, close.

    The socket is put in blocking mode with a kernel send timeout
    (``SO_SNDTIMEO``), so each 256 KiB ``sendall`` is one ``send()`` call
    rather than Python's poll-and-retry loop, and a stalled server still
    ends it with an error.
    """
    chunks = chunked(data)
    size = len(data)
    try:
        with socket.create_connection((proto.HOST, port), timeout=timeout) as sock:
            sock.settimeout(None)
            seconds = max(int(timeout), 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, 0))
            start.wait(timeout)
            send = sock.sendall
            for _ in range(repeat):
                for chunk in chunks:
                    send(chunk)
                out.nbytes += size
            sock.shutdown(socket.SHUT_WR)
    except (OSError, threading.BrokenBarrierError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        start.abort()
    out.finished = time.monotonic()


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds(pid: int) -> float | None:
    return servers.cpu_seconds(pid) if pid > 0 else None


def wait_total(query_port: int, target: int, deadline: float) -> tuple[float, int, bool]:
    """Poll STATS until Total >= target; return (time seen, total, reached)."""
    total = -1
    while time.monotonic() < deadline:
        total = proto.stats(query_port).total
        if total >= target:
            return time.monotonic(), total, True
        time.sleep(POLL_S)
    return time.monotonic(), total, False


def wait_stable(query_port: int, window: float, deadline: float) -> tuple[float, int, bool]:
    """Poll STATS until Total is unchanged for ``window`` s (and >= 3 polls).

    Returns the time the final value was first seen.
    """
    last = proto.stats(query_port).total
    first_seen = time.monotonic()
    polls_same = 0
    while time.monotonic() < deadline:
        time.sleep(POLL_S)
        total = proto.stats(query_port).total
        now = time.monotonic()
        if total != last:
            last, first_seen, polls_same = total, now, 0
            continue
        polls_same += 1
        if polls_same >= 3 and now - first_seen >= window:
            return first_seen, last, True
    return time.monotonic(), last, False


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_ingest(args: argparse.Namespace) -> IngestResult:
    payload = Path(args.payload).read_bytes()
    lines = payload.count(b"\n") * args.repeat
    deadline = time.monotonic() + args.timeout
    baseline = proto.stats(args.query_port).total
    slices = split_payload(payload, args.clients)
    barrier = threading.Barrier(args.clients + 1)
    results = [SenderResult() for _ in slices]
    threads = [
        threading.Thread(
            target=send_slice,
            args=(args.port, s, args.repeat, barrier, args.timeout, r),
            daemon=True,
        )
        for s, r in zip(slices, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    server_before = server_cpu_seconds(args.server_pid)
    own_before = own_cpu_seconds()
    barrier.wait(args.timeout)
    t0 = time.monotonic()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    senders_done = max(r.finished for r in results) if results else t0
    errors = [r.error for r in results if r.error]
    if args.completion == "total":
        done, total, ok = wait_total(args.query_port, baseline + lines, deadline)
    else:
        done, total, ok = wait_stable(args.query_port, args.stable_window, deadline)
    server_after = server_cpu_seconds(args.server_pid)
    own_after = own_cpu_seconds()
    return IngestResult(
        clients=args.clients,
        repeat=args.repeat,
        lines=lines,
        nbytes=sum(r.nbytes for r in results),
        seconds=done - t0,
        senders_seconds=senders_done - t0,
        final_total=total - baseline,
        completed=ok and not errors,
        server_cpu_s=cpu_delta(server_before, server_after),
        loadgen_cpu_s=own_after - own_before,
        errors=errors[:5],
    )


def line_aligned_chunks(data: memoryview) -> list[memoryview]:
    """~64 KiB chunks ending on newlines, so a stopped stream ends on a line."""
    raw = data.tobytes()
    chunks: list[memoryview] = []
    start = 0
    while start < len(raw):
        nl = raw.find(b"\n", start + STREAM_CHUNK - 1)
        end = len(raw) if nl < 0 else nl + 1
        chunks.append(data[start:end])
        start = end
    return chunks


@dataclass(frozen=True)
class StreamPlan:
    """What one streaming client sends, and how fast (0 = as fast as possible)."""

    chunks: list[memoryview]
    lines_per_chunk: list[int]
    lines_per_s: float


def plan_stream(data: memoryview, lines_per_s: float) -> StreamPlan:
    chunks = line_aligned_chunks(data)
    return StreamPlan(chunks, [bytes(c).count(b"\n") for c in chunks], lines_per_s)


def pace(start: float, lines_sent: int, lines_per_s: float, stop: threading.Event) -> None:
    """Wait until ``lines_sent`` is due at the target rate (no-op when unpaced)."""
    if lines_per_s > 0:
        due = start + lines_sent / lines_per_s - time.monotonic()
        if due > 0:
            stop.wait(due)


def stream_slice(
    port: int, plan: StreamPlan, stop: threading.Event, ready: threading.Barrier, out: SenderResult
) -> None:
    """One streaming client: loop over its slice until told to stop."""
    lines = 0
    try:
        with socket.create_connection((proto.HOST, port), timeout=10.0) as sock:
            ready.wait(10.0)
            start = time.monotonic()
            while not stop.is_set():
                for chunk, count in zip(plan.chunks, plan.lines_per_chunk, strict=True):
                    pace(start, lines, plan.lines_per_s, stop)
                    if stop.is_set():
                        break
                    sock.sendall(chunk)
                    out.nbytes += len(chunk)
                    lines += count
    except (OSError, threading.BrokenBarrierError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        ready.abort()
    out.lines = lines


def wait_stdin_eof(stop: threading.Event) -> None:
    """Set ``stop`` once the controlling process closes our stdin."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        stop.set()


def run_stream(args: argparse.Namespace) -> dict[str, object]:
    payload = Path(args.payload).read_bytes()
    stop = threading.Event()
    ready = threading.Barrier(args.clients + 1)
    results = [SenderResult() for _ in range(args.clients)]
    per_client = args.rate / args.clients
    plans = [plan_stream(s, per_client) for s in split_payload(payload, args.clients)]
    threads = [
        threading.Thread(target=stream_slice, args=(args.port, p, stop, ready, r), daemon=True)
        for p, r in zip(plans, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    ready.wait(10.0)
    t0 = time.monotonic()
    print("STREAMING", flush=True)
    threading.Thread(target=wait_stdin_eof, args=(stop,), daemon=True).start()
    stop.wait(args.max_seconds)
    stop.set()
    for thread in threads:
        thread.join(10.0)
    seconds = time.monotonic() - t0
    nbytes = sum(r.nbytes for r in results)
    return {
        "clients": args.clients,
        "seconds": seconds,
        "nbytes": nbytes,
        "bytes_per_s": nbytes / seconds,
        "lines_per_s": sum(r.lines for r in results) / seconds,
        "errors": [r.error for r in results if r.error][:5],
    }


def open_idle(port: int, count: int, deadline: float) -> tuple[list[socket.socket], list[str]]:
    """Open up to ``count`` idle connections before the deadline."""
    socks: list[socket.socket] = []
    errors: list[str] = []
    while len(socks) < count and time.monotonic() < deadline and len(errors) < 20:
        try:
            socks.append(socket.create_connection((proto.HOST, port), timeout=5.0))
        except OSError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return socks, errors


def run_idle(args: argparse.Namespace) -> dict[str, object]:
    soft, hard = proto.raise_nofile_limit()
    socks, errors = open_idle(args.port, args.count, time.monotonic() + args.connect_seconds)
    print(f"CONNECTED {len(socks)}", flush=True)
    stop = threading.Event()
    threading.Thread(target=wait_stdin_eof, args=(stop,), daemon=True).start()
    stop.wait(args.max_seconds)
    for sock in socks:
        sock.close()
    return {
        "connected": len(socks),
        "requested": args.count,
        "nofile": [soft, hard],
        "errors": errors[:5],
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    ingest = sub.add_parser("ingest")
    ingest.add_argument("--payload", required=True)
    ingest.add_argument("--port", type=int, required=True)
    ingest.add_argument("--query-port", type=int, required=True)
    ingest.add_argument("--clients", type=int, default=1)
    ingest.add_argument("--repeat", type=int, default=1, help="times each client sends its slice")
    ingest.add_argument("--server-pid", type=int, default=0, help="report this PID's CPU time")
    ingest.add_argument("--completion", choices=("total", "stable"), default="total")
    ingest.add_argument("--stable-window", type=float, default=0.15)
    ingest.add_argument("--timeout", type=float, default=120.0)
    stream = sub.add_parser("stream")
    stream.add_argument("--payload", required=True)
    stream.add_argument("--port", type=int, required=True)
    stream.add_argument("--clients", type=int, default=4)
    stream.add_argument("--max-seconds", type=float, default=120.0)
    stream.add_argument("--rate", type=float, default=0.0, help="total lines/s (0: unpaced)")
    idle = sub.add_parser("idle")
    idle.add_argument("--port", type=int, required=True)
    idle.add_argument("--count", type=int, default=10_000)
    idle.add_argument("--connect-seconds", type=float, default=60.0)
    idle.add_argument("--max-seconds", type=float, default=120.0)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.mode == "ingest":
        print(run_ingest(args).to_json(), flush=True)
    elif args.mode == "stream":
        print(json.dumps(run_stream(args)), flush=True)
    else:
        print(json.dumps(run_idle(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
