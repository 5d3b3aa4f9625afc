#!/usr/bin/env python3
"""Long versions of the hostile-client attacks against a real LogCaster server.

Starts ``python -m logcaster serve`` on loopback (ports picked by the kernel),
runs each attack while a legitimate client keeps sending a line and querying
for it, prints one line per attack and a summary, and exits 1 if any attack
broke the server (0 otherwise). Attacks that hit a known, reported bug are
shown as KNOWN BUG and do not fail the run unless --strict is given.

Bounded in time and count; loopback only; the server child is killed on exit
(also if this script is killed: PR_SET_PDEATHSIG on Linux).

    python tests/stress/attack.py                 # every attack, ~1.5 minutes
    python tests/stress/attack.py --only slowloris,connect-close
    python tests/stress/attack.py --connections 2000 --slow-seconds 10

This module also holds the small server-driving helpers soak.py imports.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import itertools
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"
BANNER_RE = re.compile(rb"LogCaster listening: ingest (\S+):(\d+), query (\S+):(\d+)")
RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset
MiB = 1 << 20

# ------------------------------------------------------------- server child


def raise_fd_limit() -> int:
    """This process's soft open-file limit, raised to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _die_with_parent() -> None:  # runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class ServerProcess:
    """``logcaster serve`` on loopback as a child process, killed on exit."""

    def __init__(self, args: list[str], python: str = sys.executable) -> None:
        self.out: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        cmd = [python, "-m", "logcaster", "serve", "--host", LOOPBACK, "-p", "0", "-q", "0"]
        cmd += ["--http-port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, *args],
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=self.err,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        atexit.register(self.stop)
        m = wait_for(self._banner, 30, "the server's banner")
        assert isinstance(m, re.Match)
        self.ingest_port, self.query_port = int(m.group(2)), int(m.group(4))

    def output(self) -> str:
        """The server's stdout and stderr so far."""
        parts = []
        for f in (self.out, self.err):
            if not f.closed:
                f.seek(0)
                parts.append(f.read().decode(errors="replace"))
        return "".join(parts)

    def _banner(self) -> re.Match[bytes] | None:
        self.out.seek(0)
        m = BANNER_RE.search(self.out.read())
        if m is None and self.proc.poll() is not None:
            self.err.seek(0)
            raise RuntimeError(f"server exited early: {self.err.read().decode(errors='replace')}")
        return m

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for f in (self.out, self.err):
            f.close()

    # ------------------------------------------------------------ clients
    def query(self, command: bytes | str, timeout: float = 30.0) -> bytes:
        if isinstance(command, str):
            command = command.encode()
        with socket.create_connection((LOOPBACK, self.query_port), timeout=timeout) as s:
            s.sendall(command + b"\n")
            parts = []
            with contextlib.suppress(ConnectionResetError):
                while chunk := s.recv(1 << 16):
                    parts.append(chunk)
        return b"".join(parts)

    def send(self, data: bytes, timeout: float = 30.0) -> None:
        """Send on one ingest connection; return once the server has read it all."""
        with socket.create_connection((LOOPBACK, self.ingest_port), timeout=timeout) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)

    def connect_ingest(self, timeout: float = 30.0) -> socket.socket:
        return socket.create_connection((LOOPBACK, self.ingest_port), timeout=timeout)

    def info(self) -> dict[str, int | str]:
        reply = self.query("INFO").decode(errors="replace")
        if not reply.startswith("INFO: "):
            raise RuntimeError(f"bad INFO reply: {reply[:100]!r}")
        out: dict[str, int | str] = {}
        for line in reply.splitlines()[1:]:
            k, _, v = line.partition("=")
            out[k] = int(v) if v.lstrip("-").isdigit() else v
        return out

    def counter(self, name: str) -> int:
        value = self.info()[name]
        assert isinstance(value, int)
        return value

    def found(self, keyword: bytes) -> int:
        reply = self.query(b"QUERY keyword=" + keyword)
        m = re.match(rb"FOUND: (\d+) matches\n", reply)
        if m is None:
            raise RuntimeError(f"bad QUERY reply: {reply[:100]!r}")
        return int(m.group(1))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll until a query is answered (slots held by an attack may take a moment)."""

        def answered() -> bool:
            try:
                return self.query("STATS", timeout=10).startswith(b"STATS: ")
            except OSError:
                return False

        wait_for(answered, timeout, "the query port to answer")

    def wait_clients(self, n: int, timeout: float = 60.0) -> None:
        wait_for(lambda: self.counter("Clients") == n, timeout, f"Clients={n}")


# --------------------------------------------------------------- probing


PROBE_IDS = itertools.count(1)


class Prober:
    """A legitimate client: a unique line in, then a query that must find it."""

    def __init__(self, srv: ServerProcess) -> None:
        self.srv = srv
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def probe(self) -> None:
        tag = b"legit-probe-%d-%d" % (os.getpid(), next(PROBE_IDS))
        t0 = time.monotonic()
        try:
            self.srv.send(tag + b"\n", timeout=10)
            wait_for(lambda: self.srv.found(tag) == 1, 10, "the probe line")
            if not self.srv.query("STATS", timeout=10).startswith(b"STATS: "):
                raise RuntimeError("STATS not answered")
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        self.latencies.append(time.monotonic() - t0)

    def __enter__(self) -> Prober:
        def loop() -> None:
            while not self._stop.is_set():
                self.probe()
                self._stop.wait(0.5)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("inf"))

    def verdict(self, limit: float) -> tuple[bool, str]:
        ok = not self.failures and bool(self.latencies) and self.worst < limit
        text = f"{len(self.latencies)} probes, worst {self.worst:.2f} s"
        if self.failures:
            text += f", {len(self.failures)} failed ({self.failures[0]})"
        return ok, text


# ---------------------------------------------------------------- attacks


@dataclass
class Result:
    name: str
    ok: bool
    detail: str
    known_bug: bool = False

    @property
    def status(self) -> str:
        if self.ok:
            return "PASS"
        return "KNOWN BUG" if self.known_bug else "FAIL"


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.close()


def open_many(port: int, n: int) -> tuple[list[socket.socket], int]:
    socks, errors = [], 0
    for _ in range(n):
        try:
            socks.append(socket.create_connection((LOOPBACK, port), timeout=30))
        except OSError:
            errors += 1
    return socks, errors


def trickle(socks: list[socket.socket], stop: threading.Event, sent: list[int]) -> None:
    """One byte to every connection, once a second, until ``stop``."""
    while not stop.is_set():
        t0 = time.monotonic()
        for s in socks:
            with contextlib.suppress(OSError):
                sent[0] += s.send(b"x")
        stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))


def attack_slowloris(srv: ServerProcess, a: argparse.Namespace, pending: int = 0) -> Result:
    name = "slowloris" if not pending else "slowloris-long-lines"
    n = a.connections if not pending else a.long_connections
    base = srv.counter("Clients")
    rss0 = srv.rss_mb()
    socks, errors = open_many(srv.ingest_port, n)
    stop, sent = threading.Event(), [0]
    peak = rss0
    try:
        for i, s in enumerate(socks):
            s.sendall(b"slowloris-%05d-" % i + b"p" * pending)
        srv.wait_clients(base + len(socks))
        worker = threading.Thread(target=trickle, args=(socks, stop, sent), daemon=True)
        worker.start()
        with Prober(srv) as prober:
            deadline = time.monotonic() + a.slow_seconds
            while time.monotonic() < deadline and srv.alive():
                peak = max(peak, srv.rss_mb())
                time.sleep(1)
        stop.set()
        worker.join(30)
    finally:
        stop.set()
        close_all(socks)
    srv.wait_clients(base)
    ok, text = prober.verdict(a.latency)
    ok = ok and errors == 0 and srv.alive()
    return Result(
        name,
        ok,
        f"{len(socks)} conns ({errors} failed to connect), {sent[0]} bytes trickled over "
        f"{a.slow_seconds:.0f} s, {text}, RSS {rss0:.0f} -> peak {peak:.0f} MB",
    )


def attack_connect_close(srv: ServerProcess, a: argparse.Namespace) -> Result:
    rate, seconds = a.rate, a.cycle_seconds
    threads = 4

    def cycle(k: int) -> None:
        per = rate / threads
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < seconds:
            ahead = counts[k] / per - elapsed  # pacing: at most ``per`` a second
            if ahead > 0:
                time.sleep(ahead)
            try:
                socket.create_connection((LOOPBACK, srv.ingest_port), timeout=10).close()
                counts[k] += 1
            except OSError:
                errors[k] += 1

    counts, errors = [0] * threads, [0] * threads
    workers = [threading.Thread(target=cycle, args=(k,), daemon=True) for k in range(threads)]
    t0 = time.monotonic()
    with Prober(srv) as prober:
        for w in workers:
            w.start()
        for w in workers:
            w.join(seconds + 60)
    took = time.monotonic() - t0
    srv.wait_clients(0)
    ok, text = prober.verdict(a.latency)
    achieved = sum(counts) / took
    ok = ok and sum(errors) == 0 and achieved >= 0.9 * rate and srv.alive()
    return Result(
        "connect-close",
        ok,
        f"{sum(counts)} cycles in {took:.1f} s ({achieved:.0f}/s, target {rate}/s), "
        f"{sum(errors)} errors, {text}",
    )


def attack_max_clients(srv: ServerProcess, a: argparse.Namespace) -> Result:
    cap, extra = a.max_clients, 50
    if raise_fd_limit() < cap + extra + 200:
        return Result("max-clients", True, f"skipped: open-file limit below {cap + extra + 200}")
    rejected0 = srv.counter("Rejected")
    socks, errors = open_many(srv.ingest_port, cap)
    try:
        srv.wait_clients(cap)
        more, _ = open_many(srv.ingest_port, extra)
        closed = 0
        for s in more:
            s.settimeout(5)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
        close_all(more)
        info = srv.info()
        worst = 0.0
        for _ in range(5):  # the query port still answers while ingest is full
            t0 = time.monotonic()
            answered = srv.query("STATS", timeout=10).startswith(b"STATS: ")
            worst = max(worst, time.monotonic() - t0 if answered else float("inf"))
    finally:
        close_all(socks)
    srv.wait_clients(0)
    rejected = int(info["Rejected"]) - rejected0
    ok = errors == 0 and info["Clients"] == cap and rejected >= extra and closed == extra
    return Result(
        "max-clients",
        ok and worst < a.latency and srv.alive(),
        f"{cap} held, {extra} more: {closed} closed at once, Rejected +{rejected}, "
        f"STATS while full: worst {worst:.2f} s",
    )


def attack_query_slowloris(srv: ServerProcess, a: argparse.Namespace) -> Result:
    socks, _ = open_many(srv.query_port, a.max_query_clients)
    stop, sent = threading.Event(), [0]
    worker = threading.Thread(target=trickle, args=(socks, stop, sent), daemon=True)
    worker.start()
    try:
        time.sleep(1.5)
        reply = srv.query("COUNT", timeout=10)
    except OSError as exc:
        reply = repr(exc).encode()
    finally:
        stop.set()
        worker.join(10)
        close_all(socks)
    ok = reply.startswith(b"COUNT: ")
    return Result(
        "query-slowloris",
        ok,
        f"{len(socks)} trickling query connections; a legitimate COUNT got {reply[:60]!r}",
    )


def attack_follow_stall(srv: ServerProcess, a: argparse.Namespace) -> Result:
    n = a.followers
    cut0 = srv.counter("FollowCut")
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((LOOPBACK, srv.query_port))
        s.sendall(b"FOLLOW keywords=stall\n")
        socks.append(s)
    rss0, peak = srv.rss_mb(), 0.0
    block = (b"stall " + b"s" * 1000 + b"\n") * 200
    cut = 0
    try:
        wait_for(lambda: srv.counter("Followers") >= n, 30, "the followers")
        deadline = time.monotonic() + a.query_timeout * 4 + 60
        with srv.connect_ingest() as ing, Prober(srv) as prober:
            while time.monotonic() < deadline and cut < n:
                ing.sendall(block)
                peak = max(peak, srv.rss_mb())
                cut = srv.counter("FollowCut") - cut0
    finally:
        close_all(socks)
    ok, text = prober.verdict(a.latency)
    ok = ok and cut == n and srv.alive()
    return Result(
        "follow-stall",
        ok,
        f"{cut}/{n} non-reading followers cut, RSS {rss0:.0f} -> peak {peak:.0f} MB, {text}",
    )


def attack_regex_flood(srv: ServerProcess, a: argparse.Namespace) -> Result:
    bad: list[bytes] = []

    def worker(count: int) -> None:
        for _ in range(count):
            reply = srv.query("QUERY regex=[unclosed")
            if not reply.startswith(b"ERROR: Invalid regex pattern: "):
                bad.append(reply[:80])

    threads = [threading.Thread(target=worker, args=(a.regex_queries // 16,)) for _ in range(16)]
    with Prober(srv) as prober:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    ok, text = prober.verdict(a.latency)
    return Result(
        "regex-flood",
        ok and not bad and srv.alive(),
        f"{a.regex_queries} x QUERY regex=[unclosed, {len(bad)} wrong replies, {text}",
    )


def attack_huge(srv: ServerProcess, a: argparse.Namespace) -> Result:
    wrong: list[bytes] = []

    def long_lines() -> None:
        for _ in range(20):
            srv.send(b"H" * MiB)  # no newline

    command = b"QUERY keyword=" + b"q" * MiB + b"\n"

    def long_commands() -> None:
        for _ in range(20):
            with socket.create_connection((LOOPBACK, srv.query_port), timeout=30) as s:
                sender = threading.Thread(target=send_quietly, args=(s, command))
                sender.start()
                parts = []
                with contextlib.suppress(ConnectionResetError):
                    while chunk := s.recv(1 << 16):
                        parts.append(chunk)
                sender.join(30)
            reply = b"".join(parts)
            if reply != b"ERROR: Command line too long (limit 65536 bytes)\n":
                wrong.append(reply[:80])

    threads = [threading.Thread(target=long_lines), threading.Thread(target=long_commands)]
    with Prober(srv) as prober:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    ok, text = prober.verdict(a.latency)
    return Result(
        "huge-lines",
        ok and not wrong and srv.alive(),
        f"20 x 1 MB lines + 20 x 1 MB commands, {len(wrong)} wrong replies, {text}",
    )


def send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(data)


def attack_garbage(srv: ServerProcess, a: argparse.Namespace) -> Result:
    rng = random.Random(7)
    errors: list[str] = []

    def worker(k: int) -> None:
        chunk = rng.randbytes(MiB)
        for _ in range(a.garbage_mb // 8):
            try:
                with srv.connect_ingest() as s:
                    s.sendall(chunk)
            except OSError as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    with Prober(srv) as prober:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        for _ in range(200):  # random command lines as well
            line = rng.randbytes(rng.randrange(1, 500)).replace(b"\n", b" ")
            if not srv.query(line).endswith(b"\n"):
                errors.append(f"no reply line to {line[:20]!r}")
    srv.wait_clients(0)
    ok, text = prober.verdict(a.latency)
    return Result(
        "garbage",
        ok and not errors and srv.alive(),
        f"{a.garbage_mb} MB random bytes + 200 random commands, {len(errors)} errors, {text}",
    )


def attack_resets(srv: ServerProcess, a: argparse.Namespace) -> Result:
    errors = 0
    with Prober(srv) as prober:
        for i in range(a.resets):
            try:
                port = srv.ingest_port if i % 2 else srv.query_port
                s = socket.create_connection((LOOPBACK, port), timeout=10)
                s.sendall(b"reset-mid-line-%d" % i if i % 2 else b"QUERY keyw")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
                s.close()
            except OSError:
                errors += 1
    srv.wait_clients(0)
    ok, text = prober.verdict(a.latency)
    return Result(
        "resets",
        ok and errors == 0 and srv.alive(),
        f"{a.resets} connections reset mid-line/mid-command, {errors} errors, {text}",
    )


ATTACKS: dict[str, Callable[[ServerProcess, argparse.Namespace], Result]] = {
    "slowloris": attack_slowloris,
    "slowloris-long-lines": lambda srv, a: attack_slowloris(srv, a, pending=a.pending_bytes),
    "connect-close": attack_connect_close,
    "max-clients": attack_max_clients,
    "query-slowloris": attack_query_slowloris,
    "follow-stall": attack_follow_stall,
    "regex-flood": attack_regex_flood,
    "huge-lines": attack_huge,
    "garbage": attack_garbage,
    "resets": attack_resets,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", help=f"comma-separated attacks (default: all): {', '.join(ATTACKS)}")
    p.add_argument("--connections", type=int, default=5000, help="slowloris connections (5000)")
    p.add_argument("--slow-seconds", type=float, default=20, help="slowloris duration (20)")
    p.add_argument("--long-connections", type=int, default=1000, help="long-line slowloris (1000)")
    p.add_argument("--pending-bytes", type=int, default=60_000, help="unfinished line each (60000)")
    p.add_argument("--rate", type=int, default=1000, help="connect/close cycles a second (1000)")
    p.add_argument("--cycle-seconds", type=float, default=10, help="connect/close duration (10)")
    p.add_argument("--max-clients", type=int, default=10_000, help="server --max-clients (10000)")
    p.add_argument("--max-query-clients", type=int, default=64, help="server value (64)")
    p.add_argument("--query-timeout", type=float, default=3, help="server --query-timeout (3)")
    p.add_argument("--followers", type=int, default=20, help="non-reading FOLLOW clients (20)")
    p.add_argument("--regex-queries", type=int, default=1000, help="bad regex queries (1000)")
    p.add_argument("--garbage-mb", type=int, default=64, help="MB of random bytes (64)")
    p.add_argument("--resets", type=int, default=2000, help="connections reset mid-line (2000)")
    p.add_argument("--latency", type=float, default=2.0, help="worst probe allowed, s (2.0)")
    p.add_argument("--rss-slack-mb", type=float, default=64, help="RSS allowed after (64)")
    p.add_argument("--strict", action="store_true", help="known bugs fail the run too")
    p.add_argument("--server-arg", action="append", default=[], help="extra server flag")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        p.error(f"unknown attack(s): {', '.join(unknown)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    limit = raise_fd_limit()
    print(f"client open-file limit: {limit}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    flags = [
        *("--max-clients", str(a.max_clients), "--max-query-clients", str(a.max_query_clients)),
        *("--query-timeout", str(a.query_timeout), "--max-memory", "32M"),
        *a.server_arg,
    ]
    srv = ServerProcess(flags)
    results: list[Result] = []
    try:
        # Fill the ring first, so later data replaces old data and RSS has a fair baseline.
        filler = b"".join(b"filler-%07d %s\n" % (i, b"f" * 100) for i in range(10_000))
        while srv.counter("Dropped") == 0:
            srv.send(filler)
        for command in ("STATS", "INFO", "QUERY keywords=filler limit=10", "TAIL 10"):
            srv.query(command)
        rss0, fds0 = srv.rss_mb(), srv.fds()
        print(f"server pid {srv.pid}: RSS {rss0:.0f} MB, {fds0} fds after filling the ring")
        for name in a.names:
            t0 = time.monotonic()
            try:
                srv.wait_ready()
                result = ATTACKS[name](srv, a)
            except Exception as exc:
                result = Result(name, False, f"attack raised {type(exc).__name__}: {exc}")
            results.append(result)
            print(
                f"{result.status:9} {name:21} {time.monotonic() - t0:6.1f} s  {result.detail}",
                flush=True,
            )
            if not srv.alive():
                why = (
                    " after a SIGINT/SIGTERM this script did not send"
                    if "shutting down" in srv.output()
                    else ""
                )
                results.append(
                    Result("server", False, f"server exited ({srv.proc.returncode}){why}")
                )
                print(f"server output:\n{srv.output()[-3000:]}", flush=True)
                break
        if srv.alive():
            try:
                srv.wait_clients(0)
                wait_for(lambda: srv.rss_mb() < rss0 + a.rss_slack_mb, 60, "RSS to settle")
                wait_for(lambda: srv.fds() <= fds0 + 5, 30, "fds to settle")
                ok = True
            except TimeoutError:
                ok = False
            results.append(
                Result(
                    "settle",
                    ok,
                    f"RSS {rss0:.0f} -> {srv.rss_mb():.0f} MB (slack {a.rss_slack_mb:.0f}), "
                    f"fds {fds0} -> {srv.fds()}",
                )
            )
    finally:
        srv.stop()
    print("\nsummary:")
    for r in results:
        print(f"  {r.status:9} {r.name}")
    failed = [r for r in results if not r.ok and (a.strict or not r.known_bug)]
    known = [r for r in results if not r.ok and r.known_bug]
    print(
        f"{len(results) - len(failed) - len(known)} passed, {len(failed)} failed, "
        f"{len(known)} known bug(s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
