"""Syslog ingest speed: octet-counted TCP, with and without ``-P``, and paced UDP.

    python benchmarks/syslog_bench.py octet   [--rounds 5] [--lines 1000000] [--clients 4]
    python benchmarks/syslog_bench.py persist [--rounds 3] [--lines 2000000] [--clients 4]
    python benchmarks/syslog_bench.py udp     [--rounds 3] [--rate 100000] [--seconds 5]

Every mode uses the same RFC 5424 messages (~150 bytes, ``<PRI>1 TIMESTAMP HOST
APP PROCID MSGID - req=NNNNNNN ...``), generated from a fixed seed.

* ``octet``: LogCaster in memory (no ``-P``) receives the messages from
  ``--clients`` connections once as plain newline-terminated lines and once as
  RFC 6587 octet-counted frames (``LEN SP MSG``), a fresh server each time, in
  alternating order. The clock starts when every client is connected and
  released together and stops when STATS ``Total`` reaches the number sent.
  The figure is the median over the rounds of octet bytes/s / plain bytes/s
  (bytes as sent, so the frames' counts are counted in their favour too; the
  lines/s ratio is printed beside it).
* ``persist``: the octet-counted stream to LogCaster ``-P`` (``--fsync-ms 1000``,
  its default) and to rsyslog in its fastest file configuration (see
  :data:`RSYSLOG_CONFIG`), with ``persist_bench.py``'s runner: fresh server
  and directory per run, clock stopped when every line is written, files
  checked line by line afterwards (lost, exact, reorder).
* ``udp``: a separate process sends the messages as datagrams to LogCaster's
  UDP port, paced at ``--rate`` per second (in 1 ms slots) for ``--seconds``;
  then ``Total`` (once it stops moving) is compared with the number sent, and
  INFO's ``UdpDropped`` (the kernel's count for the socket) is reported.

Results: a table per mode and ``results/syslog.json`` (each mode's section is
replaced, the others kept). Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

import loadgen
import persist_bench
import proto
import servers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results" / "syslog.json"
POLL_S = 0.002
DEPS = REPO / ".deps"
UDP_RE = re.compile(r"LogCaster listening: ingest \S+:(\d+), query \S+:(\d+), udp \S+:(\d+)")
INFO_RE = re.compile(rb"(UdpDatagrams|UdpDropped|UdpRcvbuf)=(\d+)")

# rsyslog's fastest documented way to a file: imtcp (which detects octet-counted
# framing by itself; 8.2302's imtcp has no receive-buffer parameter), the message
# as received (%rawmsg%), omfile with asynchronous writing and a 1 MiB buffer,
# flushed once a second rather than after every batch. (A larger main queue or
# dequeue batch measured no faster here; the defaults are kept.)
RSYSLOG_CONFIG = """\
# LogCaster syslog benchmark: octet-counted TCP in, one message per line out.
global(workDirectory="{work}" processInternalMessages="on")
module(load="imtcp")
template(name="rawline" type="string" string="%rawmsg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="rawline" asyncWriting="on"
         ioBufferSize="1m" flushOnTXEnd="off" flushInterval="1")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
"""


# --------------------------------------------------------------------------- messages


def make_messages(count: int, seed: int = 11) -> list[bytes]:
    """RFC 5424 messages of ~150 bytes; message i carries ``req=i`` (7 digits)."""
    rng = random.Random(seed)
    hosts = [f"web-{i:02d}.eu-west.example.net" for i in range(24)]
    apps = ["nginx", "payments", "auth-svc", "cron", "orders", "search-api"]
    actions = ["GET /api/v1/items", "POST /api/v1/orders", "GET /healthz", "PUT /api/v1/users"]
    out = []
    for i in range(count):
        pri = rng.choice((134, 131, 30, 86, 14, 11))
        stamp = f"2026-12-03T17:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z"
        msg = (
            f"<{pri}>1 {stamp} {rng.choice(hosts)} {rng.choice(apps)} {rng.randrange(100, 65000)}"
            f" ID{rng.randrange(10, 99)} - req={i:07d} {rng.choice(actions)}/{rng.randrange(10**6)}"
            f" status={rng.choice((200, 200, 201, 404, 500))} ms={rng.randrange(1, 900)}"
            f" bytes={rng.randrange(100, 99999)} ua=curl/8.{rng.randrange(10)}"
        )
        out.append(msg.encode())
    return out


def octet_frame(msg: bytes) -> bytes:
    return b"%d %s" % (len(msg), msg)


def write_payloads(workdir: Path, count: int) -> tuple[list[bytes], Path, Path]:
    msgs = make_messages(count)
    plain, octet = workdir / "plain.log", workdir / "octet.log"
    plain.write_bytes(b"".join(m + b"\n" for m in msgs))
    octet.write_bytes(b"".join(map(octet_frame, msgs)))
    return msgs, plain, octet


def frame_bounds(data: bytes) -> list[int]:
    """Byte offset of every frame of an octet-counted payload, and its end."""
    bounds, pos = [0], 0
    while pos < len(data):
        sp = data.index(b" ", pos)
        pos = sp + 1 + int(data[pos:sp])
        bounds.append(pos)
    return bounds


def split_frames_evenly(data: bytes, parts: int) -> tuple[list[memoryview], list[int]]:
    """``parts`` slices of whole frames, and the index of each slice's first frame."""
    bounds = frame_bounds(data)
    n = len(bounds) - 1
    firsts = [n * i // parts for i in range(parts)] + [n]
    view = memoryview(data)
    slices = [view[bounds[a] : bounds[b]] for a, b in itertools.pairwise(firsts)]
    return slices, firsts


# --------------------------------------------------------------------------- sender


def send_main(argv: list[str]) -> int:
    """The TCP load generator process: N clients, each its slice once; prints JSON."""
    parser = argparse.ArgumentParser(prog="syslog_bench.py _send")
    parser.add_argument("--payload", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--framing", choices=("plain", "octet"), required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    payload = Path(args.payload).read_bytes()
    if args.framing == "octet":
        slices = split_frames_evenly(payload, args.clients)[0]
    else:
        slices = loadgen.split_payload(payload, args.clients)
    started: list[float] = []  # the clock starts as the barrier releases, in its action
    barrier = threading.Barrier(len(slices) + 1, action=lambda: started.append(time.monotonic()))
    results = [loadgen.SenderResult() for _ in slices]
    threads = [
        threading.Thread(
            target=loadgen.send_slice,
            args=(args.port, part, 1, barrier, args.timeout, res),
            daemon=True,
        )
        for part, res in zip(slices, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    t0: float | None = None
    errors: list[str] = []
    try:
        barrier.wait(args.timeout)
        t0 = started[0]
    except threading.BrokenBarrierError:
        errors.append("clients could not all connect")
    end = time.monotonic() + args.timeout
    for thread in threads:
        thread.join(max(end - time.monotonic(), 0.0))
    errors += [r.error for r in results if r.error]
    done = max((r.finished for r in results), default=None)
    print(json.dumps({"t0": t0, "senders_done": done, "errors": errors[:5]}), flush=True)
    return 0


def sender_cmd(payload: Path, port: int, clients: int, framing: str, timeout: float) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_send", "--payload", str(payload)]
    cmd += ["--port", str(port), "--clients", str(clients), "--framing", framing]
    return [*cmd, "--timeout", str(timeout)]


def udp_send_main(argv: list[str]) -> int:
    """The UDP load generator: datagrams paced in 1 ms slots; prints JSON."""
    parser = argparse.ArgumentParser(prog="syslog_bench.py _udp")
    parser.add_argument("--payload", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    msgs = Path(args.payload).read_bytes().split(b"\n")[:-1]
    total = int(args.rate * args.seconds)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((proto.HOST, args.port))
    send = sock.send
    sent = errors = 0
    slot = 0.001
    t0 = time.monotonic()
    while sent < total:
        due = min(int((time.monotonic() - t0) * args.rate) + 1, total)
        while sent < due:
            try:
                send(msgs[sent % len(msgs)])
            except OSError:  # ECONNREFUSED from an earlier ICMP, ENOBUFS: counted, not retried
                errors += 1
            sent += 1
        wake = t0 + (sent / args.rate) + slot
        delay = wake - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, slot))
    elapsed = time.monotonic() - t0
    print(json.dumps({"sent": sent, "errors": errors, "seconds": elapsed}), flush=True)
    return 0


# --------------------------------------------------------------------------- octet (memory)


def wait_total(query_port: int, goal: int, deadline: float, proc: subprocess.Popen[bytes]) -> float:
    while (now := time.monotonic()) < deadline:
        if proto.stats(query_port).total >= goal:
            return now
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        time.sleep(POLL_S)
    raise TimeoutError("Total did not reach the number of messages sent in time")


def memory_run(
    framing: str,
    payload: Path,
    lines: int,
    clients: int,
    workdir: Path,
    timeout: float,
    src: Path = REPO / "src",
) -> dict[str, object]:
    log = workdir / f"server-{framing}.log"
    extra = ["-c", str(lines + 1000), "--max-memory", "4G"]
    server = servers.start_logcaster(sys.executable, src, extra, log)
    try:
        proto.wait_stats(server.query_port, time.monotonic() + 10.0)
        cpu0 = servers.cpu_seconds(server.pid)
        cmd = sender_cmd(payload, server.ingest_port, clients, framing, timeout)
        sender = servers.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            done = wait_total(server.query_port, lines, time.monotonic() + timeout, server.proc)
            cpu = servers.cpu_seconds(server.pid) - cpu0
            out, _ = sender.communicate(timeout=timeout)
        finally:
            servers.kill(sender)
        report = json.loads(out.decode().strip().splitlines()[-1])
        total = server.stats().total
    finally:
        server.stop()
    if report["t0"] is None or report["errors"]:
        raise RuntimeError(f"sender failed: {report['errors']}")
    seconds = done - report["t0"]
    nbytes = payload.stat().st_size
    return {
        "framing": framing,
        "seconds": seconds,
        "bytes_per_s": nbytes / seconds,
        "lines_per_s": lines / seconds,
        "total": total,
        "server_cpu_s": cpu,
    }


def bench_octet(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    msgs, plain, octet = write_payloads(workdir, args.lines or 3_000_000)
    lines = len(msgs)
    runs: list[dict[str, object]] = []
    ratios: list[float] = []
    line_ratios: list[float] = []
    for round_no in range(args.rounds):
        order = ("plain", "octet") if round_no % 2 == 0 else ("octet", "plain")
        got = {}
        load = os.getloadavg()[0]
        for framing in order:
            path = plain if framing == "plain" else octet
            res = memory_run(framing, path, lines, args.clients, workdir, args.timeout)
            res["round"] = round_no + 1
            res["load1"] = load
            runs.append(res)
            got[framing] = res
            if res["total"] != lines:
                print(f"!!! {framing}: Total {res['total']}, sent {lines}", flush=True)
        if args.compare_src:  # plain lines through another tree: before/after a change
            res = memory_run(
                "plain", plain, lines, args.clients, workdir, args.timeout, args.compare_src
            )
            res.update(round=round_no + 1, load1=load, framing="plain-compare")
            runs.append(res)
            got["plain-compare"] = res
            print(
                f"round {round_no + 1}: plain lines, this tree / {args.compare_src}:"
                f" {float(got['plain']['bytes_per_s']) / float(res['bytes_per_s']):.2f}",  # type: ignore[arg-type]
                flush=True,
            )
        ratio = float(got["octet"]["bytes_per_s"]) / float(got["plain"]["bytes_per_s"])  # type: ignore[arg-type]
        lratio = float(got["octet"]["lines_per_s"]) / float(got["plain"]["lines_per_s"])  # type: ignore[arg-type]
        ratios.append(ratio)
        line_ratios.append(lratio)
        print(
            f"round {round_no + 1}: plain {got['plain']['bytes_per_s'] / 1e6:7.1f} MB/s"  # type: ignore[operator]
            f"  octet {got['octet']['bytes_per_s'] / 1e6:7.1f} MB/s"  # type: ignore[operator]
            f"  octet/plain bytes/s {ratio:.2f} (lines/s {lratio:.2f}); load {load:.2f}",
            flush=True,
        )
    if args.compare_src:
        plain_new = [float(r["bytes_per_s"]) for r in runs if r["framing"] == "plain"]  # type: ignore[arg-type]
        plain_old = [float(r["bytes_per_s"]) for r in runs if r["framing"] == "plain-compare"]  # type: ignore[arg-type]
        compare = statistics.median(a / b for a, b in zip(plain_new, plain_old, strict=True))
        print(f"plain lines, this tree / {args.compare_src} (median): {compare:.2f}")
    summary = {
        "compare_src": str(args.compare_src) if args.compare_src else None,
        "median_plain_ratio_vs_compare_src": compare if args.compare_src else None,
        "lines": lines,
        "clients": args.clients,
        "plain_bytes": plain.stat().st_size,
        "octet_bytes": octet.stat().st_size,
        "median_plain_mb_per_s": statistics.median(
            float(r["bytes_per_s"]) / 1e6
            for r in runs
            if r["framing"] == "plain"  # type: ignore[arg-type]
        ),
        "median_octet_mb_per_s": statistics.median(
            float(r["bytes_per_s"]) / 1e6
            for r in runs
            if r["framing"] == "octet"  # type: ignore[arg-type]
        ),
        "median_ratio_bytes": statistics.median(ratios),
        "median_ratio_lines": statistics.median(line_ratios),
        "load1": [r["load1"] for r in runs if r["framing"] == "plain"],
        "runs": runs,
    }
    print(
        f"octet/plain (median of {args.rounds}): bytes/s {summary['median_ratio_bytes']:.2f},"
        f" lines/s {summary['median_ratio_lines']:.2f}"
    )
    return summary


# --------------------------------------------------------------------------- persist


class OctetPayload(persist_bench.Payload):
    """persist_bench's payload, sent as frames; the files hold one message per line."""

    firsts: dict[int, list[int]]

    def client_bounds(self, clients: int) -> list[int]:
        return split_frames_evenly(self.path.read_bytes(), clients)[1]


def deps_rsyslog() -> persist_bench.Daemon:
    """rsyslog unpacked under .deps (scripts/install-test-deps), else the machine's."""
    root = DEPS / "rsyslog"
    binary = root / "usr/sbin/rsyslogd"
    if not binary.exists():
        return persist_bench.get_rsyslog(
            persist_bench.PackageFetcher(Path(tempfile.mkdtemp())), False
        )
    libs = [root / "usr/lib/x86_64-linux-gnu", root / "lib/x86_64-linux-gnu"]
    env = {"LD_LIBRARY_PATH": ":".join(map(str, libs))}
    version = persist_bench._version([str(binary), "-v"], env)
    module_dir = root / "usr/lib/x86_64-linux-gnu/rsyslog"
    return persist_bench.Daemon("rsyslog", binary, version, f"unpacked in {root}", env, module_dir)


def rsyslog_config(port: int, out: Path, work: Path) -> str:
    return RSYSLOG_CONFIG.format(port=port, out=out, work=work)


def bench_persist(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    msgs, plain, octet = write_payloads(workdir, args.lines or 2_000_000)
    size = plain.stat().st_size  # what the files hold: one message per line
    payloads = {
        "octet": OctetPayload(octet, size, msgs),
        "plain": persist_bench.Payload(plain, size, msgs),
    }
    # persist_bench's runner, with this sender (frames or lines, by the payload's file)
    # and rsyslog's fastest configuration.
    persist_bench.rsyslog_config = rsyslog_config
    persist_bench.sender_cmd = lambda path, port, clients, timeout: sender_cmd(
        path, port, clients, "octet" if path == octet else "plain", timeout
    )
    settings = persist_bench.Settings(
        rounds=args.rounds,
        quick=False,
        clients=(args.clients,),
        lines=len(msgs),
        run_timeout_s=args.timeout,
        stall_s=10.0,
        private_daemons=False,
    )
    targets = [
        persist_bench.Target("LogCaster -P fsync-ms 1000", "logcaster", "fsync every 1000 ms"),
        persist_bench.Target("rsyslog imtcp>omfile async 1m", "rsyslog", "omfile: no fsync"),
        # Both again on the same messages as plain lines: what the framing costs each.
        persist_bench.Target(
            "LogCaster -P, plain lines (ref.)", "logcaster", "fsync every 1000 ms"
        ),
        persist_bench.Target("rsyslog, plain lines (ref.)", "rsyslog", "omfile: no fsync"),
    ]
    framing = {t.label: "octet" if i < 2 else "plain" for i, t in enumerate(targets)}
    daemon = deps_rsyslog()
    print(f"rsyslog: {daemon.version}; {daemon.origin}", flush=True)
    results: list[persist_bench.RunResult] = []
    loads: list[float] = []
    for round_no in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for target in targets if round_no % 2 == 0 else targets[::-1]:
            payload = payloads[framing[target.label]]
            res = persist_bench.run_once(target, daemon, args.clients, payload, settings, workdir)
            results.append(res)
            rate = persist_bench.fmt(res.lines_per_s, ",.0f")
            print(
                f"round {round_no + 1} {target.label}: {rate} lines/s, lost {res.lines_lost},"
                f" exact {res.exact}, reorder {res.out_of_order}; load {loads[-1]:.2f}"
                + (f" ({res.problem})" if res.problem else ""),
                flush=True,
            )
    # LC/best within each framing.
    rows = persist_bench.summarize(results, targets[:2], settings)
    rows += persist_bench.summarize(results, targets[2:], settings)
    persist_bench.print_table(rows, {})
    per_round = []
    for round_no in range(args.rounds):
        rate = {r.target: r.lines_per_s for r in results[4 * round_no : 4 * round_no + 4]}
        lc, rs = rate.get(targets[0].label), rate.get(targets[1].label)
        per_round.append(lc / rs if lc and rs else None)
    ratios = [r for r in per_round if r is not None]
    summary = {
        "lines": len(msgs),
        "clients": args.clients,
        "octet_bytes": octet.stat().st_size,
        "rsyslog": {"version": daemon.version, "origin": daemon.origin},
        "rsyslog_config": rsyslog_config(0, Path("OUT"), Path("WORKDIR")),
        "logcaster_config": "serve -P -d DIR --fsync-ms 1000 (defaults otherwise)",
        "load1": loads,
        "ratio_per_round": per_round,
        "median_ratio_lines": statistics.median(ratios) if ratios else None,
        "rows": rows,
        "runs": [r.__dict__ for r in results],
    }
    if ratios:
        print(
            f"LogCaster -P / rsyslog lines/s (median of {len(ratios)}):"
            f" {statistics.median(ratios):.2f}"
        )
    return summary


# --------------------------------------------------------------------------- udp


def info_counters(query_port: int) -> dict[str, int]:
    reply = proto.request(query_port, "INFO", timeout=5.0)
    return {k.decode(): int(v) for k, v in INFO_RE.findall(reply)}


def start_udp_server(workdir: Path, lines: int) -> tuple[subprocess.Popen[bytes], int, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "logcaster", "serve", "--host", "127.0.0.1", "-p", "0"]
    cmd += ["-q", "0", "--http-port", "0", "--udp-port", "0", "-c", str(lines + 1000)]
    with (workdir / "udp-server.log").open("ab") as err:
        proc = servers.spawn(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    try:
        match = servers.LineReader(proc).wait_for(UDP_RE, time.monotonic() + 30.0)
    except BaseException:
        servers.kill(proc)
        raise
    return proc, int(match.group(2)), int(match.group(3))


def udp_run(payload: Path, rate: float, seconds: float, workdir: Path) -> dict[str, object]:
    expected = int(rate * seconds)
    proc, qport, uport = start_udp_server(workdir, expected)
    try:
        proto.wait_stats(qport, time.monotonic() + 10.0)
        load = os.getloadavg()[0]
        cpu0 = servers.cpu_seconds(proc.pid)
        cmd = [sys.executable, str(Path(__file__).resolve()), "_udp", "--payload", str(payload)]
        cmd += ["--port", str(uport), "--rate", str(rate), "--seconds", str(seconds)]
        out = subprocess.run(cmd, capture_output=True, timeout=seconds * 4 + 30, check=True)
        report = json.loads(out.stdout.decode().strip().splitlines()[-1])
        total, last_change, deadline = -1, time.monotonic(), time.monotonic() + 30.0
        while time.monotonic() < deadline:  # until Total stops moving for 0.5 s
            now_total = proto.stats(qport).total
            if now_total != total:
                total, last_change = now_total, time.monotonic()
            elif now_total >= report["sent"] or time.monotonic() - last_change > 0.5:
                break
            time.sleep(0.02)
        cpu = servers.cpu_seconds(proc.pid) - cpu0
        info = info_counters(qport)
    finally:
        servers.kill(proc, 5.0)
    sent = int(report["sent"])
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "send_seconds": report["seconds"],
        "send_errors": report["errors"],
        "stored": total,
        "lost": sent - total,
        "kernel_dropped": info.get("UdpDropped"),
        "datagrams_read": info.get("UdpDatagrams"),
        "rcvbuf": info.get("UdpRcvbuf"),
        "server_cpu_s": cpu,
        "load1": load,
    }


def bench_udp(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    msgs, plain, _ = write_payloads(workdir, 100_000)
    runs = []
    for round_no in range(args.rounds):
        res = udp_run(plain, args.rate, args.seconds, workdir)
        res["round"] = round_no + 1
        runs.append(res)
        print(
            f"round {round_no + 1}: sent {res['sent']:,} in {res['send_seconds']:.2f} s,"
            f" stored {res['stored']:,}, lost {res['lost']:,}, kernel drops"
            f" {res['kernel_dropped']}, server CPU {res['server_cpu_s']:.2f} s;"
            f" load {res['load1']:.2f}",
            flush=True,
        )
    return {
        "rate": args.rate,
        "seconds": args.seconds,
        "message_bytes_mean": sum(map(len, msgs)) / len(msgs),
        "lost_max": max(int(r["lost"]) for r in runs),  # type: ignore[call-overload]
        "runs": runs,
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("octet", "persist", "udp"))
    parser.add_argument("--rounds", type=int, default=0, help="default: octet 5, others 3")
    parser.add_argument("--lines", type=int, default=0, help="messages per TCP run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100_000.0, help="udp: datagrams/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="udp: seconds of sending")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--compare-src", type=Path, help="octet: also time plain lines with this src/ tree"
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (5 if args.mode == "octet" else 3)
    return args


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_send"]:
        return send_main(argv[1:])
    if argv[:1] == ["_udp"]:
        return udp_send_main(argv[1:])
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="syslog-bench-"))
    started = time.monotonic()
    try:
        bench = {"octet": bench_octet, "persist": bench_persist, "udp": bench_udp}[args.mode]
        section = bench(args, workdir)
    finally:
        servers.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
    report: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        report = json.loads(args.out.read_text())
    report[args.mode] = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "os": platform.platform(),
        },
        **section,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
