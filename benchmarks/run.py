"""LogCaster benchmark suite: LogCaster vs the C reference server vs grep.

    python benchmarks/run.py [--quick] [--rounds N] [--out DIR]

Builds the C reference server, then per round runs the same ingest load
against both servers one after the other, and the LogCaster-only query,
memory, latency and connection measurements. Prints a table of medians and
writes ``latest.json`` and ``ingest_clients.png`` to ``--out``.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from types import FrameType

import phases
import proto
import report
import servers
import workload

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
Metrics = dict[str, float | None]


@dataclass(frozen=True)
class Settings:
    rounds: int
    quick: bool
    client_counts: tuple[int, ...]
    ingest_lines: int  # lines in the payload file
    ingest_repeats: int  # each client sends its slice of the payload this many times
    query_lines: int
    query_reps: int
    probes: int
    latency_rates: tuple[float, ...]  # background load of each latency run (0: unpaced)
    latency_budget_s: float  # per paced latency run; unpaced runs get twice this
    idle_connections: int
    rtt_probes: int
    ingest_timeout_s: float


def make_settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    return Settings(
        rounds=args.rounds or (1 if quick else 3),
        quick=quick,
        client_counts=(1, 4, 16, 64),
        ingest_lines=args.ingest_lines or (300_000 if quick else 1_000_000),
        ingest_repeats=args.ingest_repeats or (2 if quick else 20),
        query_lines=args.query_lines or (200_000 if quick else 1_000_000),
        query_reps=3 if quick else 5,
        probes=200,
        latency_rates=tuple(args.latency_rate),
        latency_budget_s=20.0 if quick else 60.0,
        idle_connections=2_000 if quick else 10_000,
        rtt_probes=200,
        ingest_timeout_s=60.0 if quick else 180.0,
    )


@dataclass
class Context:
    settings: Settings
    c_bin: Path | None
    python: str
    workdir: Path
    payload: Path
    dataset: Path
    small: Path
    server_log: Path
    logcaster_ok: bool
    notes: list[str]


# --------------------------------------------------------------------------- servers


def start_logcaster(ctx: Context, extra: tuple[str, ...] = ()) -> servers.Server:
    return servers.start_logcaster(ctx.python, REPO / "src", list(extra), ctx.server_log)


def start_server(ctx: Context, name: str) -> servers.Server:
    if name == "C":
        assert ctx.c_bin is not None
        return servers.start_c(ctx.c_bin)
    return start_logcaster(ctx)


def guarded(ctx: Context, label: str, fn: Callable[[], Metrics]) -> Metrics:
    """Run one measurement; a failure becomes a note instead of ending the run."""
    try:
        return fn()
    except Exception as exc:  # any failure of one phase is reported
        phases.warn(ctx.notes, f"{label} failed: {type(exc).__name__}: {exc}")
        return {}


# --------------------------------------------------------------------------- phases


def implementations(ctx: Context) -> list[str]:
    names = ["C"] if ctx.c_bin is not None else []
    return [*names, "LogCaster"] if ctx.logcaster_ok else names


def ingest_phase(ctx: Context) -> Metrics:
    s = ctx.settings
    print(
        f"  ingest: {s.ingest_lines * s.ingest_repeats:,} lines per pass "
        f"({s.ingest_lines:,}-line payload x {s.ingest_repeats}); a cold pass, then the timed one",
        flush=True,
    )
    metrics: Metrics = {}
    for clients in s.client_counts:
        for name in implementations(ctx):

            def one(name: str = name, clients: int = clients) -> Metrics:
                with servers.running(start_server(ctx, name)) as server:
                    return phases.ingest_metrics(
                        server,
                        ctx.payload,
                        clients,
                        s.ingest_repeats,
                        s.ingest_timeout_s,
                        ctx.notes,
                    )

            metrics.update(guarded(ctx, f"ingest {name} x{clients}", one))
    return metrics


def query_phase(ctx: Context) -> Metrics:
    lines = ctx.settings.query_lines
    print(f"  query + memory: {lines:,} lines held by LogCaster", flush=True)
    raw = ctx.dataset.stat().st_size
    extra = ("-c", str(lines), "--max-memory", str(max(512 << 20, 4 * raw)))
    with servers.running(start_logcaster(ctx, extra)) as server:
        metrics = phases.load_dataset(server, ctx.dataset, lines, ctx.notes)
        print(
            f"    RSS growth {metrics['memory.rss_growth_mb']:.1f} MB for "
            f"{metrics['memory.raw_mb']:.1f} MB of lines",
            flush=True,
        )
        for query in phases.QUERIES:
            metrics.update(
                guarded(
                    ctx,
                    f"query {query.name}",
                    partial(
                        phases.query_metrics,
                        server,
                        query,
                        ctx.dataset,
                        ctx.settings.query_reps,
                        ctx.notes,
                    ),
                )
            )
    return metrics


def latency_phase(ctx: Context, rate: float) -> Metrics:
    s = ctx.settings
    load = f"{rate:,.0f} lines/s" if rate else "unpaced (as fast as possible)"
    print(
        f"  latency: {s.probes} probes, {s.query_lines:,} lines preloaded, "
        f"4 clients streaming {load}",
        flush=True,
    )
    budget = s.latency_budget_s if rate else 2 * s.latency_budget_s
    with servers.running(start_logcaster(ctx)) as server:
        phases.ingest(server, ctx.dataset, clients=4, timeout=300.0)
        return phases.latency_metrics(server, ctx.payload, rate, s.probes, budget, ctx.notes)


def connection_phase(ctx: Context) -> Metrics:
    s = ctx.settings
    print(f"  connections: {s.idle_connections:,} idle ingest connections", flush=True)
    with servers.running(start_logcaster(ctx)) as server:
        phases.ingest(server, ctx.small, clients=1, timeout=60.0)
        return phases.connection_metrics(server, s.idle_connections, s.rtt_probes, ctx.notes)


def run_round(ctx: Context, number: int) -> Metrics:
    print(f"round {number}/{ctx.settings.rounds}", flush=True)
    metrics = ingest_phase(ctx)
    if ctx.logcaster_ok:
        metrics.update(guarded(ctx, "query/memory", lambda: query_phase(ctx)))
        for rate in ctx.settings.latency_rates:
            metrics.update(guarded(ctx, f"latency @{rate:.0f}", partial(latency_phase, ctx, rate)))
        metrics.update(guarded(ctx, "connections", lambda: connection_phase(ctx)))
    return metrics


# --------------------------------------------------------------------------- setup


def check_logcaster(ctx: Context) -> bool:
    """True if ``python -m logcaster serve`` starts; otherwise note why not."""
    try:
        with servers.running(start_logcaster(ctx)) as server:
            server.stats()
        return True
    except Exception as exc:  # report and continue with C only
        tail = ctx.server_log.read_text(errors="replace")[-600:] if ctx.server_log.exists() else ""
        phases.warn(ctx.notes, f"LogCaster unavailable, measuring C only: {exc}\n{tail}")
        return False


def prepare_c(args: argparse.Namespace, workdir: Path, notes: list[str]) -> Path | None:
    if args.no_c:
        return None
    if args.c_bin:
        return Path(args.c_bin)
    print("building the C reference server ...", flush=True)
    try:
        return servers.build_c(REPO, workdir / "c-reference")
    except Exception as exc:  # still measure LogCaster alone
        phases.warn(notes, f"C reference build failed: {exc}")
        return None


def prepare_data(settings: Settings, workdir: Path) -> tuple[Path, Path, Path]:
    """The ingest payload, the query dataset (its first lines) and a small file."""
    payload, dataset, small = (
        workdir / "payload.log",
        workdir / "dataset.log",
        workdir / "small.log",
    )
    lines = max(settings.ingest_lines, settings.query_lines)
    started = time.monotonic()
    workload.write_payload(payload, lines)
    workload.head_lines(payload, dataset, settings.query_lines)
    workload.head_lines(payload, small, 10_000)
    if settings.ingest_lines < lines:
        workload.head_lines(dataset, payload, settings.ingest_lines)
    print(f"generated {lines:,} lines in {time.monotonic() - started:.1f} s", flush=True)
    return payload, dataset, small


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- output


def build_rows(med: Metrics, settings: Settings) -> list[report.Row]:
    labels = [(q.name, f"{q.kind} {q.pattern!r}") for q in phases.QUERIES]
    return [
        *report.ingest_rows(med, settings.client_counts),
        *report.query_rows(med, labels),
        *report.other_rows(med, settings.latency_rates),
    ]


def write_outputs(
    ctx: Context, out: Path, rounds: list[Metrics], started: float, load: tuple[float, ...]
) -> None:
    med = report.medians(rounds)
    rows = build_rows(med, ctx.settings)
    print()
    print(f"Medians of {len(rounds)} round(s). Ratios are LogCaster / other: for lines/s and")
    print("MB/s above 1 means LogCaster is faster, for ms below 1 means LogCaster is faster.")
    print("Rows marked (C/LC) show C / LogCaster: above 1 means LogCaster needs less CPU per byte.")
    print(report.table(rows))
    for note in ctx.notes:
        print(f"note: {note}")
    document = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "settings": asdict(ctx.settings),
        "host": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "os": platform.platform(),
            # other work on the machine skews throughput; 1/5/15-min load averages
            "loadavg_start": [round(x, 2) for x in load],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "grep": "GNU grep, LC_ALL=C, -F/-E, stdout to a pipe read fully, page cache warm",
        "ingest": (
            "fresh server per measurement; an untimed cold pass (kept as ingest_cold.*), then "
            "the timed pass of the same load against the same process; server CPU = "
            "utime+stime from /proc/PID/stat over the timed interval"
        ),
        "rows": [r.to_dict() for r in rows],
        "medians": med,
        "rounds": rounds,
        "notes": ctx.notes,
    }
    report.write_json(out / "latest.json", document)
    report.plot_ingest(med, ctx.settings.client_counts, out / "ingest_clients.png")
    print(f"wrote {out / 'latest.json'} and {out / 'ingest_clients.png'}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, smaller sizes (~2 min)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output directory")
    parser.add_argument("--c-bin", help="use this prebuilt logcaster-c instead of building")
    parser.add_argument("--no-c", action="store_true", help="skip the C reference server")
    parser.add_argument("--python", default=sys.executable, help="interpreter for LogCaster")
    parser.add_argument(
        "--latency-rate",
        type=float,
        nargs="+",
        default=[200_000.0],
        help="total lines/s of the background load in the latency probe, one run per value "
        "(0: unpaced, see README; default: 200000)",
    )
    parser.add_argument("--ingest-lines", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ingest-repeats", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--query-lines", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = make_settings(args)
    signal.signal(signal.SIGTERM, on_signal)
    soft, hard = proto.raise_nofile_limit()
    started = time.monotonic()
    load = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="logcaster-bench-"))
    notes: list[str] = []
    if soft < settings.idle_connections + 100:
        phases.warn(notes, f"RLIMIT_NOFILE hard limit {hard} < idle connections wanted")
    try:
        c_bin = prepare_c(args, workdir, notes)
        payload, dataset, small = prepare_data(settings, workdir)
        args.out.mkdir(parents=True, exist_ok=True)
        ctx = Context(
            settings, c_bin, args.python, workdir, payload, dataset, small,
            workdir / "logcaster.stderr", True, notes,
        )  # fmt: skip
        ctx.logcaster_ok = check_logcaster(ctx)
        rounds = [run_round(ctx, i + 1) for i in range(settings.rounds)]
        write_outputs(ctx, args.out, rounds, started, load)
    finally:
        servers.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
