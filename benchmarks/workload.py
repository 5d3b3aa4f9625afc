"""Deterministic, realistic ~100-byte log lines for the LogCaster benchmarks.

Lines look like::

    2026-11-26T17:00:01.123Z INFO [svc-3] req=0004211 user=u45 GET /healthz status=200 latency_ms=12

Field frequencies are fixed so the query benchmark has a frequent literal
(``INFO``), a rare literal (``FATAL``) and a moderately selective regex.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FREQUENT_KEYWORD = "INFO"
RARE_KEYWORD = "FATAL"
REGEX_PATTERN = "status=5[0-9][0-9] latency_ms=[0-9]{4}"

_LEVELS = ("INFO", "DEBUG", "WARN", "ERROR", "FATAL")
_LEVEL_WEIGHTS = (70.0, 15.0, 10.0, 4.95, 0.05)
_SERVICES = (*(f"svc-{i}" for i in range(12)), "auth", "billing", "search", "gateway")
_METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
_PATHS = (
    "/api/v1/orders",
    "/api/v1/users",
    "/api/v2/search",
    "/healthz",
    "/api/v1/cart/items",
    "/static/app.js",
    "/api/v1/payments",
    "/login",
)
_STATUSES = tuple(
    str(s) for s in (200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 502, 503)
)
_START_SECONDS = 17 * 3600  # 17:00:00 on 2026-11-26


def _timestamps(count: int, rng: np.random.Generator) -> list[str]:
    """Monotonic millisecond timestamps, 0-3 ms apart."""
    ms = np.cumsum(rng.integers(0, 4, size=count))
    secs, milli = np.divmod(ms, 1000)
    prefixes: dict[int, str] = {}
    out: list[str] = []
    for sec, mil in zip(secs.tolist(), milli.tolist(), strict=True):
        prefix = prefixes.get(sec)
        if prefix is None:
            minutes, s = divmod(_START_SECONDS + sec, 60)
            hours, minute = divmod(minutes, 60)
            prefix = f"2026-11-{26 + hours // 24:02d}T{hours % 24:02d}:{minute:02d}:{s:02d}"
            prefixes[sec] = prefix
        out.append(f"{prefix}.{mil:03d}Z")
    return out


def _pick(rng: np.random.Generator, options: tuple[str, ...], count: int) -> list[str]:
    return [options[i] for i in rng.integers(0, len(options), size=count).tolist()]


def _latencies(rng: np.random.Generator, count: int) -> list[int]:
    slow = rng.random(count) < 0.03
    values = np.where(slow, rng.integers(1000, 9999, size=count), rng.integers(1, 400, size=count))
    return values.tolist()  # type: ignore[no-any-return]


def generate_lines(count: int, seed: int = 1) -> list[str]:
    """Return ``count`` log lines (without newline), reproducible for ``seed``."""
    rng = np.random.default_rng(seed)
    weights = np.array(_LEVEL_WEIGHTS) / sum(_LEVEL_WEIGHTS)
    levels = [_LEVELS[i] for i in rng.choice(len(_LEVELS), size=count, p=weights).tolist()]
    columns = zip(
        _timestamps(count, rng),
        levels,
        _pick(rng, _SERVICES, count),
        rng.integers(0, 1000, size=count).tolist(),
        _pick(rng, _METHODS, count),
        _pick(rng, _PATHS, count),
        _pick(rng, _STATUSES, count),
        _latencies(rng, count),
        strict=True,
    )
    return [
        f"{ts} {lvl} [{svc}] req={i:07d} user=u{user} {method} {path} "
        f"status={status} latency_ms={lat}"
        for i, (ts, lvl, svc, user, method, path, status, lat) in enumerate(columns)
    ]


_SEVERITY = {"INFO": 6, "DEBUG": 7, "WARN": 4, "ERROR": 3, "FATAL": 2}


def as_json(lines: list[str]) -> list[str]:
    """The same events as one-level JSON objects, the shape JSON loggers write::

    {"ts":"2026-11-26T17:00:01.123Z","level":"INFO","svc":"svc-3","req":"0004211",
     "user":"u45","method":"GET","path":"/healthz","status":"200","latency_ms":"12"}
    """
    out = []
    for line in lines:
        ts, level, svc, rest = line.split(" ", 3)
        req, user, method, path, status, latency = (w.partition("=")[2] or w for w in rest.split())
        out.append(
            f'{{"ts":"{ts}","level":"{level}","svc":"{svc[1:-1]}","req":"{req}","user":"{user}",'
            f'"method":"{method}","path":"{path}","status":"{status}","latency_ms":"{latency}"}}'
        )
    return out


def as_syslog(lines: list[str]) -> list[str]:
    """The same events as RFC 3164 lines with a PRI (facility user), as rsyslog
    forwards them::

    <14>Nov 26 17:00:01 host-3 svc-3[211]: INFO req=0004211 user=u45 GET /healthz ...
    """
    out = []
    for i, line in enumerate(lines):
        ts, level, svc, rest = line.split(" ", 3)
        hms = ts[11:19]
        pri = 8 + _SEVERITY[level]
        out.append(f"<{pri}>Nov 26 {hms} host-{i % 7} {svc[1:-1]}[{i % 1000}]: {level} {rest}")
    return out


def probe_line(token: str) -> str:
    """A line carrying a unique token, shaped like the others."""
    return f"2026-11-26T17:59:59.999Z INFO [probe] req=0000000 user=u0 GET /probe token={token}"


def write_payload(path: Path, count: int, seed: int = 1) -> int:
    """Write ``count`` newline-terminated lines to ``path``; return the byte size."""
    data = ("\n".join(generate_lines(count, seed)) + "\n").encode()
    path.write_bytes(data)
    return len(data)


def head_lines(src: Path, dst: Path, count: int) -> int:
    """Copy the first ``count`` lines of ``src`` to ``dst``; return the byte size."""
    data = src.read_bytes()
    end = 0
    for _ in range(count):
        end = data.index(b"\n", end) + 1
    dst.write_bytes(data[:end])
    return end
