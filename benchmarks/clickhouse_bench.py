"""The ClickHouse store's speed: lines/s into ClickHouse, TCP ingest with and without
the store, and ``scope=cluster`` queries against the same SQL run by clickhouse-client.

    python benchmarks/clickhouse_bench.py [--lines N] [--rounds R]

Starts two private ClickHouse servers as the shards of cluster ``logs``
(tests/clickhouse_pair.py), then per round a fresh LogCaster without a store and one
with ``--store``, each fed the same N lines by 4 clients. Prints medians; writes
``results/clickhouse.json``. Everything runs on 127.0.0.1 and is killed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import proto  # noqa: E402
import servers  # noqa: E402
import workload  # noqa: E402
from clickhouse_pair import Pair  # noqa: E402

CLIENTS = 4


def send_all(port: int, payload: bytes) -> None:
    """Send ``payload`` over CLIENTS connections, split at line boundaries."""
    cuts = [0]
    for i in range(1, CLIENTS):
        cuts.append(payload.index(b"\n", len(payload) * i // CLIENTS) + 1)
    cuts.append(len(payload))

    def one(part: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(part)

    parts = [payload[a:b] for a, b in itertools.pairwise(cuts)]
    threads = [threading.Thread(target=one, args=(part,)) for part in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def info(port: int) -> dict[str, str]:
    body = proto.request(port, "INFO").decode().splitlines()[1:]
    return dict(line.split("=", 1) for line in body)


def run_round(pair: Pair, work: Path, payload: bytes, lines: int, table: str) -> dict[str, float]:
    src = HERE.parent / "src"
    out: dict[str, float] = {}
    plain = servers.start_logcaster(sys.executable, src, ["-c", str(lines)], work / "plain.err")
    try:
        t0 = time.perf_counter()
        send_all(plain.ingest_port, payload)
        proto.wait_stats(plain.query_port, time.monotonic() + 120)
        while proto.stats(plain.query_port).total < lines:
            time.sleep(0.002)
        out["ingest_plain_lps"] = lines / (time.perf_counter() - t0)
    finally:
        servers.kill(plain.proc, 5.0)
    extra = ["-c", str(lines), "--store", pair.url(table), "--store-init"]
    extra += ["--store-spool-dir", str(work / "spool")]
    stored = servers.start_logcaster(sys.executable, src, extra, work / "store.err")
    try:
        t0 = time.perf_counter()
        send_all(stored.ingest_port, payload)
        while proto.stats(stored.query_port).total < lines:
            time.sleep(0.002)
        out["ingest_store_lps"] = lines / (time.perf_counter() - t0)
        while int(info(stored.query_port)["StoreRowsSent"]) < lines:
            time.sleep(0.01)
        out["into_clickhouse_lps"] = lines / (time.perf_counter() - t0)
        query = "QUERY scope=cluster keywords=FATAL"
        times = []
        for _ in range(5):
            t = time.perf_counter()
            reply = proto.request_counted(stored.query_port, query)
            times.append(time.perf_counter() - t)
        out["cluster_query_ms"] = statistics.median(times) * 1000
        out["cluster_query_matches"] = proto.found_count(reply.head) or 0
        sql = (
            f"SELECT ts, line FROM default.{table} WHERE position(line, 'FATAL') > 0 "
            "ORDER BY ts ASC, batch ASC, seq ASC FORMAT TabSeparated"
        )
        times = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(
                ["clickhouse-client", "--port", str(pair.shards[0].tcp), "--query", sql],
                stdout=subprocess.PIPE,
                check=True,
            )
            times.append(time.perf_counter() - t)
        out["clickhouse_client_ms"] = statistics.median(times) * 1000
    finally:
        servers.kill(stored.proc, 10.0)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    payload = ("\n".join(workload.generate_lines(args.lines)) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pair = Pair.start(work / "clickhouse")
        try:
            rounds = [
                run_round(pair, work, payload, args.lines, f"bench{i}") for i in range(args.rounds)
            ]
        finally:
            pair.stop()
            servers.kill_all()
    medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    medians["ingest_ratio"] = medians["ingest_store_lps"] / medians["ingest_plain_lps"]
    medians["query_ratio"] = medians["cluster_query_ms"] / medians["clickhouse_client_ms"]
    for key, value in medians.items():
        print(f"{key:24} {value:14,.2f}")
    load = os.getloadavg()
    report = {"lines": args.lines, "rounds": rounds, "medians": medians, "loadavg": load}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clickhouse.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
