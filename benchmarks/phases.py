"""The individual measurements. Each returns a flat ``{metric: value}`` dict.

A value of ``None`` means "not measured" (unsupported, failed or timed out);
the reason goes to the shared ``notes`` list.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import proto
import servers
import workload

LOADGEN = Path(__file__).with_name("loadgen.py")
STREAMING_RE = re.compile(r"^STREAMING")
TIME_PREFIX_RE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ", re.MULTILINE)
CONNECTED_RE = re.compile(r"^CONNECTED (\d+)")

C_MAX_RECV = 4095  # the C server stores one entry per recv() of at most this many bytes
Metrics = dict[str, float | None]


@dataclass(frozen=True)
class Query:
    name: str
    kind: str  # "keyword" or "regex"
    pattern: str

    @property
    def prefixed(self) -> bool:
        """Parameter-form replies put ``[YYYY-MM-DD HH:MM:SS] `` before each line."""
        return self.kind != "keyword"

    @property
    def command(self) -> str:
        if self.kind == "keyword":
            return f"QUERY keyword={self.pattern}"  # the seed form: raw lines, like grep
        quoted = self.pattern.replace("\\", "\\\\").replace('"', '\\"')
        return f'QUERY regex="{quoted}"'  # parameter form; the pattern holds a space

    def grep_args(self, path: Path) -> list[str]:
        flag = "-F" if self.kind == "keyword" else "-E"
        return ["grep", flag, "--", self.pattern, str(path)]


QUERIES = (
    Query("frequent", "keyword", workload.FREQUENT_KEYWORD),
    Query("rare", "keyword", workload.RARE_KEYWORD),
    Query("regex", "regex", workload.REGEX_PATTERN),
)
GREP_ENV = {**os.environ, "LC_ALL": "C"}


def warn(notes: list[str], message: str) -> None:
    """Record a note and say it loudly on stderr."""
    notes.append(message)
    print(f"!!! {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- loadgen


def run_loadgen(args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``loadgen.py`` to completion in its own process; return its JSON."""
    proc = servers.spawn(
        [sys.executable, str(LOADGEN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        servers.kill(proc)
    lines = out.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {err.decode()[-500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def ingest(
    server: servers.Server, payload: Path, clients: int, timeout: float, repeat: int = 1
) -> dict[str, Any]:
    """One ingest pass by ``loadgen.py``: each client sends its slice ``repeat`` times."""
    completion = "stable" if server.name == "C" else "total"
    args = ["ingest", "--payload", str(payload), "--port", str(server.ingest_port)]
    args += ["--query-port", str(server.query_port), "--clients", str(clients)]
    args += ["--repeat", str(repeat), "--server-pid", str(server.pid)]
    args += ["--completion", completion, "--timeout", str(timeout)]
    return run_loadgen(args, timeout + 30.0)


def per_gb(seconds: float | None, nbytes: int) -> float | None:
    return None if seconds is None or nbytes <= 0 else seconds / (nbytes / 1e9)


def pass_metrics(
    server: servers.Server, key: str, result: dict[str, Any], label: str, notes: list[str]
) -> Metrics:
    """Figures of one ingest pass under ``key`` (all None if it did not complete)."""
    names = ("lines_per_s", "bytes_per_s", "seconds", "server_cpu_s_per_gb", "loadgen_cpu_s_per_gb")
    if not result["completed"]:
        warn(notes, f"{key}: incomplete (total {result['final_total']}, {result['errors']})")
        return {f"{key}.{name}": None for name in names}
    if server.name == "C" and result["final_total"] * C_MAX_RECV < result["nbytes"]:
        warn(notes, f"{key}: C stored {result['final_total']} recvs, too few for all bytes")
    server_cpu = per_gb(result["server_cpu_s"], result["nbytes"])
    loadgen_cpu = per_gb(result["loadgen_cpu_s"], result["nbytes"])
    print(
        f"    {server.name:9} {result['clients']:3} clients {label}: "
        f"{result['lines_per_s']:>12,.0f} lines/s {result['bytes_per_s'] / 1e6:8.1f} MB/s "
        f"({result['seconds']:.2f} s; CPU s/GB server {server_cpu or 0:.2f}, "
        f"loadgen {loadgen_cpu or 0:.2f})",
        flush=True,
    )
    return {
        f"{key}.lines_per_s": result["lines_per_s"],
        f"{key}.bytes_per_s": result["bytes_per_s"],
        f"{key}.seconds": result["seconds"],
        f"{key}.server_cpu_s_per_gb": server_cpu,
        f"{key}.loadgen_cpu_s_per_gb": loadgen_cpu,
    }


def ingest_metrics(
    server: servers.Server,
    payload: Path,
    clients: int,
    repeat: int,
    timeout: float,
    notes: list[str],
) -> Metrics:
    """A cold first pass (untimed warm-up, kept as ``ingest_cold``), then the timed pass.

    Both passes send the same load to the same, freshly started server process,
    so the timed pass sees the server in steady state (its store already grown
    to full size) and the cold pass shows what the first pass costs.
    """
    name = f"{server.name}.{clients}"
    cold = ingest(server, payload, clients, timeout, repeat)
    metrics = pass_metrics(server, f"ingest_cold.{name}", cold, "cold  ", notes)
    warm = ingest(server, payload, clients, timeout, repeat)
    metrics.update(pass_metrics(server, f"ingest.{name}", warm, "steady", notes))
    return metrics


# --------------------------------------------------------------------------- query + memory


def load_dataset(server: servers.Server, data: Path, lines: int, notes: list[str]) -> Metrics:
    """Ingest the query dataset and measure the server's RSS growth."""
    before = server.rss()
    result = ingest(server, data, 4, timeout=300.0)
    after = server.rss()
    stats = server.stats()
    if not result["completed"] or stats.current != lines or stats.dropped:
        warn(notes, f"query dataset not fully held: {stats} (expected Current={lines})")
    raw = data.stat().st_size
    growth = after - before
    return {
        "memory.raw_mb": raw / 1e6,
        "memory.rss_growth_mb": growth / 1e6,
        "memory.growth_per_raw_byte": growth / raw,
        "memory.lines": float(lines),
    }


def time_server_query(server: servers.Server, query: Query, reps: int) -> tuple[float, proto.Reply]:
    """Median wall time of ``reps`` full replies (connect, send, read until close)."""
    times = []
    reply = proto.Reply(b"", 0, 0)
    for _ in range(reps):
        start = time.perf_counter()
        reply = proto.request_counted(server.query_port, query.command)
        times.append(time.perf_counter() - start)
    return statistics.median(times), reply


def run_grep(args: list[str]) -> int:
    """Run grep with stdout to a pipe that is read fully; return the line count."""
    proc = subprocess.run(args, stdout=subprocess.PIPE, env=GREP_ENV, timeout=120, check=False)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{args} exited {proc.returncode}")
    return proc.stdout.count(b"\n")


def time_grep(query: Query, data: Path, reps: int) -> tuple[float, int]:
    args = query.grep_args(data)
    count = run_grep(args)  # warm-up: page cache and binary
    times = [timed(lambda: run_grep(args)) for _ in range(reps)]
    return statistics.median(times), count


def reply_lines(query: Query, reply: bytes) -> bytes:
    """The reply's matching lines as grep would print them (no header, no time prefix)."""
    body = reply.split(b"\n", 1)[1] if b"\n" in reply else b""
    return TIME_PREFIX_RE.sub(b"", body) if query.prefixed else body


def same_lines_as_grep(query: Query, reply: bytes, data: Path) -> bool:
    """Untimed check: the reply holds exactly grep's lines (as a multiset).

    The order may differ: the dataset was loaded by 4 concurrent clients.
    """
    proc = subprocess.run(
        query.grep_args(data), stdout=subprocess.PIPE, env=GREP_ENV, timeout=120, check=False
    )
    return sorted(reply_lines(query, reply).split(b"\n")) == sorted(proc.stdout.split(b"\n"))


def grep_count(query: Query, data: Path) -> int:
    args = [*query.grep_args(data)[:2], "-c", *query.grep_args(data)[2:]]
    proc = subprocess.run(args, capture_output=True, env=GREP_ENV, timeout=120, check=False)
    return int(proc.stdout.strip() or 0)


def query_metrics(
    server: servers.Server, query: Query, data: Path, reps: int, notes: list[str]
) -> Metrics:
    key = f"query.{query.name}"
    grep_s, grep_lines = time_grep(query, data, reps)
    counted = grep_count(query, data)
    first = proto.request(server.query_port, query.command, timeout=60.0)
    found = proto.found_count(first)
    metrics: Metrics = {f"{key}.grep_s": grep_s, f"{key}.grep_count": float(counted)}
    if found is None:
        print(f"    {query.name}: server said {first[:80]!r} -> n/a", flush=True)
        return {**metrics, f"{key}.logcaster_s": None, f"{key}.found": None}
    if not same_lines_as_grep(query, first, data):
        warn(notes, f"MISMATCH {query.command!r}: the reply's lines differ from grep's output")
    server_s, reply = time_server_query(server, query, reps)
    if not found == reply.body_lines == counted == grep_lines:
        warn(
            notes,
            f"MISMATCH {query.command!r}: FOUND {found}, lines received {reply.body_lines}, "
            f"grep -c {counted}, grep lines {grep_lines}",
        )
    print(
        f"    {query.name:8}: LogCaster {server_s * 1e3:8.1f} ms  grep {grep_s * 1e3:8.1f} ms"
        f"  ({found} matches, {reply.nbytes / 1e6:.1f} MB reply)",
        flush=True,
    )
    return {**metrics, f"{key}.logcaster_s": server_s, f"{key}.found": float(found)}


# --------------------------------------------------------------------------- latency


def send_probe(port: int, token: str) -> float:
    """Send one probe line on its own connection; return the send time."""
    with socket.create_connection((proto.HOST, port), timeout=10.0) as sock:
        start = time.perf_counter()
        sock.sendall((workload.probe_line(token) + "\n").encode())
    return start


def probe_latency(server: servers.Server, limit: float) -> float | None:
    """Seconds from sending a unique line until a keyword query finds it."""
    token = secrets.token_hex(12)
    start = send_probe(server.ingest_port, token)
    # Newest-first with limit=1: the question is "is my line there yet", which
    # LogCaster answers from the newest blocks without scanning the whole ring.
    command = f"QUERY keywords=token={token} limit=1"
    while time.perf_counter() - start < limit:
        if proto.found_count(proto.request_counted(server.query_port, command).head):
            return time.perf_counter() - start
    return None


def start_stream(
    server: servers.Server, payload: Path, clients: int, rate: float, max_s: float
) -> Any:
    args = ["stream", "--payload", str(payload), "--port", str(server.ingest_port)]
    args += ["--clients", str(clients), "--rate", str(rate), "--max-seconds", str(max_s)]
    proc = servers.spawn(
        [sys.executable, str(LOADGEN), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    reader = servers.LineReader(proc)
    try:
        reader.wait_for(STREAMING_RE, time.monotonic() + 30.0)
    except BaseException:
        servers.kill(proc)
        raise
    return proc, reader


def stop_child(proc: subprocess.Popen[bytes], reader: servers.LineReader) -> dict[str, Any]:
    """Close the child's stdin (its stop signal) and collect its JSON summary."""
    assert proc.stdin is not None
    proc.stdin.close()
    rest = reader.rest(timeout=30.0)
    servers.kill(proc)
    for line in reversed(rest):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    return {}


def latency_key(rate: float) -> str:
    """Metric prefix of one background-load setting: ``latency.200000`` or ``latency.0``."""
    return f"latency.{rate:.0f}"


def latency_metrics(
    server: servers.Server,
    payload: Path,
    rate: float,
    probes: int,
    budget: float,
    notes: list[str],
) -> Metrics:
    """Probe send->visible latency while 4 clients stream ``rate`` lines/s in total (0: unpaced)."""
    key = latency_key(rate)
    proc, reader = start_stream(server, payload, clients=4, rate=rate, max_s=budget + 30.0)
    samples: list[float] = []
    misses = 0
    deadline = time.monotonic() + budget
    try:
        while len(samples) + misses < probes and time.monotonic() < deadline:
            value = probe_latency(server, limit=5.0)
            if value is None:
                misses += 1
            else:
                samples.append(value)
    finally:
        summary = stop_child(proc, reader)
    if misses or len(samples) < probes:
        warn(
            notes,
            f"{key}: {len(samples)}/{probes} probes seen in {budget:.0f} s "
            f"({misses} not found within 5 s)",
        )
    if not samples:
        return {f"{key}.p50_ms": None, f"{key}.p99_ms": None, f"{key}.probes": 0.0}
    load_lines = summary.get("lines_per_s", 0.0)
    print(
        f"    latency @{rate:,.0f}: p50 {percentile(samples, 50) * 1e3:.1f} ms  p99 "
        f"{percentile(samples, 99) * 1e3:.1f} ms over {len(samples)} probes, "
        f"background load {load_lines:,.0f} lines/s, Total {server.stats().total:,}",
        flush=True,
    )
    return {
        f"{key}.p50_ms": percentile(samples, 50) * 1e3,
        f"{key}.p99_ms": percentile(samples, 99) * 1e3,
        f"{key}.max_ms": max(samples) * 1e3,
        f"{key}.probes": float(len(samples)),
        f"{key}.load_lines_per_s": load_lines,
    }


# --------------------------------------------------------------------------- connections


def start_idle(server: servers.Server, count: int) -> tuple[Any, servers.LineReader, int]:
    args = ["idle", "--port", str(server.ingest_port), "--count", str(count)]
    args += ["--connect-seconds", "60", "--max-seconds", "180"]
    proc = servers.spawn(
        [sys.executable, str(LOADGEN), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    reader = servers.LineReader(proc)
    try:
        match = reader.wait_for(CONNECTED_RE, time.monotonic() + 90.0)
    except BaseException:
        servers.kill(proc)
        raise
    return proc, reader, int(match.group(1))


def wait_clients(server: servers.Server, count: int, timeout: float) -> int:
    """Poll STATS until the server reports ``count`` clients (or time runs out)."""
    deadline = time.monotonic() + timeout
    clients = server.stats().clients
    while clients < count and time.monotonic() < deadline:
        time.sleep(0.05)
        clients = server.stats().clients
    return clients


def round_trips(port: int, command: str, count: int, budget: float = 60.0) -> list[float]:
    """Up to ``count`` timed request/reply round trips, within ``budget`` seconds."""
    deadline = time.monotonic() + budget
    samples: list[float] = []
    while len(samples) < count and time.monotonic() < deadline:
        samples.append(timed(lambda: proto.request_counted(port, command, timeout=10.0)))
    return samples


def connection_metrics(
    server: servers.Server, count: int, probes: int, notes: list[str]
) -> Metrics:
    proc, reader, connected = start_idle(server, count)
    try:
        clients = wait_clients(server, connected, timeout=30.0)
        stats_rtt = round_trips(server.query_port, "STATS", probes)
        query_rtt = round_trips(server.query_port, f"QUERY keyword={workload.RARE_KEYWORD}", probes)
    finally:
        summary = stop_child(proc, reader)
    if connected < count or clients < connected:
        warn(
            notes,
            f"connections: {connected}/{count} opened, server reported Clients={clients} "
            f"(loadgen RLIMIT_NOFILE {summary.get('nofile')}, errors {summary.get('errors')})",
        )
    print(
        f"    {connected} idle connections (server Clients={clients}): "
        f"STATS p99 {percentile(stats_rtt, 99) * 1e3:.2f} ms, "
        f"QUERY p99 {percentile(query_rtt, 99) * 1e3:.2f} ms",
        flush=True,
    )
    return {
        "conn.server_nofile": float(servers.nofile_limit(server.pid)),
        "conn.open": float(connected),
        "conn.server_clients": float(clients),
        "conn.stats_p50_ms": percentile(stats_rtt, 50) * 1e3,
        "conn.stats_p99_ms": percentile(stats_rtt, 99) * 1e3,
        "conn.query_p50_ms": percentile(query_rtt, 50) * 1e3,
        "conn.query_p99_ms": percentile(query_rtt, 99) * 1e3,
    }
