"""The ClickHouse store's speed: lines/s into ClickHouse, TCP ingest with and without
the store, and ``scope=cluster`` queries against the same SQL run by clickhouse-client.

    python benchmarks/clickhouse_bench.py [--lines N] [--rounds R] [--query-lines M]
        [--query-runs K] [--compression lz4|none]

Starts two private ClickHouse servers as the shards of cluster ``logs``
(tests/clickhouse_pair.py), then per round a fresh LogCaster without a store and one
with ``--store``, each fed the same N lines by 4 clients (ingest rate of each, and
the rate into ClickHouse). Then M lines go to ClickHouse through one node and the
same keyword search runs K times through ``QUERY scope=cluster`` and through
``clickhouse-client`` (alternating; both read the whole result). Prints medians;
writes ``results/clickhouse.json`` (``clickhouse-none.json`` without compression),
with the load average beside each figure, and the CPU seconds per million lines of
the node (with and without the store), of the two ClickHouse servers and of the whole
machine (other work included) while the store's lines were sent. Everything
runs on 127.0.0.1 and is killed at the end.
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


def load() -> float:
    return round(os.getloadavg()[0], 2)


TICK = os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (every process, ours or not)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK  # all but idle and iowait


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes (all their threads) used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def store_args(pair: Pair, work: Path, table: str, compression: str, lines: int) -> list[str]:
    url = pair.url(table) + ("&compression=none" if compression == "none" else "")
    return [
        "-c",
        str(lines),
        "--store",
        url,
        "--store-init",
        "--store-spool-dir",
        str(work / table),
    ]


def ingest_round(
    pair: Pair,
    work: Path,
    payload: bytes,
    lines: int,
    table: str,
    compression: str,
    src: Path = HERE.parent / "src",
) -> dict[str, float]:
    """TCP ingest of ``lines`` without and with the store, the rate into ClickHouse,
    and the CPU seconds per million lines of the node and of the ClickHouse servers
    (from the first line sent to the last one ClickHouse confirmed)."""
    out: dict[str, float] = {"load_before": load()}
    per_m = 1e6 / lines
    shards = [s.proc.pid for s in pair.shards if s.proc is not None]
    plain = servers.start_logcaster(sys.executable, src, ["-c", str(lines)], work / "plain.err")
    try:
        proto.wait_stats(plain.query_port, time.monotonic() + 120)
        cpu0 = cpu_s([plain.proc.pid])
        t0 = time.perf_counter()
        send_all(plain.ingest_port, payload)
        while proto.stats(plain.query_port).total < lines:
            time.sleep(0.002)
        out["ingest_plain_lps"] = lines / (time.perf_counter() - t0)
        out["node_plain_cpu_s_per_m"] = (cpu_s([plain.proc.pid]) - cpu0) * per_m
    finally:
        servers.kill(plain.proc, 5.0)
    extra = store_args(pair, work, table, compression, lines)
    stored = servers.start_logcaster(sys.executable, src, extra, work / "store.err")
    try:
        proto.wait_stats(stored.query_port, time.monotonic() + 120)
        node0, ch0, all0 = cpu_s([stored.proc.pid]), cpu_s(shards), machine_cpu_s()
        t0 = time.perf_counter()
        send_all(stored.ingest_port, payload)
        while proto.stats(stored.query_port).total < lines:
            time.sleep(0.002)
        out["ingest_store_lps"] = lines / (time.perf_counter() - t0)
        while int(info(stored.query_port)["StoreRowsSent"]) < lines:
            time.sleep(0.01)
        out["into_clickhouse_lps"] = lines / (time.perf_counter() - t0)
        out["node_store_cpu_s_per_m"] = (cpu_s([stored.proc.pid]) - node0) * per_m
        out["clickhouse_cpu_s_per_m"] = (cpu_s(shards) - ch0) * per_m
        # The machine's busy CPU over the same time, per million lines: what the
        # node and the servers did not use went to other work on the machine.
        out["machine_cpu_s_per_m"] = (machine_cpu_s() - all0) * per_m
    finally:
        servers.kill(stored.proc, 10.0)
    out["ingest_ratio"] = out["ingest_store_lps"] / out["ingest_plain_lps"]
    out["load_after"] = load()
    return out


def query_phase(
    pair: Pair,
    work: Path,
    lines: int,
    table: str,
    runs: int,
    compression: str,
    keywords: list[str],
) -> dict[str, object]:
    """``lines`` lines into ClickHouse through a node, then the same keyword search
    through ``scope=cluster`` and through clickhouse-client, alternating, full reads."""
    src = HERE.parent / "src"
    extra = store_args(pair, work, table, compression, 1_000_000)
    node = servers.start_logcaster(sys.executable, src, extra, work / "query.err")
    try:
        proto.wait_stats(node.query_port, time.monotonic() + 120)
        step = 1_000_000
        for start in range(0, lines, step):
            n = min(step, lines - start)
            send_all(node.ingest_port, ("\n".join(workload.generate_lines(n)) + "\n").encode())
            while int(info(node.query_port)["StoreRowsSent"]) < start + n:
                time.sleep(0.05)
        results = {kw: time_keyword(pair, node, table, kw, runs) for kw in keywords}
    finally:
        servers.kill(node.proc, 10.0)
    return {"lines": lines, "keywords": results}


def time_keyword(
    pair: Pair, node: servers.Server, table: str, keyword: str, runs: int
) -> dict[str, object]:
    """One keyword search through the node and through clickhouse-client, alternating."""
    sql = (
        f"SELECT ts, line FROM default.{table} WHERE position(line, '{keyword}') > 0 "
        "ORDER BY ts ASC, batch ASC, seq ASC FORMAT TabSeparated"
    )
    client = ["clickhouse-client", "--port", str(pair.shards[0].tcp), "--query", sql]
    ours: list[float] = []
    theirs: list[float] = []
    loads: list[float] = []
    matches = rows = 0
    for _ in range(runs):
        loads.append(load())
        t = time.perf_counter()
        reply = proto.request_counted(node.query_port, f"QUERY scope=cluster keywords={keyword}")
        ours.append(time.perf_counter() - t)
        matches = proto.found_count(reply.head) or 0
        t = time.perf_counter()
        done = subprocess.run(client, stdout=subprocess.PIPE, check=True)
        theirs.append(time.perf_counter() - t)
        rows = done.stdout.count(b"\n")
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return {
        "matches": matches,
        "clickhouse_client_rows": rows,
        "cluster_query_ms": [round(x * 1000, 1) for x in ours],
        "clickhouse_client_ms": [round(x * 1000, 1) for x in theirs],
        "loads": loads,
        "median_cluster_query_ms": statistics.median(ours) * 1000,
        "median_clickhouse_client_ms": statistics.median(theirs) * 1000,
        "median_query_ratio": statistics.median(ratios),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines",
        type=int,
        default=3_000_000,
        help="lines per ingest round (the last partial batch waits up to --store-batch-ms "
        "for more lines: over 1M lines that wait is a third of the time into ClickHouse)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--query-lines", type=int, default=10_000_000)
    parser.add_argument("--query-runs", type=int, default=7)
    parser.add_argument("--compression", choices=("lz4", "none"), default="lz4")
    parser.add_argument(
        "--keywords", default="FATAL,ERROR", help="the searches timed (0.05%% and 5%% of lines)"
    )
    parser.add_argument(
        "--clickhouse-nice",
        type=int,
        default=10,
        help="run the ClickHouse servers under nice N (they share the node's cores here)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    payload = ("\n".join(workload.generate_lines(args.lines)) + "\n").encode()
    report: dict[str, object] = {
        "compression": args.compression,
        "cpus": os.cpu_count(),
        "clickhouse_nice": args.clickhouse_nice,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pair = Pair.start(work / "clickhouse", nice=args.clickhouse_nice)
        try:
            rounds = [
                ingest_round(pair, work, payload, args.lines, f"bench{i}", args.compression)
                for i in range(args.rounds)
            ]
            query = (
                query_phase(
                    pair,
                    work,
                    args.query_lines,
                    "benchq",
                    args.query_runs,
                    args.compression,
                    args.keywords.split(","),
                )
                if args.query_lines
                else None
            )
        finally:
            pair.stop()
            servers.kill_all()
    medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    for key, value in medians.items():
        print(f"{key:28} {value:14,.2f}")
    if query is not None:
        for keyword, result in query["keywords"].items():  # type: ignore[attr-defined]
            for key in ("matches", "median_cluster_query_ms", "median_query_ratio"):
                print(f"{keyword + ' ' + key:28} {result[key]:14,.3f}")
    report |= {"lines": args.lines, "rounds": rounds, "medians": medians, "query": query}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "clickhouse.json" if args.compression == "lz4" else f"clickhouse-{args.compression}.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
