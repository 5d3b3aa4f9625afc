"""Field filters: ``QUERY host=web1 level=ERROR`` over 1 M syslog lines vs grep.

    python benchmarks/fields_bench.py [--lines N] [--reps N] [--out PATH]

A benchmark, not a timed test: it prints numbers, it does not pass or fail.

A fresh server (``servers.start_logcaster``, 127.0.0.1 only) is sent N RFC 3164 lines
(``<PRI>Dec  1 19:00:00 webH app[PID]: LEVEL req=... message``, hosts web1..web20 so
that web10..web19 also hold the text ``web1``, levels by PRI and token: 5 % ERROR);
the same bytes are written to a file for grep. Timed, medians of ``--reps`` runs after
one warm-up each, full reply read:

* ``host=web1 level=ERROR`` on the query port (stamped lines);
* ``host=web1`` alone, ``host=web1 keywords=req=`` (filter cost with a literal);
* the grep pipeline ``grep -F ' web1 ' FILE | grep -F ERROR`` (LC_ALL=C), read fully.

The reply's match count is checked against the pipeline's line count.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import proto
import servers

REPO = Path(__file__).resolve().parents[1]
LEVELS = [("ERROR", 3)] + [("INFO", 6)] * 15 + [("WARN", 4)] * 3 + [("DEBUG", 7)]
GREP_ENV = {**os.environ, "LC_ALL": "C"}


def payload(n: int) -> bytes:
    out = []
    for i in range(n):
        word, severity = LEVELS[(i // 20 + i // 400) % len(LEVELS)]  # not tied to the host
        host = f"web{i % 20 + 1}"
        out.append(
            f"<{8 + severity}>Dec  1 19:00:00 {host} app[{1000 + i % 50}]: {word} "
            f"req={i:07d} user=u{i % 977} path=/api/v1/items/{i % 313} took={i % 91}ms\n"
        )
    return "".join(out).encode()


def timed(fn: Callable[[], int], reps: int) -> tuple[float, int]:
    fn()  # warm-up
    times, count = [], 0
    for _ in range(reps):
        start = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/fields.json")
    args = ap.parse_args()
    data = payload(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "syslog.log"
        path.write_bytes(data)
        srv = servers.start_logcaster(
            sys.executable, REPO / "src", ["--udp-port", "off"], Path(tmp) / "server.err"
        )
        try:
            with socket.create_connection((proto.HOST, srv.ingest_port)) as sock:
                sock.sendall(data)
            deadline = time.monotonic() + 120
            while srv.stats().total < args.lines:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not store every line in 120 s")
                time.sleep(0.05)  # a benchmark, not a test: polling the counter

            def query(command: str) -> Callable[[], int]:
                def run() -> int:
                    reply = proto.request_counted(srv.query_port, command)
                    return reply.body_lines

                return run

            def pipeline() -> int:
                cmd = f"grep -F ' web1 ' {path} | grep -F ERROR"
                proc = subprocess.run(
                    cmd, shell=True, stdout=subprocess.PIPE, env=GREP_ENV, check=False
                )
                return proc.stdout.count(b"\n")

            results: dict[str, float] = {}
            grep_s, grep_n = timed(pipeline, args.reps)
            results["grep_pipeline_s"] = grep_s
            for name, command in (
                ("host_level", "QUERY host=web1 level=ERROR"),
                ("host", "QUERY host=web1"),
                ("host_keyword", "QUERY host=web1 keywords=req="),
                ("level", "QUERY level=ERROR"),
                ("keywords", "QUERY keywords=web1,ERROR"),
            ):
                secs, n = timed(query(command), args.reps)
                results[f"{name}_s"] = secs
                results[f"{name}_matches"] = n
                print(f"{command:36s} {secs * 1000:8.1f} ms  {n:8d} matches")
            print(f"{'grep pipeline':36s} {grep_s * 1000:8.1f} ms  {grep_n:8d} lines")
            ratio = results["host_level_s"] / grep_s
            print(f"host=web1 level=ERROR / grep pipeline: {ratio:.2f}x")
            if results["host_level_matches"] != grep_n:
                print(f"MISMATCH: {results['host_level_matches']} matches, grep {grep_n} lines")
            results.update(grep_pipeline_lines=grep_n, ratio=ratio, lines=args.lines)
        finally:
            srv.stop()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
