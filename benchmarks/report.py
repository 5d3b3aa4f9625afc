"""Medians of the rounds, the results table, latest.json and the ingest plot."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Metrics = dict[str, float | None]


@dataclass(frozen=True)
class Row:
    measure: str
    unit: str
    logcaster: float | None
    c: float | None = None
    grep: float | None = None
    c_ratio: str = "lc/c"  # "c/lc" for the server CPU per byte rows, "" for none

    @property
    def vs_c(self) -> float | None:
        if self.c_ratio == "c/lc":
            return _ratio(self.c, self.logcaster)
        return _ratio(self.logcaster, self.c) if self.c_ratio else None

    @property
    def vs_grep(self) -> float | None:
        return _ratio(self.logcaster, self.grep)

    def to_dict(self) -> dict[str, Any]:
        ratio = "c_over_logcaster" if self.c_ratio == "c/lc" else "logcaster_over_c"
        data = {k: v for k, v in asdict(self).items() if k != "c_ratio"}
        return {**data, ratio: self.vs_c, "logcaster_over_grep": self.vs_grep}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def medians(rounds: list[Metrics]) -> Metrics:
    """Per-metric median over the rounds that produced a value."""
    keys = sorted({k for r in rounds for k in r})
    out: Metrics = {}
    for key in keys:
        values = [v for r in rounds if (v := r.get(key)) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _pair(med: Metrics, metric: str, factor: float = 1.0) -> tuple[float | None, float | None]:
    """(LogCaster, C) values of ``metric``, a key with ``{name}`` in it."""
    return (
        _scaled(med.get(metric.format(name="LogCaster")), factor),
        _scaled(med.get(metric.format(name="C")), factor),
    )


COLD_CLIENTS = 4  # the client count whose cold first pass gets its own rows


def ingest_rows(med: Metrics, counts: tuple[int, ...]) -> list[Row]:
    """Steady-state throughput, the cold first pass, and CPU per byte."""
    rows = []
    for n in counts:
        rows.append(
            Row(f"ingest, {n} clients", "lines/s", *_pair(med, f"ingest.{{name}}.{n}.lines_per_s"))
        )
    for n in counts:
        rows.append(
            Row(
                f"ingest, {n} clients",
                "MB/s",
                *_pair(med, f"ingest.{{name}}.{n}.bytes_per_s", 1e-6),
            )
        )
    if COLD_CLIENTS in counts:
        cold = f"ingest_cold.{{name}}.{COLD_CLIENTS}"
        label = f"ingest cold start, {COLD_CLIENTS} clients"
        rows.append(Row(label, "lines/s", *_pair(med, f"{cold}.lines_per_s")))
        rows.append(Row(label, "MB/s", *_pair(med, f"{cold}.bytes_per_s", 1e-6)))
    for n in counts:
        lc, c = _pair(med, f"ingest.{{name}}.{n}.server_cpu_s_per_gb")
        rows.append(Row(f"server CPU s per GB, {n} clients (C/LC)", "s/GB", lc, c, c_ratio="c/lc"))
    if COLD_CLIENTS in counts:
        lc, c = _pair(med, f"ingest.{{name}}.{COLD_CLIENTS}.loadgen_cpu_s_per_gb")
        label = f"load generator CPU s per GB, {COLD_CLIENTS} clients"
        rows.append(Row(label, "s/GB", lc, c, c_ratio=""))
    return rows


def query_rows(med: Metrics, names: list[tuple[str, str]]) -> list[Row]:
    rows = []
    for name, label in names:
        found = med.get(f"query.{name}.found") or med.get(f"query.{name}.grep_count")
        lc = _scaled(med.get(f"query.{name}.logcaster_s"), 1e3)
        grep = _scaled(med.get(f"query.{name}.grep_s"), 1e3)
        rows.append(Row(f"query {label} ({found or 0:,.0f} hits)", "ms", lc, grep=grep))
    return rows


def other_rows(med: Metrics, latency_rates: tuple[float, ...]) -> list[Row]:
    lines = med.get("memory.lines") or 0
    rows = [
        Row(f"RSS growth, {lines:,.0f} lines", "MB", med.get("memory.rss_growth_mb")),
        Row("RSS growth / raw bytes", "x", med.get("memory.growth_per_raw_byte")),
    ]
    for rate in latency_rates:
        load = f"4 clients @{rate / 1000:,.0f}k lines/s" if rate else "4 clients unpaced"
        key = f"latency.{rate:.0f}"
        rows.append(Row(f"send->visible p50, {load}", "ms", med.get(f"{key}.p50_ms")))
        rows.append(Row(f"send->visible p99, {load}", "ms", med.get(f"{key}.p99_ms")))
    return [
        *rows,
        Row("idle ingest connections held", "conns", med.get("conn.open")),
        Row("server open-files limit (soft)", "fds", med.get("conn.server_nofile")),
        Row("STATS round trip p99, idle conns", "ms", med.get("conn.stats_p99_ms")),
        Row("QUERY round trip p99, idle conns", "ms", med.get("conn.query_p99_ms")),
    ]


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(rows: list[Row]) -> str:
    header = ("measure", "unit", "LogCaster", "C", "grep", "LC/C", "LC/grep")
    cells = [header] + [
        (r.measure, r.unit, fmt(r.logcaster), fmt(r.c), fmt(r.grep), fmt(r.vs_c), fmt(r.vs_grep))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for i, row in enumerate(cells):
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        right = [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(left + right))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def plot_ingest(med: Metrics, counts: tuple[int, ...], path: Path) -> None:
    """Steady-state throughput and server CPU per GB against client count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, cpu) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    panels = (
        (ax, "lines_per_s", 1e-6, "{:.2f}M", "million lines per second (steady state)"),
        (cpu, "server_cpu_s_per_gb", 1.0, "{:.2f}", "server CPU seconds per GB received"),
    )
    for axis, metric, factor, label, ylabel in panels:
        for name, style in (("LogCaster", "o-"), ("C", "s--")):
            points = [(n, med.get(f"ingest.{name}.{n}.{metric}")) for n in counts]
            xs = [n for n, v in points if v is not None]
            ys = [v * factor for _, v in points if v is not None]
            if xs:
                axis.plot(xs, ys, style, label="C reference" if name == "C" else name)
                for x, y in zip(xs, ys, strict=True):
                    axis.annotate(
                        label.format(y),
                        (x, y),
                        textcoords="offset points",
                        xytext=(0, -13) if name == "C" else (0, 6),
                        ha="center",
                        fontsize=8,
                    )
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(counts), [str(n) for n in counts])
        axis.set_xlabel("concurrent ingest clients")
        axis.set_ylabel(ylabel)
        axis.set_ylim(0, axis.get_ylim()[1] * 1.15)
        axis.grid(True, alpha=0.3)
        axis.legend()
    ax.set_title("Ingest throughput (median of rounds, after a warm-up pass)")
    cpu.set_title("Server CPU per GB (lower is better)")
    fig.text(
        0.01,
        0.01,
        "loopback, ~104-byte lines; C reference: 4 worker threads, one entry per recv(), "
        "keeps 10k entries, completion = Total stops moving (its lines/s is an upper bound)",
        fontsize=7,
        alpha=0.7,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
