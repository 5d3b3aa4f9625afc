"""FOLLOW: does a stalled follower reduce ingest throughput?

    python benchmarks/follow_bench.py [--quick] [--rounds N] [--out PATH]

A benchmark, not a timed test: it prints numbers, it does not pass or fail.

Every run uses a fresh server
(``python -m logcaster serve --host 127.0.0.1 -p 0 -q 0 --query-timeout 600``,
ports parsed from its stdout by ``servers.start_logcaster``) and the ingest load
of the main suite (``run.py``) at 4 clients: ``loadgen.py ingest`` in its own
process, the same ~104-byte lines (``workload.py``, 1 000 000-line payload, each
client sends its slice 20 times; quick: 300 000 x 2), clock stopped when
``STATS Total`` has grown by the lines sent. One untimed warm-up pass first,
then the timed pass against the same process. The conditions:

* ``none``: no follower.
* ``stalled x1`` / ``stalled x8``: query connections with ``SO_RCVBUF`` set to
  4096 before ``connect``, which send ``FOLLOW`` (no filter: every line
  matches), read ``FOLLOWING`` and never read again. They connect after the
  warm-up pass (``INFO Followers`` must show them before the clock starts) and
  stay open through the timed pass. Once a follower's unsent backlog is over
  the server's bound (1 MiB) new lines are counted in ``FollowSkipped`` and not
  queued; ``--query-timeout 600`` keeps it from being cut (``FollowCut``) during
  the run.
* ``reader 1%``: one follower with ``FOLLOW regex="req=[0-9]{5}00"`` (exactly
  1 % of the payload's lines, whose ``req=`` numbers run 0000000..) that reads
  everything on a thread of this process. Its received lines are compared with
  the number of matching lines sent in the timed pass (counted in the payload
  with Python's ``re``) and with the server's ``FollowSkipped``.

Each run also records ``INFO``'s ``Followers``, ``FollowSkipped`` and
``FollowCut`` after the timed pass. Results: a table of medians over the rounds
(ratios are to the ``none`` median) and ``results/follow.json`` with every
run's raw numbers. The reading follower's thread runs in this process and
competes with the server and the load generator for the machine's cores, as
do the servers' own follower pushes; see benchmarks/README.md on run-to-run
variation (10-20 % on 2 cores).

Loopback only; every wait has a deadline; servers, load generators and
follower sockets are closed in ``finally`` blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import phases
import proto
import report
import servers
import workload

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results" / "follow.json"
CLIENTS = 4
SERVER_ARGS = ("--query-timeout", "600")
STALLED_RCVBUF = 4096
FILTER_REGEX = "req=[0-9]{5}00"  # req= is the line's index in the payload: exactly 1 %
FILTER_COMMAND = f'FOLLOW regex="{FILTER_REGEX}"'
FILTER_RE = re.compile(rb"req=[0-9]{5}00 ")
SKIPPED_RE = re.compile(rb"^\.\.\. (\d+) lines skipped$", re.MULTILINE)
INFO_RE = re.compile(rb"^(Followers|FollowSkipped|FollowCut|Total)=(\d+)$", re.MULTILINE)
CONNECT_TIMEOUT_S = 10.0
SETTLE_S = 2.0  # reading follower: no new bytes this long after ingest completed = done
DRAIN_LIMIT_S = 60.0  # reading follower: at most this long after ingest completed


@dataclass(frozen=True)
class Condition:
    name: str
    stalled: int  # followers that never read
    reader: bool  # one follower with the 1 % filter that reads everything


CONDITIONS = (
    Condition("none", 0, False),
    Condition("stalled x1", 1, False),
    Condition("stalled x8", 8, False),
    Condition("reader 1%", 0, True),
)


@dataclass(frozen=True)
class Settings:
    rounds: int
    quick: bool
    clients: int
    payload_lines: int
    repeats: int
    timeout_s: float


def make_settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    rounds = args.rounds or (1 if quick else 3)
    if rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    return Settings(
        rounds=rounds,
        quick=quick,
        clients=CLIENTS,
        payload_lines=300_000 if quick else 1_000_000,
        repeats=2 if quick else 20,
        timeout_s=60.0 if quick else 180.0,
    )


# --------------------------------------------------------------------------- followers


def info_counters(port: int) -> dict[str, int]:
    """``Followers``, ``FollowSkipped``, ``FollowCut`` and ``Total`` from ``INFO``."""
    reply = proto.request(port, "INFO")
    return {m.group(1).decode(): int(m.group(2)) for m in INFO_RE.finditer(reply)}


def open_follower(port: int, command: str, rcvbuf: int | None, deadline: float) -> socket.socket:
    """Connect, send ``command`` and read up to ``FOLLOWING``; return the open socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.connect((proto.HOST, port))
        sock.sendall(command.encode() + b"\n")
        head = b""
        while b"\n" not in head:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(64 - len(head))  # FOLLOWING is 10 bytes; don't read past it
            if not chunk:
                raise RuntimeError(f"{command!r}: server closed before FOLLOWING ({head!r})")
            head += chunk
        if head != b"FOLLOWING\n":
            raise RuntimeError(f"{command!r}: unexpected reply {head[:120]!r}")
    except BaseException:
        sock.close()
        raise
    return sock


def wait_followers(port: int, count: int, deadline: float) -> dict[str, int]:
    """Poll INFO until ``Followers`` equals ``count`` (the server registers after replying)."""
    while True:
        counters = info_counters(port)
        if counters.get("Followers") == count:
            return counters
        if time.monotonic() > deadline:
            raise TimeoutError(f"INFO Followers={counters.get('Followers')}, expected {count}")
        time.sleep(0.01)


@dataclass
class Drain:
    """What the reading follower has received (updated by its thread)."""

    lines: int = 0  # pushed match lines (skip notices excluded)
    off_filter: int = 0  # received lines the filter should not have matched
    notices: int = 0  # ``... n lines skipped`` lines
    notice_skipped: int = 0  # sum of their n
    nbytes: int = 0
    last_data: float = field(default_factory=time.monotonic)
    closed: bool = False
    error: str = ""


def drain(sock: socket.socket, out: Drain, stop: threading.Event) -> None:
    """Read the follower's stream until ``stop`` or the server closes it."""
    carry = b""
    sock.settimeout(0.2)
    try:
        while not stop.is_set():
            try:
                chunk = sock.recv(proto.RECV_SIZE)
            except TimeoutError:
                continue
            if not chunk:
                out.closed = True
                return
            out.nbytes += len(chunk)
            out.last_data = time.monotonic()
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            complete, carry = data[:cut], data[cut:]
            notices = [int(n) for n in SKIPPED_RE.findall(complete)]
            lines = complete.count(b"\n") - len(notices)
            out.notices += len(notices)
            out.notice_skipped += sum(notices)
            out.off_filter += lines - len(FILTER_RE.findall(complete))
            out.lines += lines
    except OSError as exc:
        out.error = f"{type(exc).__name__}: {exc}"


def settle(port: int, drained: Drain, expected: int, deadline: float) -> dict[str, int]:
    """After ingest completed: wait until the reader has everything or goes quiet."""
    while True:
        counters = info_counters(port)
        now = time.monotonic()
        accounted = drained.lines + counters.get("FollowSkipped", 0)
        quiet = now - drained.last_data > SETTLE_S
        if accounted >= expected or quiet or drained.closed or now > deadline:
            return counters
        time.sleep(0.05)


@contextlib.contextmanager
def closing_all(socks: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------- one run


def run_condition(
    cond: Condition, ctx: Context, expected_matches: int, notes: list[str]
) -> dict[str, Any]:
    """Fresh server, untimed warm-up pass, followers, timed pass, INFO."""
    s = ctx.settings
    lines_sent = s.payload_lines * s.repeats
    run: dict[str, Any] = {"condition": cond.name}
    server = servers.start_logcaster(sys.executable, REPO / "src", list(SERVER_ARGS), ctx.log)
    stop = threading.Event()
    reader: threading.Thread | None = None
    with servers.running(server), closing_all([]) as socks:
        warm = phases.ingest(server, ctx.payload, s.clients, s.timeout_s, s.repeats)
        run["warmup_lines_per_s"] = warm["lines_per_s"]
        if not warm["completed"]:
            phases.warn(notes, f"{cond.name}: warm-up incomplete ({warm['errors']})")
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        for _ in range(cond.stalled):
            socks.append(open_follower(server.query_port, "FOLLOW", STALLED_RCVBUF, deadline))
        drained = Drain()
        if cond.reader:
            sock = open_follower(server.query_port, FILTER_COMMAND, None, deadline)
            socks.append(sock)
            reader = threading.Thread(target=drain, args=(sock, drained, stop), daemon=True)
            reader.start()
        before = wait_followers(server.query_port, len(socks), deadline)
        try:
            timed = phases.ingest(server, ctx.payload, s.clients, s.timeout_s, s.repeats)
            if cond.reader:
                limit = time.monotonic() + DRAIN_LIMIT_S
                after = settle(server.query_port, drained, expected_matches, limit)
            else:
                after = info_counters(server.query_port)
        finally:
            stop.set()
            if reader is not None:
                reader.join(5.0)
    ok = bool(timed["completed"]) and timed["final_total"] == lines_sent
    if not ok:
        phases.warn(
            notes,
            f"{cond.name}: timed pass incomplete (total {timed['final_total']} of "
            f"{lines_sent}, {timed['errors']})",
        )
    cpu = phases.per_gb(timed["server_cpu_s"], timed["nbytes"])
    run |= {
        "completed": ok,
        "lines": timed["lines"],
        "bytes": timed["nbytes"],
        "seconds": timed["seconds"],
        "lines_per_s": timed["lines_per_s"] if ok else None,
        "bytes_per_s": timed["bytes_per_s"] if ok else None,
        "server_cpu_s_per_gb": cpu,
        "followers_before": before.get("Followers"),
        "followers": after.get("Followers"),
        "follow_skipped": after.get("FollowSkipped"),
        "follow_cut": after.get("FollowCut"),
    }
    if after.get("FollowCut"):
        phases.warn(notes, f"{cond.name}: FollowCut={after.get('FollowCut')} (expected 0)")
    if after.get("Followers") != len(socks):
        phases.warn(notes, f"{cond.name}: Followers={after.get('Followers')} after the run")
    if cond.reader:
        skipped = after.get("FollowSkipped", 0)
        missing = expected_matches - drained.lines - skipped
        run |= {
            "reader_expected": expected_matches,
            "reader_received": drained.lines,
            "reader_skipped_server": skipped,
            "reader_skip_notices": drained.notices,
            "reader_skipped_noticed": drained.notice_skipped,
            "reader_off_filter": drained.off_filter,
            "reader_bytes": drained.nbytes,
            "reader_missing": missing,
            "reader_error": drained.error,
        }
        if missing or drained.off_filter or drained.error:
            phases.warn(
                notes,
                f"{cond.name}: received {drained.lines} + skipped {skipped} != expected "
                f"{expected_matches} (off-filter {drained.off_filter}, {drained.error or 'ok'})",
            )
    print(progress_line(run), flush=True)
    return run


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def progress_line(run: dict[str, Any]) -> str:
    mbps = None if run["bytes_per_s"] is None else run["bytes_per_s"] / 1e6
    text = (
        f"    {run['condition']:11} {fmt(run['lines_per_s'], ',.0f'):>12} lines/s "
        f"{fmt(mbps, '.1f'):>7} MB/s "
        f"({run['seconds']:.2f} s, server CPU {fmt(run['server_cpu_s_per_gb'], '.2f')} s/GB) "
        f"INFO Followers={run['followers']} FollowSkipped={run['follow_skipped']} "
        f"FollowCut={run['follow_cut']}"
    )
    if "reader_received" in run:
        text += f"; reader got {run['reader_received']:,} of {run['reader_expected']:,}"
    return text


# --------------------------------------------------------------------------- summary


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(rounds: list[list[dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    keys = (
        "lines_per_s",
        "bytes_per_s",
        "seconds",
        "server_cpu_s_per_gb",
        "followers",
        "follow_skipped",
        "follow_cut",
        "reader_expected",
        "reader_received",
        "reader_skipped_server",
        "reader_missing",
    )
    out: dict[str, dict[str, float | None]] = {}
    for cond in CONDITIONS:
        runs = [r for rnd in rounds for r in rnd if r["condition"] == cond.name]
        out[cond.name] = {k: median(runs, k) for k in keys if any(k in r for r in runs)}
    base = out["none"]["lines_per_s"]
    for values in out.values():
        lps = values["lines_per_s"]
        values["ratio"] = None if lps is None or not base else lps / base
    return out


def table(med: dict[str, dict[str, float | None]]) -> str:
    head = (
        f"{'condition':11} {'lines/s':>12} {'MB/s':>7} {'vs none':>7} {'CPU s/GB':>8} "
        f"{'Followers':>9} {'FollowSkipped':>13} {'FollowCut':>9}"
    )
    rows = [head, "-" * len(head)]
    for name, m in med.items():
        mbps = m["bytes_per_s"]
        rows.append(
            f"{name:11} {fmt(m['lines_per_s'], ',.0f'):>12} "
            f"{fmt(None if mbps is None else mbps / 1e6, '.1f'):>7} "
            f"{fmt(m['ratio'], '.3f'):>7} {fmt(m['server_cpu_s_per_gb'], '.2f'):>8} "
            f"{fmt(m['followers'], '.0f'):>9} {fmt(m['follow_skipped'], ',.0f'):>13} "
            f"{fmt(m['follow_cut'], '.0f'):>9}"
        )
    reader = med.get("reader 1%", {})
    if reader.get("reader_expected") is not None:
        rows.append(
            f"reader 1%: received {fmt(reader['reader_received'], ',.0f')} of "
            f"{fmt(reader['reader_expected'], ',.0f')} matching lines sent "
            f"(server FollowSkipped {fmt(reader['reader_skipped_server'], ',.0f')}, "
            f"missing {fmt(reader['reader_missing'], ',.0f')}; medians)"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Context:
    settings: Settings
    payload: Path
    log: Path


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, smaller sizes")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = make_settings(args)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    load = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="logcaster-follow-"))
    notes: list[str] = []
    try:
        payload = workdir / "payload.log"
        size = workload.write_payload(payload, settings.payload_lines)
        expected = len(FILTER_RE.findall(payload.read_bytes())) * settings.repeats
        ctx = Context(settings, payload, workdir / "logcaster.stderr")
        print(
            f"follow bench: {settings.rounds} round(s), {settings.clients} clients, "
            f"{settings.payload_lines * settings.repeats:,} lines per pass "
            f"({settings.payload_lines:,}-line payload, {size / 1e6:.0f} MB, "
            f"x {settings.repeats}); warm-up pass, then the timed one",
            flush=True,
        )
        rounds: list[list[dict[str, Any]]] = []
        for i in range(settings.rounds):
            print(f"  round {i + 1}/{settings.rounds}", flush=True)
            rounds.append([run_condition(c, ctx, expected, notes) for c in CONDITIONS])
        med = summarize(rounds)
        print()
        print(table(med))
        for note in notes:
            print(f"note: {note}")
        document = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_seconds": round(time.monotonic() - started, 1),
            "settings": asdict(settings),
            "server_args": [
                "serve",
                "--host",
                "127.0.0.1",
                "-p",
                "0",
                "-q",
                "0",
                "--http-port",
                "0",
                *SERVER_ARGS,
            ],
            "conditions": [asdict(c) for c in CONDITIONS],
            "stalled_follower": f"SO_RCVBUF={STALLED_RCVBUF} before connect, FOLLOW, never reads",
            "reader_follower": f"{FILTER_COMMAND}, read on a thread of the orchestrator",
            "payload": {"lines": settings.payload_lines, "bytes": size},
            "host": {
                "cpus": len(os.sched_getaffinity(0)),
                "python": platform.python_version(),
                "os": platform.platform(),
                "loadavg_start": [round(x, 2) for x in load],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            },
            "medians": med,
            "rounds": rounds,
            "notes": notes,
        }
        report.write_json(args.out, document)
        print(f"wrote {args.out}")
    finally:
        servers.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
