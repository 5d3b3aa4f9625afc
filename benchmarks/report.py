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

    @property
    def vs_c(self) -> float | None:
        return _ratio(self.logcaster, self.c)

    @property
    def vs_grep(self) -> float | None:
        return _ratio(self.logcaster, self.grep)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "logcaster_over_c": self.vs_c, "logcaster_over_grep": self.vs_grep}


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


def ingest_rows(med: Metrics, counts: tuple[int, ...]) -> list[Row]:
    rows = []
    for n in counts:
        lc, c = med.get(f"ingest.LogCaster.{n}.lines_per_s"), med.get(f"ingest.C.{n}.lines_per_s")
        rows.append(Row(f"ingest, {n} clients", "lines/s", lc, c))
    for n in counts:
        lc = _scaled(med.get(f"ingest.LogCaster.{n}.bytes_per_s"), 1e-6)
        c = _scaled(med.get(f"ingest.C.{n}.bytes_per_s"), 1e-6)
        rows.append(Row(f"ingest, {n} clients", "MB/s", lc, c))
    return rows


def query_rows(med: Metrics, names: list[tuple[str, str]]) -> list[Row]:
    rows = []
    for name, label in names:
        found = med.get(f"query.{name}.found") or med.get(f"query.{name}.grep_count")
        lc = _scaled(med.get(f"query.{name}.logcaster_s"), 1e3)
        grep = _scaled(med.get(f"query.{name}.grep_s"), 1e3)
        rows.append(Row(f"query {label} ({found or 0:,.0f} hits)", "ms", lc, grep=grep))
    return rows


def other_rows(med: Metrics, latency_rate: float) -> list[Row]:
    lines = med.get("memory.lines") or 0
    load = f"4 clients @{latency_rate / 1000:,.0f}k lines/s" if latency_rate else "4 clients max"
    return [
        Row(f"RSS growth, {lines:,.0f} lines", "MB", med.get("memory.rss_growth_mb")),
        Row("RSS growth / raw bytes", "x", med.get("memory.growth_per_raw_byte")),
        Row(f"send->visible p50, {load}", "ms", med.get("latency.p50_ms")),
        Row(f"send->visible p99, {load}", "ms", med.get("latency.p99_ms")),
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
    """Throughput (lines/s) against client count, one curve per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, style in (("LogCaster", "o-"), ("C", "s--")):
        points = [(n, med.get(f"ingest.{name}.{n}.lines_per_s")) for n in counts]
        xs = [n for n, v in points if v is not None]
        ys = [v for _, v in points if v is not None]
        if xs:
            ax.plot(xs, ys, style, label="C reference" if name == "C" else name)
            for x, y in zip(xs, ys, strict=True):
                ax.annotate(
                    f"{y / 1e6:.2f}M",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(counts), [str(n) for n in counts])
    ax.set_xlabel("concurrent ingest clients")
    ax.set_ylabel("million lines per second (median of rounds)")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v / 1e6:g}")
    ax.set_title("Ingest throughput vs clients (loopback, ~100-byte lines)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.text(
        0.01,
        0.01,
        "C reference: 4 worker threads, keeps 10k recv() blocks; completion = Total stops moving",
        fontsize=7,
        alpha=0.7,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
