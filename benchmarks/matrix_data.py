"""Varied log lines for the query matrix: plain, logfmt, JSON and syslog (``<PRI>``) lines.

Every line carries exactly one level, written the way its format writes it (an
upper-case word, ``level=warn``, ``"level":"error"``, or only the syslog PRI), so
the matrix can state each level query as an equivalent ``grep -E``. Messages mix
ASCII and non-ASCII text (German, Russian, Japanese), always in lower case where
a case-insensitive shape looks at them. Frequencies are fixed per seed.
"""

from __future__ import annotations

import numpy as np

FORMATS = ("plain", "logfmt", "json", "syslog")
FORMAT_WEIGHTS = (0.40, 0.25, 0.20, 0.15)

# (canonical level, weight); syslog severities below follow the same weights.
LEVELS = ("INFO", "DEBUG", "WARN", "ERROR", "NOTICE", "CRITICAL")
LEVEL_WEIGHTS = (0.62, 0.14, 0.12, 0.085, 0.03, 0.005)
SEVERITY = {"CRITICAL": 2, "ERROR": 3, "WARN": 4, "NOTICE": 5, "INFO": 6, "DEBUG": 7}
LOGFMT_WORD = {
    "INFO": "info",
    "DEBUG": "debug",
    "WARN": "warn",
    "ERROR": "error",
    "NOTICE": "notice",
    "CRITICAL": "crit",
}

MESSAGES = (
    ("request served", 30.0),
    ("cache miss for key", 12.0),
    ("payment accepted", 8.0),
    ("connection timeout to db-3", 5.0),
    ("connection refused by upstream", 3.0),
    ("zahlung fehlgeschlagen für käufer", 2.0),
    ("ошибка подключения к базе данных", 2.0),
    ("タイムアウトが発生しました", 1.5),
    ("retrying after backoff", 6.0),
    ("user session renewed", 10.0),
    ("slow query detected", 4.0),
    ("disk usage high on /var", 2.0),
    ("container worker OOMKilled", 0.05),
    ("segfault in worker thread", 0.03),
)
SERVICES = (*(f"svc-{i}" for i in range(12)), "auth", "billing", "search", "gateway")
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
PATHS = ("/api/v1/orders", "/api/v1/users", "/api/v2/search", "/healthz", "/api/v1/payments")
STATUSES = (200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 502, 503)
APPS = ("sshd", "cron", "kernel", "nginx", "postfix")


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> list[int]:
    p = np.array(weights) / sum(weights)
    return rng.choice(len(weights), size=n, p=p).tolist()  # type: ignore[no-any-return]


def generate(count: int, seed: int = 7) -> list[bytes]:
    """``count`` lines (no newline), reproducible for ``seed``."""
    rng = np.random.default_rng(seed)
    fmts = _choice(rng, count, FORMAT_WEIGHTS)
    levels = _choice(rng, count, LEVEL_WEIGHTS)
    msgs = _choice(rng, count, tuple(w for _, w in MESSAGES))
    svcs = rng.integers(0, len(SERVICES), count).tolist()
    users = rng.integers(0, 1000, count).tolist()
    methods = rng.integers(0, len(METHODS), count).tolist()
    paths = rng.integers(0, len(PATHS), count).tolist()
    statuses = rng.integers(0, len(STATUSES), count).tolist()
    slow = (rng.random(count) < 0.03).tolist()
    lat = rng.integers(1, 400, count).tolist()
    lat_slow = rng.integers(1000, 9999, count).tolist()
    facility = rng.integers(0, 24, count).tolist()
    ms = np.cumsum(rng.integers(0, 4, count)).tolist()
    out: list[bytes] = []
    for i in range(count):
        level = LEVELS[levels[i]]
        msg = MESSAGES[msgs[i]][0]
        t = ms[i]
        sec, milli = divmod(t, 1000)
        minute, s = divmod(sec, 60)
        hh, mm = divmod(17 * 60 + minute, 60)
        ts = f"2026-11-26T{hh % 24:02d}:{mm:02d}:{s:02d}.{milli:03d}Z"
        latency = lat_slow[i] if slow[i] else lat[i]
        svc = SERVICES[svcs[i]]
        status = STATUSES[statuses[i]]
        f = FORMATS[fmts[i]]
        if f == "plain":
            line = (
                f"{ts} {level} [{svc}] req={i:07d} user=u{users[i]} {METHODS[methods[i]]} "
                f"{PATHS[paths[i]]} status={status} latency_ms={latency} {msg}"
            )
        elif f == "logfmt":
            line = (
                f'ts={ts} level={LOGFMT_WORD[level]} svc={svc} msg="{msg}" user=u{users[i]} '
                f"method={METHODS[methods[i]]} status={status} latency_ms={latency}"
            )
        elif f == "json":
            line = (
                f'{{"ts":"{ts}","level":"{LOGFMT_WORD[level]}","svc":"{svc}","msg":"{msg}",'
                f'"user":"u{users[i]}","status":{status},"latency_ms":{latency}}}'
            )
        else:
            pri = facility[i] * 8 + SEVERITY[level]
            app = APPS[svcs[i] % len(APPS)]
            line = (
                f"<{pri}>Nov 26 {hh % 24:02d}:{mm:02d}:{s:02d} host-{svcs[i]} "
                f"{app}[{1000 + i % 9000}]: "
                f"{msg} user=u{users[i]} status={status}"
            )
        out.append(line.encode())
    return out


def level_grep(levels: tuple[str, ...]) -> str:
    """A ``grep -E`` pattern selecting exactly the lines of these levels in this data."""
    alts: list[str] = []
    for level in levels:
        alts.append(f" {level} ")
        alts.append(f"level={LOGFMT_WORD[level]} ")
        alts.append(f'"level":"{LOGFMT_WORD[level]}"')
        pris = "|".join(str(f * 8 + SEVERITY[level]) for f in range(24))
        alts.append(f"^<({pris})>")
    return "|".join(alts)
