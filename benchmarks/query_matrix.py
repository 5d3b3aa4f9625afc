"""Query matrix: every query shape against the equivalent grep pipeline (and ripgrep).

Lines of four formats (``matrix_data.py``) are loaded into a real LogCaster server
(a subprocess on 127.0.0.1, ports 0) by one sender, in two halves with a time
mark between them (for the time-range shapes), and written to a file. For each
shape: LogCaster's ``FOUND`` count and the reply's line count, the median time of
``--reps`` full replies read, the median time of the equivalent grep pipeline
(``LC_ALL=C``, stdout read fully, page cache warm), the ratio, and ripgrep's time
when ``rg`` is installed. Every side is read by the same loop into one reused
1 MiB buffer (``proto.count_stream``; a pipeline's pipe is set to 1 MiB too). With
``--reader count`` (the default) the timed runs count the newlines of what they
read, as a client that does something with the lines would; with ``--reader
discard`` they only read, so what is timed is the sender alone (the untimed first
run of each side still counts, for the check). The stamped reply is ~20 % longer
than the lines grep prints, so counting weighs more on LogCaster's side. A count
that differs from grep's (or a FOUND that differs from the lines sent) is printed
as MISMATCH.

Each shape also gets its *floor* (``floor.py``): the time the same reader takes to
read a reply of the same size over loopback TCP from a sender that only sends, a
bound no server can beat. A floor above half of grep's time marks a shape whose
0.5x target is out of reach over TCP with that reader; the summary names them.

    python benchmarks/query_matrix.py            # 1 000 000 lines, 5 reps (~3-6 min)
    python benchmarks/query_matrix.py --quick    # 100 000 lines, 3 reps (smoke run)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matrix_data
import proto
import servers
from floor import Floor

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
GREP_ENV = {**os.environ, "LC_ALL": "C"}


@dataclass(frozen=True)
class Stage:
    mode: str  # "F" literal, "E" extended regex, "iF" case-insensitive literal, "iE"
    pattern: str
    max_count: int | None = None


@dataclass(frozen=True)
class Shape:
    name: str
    query: str  # {mid} is replaced by the time mark between the halves
    stages: tuple[Stage, ...]
    source: str = "file"  # "file", "tac" (newest first), "second" (the second half)
    rg: bool = True


def F(p: str, m: int | None = None) -> Stage:
    return Stage("F", p, m)


def E(p: str, m: int | None = None) -> Stage:
    return Stage("E", p, m)


def iF(p: str) -> Stage:
    return Stage("iF", p)


def iE(p: str) -> Stage:
    return Stage("iE", p)


RX_5XX = "status=5[0-9][0-9] latency_ms=[0-9]{4}"
ERROR = matrix_data.level_grep(("ERROR",))
ERROR_WARN = matrix_data.level_grep(("ERROR", "WARN"))
CRIT = matrix_data.level_grep(("CRITICAL",))
NOTICE_DEBUG = matrix_data.level_grep(("NOTICE", "DEBUG"))
ANCHORED = "^ts=[^ ]+ level=(error|warn) "

SHAPES = (
    Shape("seed keyword=GET (raw)", "QUERY keyword=GET", (F("GET"),)),
    Shape("keywords=GET", "QUERY keywords=GET", (F("GET"),)),
    Shape("keywords=OOMKilled (rare)", "QUERY keywords=OOMKilled", (F("OOMKilled"),)),
    Shape("OR common x common", "QUERY keywords=GET,POST operator=OR", (E("GET|POST"),)),
    Shape("OR common x rare", "QUERY keywords=GET,OOMKilled operator=OR", (E("GET|OOMKilled"),)),
    Shape(
        "OR rare x rare",
        "QUERY keywords=OOMKilled,segfault operator=OR",
        (E("OOMKilled|segfault"),),
    ),
    Shape(
        "OR 3 mixed",
        "QUERY keywords=timeout,refused,OOMKilled operator=OR",
        (E("timeout|refused|OOMKilled"),),
    ),
    Shape(
        "OR 4 common",
        "QUERY keywords=GET,POST,payment,session operator=OR",
        (E("GET|POST|payment|session"),),
    ),
    Shape("AND common x common", "QUERY keywords=GET,status=200", (F("GET"), F("status=200"))),
    Shape(
        "AND common x rare",
        "QUERY keywords=status=200,OOMKilled",
        (F("status=200"), F("OOMKilled")),
    ),
    Shape(
        "AND 3 keywords",
        "QUERY keywords=user=u1,status=200,svc-1",
        (F("user=u1"), F("status=200"), F("svc-1")),
    ),
    Shape(
        "AND 4 keywords",
        "QUERY keywords=GET,status=200,/api/v1,[svc-1",
        (F("GET"), F("status=200"), F("/api/v1"), F("[svc-1")),
    ),
    Shape("level=ERROR", "QUERY level=ERROR", (E(ERROR),)),
    Shape("level=CRITICAL (rare)", "QUERY level=CRITICAL", (E(CRIT),)),
    Shape("level=ERROR,WARN", "QUERY level=ERROR,WARN", (E(ERROR_WARN),)),
    Shape(
        "level=ERROR,WARN order=desc", "QUERY level=ERROR,WARN order=desc", (E(ERROR_WARN),), "tac"
    ),
    Shape(
        "level=NOTICE,DEBUG order=desc",
        "QUERY level=NOTICE,DEBUG order=desc",
        (E(NOTICE_DEBUG),),
        "tac",
    ),
    Shape(
        "level=ERROR keywords=timeout",
        "QUERY level=ERROR keywords=timeout",
        (F("timeout"), E(ERROR)),
    ),
    Shape("regex anchored", f'QUERY regex="{ANCHORED}"', (E(ANCHORED),)),
    Shape("regex anchored syslog PRI", 'QUERY regex="^<1[0-9]>"', (E("^<1[0-9]>"),)),
    Shape("regex unanchored 5xx", f'QUERY regex="{RX_5XX}"', (E(RX_5XX),)),
    Shape("regex alternation", 'QUERY regex="timeout|refused"', (E("timeout|refused"),)),
    Shape("regex (?i) ascii", 'QUERY regex="(?i)timeout to db"', (iF("timeout to db"),)),
    Shape(
        "regex (?i) non-ASCII", 'QUERY regex="(?i)fehlgeschlagen für"', (iF("fehlgeschlagen für"),)
    ),
    Shape(
        "regex (?i) Cyrillic", 'QUERY regex="(?i)ошибка подключения"', (iF("ошибка подключения"),)
    ),
    Shape("regex ^$|OOMKilled", 'QUERY regex="^$|OOMKilled"', (E("^$|OOMKilled"),)),
    Shape(
        "keyword + regex + time",
        'QUERY keywords=GET regex="status=5[0-9][0-9]" time_from={mid}',
        (F("GET"), E("status=5[0-9][0-9]")),
        "second",
    ),
    Shape("time range only", "QUERY time_from={mid}", (), "second"),
    Shape("keywords=GET limit=100", "QUERY keywords=GET limit=100", (F("GET", 100),), "tac"),
    Shape("level=ERROR limit=1000", "QUERY level=ERROR limit=1000", (E(ERROR, 1000),), "tac"),
    Shape("regex 5xx limit=10", f'QUERY regex="{RX_5XX}" limit=10', (E(RX_5XX, 10),), "tac"),
    Shape(
        "keywords=timeout order=desc", "QUERY keywords=timeout order=desc", (F("timeout"),), "tac"
    ),
    Shape("QUERY (every line) vs cat", "QUERY", ()),
)


def pipeline(shape: Shape, path: Path, half: int, tool: str) -> str:
    """The shell pipeline equivalent to ``shape`` with grep or rg."""
    src = shlex.quote(str(path))
    first_from_file = shape.source == "file"
    head = {"file": "", "tac": f"tac {src}", "second": f"tail -n +{half + 1} {src}"}[shape.source]
    parts = [head] if head else []
    if not shape.stages:
        parts = parts or [f"cat {src}"]
    for i, st in enumerate(shape.stages):
        if tool == "grep":
            flags = {"F": "-F", "E": "-E", "iF": "-iF", "iE": "-iE"}[st.mode]
            cmd = f"grep {flags}"
        else:
            flags = {"F": "-F", "E": "", "iF": "-iF", "iE": "-i"}[st.mode]
            cmd = f"rg --no-line-number --no-filename {flags}".rstrip()
        if st.max_count is not None:
            cmd += f" -m {st.max_count}"
        cmd += f" -e {shlex.quote(st.pattern)}"
        if i == 0 and first_from_file:
            cmd += f" {src}"
        parts.append(cmd)
    return " | ".join(parts)


def run_pipeline(cmd: str, count: bool = False) -> tuple[float, int]:
    """(ms, output lines; 0 unless ``count``) of one run of a shell pipeline, stdout
    read fully (the same reading loop as the server's replies: :func:`proto.count_stream`)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, env=GREP_ENV, bufsize=0)
    assert proc.stdout is not None
    with contextlib.suppress(OSError):  # a 1 MiB pipe: fewer wake-ups for the tool
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, proto.RECV_SIZE)
    reply = proto.count_stream(proc.stdout.readinto, count)  # type: ignore[attr-defined]
    proc.wait(120)
    return (time.perf_counter() - t0) * 1000, reply.newlines


def run_query(port: int, query: str, count: bool = False) -> tuple[float, int | None, int, int]:
    """(ms, FOUND count, lines after the FOUND line (0 unless ``count``), bytes) of one
    full reply."""
    t0 = time.perf_counter()
    reply = proto.request_counted(port, query, timeout=120, count=count)
    ms = (time.perf_counter() - t0) * 1000
    return ms, proto.found_count(reply.head), reply.body_lines, reply.nbytes


def send_all(port: int, data: bytes) -> None:
    with socket.create_connection((proto.HOST, port), timeout=60) as sock:
        sock.sendall(data)


def wait_total(port: int, total: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proto.stats(port).total >= total:
            return
        time.sleep(0.01)
    raise TimeoutError(f"server did not reach Total={total}")


def load(ingest: int, port: int, lines: list[bytes], path: Path) -> tuple[int, float]:
    """Send the first half, mark the time, send the second; write the file."""
    half = len(lines) // 2
    first = b"".join(x + b"\n" for x in lines[:half])
    second = b"".join(x + b"\n" for x in lines[half:])
    path.write_bytes(first + second)
    send_all(ingest, first)
    wait_total(port, half)
    # The mark must lie strictly after every first-half receive time: wait for
    # the clock to move on (receive times have ns resolution).
    mark = time.time()
    while time.time() <= mark + 0.001:
        pass
    mid = time.time()
    while time.time() <= mid + 0.001:
        pass
    send_all(ingest, second)
    wait_total(port, len(lines))
    return half, mid


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k lines, 3 reps")
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--only", default=None, help="run shapes whose name contains this")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "query_matrix.json")
    ap.add_argument("--label", default="", help="free text stored with the results")
    ap.add_argument(
        "--reader",
        choices=("count", "discard"),
        default="count",
        help="timed runs count the newlines they read, or only read (see above)",
    )
    ap.add_argument("--src", type=Path, default=SRC, help="the src/ directory of the server to run")
    args = ap.parse_args(argv)
    count = args.lines or (100_000 if args.quick else 1_000_000)
    reps = args.reps or (3 if args.quick else 5)
    have_rg = shutil.which("rg") is not None
    timed_count = args.reader == "count"
    shapes = [s for s in SHAPES if args.only is None or args.only in s.name]
    print(f"query matrix: {count:,} lines, {len(shapes)} shapes, {reps} reps, rg={have_rg}")
    print(f"load average before: {loadavg()}")
    lines = matrix_data.generate(count)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lc-matrix-") as tmp:
        path = Path(tmp) / "lines.log"
        extra = ["-c", str(count + 1000), "--max-memory", "4G"]
        server = servers.start_logcaster(sys.executable, args.src, extra, Path(tmp) / "server.log")
        floor = Floor()
        try:
            half, mid = load(server.ingest_port, server.query_port, lines, path)
            subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
            head = f"{'shape':38} {'matches':>9} {'ms':>9} {'grep ms':>9} {'ratio':>7}"
            print(head + (f" {'rg ms':>8}" if have_rg else "") + f" {'floor ms':>8} {'floor':>7}")
            for shape in shapes:
                query = shape.query.replace("{mid}", f"{mid:.6f}")
                grep_cmd = pipeline(shape, path, half, "grep")
                rg_cmd = pipeline(shape, path, half, "rg") if have_rg and shape.stages else None
                # The first run of each side (warming caches) counts the lines; the
                # timed runs read everything the same way on every side.
                _, found, sent, reply_bytes = run_query(server.query_port, query, count=True)
                lc = [run_query(server.query_port, query, timed_count) for _ in range(reps)]
                grep_n = run_pipeline(grep_cmd, count=True)[1]
                gr = [run_pipeline(grep_cmd, timed_count) for _ in range(reps)]
                rg_n = run_pipeline(rg_cmd, count=True)[1] if rg_cmd else None
                rg = [run_pipeline(rg_cmd, timed_count) for _ in range(reps)] if rg_cmd else []
                floor_ms = statistics.median(
                    floor.ms(reply_bytes, timed_count) for _ in range(reps)
                )
                ms = statistics.median(x[0] for x in lc)
                grep_ms = statistics.median(x[0] for x in gr)
                rg_ms = statistics.median(x[0] for x in rg) if rg else None
                problems = []
                if found is None:
                    problems.append("no FOUND line")
                elif found != sent:
                    problems.append(f"FOUND {found} but {sent} lines sent")
                if sent != grep_n:
                    problems.append(f"LogCaster {sent} lines, grep {grep_n}")
                if rg_n is not None and rg_n != grep_n:
                    problems.append(f"rg {rg_n} lines")
                ratio = ms / grep_ms if grep_ms else float("inf")
                row = {
                    "shape": shape.name,
                    "query": query,
                    "grep": grep_cmd,
                    "rg": rg_cmd,
                    "matches": sent,
                    "found": found,
                    "grep_matches": grep_n,
                    "ms": round(ms, 2),
                    "grep_ms": round(grep_ms, 2),
                    "ratio": round(ratio, 3),
                    "rg_ms": None if rg_ms is None else round(rg_ms, 2),
                    "reply_bytes": reply_bytes,
                    "floor_ms": round(floor_ms, 2),
                    "floor_ratio": round(floor_ms / grep_ms, 3) if grep_ms else None,
                    "mismatch": "; ".join(problems) or None,
                }
                rows.append(row)
                line = f"{shape.name:38} {sent:>9,} {ms:>9.1f} {grep_ms:>9.1f} {ratio:>6.2f}x"
                if have_rg:
                    line += f" {rg_ms:>8.1f}" if rg_ms is not None else f" {'':>8}"
                line += f" {floor_ms:>8.1f} {floor_ms / grep_ms:>6.2f}x"
                if problems:
                    line += "  MISMATCH: " + "; ".join(problems)
                print(line, flush=True)
        finally:
            floor.close()
            server.stop()
    ratios = [r["ratio"] for r in rows]
    median = statistics.median(ratios) if ratios else None
    worst = max(ratios) if ratios else None
    mismatches = sum(1 for r in rows if r["mismatch"])
    bound = [r["shape"] for r in rows if r["floor_ratio"] is not None and r["floor_ratio"] > 0.5]
    print(f"median ratio {median:.3f}x, worst {worst:.3f}x, mismatches {mismatches}")
    if bound:
        print("0.5x out of reach over TCP (floor above half of grep's time): " + ", ".join(bound))
    print(f"load average after: {loadavg()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "label": args.label,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lines": count,
        "bytes": path_size(lines),
        "reps": reps,
        "reader": args.reader,
        "cpus": os.cpu_count(),
        "loadavg_after": loadavg(),
        "median_ratio": median,
        "worst_ratio": worst,
        "mismatches": mismatches,
        "floor_above_half": bound,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 1 if mismatches else 0


def path_size(lines: list[bytes]) -> int:
    return sum(len(x) + 1 for x in lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        servers.kill_all()
