"""HTTP ingestion vs TCP line ingest: lines/s with N concurrent clients, same messages.

Each mode gets a fresh LogCaster (from this checkout's ``src/``) on 127.0.0.1:

- ``tcp``: the raw lines over N ingest connections (the reference);
- ``jsonline``: ``POST /insert/jsonline``, ``{"_msg": <line>}`` per line;
- ``jsonline-msg-field`` (only when named): ``{"message": <line>}`` per line with
  ``?_msg_field=message``, each record renamed in Python;
- ``loki-json``: ``POST /loki/api/v1/push``, one stream per request;
- ``loki-protobuf``: the same push as snappy-compressed protobuf;
- ``bulk``: ``POST /_bulk``, a ``{"create":{}}`` action and ``{"_msg": <line>}`` per line;
- ``otlp``: ``POST /v1/logs``, an ``ExportLogsServiceRequest`` (protobuf), body = line;
- ``otlp-json``: the same request in OTLP JSON (what the OpenTelemetry JS exporters
  and a Collector's ``otlphttp`` exporter with ``encoding: json`` send);
- ``tcp+http``: ``tcp`` again while two more clients post NDJSON without pause:
  how much TCP ingest slows while HTTP bodies are parsed.

HTTP clients send prepared bodies of about ``--batch-bytes`` each (before
compression; default 1 MiB, what Promtail and Grafana Alloy send by default:
``batchsize: 1048576``; Vector's Loki and Elasticsearch sinks batch up to
1 MB/10 MB, Fluent Bit flushes chunks of up to 2 MB) over keep-alive connections
(a thread per client, in this process, not the server's). A mode's time runs
from the first byte sent until the server's Total reaches the line count.
Each HTTP mode runs right after a TCP run of its own; the figure to read is the
median over rounds of the mode's rate divided by that TCP run's (the machine's
load drifts within seconds). Prints and writes (``--json``) the medians and the
load average before each run. ``--ring-lines`` gives the servers a ring smaller
than the run, so that it is full and its blocks reused for most of it (a server
that has been up a while) instead of growing all along.

    python benchmarks/http_ingest.py                 # 1M lines per mode, 4 clients, 3 rounds
    python benchmarks/http_ingest.py --lines 300000 --batch-bytes 100000 --json ''
    python benchmarks/http_ingest.py --lines 3000000 --ring-lines 200000  # a full ring
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
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
MODES = ("tcp", "jsonline", "loki-json", "loki-protobuf", "bulk", "otlp", "otlp-json", "tcp+http")
# Not run unless named: the Python path, some 70x slower (VictoriaLogs' _msg_field)
OTHER_MODES = ("jsonline-msg-field",)


SRC = REPO / "src"  # the tree the servers run (--src)


def start_server(capacity: int) -> tuple[subprocess.Popen[bytes], int, int, int]:
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONUNBUFFERED="1")
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


def http_sender(
    port: int, path: str, bodies: list[bytes], ctype: str, again: threading.Event | None = None
) -> Callable[[], None]:
    """Posts the bodies once; with ``again``, over and over until it is set."""

    def send() -> None:
        try:
            post_all()
        except OSError:
            if again is None or not again.is_set():
                raise  # a background load ends with the server's kill

    def post_all() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            for body in bodies:
                if again is not None and again.is_set():
                    break
                conn.request("POST", path, body=body, headers={"Content-Type": ctype})
                resp = conn.getresponse()
                resp.read()
                if resp.status not in (200, 204):
                    raise SystemExit(f"{path}: HTTP {resp.status}")
            if again is None or again.is_set():
                break
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


def otlp_protobuf(lines: list[str]) -> bytes:
    """An ExportLogsServiceRequest of one resource and scope, one record per line."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    attr = rl.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "bench"
    records = rl.scope_logs.add().log_records
    for x in lines:
        rec = records.add()
        rec.time_unix_nano = 1_764_600_000_000_000_000
        rec.severity_number = 9
        rec.body.string_value = x
    return bytes(request.SerializeToString())


def otlp_json(lines: list[str]) -> bytes:
    """The same request in the OTLP JSON mapping (64-bit integers as strings)."""
    records = [
        {"timeUnixNano": "1764600000000000000", "severityNumber": 9, "body": {"stringValue": x}}
        for x in lines
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]}
    doc = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    return json.dumps(doc).encode()


def groups_of(lines: list[str], batch_bytes: int) -> list[list[str]]:
    """The lines cut into groups of about ``batch_bytes`` of message text."""
    per = max(1, batch_bytes // (sum(map(len, lines[:1000])) // min(len(lines), 1000) + 20))
    return [lines[i : i + per] for i in range(0, len(lines), per)]


def bodies_for(mode: str, lines: list[str], batch_bytes: int) -> tuple[str, str, list[bytes]]:
    groups = groups_of(lines, batch_bytes)
    if mode in ("jsonline", "jsonline-msg-field"):  # the latter as Filebeat or Vector
        # set up for VictoriaLogs send it
        key, query = ("_msg", "") if mode == "jsonline" else ("message", "?_msg_field=message")
        out = ["".join(json.dumps({key: x}) + "\n" for x in g).encode() for g in groups]
        return "/insert/jsonline" + query, "application/x-ndjson", out
    if mode == "loki-json":
        labels = {"app": "bench", "host": "h1"}
        out = [
            json.dumps({"streams": [{"stream": labels, "values": [["1", x] for x in g]}]}).encode()
            for g in groups
        ]
        return "/loki/api/v1/push", "application/json", out
    if mode == "bulk":
        action = '{"create":{}}\n'
        out = ["".join(action + json.dumps({"_msg": x}) + "\n" for x in g).encode() for g in groups]
        return "/_bulk", "application/x-ndjson", out
    if mode == "otlp":
        return "/v1/logs", "application/x-protobuf", [otlp_protobuf(g) for g in groups]
    if mode == "otlp-json":
        return "/v1/logs", "application/json", [otlp_json(g) for g in groups]
    return "/loki/api/v1/push", "application/x-protobuf", [loki_protobuf(g) for g in groups]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {}  # server CPU seconds per million lines, by mode


def run_mode(mode: str, lines: list[str], clients: int, batch_bytes: int, ring: int = 0) -> float:
    """Lines/s of one mode on a fresh server (its CPU use goes to ``CPU``) whose ring
    holds ``ring`` lines (0: all of them, so that none is evicted)."""
    proc, ingest, query, http_port = start_server(ring or len(lines) * 3 + 1000)
    stop = threading.Event()
    background: list[threading.Thread] = []
    try:
        shares = [lines[i::clients] for i in range(clients)]
        if mode.startswith("tcp"):
            senders = [tcp_sender(ingest, "".join(x + "\n" for x in s).encode()) for s in shares]
        else:
            senders = []
            for share in shares:
                path, ctype, bodies = bodies_for(mode, share, batch_bytes)
                senders.append(http_sender(http_port, path, bodies, ctype))
        if mode == "tcp+http":  # HTTP load first, then the TCP lines are timed
            path, ctype, bodies = bodies_for("jsonline", lines[: len(lines) // 4], batch_bytes)
            for _ in range(2):
                load = http_sender(http_port, path, bodies, ctype, stop)
                background.append(threading.Thread(target=load, daemon=True))
                background[-1].start()
            deadline = time.monotonic() + PHASE_LIMIT
            wait_total(query, 1, deadline)  # the HTTP load is being stored
        base = total(query)
        cpu0 = cpu_seconds(proc.pid)
        threads = [threading.Thread(target=fn) for fn in senders]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(PHASE_LIMIT)
        if mode == "tcp+http":
            # The server's Total mixes both sources: time the TCP senders alone
            # (each returns once the server has read its connection to the end).
            elapsed = time.perf_counter() - t0
        else:
            wait_total(query, base + len(lines), time.monotonic() + PHASE_LIMIT)
            elapsed = time.perf_counter() - t0
            assert total(query) == len(lines), "lines lost or duplicated"
            cpu = cpu_seconds(proc.pid) - cpu0
            CPU.setdefault(mode, []).append(cpu * 1e6 / len(lines))
        return len(lines) / elapsed
    finally:
        stop.set()
        proc.kill()
        proc.wait(10)


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv: list[str]) -> int:
    global SRC
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per mode")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument(
        "--batch-bytes", type=int, default=1 << 20, help="HTTP body size (before compression)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is printed")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated modes; also {OTHER_MODES}"
    )
    parser.add_argument(
        "--json", default=str(REPO / "benchmarks/results/http_ingest.json"), help="results file"
    )
    parser.add_argument("--src", type=Path, default=SRC, help="the src/ directory to run")
    parser.add_argument(
        "--ring-lines",
        type=int,
        default=0,
        help="the servers' ring size in lines (default: room for all): a ring much smaller "
        "than --lines is full for most of a run, its blocks reused, no page faulted in",
    )
    args = parser.parse_args(argv)
    SRC = args.src
    lines = generate_lines(args.lines)
    modes = ["tcp", *(m for m in args.modes.split(",") if m != "tcp")]
    rates: dict[str, list[float]] = {m: [] for m in modes}
    ratios: dict[str, list[float]] = {m: [] for m in modes}
    loads: list[float] = []
    for r in range(args.rounds):
        # Each HTTP mode right after a TCP run of its own: on a shared machine the
        # load drifts within seconds, and the pair's ratio is what is compared.
        for mode in modes[1:]:
            for m in ("tcp", mode):
                loads.append(loadavg())
                rate = run_mode(m, lines, args.clients, args.batch_bytes, args.ring_lines)
                rates[m].append(rate)
                print(f"round {r + 1} {m:18s} {rate:12,.0f} lines/s  load {loads[-1]}", flush=True)
            ratios[mode].append(rates[mode][-1] / rates["tcp"][-1])
        ratios["tcp"].append(1.0)
    med = {m: statistics.median(v) for m, v in rates.items()}
    share = {m: statistics.median(v) for m, v in ratios.items()}
    print(f"\n{args.lines:,} lines per mode, {args.clients} clients, ", end="")
    print(f"~{args.batch_bytes:,}-byte bodies, load average {min(loads)}-{max(loads)}")
    print(f"{'mode':18s} {'lines/s':>12s}  vs tcp (median of the paired ratios)")
    for mode in modes:
        cpu = f"{statistics.median(CPU[mode]):6.2f}" if mode in CPU else "     -"
        print(f"{mode:18s} {med[mode]:12,.0f}  {share[mode]:6.1%}  {cpu} CPU s/M lines")
    if args.json:
        result = {
            "lines": args.lines,
            "ring_lines": args.ring_lines or "all",
            "clients": args.clients,
            "batch_bytes": args.batch_bytes,
            "lines_per_request": {
                m: len(groups_of(lines[:: args.clients], args.batch_bytes)[0]) for m in modes[1:]
            },
            "rounds": args.rounds,
            "load_average": {"min": min(loads), "max": max(loads), "each": loads},
            "lines_per_s": {m: [round(x) for x in v] for m, v in rates.items()},
            "median_lines_per_s": {m: round(v) for m, v in med.items()},
            "median_ratio_to_tcp": {m: round(v, 3) for m, v in share.items()},
            "server_cpu_s_per_million_lines": {
                m: round(statistics.median(v), 3) for m, v in CPU.items()
            },
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
