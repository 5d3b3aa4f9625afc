"""The HTTP query API against the line port: the same query, the full reply read.

    python benchmarks/http_query.py [--lines N] [--reps N] [--out PATH] [--only a,b]
                                    [--data workload|json|syslog]

A benchmark, not a timed test: it prints numbers, it does not pass or fail.

A fresh LogCaster (this checkout's ``src/``, 127.0.0.1 only) holds N workload lines
(``workload.py``: ~104 bytes, INFO 70 %, DEBUG 15 %, WARN 10 %, FATAL 0.05 %). For
each shape the same query goes to the line port (``QUERY <params>``:
``[YYYY-MM-DD HH:MM:SS] line`` per match) and to ``GET /api/v1/query?<params>`` (one
NDJSON record per match), each over a fresh connection, read until the server
closes it; the two alternate, one warm-up each, then ``--reps`` timed runs each.
Reported: medians of the wall time, of the ratio HTTP / line port of each pair and
of the server's CPU seconds per request (``/proc/PID/stat``), and ``curl -s -o
/dev/null``'s ``time_total`` for the same URL, the figure a user sees.

Shapes: ``250k`` (``keywords=DEBUG,WARN&operator=OR``, ~250 k matches), ``all``
(every line), ``rare`` (``keywords=FATAL``), ``250k_desc`` (``order=desc``),
``250k_text`` (``Accept: text/plain``, the lines as stored; its peer is still the
stamped ``QUERY``), ``250k_limit`` (``keywords=INFO&limit=250000``), and more ways
to ask for ~250 k matches: ``250k_regex`` (``regex=DEBUG|WARN``), ``250k_level``
(``level=DEBUG,WARN``), ``250k_limit_desc`` (the limit, newest first) and
``250k_newest`` (``limit=250000`` alone: no search, the newest lines).
Every run's record count is checked against the line port's ``FOUND``. ``--data``
holds the same events as one-level JSON objects or as RFC 3164 syslog lines
(``workload.as_json``, ``as_syslog``): records then carry more fields.

Each shape also gets the *transport floor* of both replies (``floor.py``): the time
a reader takes to receive the same number of bytes over loopback TCP from a sender
that does nothing but send. ``floor_http_over_line`` is the HTTP reply's floor over
the line port's measured time: what is left of the 1.5x target for searching and
rendering is ``1.5 - floor_http_over_line``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from floor import Floor
from workload import as_json, as_syslog, generate_lines

REPO = Path(__file__).resolve().parents[1]
BANNER = re.compile(r"ingest \S+:(\d+), query \S+:(\d+), http \S+:(\d+)")
HOST = "127.0.0.1"
RECV = 1 << 20

# name, line-port command, HTTP parameters, HTTP Accept header
SHAPES = [
    ("250k", "QUERY keywords=DEBUG,WARN operator=OR", "keywords=DEBUG,WARN&operator=OR", ""),
    ("all", "QUERY limit=10000000", "limit=10000000", ""),
    ("rare", "QUERY keywords=FATAL", "keywords=FATAL", ""),
    ("250k_desc", "QUERY keywords=DEBUG,WARN operator=OR order=desc",
     "keywords=DEBUG,WARN&operator=OR&order=desc", ""),
    ("250k_text", "QUERY keywords=DEBUG,WARN operator=OR", "keywords=DEBUG,WARN&operator=OR",
     "text/plain"),
    ("250k_limit", "QUERY keywords=INFO limit=250000", "keywords=INFO&limit=250000", ""),
    ("250k_regex", "QUERY regex=DEBUG|WARN", "regex=DEBUG%7CWARN", ""),
    ("250k_level", "QUERY level=DEBUG,WARN", "level=DEBUG,WARN", ""),
    ("250k_limit_desc", "QUERY keywords=INFO limit=250000 order=desc",
     "keywords=INFO&limit=250000&order=desc", ""),
    ("250k_newest", "QUERY limit=250000", "limit=250000", ""),
]  # fmt: skip


def start_server(
    capacity: int, src: Path = REPO / "src"
) -> tuple[subprocess.Popen[bytes], int, int, int]:
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "logcaster", "serve", "--host", "127.0.0.1", "-p", "0"]
    cmd += ["-q", "0", "--http-port", "0", "-c", str(capacity), "--max-memory", "2G"]
    cmd += ["--udp-port", "off"]
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


def read_all(port: int, request: bytes) -> tuple[bytes, int]:
    """Send ``request``, read until close into one reused buffer (as
    ``query_matrix.py``'s readers do: no fresh 1 MiB object per read, whose page
    faults would be the reader's cost, not the server's): the first 256 bytes and
    the size."""
    buf = bytearray(RECV)
    with socket.create_connection((HOST, port), timeout=120) as sock:
        sock.sendall(request)
        head = b""
        size = 0
        while n := sock.recv_into(buf):
            if len(head) < 256:
                head += bytes(buf[: min(n, 256)])
            size += n
    return head, size


def line_request(command: str) -> bytes:
    return command.encode() + b"\n"


def http_request(params: str, accept: str) -> bytes:
    extra = f"Accept: {accept}\r\n" if accept else ""
    return (
        f"GET /api/v1/query?{params} HTTP/1.1\r\nHost: {HOST}\r\n{extra}Connection: close\r\n\r\n"
    ).encode()


def found(port: int, command: str) -> int:
    head, _ = read_all(port, line_request(command))
    m = re.match(rb"FOUND: (\d+) matches", head)
    assert m is not None, head
    return int(m.group(1))


def curl_run(port: int, params: str, accept: str) -> tuple[float, bytes]:
    url = f"http://{HOST}:{port}/api/v1/query?{params}"
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}"]
    if accept:
        cmd += ["-H", f"Accept: {accept}"]
    out = subprocess.run([*cmd, url], capture_output=True, check=True, timeout=120)
    return float(out.stdout), b""


def records(port: int, params: str, accept: str) -> int:
    """The number of lines of the HTTP body (read through curl, untimed)."""
    url = f"http://{HOST}:{port}/api/v1/query?{params}"
    cmd = ["curl", "-sf", url] + (["-H", f"Accept: {accept}"] if accept else [])
    return subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout.count(b"\n")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_PID = 0


def server_cpu() -> float:
    """utime + stime of the server process (all threads), in seconds."""
    fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def timed(port: int, request: bytes) -> tuple[float, int, float]:
    """Wall seconds, reply bytes and server CPU seconds of one request."""
    cpu = server_cpu()
    start = time.perf_counter()
    _, size = read_all(port, request)
    return time.perf_counter() - start, size, server_cpu() - cpu


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/http_query.json")
    ap.add_argument("--only", default="", help="comma-separated shape names")
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the src/ directory to run")
    ap.add_argument(
        "--data",
        choices=("workload", "json", "syslog"),
        default="workload",
        help="the lines held: workload.py's, the same as JSON objects, or as RFC 3164 syslog",
    )
    args = ap.parse_args()
    lines = generate_lines(args.lines)
    lines = {"workload": lines, "json": as_json(lines), "syslog": as_syslog(lines)}[args.data]
    data = ("\n".join(lines) + "\n").encode()
    proc, ingest, qport, hport = start_server(args.lines + 1000, args.src)
    global SERVER_PID
    SERVER_PID = proc.pid
    results: dict[str, object] = {
        "lines": args.lines,
        "data": args.data,
        "reps": args.reps,
        "load_before": load_avg(),
    }
    have_curl = shutil.which("curl") is not None
    floor = Floor()
    try:
        with socket.create_connection((HOST, ingest)) as sock:
            sock.sendall(data)
        deadline = time.monotonic() + 120
        while found(qport, "QUERY limit=1") < 1 or not _held(qport, args.lines):
            if time.monotonic() > deadline:
                raise SystemExit("the server did not store every line in 120 s")
            time.sleep(0.05)  # a benchmark, not a test: polling the counter
        shapes = [s for s in SHAPES if not args.only or s[0] in args.only.split(",")]
        for name, command, params, accept in shapes:
            want = found(qport, command)
            got = records(hport, params, accept)
            if got != want:
                print(f"MISMATCH {name}: line port {want} matches, HTTP {got} records")
            line_req, http_req = line_request(command), http_request(params, accept)
            timed(qport, line_req), timed(hport, http_req)  # warm-up
            line_s, http_s, curl_s, ratios = [], [], [], []
            line_cpu, http_cpu = [], []
            line_bytes = http_bytes = 0
            for _ in range(args.reps):
                a, line_bytes, a_cpu = timed(qport, line_req)
                b, http_bytes, b_cpu = timed(hport, http_req)
                line_s.append(a)
                http_s.append(b)
                line_cpu.append(a_cpu)
                http_cpu.append(b_cpu)
                ratios.append(b / a)
                if have_curl:
                    curl_s.append(curl_run(hport, params, accept)[0])
            floor_http = statistics.median(floor.ms(http_bytes, False) for _ in range(args.reps))
            floor_line = statistics.median(floor.ms(line_bytes, False) for _ in range(args.reps))
            row = {
                "matches": want,
                "line_port_s": statistics.median(line_s),
                "http_s": statistics.median(http_s),
                "curl_s": statistics.median(curl_s) if curl_s else None,
                "ratio_http_over_line": statistics.median(ratios),
                "line_port_server_cpu_s": statistics.median(line_cpu),
                "http_server_cpu_s": statistics.median(http_cpu),
                "line_port_bytes": line_bytes,
                "http_bytes": http_bytes,
                "floor_http_ms": round(floor_http, 2),
                "floor_line_ms": round(floor_line, 2),
                "floor_http_over_line": round(floor_http / 1000 / statistics.median(line_s), 3),
                "load": load_avg(),
                "runs": {
                    "line_port_s": line_s,
                    "http_s": http_s,
                    "curl_s": curl_s,
                    "line_port_server_cpu_s": line_cpu,
                    "http_server_cpu_s": http_cpu,
                },
            }
            results[name] = row
            curl = f"curl {row['curl_s'] * 1000:7.1f} ms" if curl_s else "no curl"  # type: ignore[operator]
            print(
                f"{name:10s} {want:8d} matches  line {row['line_port_s'] * 1000:7.1f} ms"  # type: ignore[operator]
                f"  http {row['http_s'] * 1000:7.1f} ms  {curl}"  # type: ignore[operator]
                f"  ratio {row['ratio_http_over_line']:.2f}x"
                f"  floor {floor_http:.1f}/{floor_line:.1f} ms"
                f"  cpu {statistics.median(line_cpu) * 1000:.0f}"
                f"/{statistics.median(http_cpu) * 1000:.0f} ms"
                f"  load {row['load']}"
            )
    finally:
        floor.close()
        proc.kill()
        proc.wait(10)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _held(port: int, lines: int) -> bool:
    head, _ = read_all(port, b"COUNT\n")
    return head.startswith(f"COUNT: {lines}\n".encode())


if __name__ == "__main__":
    raise SystemExit(main())
