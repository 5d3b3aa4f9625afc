#!/usr/bin/env python3
"""Soak test: steady ingest at half the maximum rate, with queries, for a long time.

Starts ``python -m logcaster serve`` on loopback, measures the maximum ingest
rate (unless --max-rate is given), then ingests at half of it for --minutes
while a query thread and a FOLLOW client run. Every --interval seconds it prints
the server's RSS, open fds and counters.

Exit status 1 if the server dies, a query or send fails, ingest falls behind,
the ring never fills, or RSS or open fds keep growing once the ring is full.
"Flat" means: over the samples taken after the ring filled, the median of the
last third is within --rss-slack-mb (and 5 %) of the median of the first third
for RSS, and within --fd-slack for fds.

    python tests/stress/soak.py                   # 10 minutes
    python tests/stress/soak.py --minutes 1       # a quick check
    python tests/stress/soak.py --max-rate 400000 --minutes 30 --capacity 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass

from attack import LOOPBACK, ServerProcess, raise_fd_limit, wait_for


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    total: int
    current: int
    dropped: int


def make_blocks(n_blocks: int = 16, lines: int = 1000) -> list[bytes]:
    """Blocks of varied log lines (levels, ids, keywords), ``lines`` lines each."""
    rng = random.Random(42)
    levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
    words = ["request served", "cache miss", "db timeout", "disk full", "user login", "retry"]
    blocks = []
    for _ in range(n_blocks):
        out = []
        for _ in range(lines):
            out.append(
                f"2024-05-01T12:00:00Z {rng.choice(levels)} svc-{rng.randrange(20)} "
                f"user_id={rng.randrange(100000)} {rng.choice(words)} "
                f"latency_ms={rng.randrange(1000)}\n".encode()
            )
        blocks.append(b"".join(out))
    return blocks


def measure_max_rate(srv: ServerProcess, blocks: list[bytes], seconds: float = 3.0) -> float:
    """Lines per second the server stores when two clients send as fast as they can."""
    stop = threading.Event()

    def blast() -> None:
        with srv.connect_ingest() as s:
            i = 0
            while not stop.is_set():
                s.sendall(blocks[i % len(blocks)])
                i += 1

    total0 = srv.counter("Total")
    threads = [threading.Thread(target=blast, daemon=True) for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    total1 = srv.counter("Total")
    took = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(30)
    return (total1 - total0) / took


class Load:
    """Paced ingest on two connections, a query loop and a FOLLOW reader."""

    def __init__(self, srv: ServerProcess, rate: float, blocks: list[bytes]) -> None:
        self.srv, self.rate, self.blocks = srv, rate, blocks
        self.stop = threading.Event()
        self.sent_lines = 0
        self.queries = 0
        self.followed = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._ingest, args=(k, 2), daemon=True) for k in range(2)
        ]
        self.threads.append(threading.Thread(target=self._queries, daemon=True))
        self.threads.append(threading.Thread(target=self._follow, daemon=True))

    def start(self) -> None:
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _error(self, what: str) -> None:
        with self._lock:
            if len(self.errors) < 100:
                self.errors.append(what)

    def _ingest(self, k: int, of: int) -> None:
        per_line = [b.split(b"\n")[:-1] for b in self.blocks]
        share = self.rate / of
        sent = 0
        rng = random.Random(k)
        try:
            with self.srv.connect_ingest() as s:
                t0 = time.monotonic()
                while not self.stop.is_set():
                    due = int(share * (time.monotonic() - t0)) - sent
                    if due <= 0:
                        time.sleep(0.005)
                        continue
                    lines = per_line[rng.randrange(len(per_line))]
                    chunk = b"\n".join(lines[: min(due, len(lines))]) + b"\n"
                    n = min(due, len(lines))
                    s.sendall(chunk)
                    sent += n
                    with self._lock:
                        self.sent_lines += n
        except OSError as exc:
            self._error(f"ingest: {exc!r}")

    QUERIES = (
        ("QUERY keywords=ERROR limit=100", b"FOUND: "),
        ("QUERY keywords=db,timeout limit=50", b"FOUND: "),
        ("QUERY regex=user_id=[0-9]+7 limit=50", b"FOUND: "),
        ("QUERY level=ERROR,WARN limit=20 order=desc", b"FOUND: "),
        ("QUERY keyword=disk full", b"FOUND: "),
        ("TAIL 100", b""),
        ("STATS", b"STATS: "),
        ("INFO", b"INFO: "),
        ("COUNT", b"COUNT: "),
    )

    def _queries(self) -> None:
        i = 0
        while not self.stop.is_set():
            command, prefix = self.QUERIES[i % len(self.QUERIES)]
            i += 1
            try:
                reply = self.srv.query(command, timeout=30)
                if not reply or not reply.startswith(prefix) or reply.startswith(b"ERROR"):
                    self._error(f"{command!r} -> {reply[:80]!r}")
            except OSError as exc:
                self._error(f"{command!r}: {exc!r}")
            self.queries += 1
            self.stop.wait(0.05)

    def _follow(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection((LOOPBACK, self.srv.query_port), timeout=5) as s:
                    s.sendall(b"FOLLOW regex=latency_ms=999$\n")  # about 1 line in 1000
                    if not (head := s.recv(11)).startswith(b"FOLLOWING\n"):
                        self._error(f"FOLLOW -> {head!r}")
                        self.stop.wait(1)
                        continue
                    while not self.stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            data = s.recv(1 << 16)
                            if not data:
                                self._error("FOLLOW connection closed by the server")
                                break
                            self.followed += data.count(b"\n")
            except OSError as exc:
                self._error(f"FOLLOW: {exc!r}")
                self.stop.wait(1)


def take(srv: ServerProcess, t0: float) -> Sample:
    info = srv.info()
    return Sample(
        time.monotonic() - t0,
        srv.rss_mb(),
        srv.fds(),
        int(info["Total"]),
        int(info["Current"]),
        int(info["Dropped"]),
    )


def growth(values: list[float]) -> tuple[float, float]:
    """(median of the first third, median of the last third)."""
    third = max(1, len(values) // 3)
    return statistics.median(values[:third]), statistics.median(values[-third:])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long to run (10)")
    p.add_argument("--max-rate", type=float, help="maximum ingest lines/s (default: measured)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between reports (30)")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples (5)")
    p.add_argument("--capacity", default="250000", help="server --capacity (250000)")
    p.add_argument("--max-memory", default="128M", help="server --max-memory (128M)")
    p.add_argument("--rss-slack-mb", type=float, default=16.0, help="RSS growth allowed (16)")
    p.add_argument("--fd-slack", type=int, default=8, help="fd growth allowed (8)")
    p.add_argument("--server-arg", action="append", default=[], help="extra server flag")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    raise_fd_limit()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    flags = ["--capacity", a.capacity, "--max-memory", a.max_memory, *a.server_arg]
    srv = ServerProcess(flags)
    problems: list[str] = []
    samples: list[Sample] = []
    try:
        blocks = make_blocks()
        max_rate = a.max_rate or measure_max_rate(srv, blocks)
        rate = max_rate / 2
        print(
            f"server pid {srv.pid}; max ingest {max_rate:,.0f} lines/s "
            f"({'given' if a.max_rate else 'measured'}); soaking at {rate:,.0f} lines/s "
            f"for {a.minutes:g} min",
            flush=True,
        )
        load = Load(srv, rate, blocks)
        load.start()
        t0 = load.t0
        end = t0 + a.minutes * 60
        next_report = t0 + a.interval
        full_at: float | None = None
        last_total, last_t = 0, t0
        while time.monotonic() < end:
            time.sleep(min(a.sample, max(0.0, end - time.monotonic())))
            if not srv.alive():
                problems.append(f"server died with status {srv.proc.returncode}")
                break
            s = take(srv, t0)
            samples.append(s)
            if full_at is None and s.dropped > 0:
                full_at = s.t
                print(f"[{s.t:5.0f}s] ring full ({s.current:,} lines held)", flush=True)
            now = time.monotonic()
            if now >= next_report or now >= end:
                achieved = (s.total - last_total) / (now - last_t)
                last_total, last_t = s.total, now
                print(
                    f"[{s.t:5.0f}s] RSS {s.rss_mb:7.1f} MB  fds {s.fds:4}  "
                    f"Total {s.total:,}  Current {s.current:,}  Dropped {s.dropped:,}  "
                    f"ingest {achieved:,.0f}/s  queries {load.queries} "
                    f"({len(load.errors)} errors)  followed {load.followed}",
                    flush=True,
                )
                next_report += a.interval
        load.finish()
        if srv.alive():
            # Everything sent must be stored (the server reads it all).
            wait_for(
                lambda: srv.counter("Total") >= load.sent_lines, 60, "every sent line to be stored"
            )
        problems += [f"load: {e}" for e in load.errors[:5]]
        elapsed = time.monotonic() - t0
        if load.sent_lines < 0.75 * rate * elapsed:
            problems.append(
                f"ingest fell behind: {load.sent_lines / elapsed:,.0f}/s of {rate:,.0f}/s"
            )
        after = [s for s in samples if full_at is not None and s.t > full_at]
        if full_at is None:
            problems.append("the ring never filled: raise the rate or lower --capacity")
        elif len(after) < 3:
            problems.append(f"only {len(after)} samples after the ring filled: run longer")
        else:
            r0, r1 = growth([s.rss_mb for s in after])
            f0, f1 = growth([float(s.fds) for s in after])
            print(
                f"after the ring filled ({len(after)} samples): RSS median {r0:.1f} -> "
                f"{r1:.1f} MB, fds median {f0:.0f} -> {f1:.0f}"
            )
            if r1 - r0 > max(a.rss_slack_mb, 0.05 * r0):
                problems.append(f"RSS keeps growing: {r0:.1f} -> {r1:.1f} MB")
            if f1 - f0 > a.fd_slack:
                problems.append(f"open fds keep growing: {f0:.0f} -> {f1:.0f}")
    finally:
        srv.stop()
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("PASS: RSS and open fds flat once the ring was full; no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
