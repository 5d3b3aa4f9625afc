"""What ``logger.info()`` costs an application with LogCasterHandler attached, against
``logging.NullHandler`` and ``logging.handlers.SocketHandler``, and how many records per
second LogCasterHandler delivers to a LogCaster server.

Per call: median and p99 of ``logger.info("... %d", i, extra={...})`` over N calls (each
timed with perf_counter_ns), on one thread. Delivered: N records from the first call
until the server's Total counts them all. SocketHandler sends to a local reader thread
that discards what it reads (its own wire format is pickles, not lines).

    python benchmarks/handler_bench.py            # N = 200 000, ~30 s
    python benchmarks/handler_bench.py --quick    # N = 20 000
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import proto
from servers import kill_all, start_logcaster

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from logcaster.handler import LogCasterHandler  # noqa: E402


def time_calls(handler: logging.Handler, n: int) -> list[int]:
    logger = logging.getLogger(f"bench.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    costs = [0] * n
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        logger.info("request %d served in %d ms", i, i % 97, extra={"user_id": i % 1000})
        costs[i] = clock() - t0
    logger.removeHandler(handler)
    return costs


def summary(costs: list[int]) -> dict[str, float]:
    ordered = sorted(costs)
    return {
        "median_us": round(statistics.median(ordered) / 1000, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 1),
    }


def discarding_reader() -> tuple[int, threading.Thread]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def read() -> None:
        conn, _ = lsock.accept()
        with conn:
            while conn.recv(1 << 16):
                pass
        lsock.close()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return lsock.getsockname()[1], t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000, help="calls per handler (default: 200000)")
    ap.add_argument("--quick", action="store_true", help="n = 20000")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.n
    results: dict[str, object] = {"calls": n}
    try:
        results["NullHandler"] = summary(time_calls(logging.NullHandler(), n))

        port, reader = discarding_reader()
        sock_handler = logging.handlers.SocketHandler("127.0.0.1", port)
        results["SocketHandler"] = summary(time_calls(sock_handler, n))
        sock_handler.close()
        reader.join(30)

        with tempfile.TemporaryDirectory() as tmp:
            server = start_logcaster(sys.executable, REPO / "src", [], Path(tmp) / "server.log")
            handler = LogCasterHandler("127.0.0.1", server.ingest_port, queue_size=n)
            t0 = time.perf_counter()
            costs = time_calls(handler, n)
            emitted = time.perf_counter() - t0
            deadline = time.monotonic() + 120
            while proto.stats(server.query_port).total < n and time.monotonic() < deadline:
                time.sleep(0.05)
            delivered = time.perf_counter() - t0
            total = proto.stats(server.query_port).total
            handler.close()
            server.stop()
        results["LogCasterHandler"] = {
            **summary(costs),
            "dropped": handler.dropped,
            "delivered": total,
            "calls_per_s": round(n / emitted),
            "delivered_records_per_s": round(total / delivered),
        }
    finally:
        kill_all()
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
