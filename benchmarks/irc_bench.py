"""IRC: do IRC clients in ``#logs-all`` slow ingest down, and does one that never
reads cost memory?

    python benchmarks/irc_bench.py [--quick] [--rounds N] [--clients N] [--out PATH]

A benchmark, not a timed test: it prints numbers, it does not pass or fail.

Each run starts a fresh server (``python -m logcaster serve --host 127.0.0.1 -p 0
-q 0 --http-port off -i -I 0``, ports parsed from its startup line) and sends the
same payload of ~100-byte lines from 2 sender processes (one connection each, the
payload sent ``repeats`` times), the clock stopped when ``STATS Total`` has grown
by the lines sent. One untimed warm-up pass first. The conditions:

* ``none``: no IRC client.
* ``readers``: ``--clients`` (100) IRC clients registered and joined to
  ``#logs-all`` before the clock starts, all read by one thread of this process
  (``selectors``), which counts their PRIVMSG lines and ``... N lines skipped``
  notices.
* ``stalled``: one IRC client in ``#logs-all`` with ``SO_RCVBUF`` 4096 that never
  reads during the timed pass. Server RSS is read before and after the pass;
  afterwards the client reads and must find a skip notice.

Results: medians over the rounds with ratios to ``none`` of throughput and of the
server's CPU seconds per GB ingested (steadier than throughput on a shared
machine: it does not count time spent waiting for a core), the IRC counters
(``IrcLinesSent``, ``IrcLinesSkipped``) and ``results/irc.json``. The readers'
thread competes with the server and the senders for the machine's cores.
Loopback only; every wait has a deadline; processes and sockets are closed in
``finally`` blocks.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOST = "127.0.0.1"
BANNER = re.compile(r"ingest \S+:(\d+), query \S+:(\d+).*, irc \S+:(\d+)")
INFO_RE = re.compile(rb"^(\w+)=(\S+)$", re.MULTILINE)
SKIPPED = re.compile(rb"NOTICE #logs-all :\.\.\. (\d+) lines skipped")
SENDERS = 2


def payload(lines: int) -> bytes:
    return b"".join(
        b"2026-12-01T12:00:00Z host%02d app[%d]: INFO req=%07d took %03dms path=/api/v1/items\n"
        % (i % 50, i % 997, i, i % 1000)
        for i in range(lines)
    )


def request(port: int, command: str) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(command.encode() + b"\n")
        parts = []
        while chunk := sock.recv(1 << 16):
            parts.append(chunk)
    return b"".join(parts)


def info(port: int) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in INFO_RE.findall(request(port, "INFO"))}


def total(port: int) -> int:
    return int(re.search(rb"Total=(\d+)", request(port, "STATS")).group(1))  # type: ignore[union-attr]


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    ingest: int
    query: int
    irc: int

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def start_server() -> Server:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "logcaster", "serve", "--host", HOST, "-p", "0", "-q", "0"]
    cmd += ["--http-port", "off", "-i", "-I", "0", "--query-timeout", "600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        m = BANNER.search(line)
        if m:
            return Server(proc, int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the server printed no startup line with an IRC port")


def send_slice(port: int, data: bytes, repeats: int) -> None:
    with socket.create_connection((HOST, port), timeout=60) as sock:
        for _ in range(repeats):
            sock.sendall(data)


def ingest(srv: Server, data: bytes, repeats: int, timeout: float) -> float:
    """Seconds to send and store ``data`` x ``repeats`` from SENDERS processes."""
    lines = data.count(b"\n")
    share = lines // SENDERS
    cuts = [0]
    pos = 0
    for _ in range(SENDERS - 1):
        for _ in range(share):
            pos = data.index(b"\n", pos) + 1
        cuts.append(pos)
    cuts.append(len(data))
    start_total = total(srv.query)
    t0 = time.monotonic()
    procs = [
        multiprocessing.Process(
            target=send_slice, args=(srv.ingest, data[cuts[i] : cuts[i + 1]], repeats)
        )
        for i in range(SENDERS)
    ]
    for p in procs:
        p.start()
    try:
        target = start_total + lines * repeats
        while total(srv.query) < target:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("ingest did not finish in time")
            time.sleep(0.005)
        return time.monotonic() - t0
    finally:
        for p in procs:
            p.join(timeout)
            if p.is_alive():
                p.kill()


def irc_client(port: int, nick: str, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((HOST, port))
    sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :bench\r\nJOIN #logs-all\r\n".encode())
    got = b""
    while b" 366 " not in got:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"{nick}: closed before joining: {got[-200:]!r}")
        got += chunk
    return sock


@dataclass
class Readers:
    socks: list[socket.socket]
    lines: int = 0
    skipped: int = 0
    notices: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        carry: dict[int, bytes] = {}
        for s in self.socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in sel.select(0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = sock.recv(1 << 18)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(sock)
                    continue
                data = carry.get(sock.fileno(), b"") + chunk
                cut = data.rfind(b"\n") + 1
                carry[sock.fileno()] = data[cut:]
                done = data[:cut]
                self.lines += done.count(b" PRIVMSG #logs-all :")
                for m in SKIPPED.finditer(done):
                    self.notices += 1
                    self.skipped += int(m.group(1))
        sel.close()


def run_condition(name: str, args: argparse.Namespace, data: bytes) -> dict[str, object]:
    srv = start_server()
    socks: list[socket.socket] = []
    result: dict[str, object] = {"condition": name}
    readers: Readers | None = None
    thread: threading.Thread | None = None
    try:
        ingest(srv, data, 1, args.timeout)  # warm-up
        if name == "readers":
            socks = [irc_client(srv.irc, f"r{i}") for i in range(args.clients)]
            readers = Readers(socks)
            thread = threading.Thread(target=readers.run, daemon=True)
            thread.start()
        elif name == "stalled":
            socks = [irc_client(srv.irc, "stalled", rcvbuf=4096)]
        before = rss(srv.proc.pid)
        cpu0 = cpu_seconds(srv.proc.pid)
        seconds = ingest(srv, data, args.repeats, args.timeout)
        cpu = cpu_seconds(srv.proc.pid) - cpu0
        after = rss(srv.proc.pid)
        lines = data.count(b"\n") * args.repeats
        result.update(
            seconds=round(seconds, 3),
            lines_per_s=round(lines / seconds),
            mb_per_s=round(len(data) * args.repeats / seconds / 1e6, 1),
            server_cpu_s_per_gb=round(cpu / (len(data) * args.repeats / 1e9), 3),
            rss_before=before,
            rss_after=after,
        )
        counters = info(srv.query)
        result["IrcLinesSent"] = int(counters.get("IrcLinesSent", 0))
        result["IrcLinesSkipped"] = int(counters.get("IrcLinesSkipped", 0))
        if readers is not None and thread is not None:
            time.sleep(1.5)  # let the readers take what is queued and the notices
            readers.stop.set()
            thread.join(10)
            result.update(
                reader_lines=readers.lines,
                reader_notices=readers.notices,
                reader_skipped=readers.skipped,
            )
        if name == "stalled":
            sock = socks[0]
            sock.settimeout(0.5)
            got = b""
            deadline = time.monotonic() + 15
            while not SKIPPED.search(got) and time.monotonic() < deadline:
                try:
                    got += sock.recv(1 << 18)
                except TimeoutError:
                    continue
            m = SKIPPED.search(got)
            result["stalled_notice_skipped"] = int(m.group(1)) if m else None
    finally:
        for s in socks:
            s.close()
        srv.stop()
    return result


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "irc.json")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.repeats = 2 if args.quick else 10
    args.timeout = 120.0
    data = payload(200_000 if args.quick else 500_000)
    runs: list[dict[str, object]] = []
    for r in range(args.rounds):
        for name in ("none", "readers", "stalled"):
            res = run_condition(name, args, data)
            res["round"] = r
            runs.append(res)
            print(json.dumps(res), flush=True)
    base = statistics.median(float(x["lines_per_s"]) for x in runs if x["condition"] == "none")  # type: ignore[arg-type]
    cpu_base = statistics.median(
        float(x["server_cpu_s_per_gb"])  # type: ignore[arg-type]
        for x in runs
        if x["condition"] == "none"
    )
    print(
        f"\n{'condition':<10} {'lines/s':>12} {'MB/s':>8} {'ratio':>6} "
        f"{'CPU s/GB':>9} {'ratio':>6}  IRC sent/skipped"
    )
    for name in ("none", "readers", "stalled"):
        mine = [x for x in runs if x["condition"] == name]
        lps = statistics.median(float(x["lines_per_s"]) for x in mine)  # type: ignore[arg-type]
        mbs = statistics.median(float(x["mb_per_s"]) for x in mine)  # type: ignore[arg-type]
        sent = statistics.median(int(x["IrcLinesSent"]) for x in mine)  # type: ignore[call-overload]
        skip = statistics.median(int(x["IrcLinesSkipped"]) for x in mine)  # type: ignore[call-overload]
        cpu = statistics.median(float(x["server_cpu_s_per_gb"]) for x in mine)  # type: ignore[arg-type]
        print(
            f"{name:<10} {lps:>12,.0f} {mbs:>8.1f} {lps / base:>6.2f} "
            f"{cpu:>9.3f} {cpu / cpu_base:>6.2f}  {sent:,.0f}/{skip:,.0f}"
        )
    for name in ("none", "readers", "stalled"):
        grows = [
            (int(x["rss_after"]) - int(x["rss_before"])) / 1e6
            for x in runs
            if x["condition"] == name
        ]  # type: ignore[call-overload]
        print(f"{name}: server RSS growth over the timed pass, MB: {[round(g, 1) for g in grows]}")
    notices = [x["stalled_notice_skipped"] for x in runs if x["condition"] == "stalled"]
    print(f"stalled client's first skip notice after the pass, lines: {notices}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"clients": args.clients, "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
