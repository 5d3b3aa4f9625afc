"""Field filters and field counts vs grep/awk (and ripgrep) pipelines, 1 M lines each.

    python benchmarks/fields_bench.py [--lines N] [--reps N] [--rounds N] [--out PATH]

A benchmark, not a timed test: it prints numbers, it does not pass or fail.

Two data sets, each sent to a fresh server (``servers.start_logcaster``, 127.0.0.1
only) and written to a file for the peers:

* ``syslog``: N RFC 3164 lines (``<PRI>Dec  1 19:MM:00 webH APP[PID]: LEVEL req=...``,
  hosts web1..web20 so that web10..web19 also hold the text ``web1``; 7 apps; PRI
  facilities user, daemon, local0, auth; 5 % ERROR by PRI and word);
* ``mix``: N lines, a quarter each RFC 3164, RFC 5424, JSON and logfmt, with the same
  hosts, apps and levels and a ``user`` (1 line in 13 ``alice``).

Each query shape runs on the query port with the full reply read, against a
pipeline that selects the same lines (``LC_ALL=C grep -F ...``, and the same with
``rg`` when installed) or, for TOP/HITS, counts the same values (``awk``); medians
of ``--reps`` runs after one warm-up each, then the median of those over
``--rounds`` whole runs. Every reply is checked against its pipeline's output (line
count, or the value counts). The load average is recorded before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import proto
import servers

REPO = Path(__file__).resolve().parents[1]
LEVELS = [("ERROR", 3)] + [("INFO", 6)] * 15 + [("WARN", 4)] * 3 + [("DEBUG", 7)]
APPS = ["api", "web", "db", "cache", "auth", "queue", "cron"]
FACILITIES = [1, 3, 16, 4]  # user, daemon, local0, auth
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
USERS += ["heidi", "ivan", "judy", "mallory", "oscar", "peggy"]
GREP_ENV = {**os.environ, "LC_ALL": "C"}
RG = shutil.which("rg")
# Host of a mixed line as the pipelines extract it (3164/5424 " webN ", JSON, logfmt).
MIX_HOSTS = r"""grep -oE ' web[0-9]+ |"host":"web[0-9]+"| host=web[0-9]+ ' {file}"""
NORMAL = (
    r"""awk '{{gsub(/[^a-z0-9]/, ""); sub(/^host/, ""); c[$0]++}} """
    r"""END {{for (k in c) print k, c[k]}}'"""
)


def _shape(i: int, n: int) -> tuple[str, int, str, str, int, str]:
    word, severity = LEVELS[(i // 20 + i // 400) % len(LEVELS)]  # not tied to the host
    pri = FACILITIES[(i // 7) % len(FACILITIES)] * 8 + severity
    return f"web{i % 20 + 1}", pri, APPS[(i // 3) % len(APPS)], word, (i * 60) // n, USERS[i % 13]


def syslog_payload(n: int) -> bytes:
    out = []
    for i in range(n):
        host, pri, app, word, minute, _ = _shape(i, n)
        out.append(
            f"<{pri}>Dec  1 19:{minute:02d}:00 {host} {app}[{1000 + i % 50}]: {word} "
            f"req={i:07d} user=u{i % 977} path=/api/v1/items/{i % 313} took={i % 91}ms\n"
        )
    return "".join(out).encode()


def mix_payload(n: int) -> bytes:
    out = []
    for i in range(n):
        host, pri, app, word, minute, user = _shape(i, n)
        ts = f"2026-12-01T19:{minute:02d}:00Z"
        kind = i % 4
        if kind == 0:
            line = f"<{pri}>Dec  1 19:{minute:02d}:00 {host} {app}[{1000 + i % 50}]: {word} "
            line += f"user={user} req={i:07d} took={i % 91}ms"
        elif kind == 1:
            line = f"<{pri}>1 {ts} {host} {app} {1000 + i % 50} - - {word} "
            line += f"user={user} req={i:07d} took={i % 91}ms"
        elif kind == 2:
            record = {"ts": ts, "host": host, "app": app, "level": word.lower(), "user": user}
            record |= {"req": f"{i:07d}", "msg": f"took {i % 91}ms"}
            line = json.dumps(record, separators=(",", ":"))
        else:
            line = f"ts={ts} level={word.lower()} host={host} app={app} user={user} "
            line += f'req={i:07d} msg="took {i % 91} ms"'
        out.append(line + "\n")
    return "".join(out).encode()


# name, command, pipeline ({tool}: grep -F or rg -F; {file}), how the reply is checked
SYSLOG_SHAPES = [
    ("host_level", "QUERY host=web1 level=ERROR", "{tool} ' web1 ' {file} | {tool} ERROR", "lines"),
    ("host", "QUERY host=web1", "{tool} ' web1 ' {file}", "lines"),
    (
        "host_keyword",
        "QUERY host=web1 keywords=req=",
        "{tool} ' web1 ' {file} | {tool} req=",
        "lines",
    ),
    ("app", "QUERY app=db", "{tool} ' db[' {file}", "lines"),
    ("facility", "QUERY facility=local0", "{grep_e} '^<1(2[89]|3[0-5])>' {file}", "lines"),
    (
        "top_host",
        "TOP host limit=100",
        "awk '{{c[$4]++}} END {{for (k in c) print k, c[k]}}' {file}",
        "top",
    ),
    (
        "hits_by_host",
        "HITS step=1m by=host",
        "awk '{{c[substr($3, 1, 5) \" \" $4]++}} END {{for (k in c) print k, c[k]}}' {file}",
        "hits",
    ),
]
_MIX_HOST = "{tool} -e ' web1 ' -e '\"host\":\"web1\"' -e ' host=web1 ' {file}"
MIX_SHAPES = [
    ("mix_host", "QUERY host=web1", _MIX_HOST, "lines"),
    (
        "mix_host_level",
        "QUERY host=web1 level=ERROR",
        _MIX_HOST + ' | {tool} -e ERROR -e level=error -e \'"level":"error"\'',
        "lines",
    ),
    (
        "mix_app",
        "QUERY app=db",
        "{tool} -e ' db[' -e ' db ' -e '\"app\":\"db\"' -e ' app=db ' {file}",
        "lines",
    ),
    (
        "mix_user",
        "QUERY field.user=alice",
        "{tool} -e 'user=alice ' -e '\"user\":\"alice\"' {file}",
        "lines",
    ),
    ("mix_top_host", "TOP host limit=100", MIX_HOSTS + " | " + NORMAL, "top"),
]


def timed(fn: Callable[[], bytes], reps: int) -> tuple[float, bytes]:
    fn()  # warm-up
    times, out = [], b""
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def values_of(reply: bytes, kind: str) -> Counter[str]:
    """Value counts of a TOP or HITS reply."""
    counts: Counter[str] = Counter()
    for line in reply.decode().splitlines()[1:]:
        parts = line.split()
        if kind == "top":
            counts[parts[0]] += int(parts[1])
        else:
            for pair in parts[2:]:
                value, _, n = pair.rpartition("=")
                counts[value] += int(n)
    return counts


def peer_values(out: bytes, kind: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in out.decode().splitlines():
        key, _, n = line.rpartition(" ")
        counts[key.split()[-1]] += int(n)  # HITS: "MINUTE HOST" keys, summed per host
    return counts


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def run_set(
    name: str, data: bytes, shapes: list[tuple[str, str, str, str]], reps: int
) -> dict[str, object]:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.log"
        path.write_bytes(data)
        lines = data.count(b"\n")
        srv = servers.start_logcaster(
            sys.executable, REPO / "src", ["--udp-port", "off"], Path(tmp) / "server.err"
        )
        try:
            with socket.create_connection((proto.HOST, srv.ingest_port)) as sock:
                sock.sendall(data)
            deadline = time.monotonic() + 120
            while srv.stats().total < lines:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not store every line in 120 s")
                time.sleep(0.05)  # a benchmark, not a test: polling the counter
            for key, command, pipeline, kind in shapes:
                row: dict[str, object] = {"command": command}
                secs, reply = timed(lambda c=command: proto.request(srv.query_port, c, 60.0), reps)
                row["logcaster_ms"] = round(secs * 1000, 1)
                tools = {"grep": ("grep -F", "grep -E")}
                if "{tool}" not in pipeline and "{grep_e}" not in pipeline:
                    tools = {"awk": ("", "")}  # a counting pipeline: grep/awk only
                elif RG:
                    tools["rg"] = ("rg -N -F", "rg -N")
                for tool, (fixed, regex) in tools.items():
                    cmd = pipeline.format(tool=fixed, grep_e=regex, file=path)

                    def peer(cmd: str = cmd) -> bytes:
                        proc = subprocess.run(
                            cmd, shell=True, stdout=subprocess.PIPE, env=GREP_ENV, check=False
                        )
                        return proc.stdout

                    peer_s, out = timed(peer, reps)
                    row[f"{tool}_ms"] = round(peer_s * 1000, 1)
                    row[f"ratio_{tool}"] = round(secs / peer_s, 2)
                    if kind == "lines":
                        got, want = reply.count(b"\n") - 1, out.count(b"\n")
                    else:
                        got, want = values_of(reply, kind), peer_values(out, kind)
                    row[f"same_as_{tool}"] = got == want
                    if got != want:
                        print(f"MISMATCH {key} vs {tool}: {str(got)[:200]} / {str(want)[:200]}")
                row["matches"] = reply.count(b"\n") - 1 if kind == "lines" else None
                results[key] = row
                peers = "".join(
                    f"  {tool} {row[f'{tool}_ms']:7.1f} ms {row[f'ratio_{tool}']:5.2f}x"
                    for tool in tools
                )
                print(f"{name:6s} {command:30s} {row['logcaster_ms']:8.1f} ms{peers}")
        finally:
            srv.stop()
    return results


def one_round(lines: int, reps: int) -> dict[str, object]:
    before = load()
    shapes = {
        **run_set("syslog", syslog_payload(lines), SYSLOG_SHAPES, reps),
        **run_set("mix", mix_payload(lines), MIX_SHAPES, reps),
    }
    after = load()
    print(f"load average before {before}, after {after}")
    return {
        "lines": lines,
        "reps": reps,
        "load_before": before,
        "load_after": after,
        "shapes": shapes,
    }


def merge_rounds(rounds: list[dict[str, object]]) -> dict[str, object]:
    """Per shape, the median over rounds of each time and ratio; every round kept."""
    shapes: dict[str, dict[str, object]] = {}
    for r in rounds:
        for key, row in r["shapes"].items():  # type: ignore[attr-defined]
            merged = shapes.setdefault(key, {"command": row["command"]})
            for name, value in row.items():
                if name.endswith("_ms") or name.startswith("ratio_"):
                    merged.setdefault(name, []).append(value)  # type: ignore[attr-defined]
                elif name.startswith("same_as_"):
                    merged[name] = merged.get(name, True) and value
                elif name == "matches":
                    merged[name] = value
    for merged in shapes.values():
        for name, value in merged.items():
            if isinstance(value, list):
                merged[name] = round(statistics.median(value), 2)
    return {
        "lines": rounds[0]["lines"],
        "reps": rounds[0]["reps"],
        "rounds": len(rounds),
        "rg": RG is not None,
        "load": [(r["load_before"], r["load_after"]) for r in rounds],
        "shapes": shapes,
        "per_round": rounds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="whole runs; medians over them")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/fields.json")
    args = ap.parse_args()
    rounds = [one_round(args.lines, args.reps) for _ in range(args.rounds)]
    result = merge_rounds(rounds)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, row in result["shapes"].items():  # type: ignore[attr-defined]
        print(f"{key:16s} " + " ".join(f"{k}={v}" for k, v in row.items() if k != "command"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
