"""Persistent ingest: LogCaster ``-P`` against rsyslog and syslog-ng, side by side.

    python benchmarks/persist_bench.py [--quick] [--rounds N] [--clients 1 4]

All three servers receive the same newline-framed TCP lines on a loopback port
and write them, unchanged, one per line, to files under a temporary directory:

* LogCaster: ``serve -P -d DIR --fsync-ms 1000`` (its default), and again with
  ``--fsync-ms 0`` (fsync after every write) as an extra row.
* rsyslog: ``imtcp`` input, ``omfile`` action with template ``%rawmsg%\\n``;
  omfile defaults (asyncWriting off, default ioBufferSize, no fsync).
* syslog-ng: ``network(transport("tcp") flags(no-parse))`` source, ``file()``
  destination with template ``${MESSAGE}\\n``; defaults (no fsync), with
  ``flags(flow-control)`` on the log path so a full queue slows the senders
  down instead of dropping lines (without it syslog-ng drops on overflow).

Each daemon is taken from the system if installed, otherwise its Debian package
(and any missing library packages it depends on) is fetched with
``apt-get download`` and unpacked with ``dpkg -x`` into a private root under the
temporary directory, so installing one never removes the other. A daemon that
cannot be obtained or started is reported as n/a with the reason.

The load is the same for every server: one sender process (not the
orchestrator) with N client threads, each streaming its contiguous slice of a
payload of realistic ~104-byte lines (``workload.py``) over one connection with
``loadgen.send_slice``. The clock starts when all clients are connected and
released together, and stops when the server has written every line: LogCaster's
``INFO PersistedLines`` reaches the number sent, or a daemon's output file
reaches the payload's byte size (polled every 5 ms). Each run uses a fresh
server and a fresh directory. Afterwards the server is stopped (SIGTERM, so
buffers are flushed) and its files are checked: the number of lines, each
client's lines in sending order (rsyslog writes some blocks of a connection's
lines out of order: counted under "reorder", not as loss), and the exact bytes.
A run that stalls (no progress for ``--stall`` s) or passes its deadline reports
the lines lost.

Results: a table of medians over the rounds, and ``results/persist.json``.
Loopback only; every wait has a deadline; children are killed and temporary
files removed when the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

import loadgen
import numpy as np
import proto
import servers
import workload

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results" / "persist.json"
POLL_S = 0.005
REQ_RE = re.compile(rb" req=(\d{7}) ")
PERSISTED_RE = re.compile(rb"PersistedLines=(\d+)")
ROTATED_RE = re.compile(r"log-(\d{8}-\d{6})(?:-(\d+))?\.log")
APT_TIMEOUT_S = 180.0


class Unavailable(Exception):
    """A daemon could not be obtained or started (reported as n/a)."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    rounds: int
    quick: bool
    clients: tuple[int, ...]
    lines: int
    run_timeout_s: float
    stall_s: float
    private_daemons: bool


def make_settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    lines = args.lines or (200_000 if quick else 2_000_000)
    if not 0 < lines <= 10_000_000:
        raise SystemExit("--lines must be between 1 and 10 000 000 (req= numbers are 7 digits)")
    return Settings(
        rounds=args.rounds,
        quick=quick,
        clients=tuple(args.clients),
        lines=lines,
        run_timeout_s=args.timeout or (60.0 if quick else 180.0),
        stall_s=args.stall,
        private_daemons=bool(args.private_daemons),
    )


# --------------------------------------------------------------------------- payload


@dataclass
class Payload:
    path: Path
    nbytes: int
    lines: list[bytes]  # without newline; line i carries req=i

    def client_bounds(self, clients: int) -> list[int]:
        """Line index where each client's slice starts, plus the total at the end."""
        data = self.path.read_bytes()
        bounds = [0]
        for part in loadgen.split_payload(data, clients):
            bounds.append(bounds[-1] + bytes(part).count(b"\n"))
        return bounds


def make_payload(path: Path, count: int) -> Payload:
    nbytes = workload.write_payload(path, count, seed=1)
    lines = path.read_bytes().split(b"\n")[:-1]
    if len(lines) != count:
        raise RuntimeError(f"payload has {len(lines)} lines, expected {count}")
    return Payload(path, nbytes, lines)


# --------------------------------------------------------------------------- daemons


@dataclass
class Daemon:
    name: str
    binary: Path
    version: str
    origin: str  # how it was obtained
    env: dict[str, str] = field(default_factory=dict)
    module_dir: Path | None = None  # only set for an unpacked package


def _run(cmd: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def _installed(package: str) -> bool:
    try:
        res = _run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], 30.0)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and res.stdout.strip() == "installed"


class PackageFetcher:
    """``apt-get download`` + ``dpkg -x`` into a private root (never installs)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.updated = False
        self.log: list[str] = []

    def download(self, package: str) -> Path:
        debs = self.workdir / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        cmd = ["apt-get", "-q", "-o", "APT::Sandbox::User=root", "download", package]
        for attempt in range(2):
            try:
                res = _run(cmd, APT_TIMEOUT_S, cwd=debs)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise Unavailable(f"apt-get download {package}: {exc}") from None
            found = sorted(debs.glob(f"{package}_*.deb"))
            if res.returncode == 0 and found:
                self.log.append(f"apt-get download {package} -> {found[-1].name}")
                return found[-1]
            if attempt == 0 and not self.updated:
                self.updated = True
                self.log.append("apt-get update (package lists were missing or stale)")
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    _run(["apt-get", "-q", "update"], APT_TIMEOUT_S)
                continue
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:]
            raise Unavailable(f"apt-get download {package} failed: {' '.join(tail)}")
        raise Unavailable(f"apt-get download {package} failed")

    def unpack(self, package: str, root: Path) -> None:
        deb = self.download(package)
        try:
            res = _run(["dpkg", "-x", str(deb), str(root)], 120.0)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"dpkg -x {deb.name}: {exc}") from None
        if res.returncode != 0:
            raise Unavailable(f"dpkg -x {deb.name} failed: {res.stderr.strip()[:200]}")
        self.log.append(f"dpkg -x {deb.name} {root}")

    def missing_dependencies(self, package: str) -> list[str]:
        """Direct Depends of ``package`` that are real packages not installed here."""
        cmd = ["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts"]
        cmd += ["--no-breaks", "--no-replaces", "--no-enhances", package]
        try:
            res = _run(cmd, 60.0)
        except (OSError, subprocess.TimeoutExpired):
            return []
        names: list[str] = []
        for line in res.stdout.splitlines():
            parts = line.strip().lstrip("|").split()
            if len(parts) == 2 and parts[0] == "Depends:" and not parts[1].startswith("<"):
                name = parts[1].split(":")[0]
                if name not in names and not _installed(name):
                    names.append(name)
        return names


def _lib_dirs(root: Path) -> list[str]:
    candidates = [*glob.glob(str(root / "usr/lib/*-linux-gnu"))]
    candidates += [*glob.glob(str(root / "lib/*-linux-gnu")), str(root / "usr/lib/syslog-ng")]
    return [c for c in candidates if Path(c).is_dir()]


def _unresolved(files: list[Path], env: dict[str, str]) -> list[str]:
    """Shared libraries that ``ldd`` cannot find for any of ``files``."""
    missing: list[str] = []
    for path in files:
        try:
            res = _run(["ldd", str(path)], 30.0, env={**os.environ, **env})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [f"ldd failed: {exc}"]
        for line in res.stdout.splitlines():
            if "not found" in line:
                lib = line.split()[0]
                if lib not in missing:
                    missing.append(lib)
    return missing


def unpack_private(
    fetcher: PackageFetcher, package: str, root: Path, needed: Callable[[Path], list[Path]]
) -> dict[str, str]:
    """Unpack ``package`` into ``root``; add missing library packages if ldd wants them.

    Returns the environment (``LD_LIBRARY_PATH``) the unpacked binaries need.
    """
    fetcher.unpack(package, root)

    def env_for() -> dict[str, str]:
        dirs = _lib_dirs(root)
        return {"LD_LIBRARY_PATH": os.pathsep.join(dirs)} if dirs else {}

    env = env_for()
    files = needed(root)
    if not all(f.exists() for f in files):
        raise Unavailable(f"{package}: expected files missing after unpacking: {files}")
    missing = _unresolved(files, env)
    if missing:
        for dep in fetcher.missing_dependencies(package):
            fetcher.unpack(dep, root)
        env = env_for()
        missing = _unresolved(files, env)
    if missing:
        raise Unavailable(f"{package}: unresolved libraries {', '.join(missing[:5])}")
    return env


def _version(cmd: list[str], env: dict[str, str]) -> str:
    try:
        res = _run(cmd, 30.0, env={**os.environ, **env})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{cmd[0]} does not run: {exc}") from None
    first = (res.stdout or res.stderr).strip().splitlines()[:1]
    if res.returncode != 0 or not first:
        raise Unavailable(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.strip()[:200]}")
    return " ".join(first[0].split(" compiled with")[0].split())


def _system_binary(name: str) -> Path | None:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/sbin/{name}"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def _rsyslog_files(root: Path) -> list[Path]:
    moddirs = sorted(glob.glob(str(root / "usr/lib/*/rsyslog")))
    mods = [Path(moddirs[0]) / m for m in ("imtcp.so", "lmtcpsrv.so", "lmnsd_ptcp.so")]
    return [root / "usr/sbin/rsyslogd", *(mods if moddirs else [root / "usr/lib/rsyslog"])]


def get_rsyslog(fetcher: PackageFetcher, force_private: bool) -> Daemon:
    system = None if force_private else _system_binary("rsyslogd")
    if system is not None:
        version = _version([str(system), "-v"], {})
        return Daemon("rsyslog", system, version, f"installed ({system})")
    root = fetcher.workdir / "rsyslog-root"
    env = unpack_private(fetcher, "rsyslog", root, _rsyslog_files)
    files = _rsyslog_files(root)
    binary, module_dir = files[0], files[1].parent
    version = _version([str(binary), "-v"], env)
    origin = "apt-get download rsyslog + dpkg -x into a private root (-M module dir)"
    return Daemon("rsyslog", binary, version, origin, env, module_dir)


def _syslog_ng_files(root: Path) -> list[Path]:
    moddirs = sorted(glob.glob(str(root / "usr/lib/syslog-ng/*/libafsocket.so")))
    moddir = Path(moddirs[-1]).parent if moddirs else root / "usr/lib/syslog-ng/MISSING"
    return [root / "usr/sbin/syslog-ng", moddir / "libafsocket.so", moddir / "libaffile.so"]


def get_syslog_ng(fetcher: PackageFetcher, force_private: bool) -> Daemon:
    system = None if force_private else _system_binary("syslog-ng")
    if system is not None:
        version = _version([str(system), "--version"], {})
        return Daemon("syslog-ng", system, version, f"installed ({system})")
    root = fetcher.workdir / "syslog-ng-root"
    env = unpack_private(fetcher, "syslog-ng-core", root, _syslog_ng_files)
    files = _syslog_ng_files(root)
    binary, module_dir = files[0], files[1].parent
    version = _version([str(binary), "--version", f"--module-path={module_dir}"], env)
    origin = "apt-get download syslog-ng-core + dpkg -x into a private root (--module-path)"
    return Daemon("syslog-ng", binary, version, origin, env, module_dir)


def rsyslog_config(port: int, out: Path, work: Path) -> str:
    return f"""\
# LogCaster persist benchmark: plain TCP lines in, raw lines out. Defaults otherwise:
# omfile asyncWriting off, default ioBufferSize, no fsync; main queue defaults.
# processInternalMessages: rsyslog's own notices stay inside (never /dev/log).
global(workDirectory="{work}" processInternalMessages="on")
module(load="imtcp")
template(name="rawline" type="string" string="%rawmsg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="rawline")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench"
      supportOctetCountedFraming="off")
"""


def syslog_ng_config(port: int, out: Path, version: str) -> str:
    match = re.search(r"(\d+\.\d+)", version.split("(")[-1])
    cfg_version = match.group(1) if match else "3.38"
    return f"""\
@version: {cfg_version}
# LogCaster persist benchmark: plain TCP lines in, raw lines out. Defaults otherwise
# (no fsync); flow-control so a full queue slows senders instead of dropping lines.
options {{ stats-freq(0); }};
source s_bench {{
  network(ip("127.0.0.1") port({port}) transport("tcp") flags(no-parse));
}};
destination d_bench {{ file("{out}" template("${{MESSAGE}}\\n")); }};
log {{ source(s_bench); destination(d_bench); flags(flow-control); }};
"""


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    label: str
    kind: str  # "logcaster", "rsyslog" or "syslog-ng"
    durability: str
    fsync_ms: int = 1000


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    port: int
    goal: int  # progress value meaning "every line written"
    progress: Callable[[], int]
    files: Callable[[], list[Path]]
    grace: float


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((proto.HOST, 0))
        return int(sock.getsockname()[1])


def wait_listening(proc: subprocess.Popen[bytes], port: int, deadline: float, log: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"exited {proc.returncode} at start: {tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((proto.HOST, port), 0.5):
            return
        time.sleep(0.02)
    raise Unavailable(f"did not listen on {port} in time: {tail(log)}")


def tail(log: Path, size: int = 300) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace")[-size:].strip().splitlines())
    return ""


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def logcaster_files(directory: Path) -> list[Path]:
    """Rotated files in rotation order (stamp, then -N), then current.log."""
    rotated: list[tuple[str, int, Path]] = []
    for path in directory.glob("log-*.log"):
        match = ROTATED_RE.fullmatch(path.name)
        if match:
            rotated.append((match.group(1), int(match.group(2) or 0), path))
    current = directory / "current.log"
    return [p for _, _, p in sorted(rotated)] + ([current] if current.exists() else [])


def persisted_lines(query_port: int) -> int:
    match = PERSISTED_RE.search(proto.request(query_port, "INFO", timeout=5.0))
    if match is None:
        raise RuntimeError("INFO reply has no PersistedLines")
    return int(match.group(1))


def start_target(target: Target, daemon: Daemon | None, rundir: Path, payload: Payload) -> Started:
    log = rundir / "server.log"
    deadline = time.monotonic() + 30.0
    if target.kind == "logcaster":
        data = rundir / "data"
        extra = ["-P", "-d", str(data), "--fsync-ms", str(target.fsync_ms)]
        try:
            server = servers.start_logcaster(sys.executable, REPO / "src", extra, log)
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise Unavailable(f"LogCaster did not start: {exc}: {tail(log)}") from None
        qport = server.query_port
        return Started(
            server.proc,
            server.ingest_port,
            len(payload.lines),
            lambda: persisted_lines(qport),
            lambda: logcaster_files(data),
            grace=15.0,
        )
    assert daemon is not None
    port = free_port()
    out = rundir / "out.log"
    env = {**os.environ, **daemon.env}
    conf = rundir / f"{daemon.name}.conf"
    if target.kind == "rsyslog":
        work = rundir / "work"
        work.mkdir()
        conf.write_text(rsyslog_config(port, out, work))
        cmd = [str(daemon.binary), "-n", "-f", str(conf), "-i", str(rundir / "rsyslogd.pid")]
        if daemon.module_dir is not None:
            cmd += ["-M", str(daemon.module_dir)]
    else:
        conf.write_text(syslog_ng_config(port, out, daemon.version))
        cmd = [str(daemon.binary), "-F", "-f", str(conf)]
        cmd += [f"--persist-file={rundir / 'syslog-ng.persist'}"]
        cmd += [f"--pidfile={rundir / 'syslog-ng.pid'}", f"--control={rundir / 'syslog-ng.ctl'}"]
        if daemon.module_dir is not None:
            cmd += [f"--module-path={daemon.module_dir}"]
    with log.open("ab") as err:
        proc = servers.spawn(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
    try:
        wait_listening(proc, port, deadline, log)
    except BaseException:
        servers.kill(proc)
        raise
    return Started(proc, port, payload.nbytes, lambda: file_size(out), lambda: [out], grace=15.0)


# --------------------------------------------------------------------------- one run


@dataclass
class RunResult:
    target: str
    clients: int
    lines: int
    seconds: float | None  # None: not every line was written in time
    lines_per_s: float | None
    mb_per_s: float | None
    lines_found: int
    lines_lost: int
    exact: bool  # the files hold every line sent, once, byte for byte
    out_of_order: int  # see Verdict
    server_cpu_s: float | None
    senders_seconds: float | None
    problem: str = ""


@dataclass(frozen=True)
class Verdict:
    """What the files hold, compared with what was sent."""

    found: int  # lines in the files
    lost: int  # payload lines that appear nowhere
    exact: bool  # every payload line once, same bytes, nothing else
    out_of_order: int  # places where a client's line follows a later line of that client
    detail: str


def verify(files: list[Path], payload: Payload, bounds: list[int]) -> Verdict:
    """Check the written files against the payload (untimed, after the server stopped)."""
    data = b"".join(f.read_bytes() for f in files if f.exists())
    found = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    total = len(payload.lines)
    raw = REQ_RE.findall(data)
    idx = np.fromiter((int(r) for r in raw), dtype=np.int64, count=len(raw))
    valid = idx[(idx >= 0) & (idx < total)]
    lost = total - int(np.unique(valid).size)
    problems: list[str] = []
    if found != total:
        problems.append(f"{found} lines written, {total} sent")
    if len(raw) != found:
        problems.append(f"{found - len(raw)} lines without a req= field")
    if not problems and not np.array_equal(np.sort(idx), np.arange(total)):
        problems.append("lines missing or repeated")
    if not problems:
        expected = b"\n".join(map(payload.lines.__getitem__, idx.tolist())) + b"\n"
        if expected != data:
            problems.append("line bytes differ from what was sent")
    edges = np.asarray(bounds, dtype=np.int64)
    owner = np.searchsorted(edges, valid, side="right") - 1
    out_of_order = 0
    for client in range(len(bounds) - 1):
        seq = valid[owner == client]
        out_of_order += int(np.count_nonzero(np.diff(seq) < 0))
    return Verdict(found, lost, not problems, out_of_order, "; ".join(problems))


def sender_cmd(payload: Path, port: int, clients: int, timeout: float) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "_send",
        "--payload",
        str(payload),
        "--port",
        str(port),
        "--clients",
        str(clients),
        "--timeout",
        str(timeout),
    ]


def wait_complete(
    started: Started, sender: subprocess.Popen[bytes], settings: Settings, deadline: float
) -> tuple[float | None, str]:
    """Poll progress until the goal; return (time reached or None, problem)."""
    last, last_change = -1, time.monotonic()
    while (now := time.monotonic()) < deadline:
        try:
            value = started.progress()
        except (OSError, RuntimeError) as exc:
            value, problem = last, f"progress poll failed: {exc}"
            if started.proc.poll() is not None:
                return None, problem
        if value >= started.goal:
            return now, ""
        if value != last:
            last, last_change = value, now
        if started.proc.poll() is not None:
            return None, f"server exited with {started.proc.returncode}"
        if sender.poll() is not None and now - last_change > settings.stall_s:
            return None, f"no progress for {settings.stall_s:.0f} s after the senders finished"
        time.sleep(POLL_S)
    return None, "deadline passed"


def run_once(
    target: Target,
    daemon: Daemon | None,
    clients: int,
    payload: Payload,
    settings: Settings,
    workdir: Path,
) -> RunResult:
    rundir = Path(tempfile.mkdtemp(prefix=f"{target.kind}-", dir=workdir))
    lines = len(payload.lines)
    started: Started | None = None
    sender: subprocess.Popen[bytes] | None = None
    try:
        started = start_target(target, daemon, rundir, payload)
        cpu_before = servers.cpu_seconds(started.proc.pid)
        deadline = time.monotonic() + settings.run_timeout_s
        with (rundir / "sender.log").open("ab") as err:
            cmd = sender_cmd(payload.path, started.port, clients, settings.run_timeout_s)
            sender = servers.spawn(cmd, stdout=subprocess.PIPE, stderr=err)
        done, problem = wait_complete(started, sender, settings, deadline)
        cpu_after = servers.cpu_seconds(started.proc.pid)
        try:
            out, _ = sender.communicate(timeout=max(deadline - time.monotonic(), 5.0))
            report = json.loads(out.decode().strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            report = {"t0": None, "senders_done": None, "errors": [f"sender: {exc!r}"]}
        servers.kill(sender)
        servers.kill(started.proc, started.grace)  # SIGTERM first: let it flush
        bounds = payload.client_bounds(clients)
        verdict = verify(started.files(), payload, bounds)
        t0 = report.get("t0")
        errors = [str(e) for e in report.get("errors", [])]
        problem = "; ".join(p for p in (problem, verdict.detail, *errors[:2]) if p)
        seconds = done - t0 if done is not None and t0 is not None and verdict.exact else None
        return RunResult(
            target=target.label,
            clients=clients,
            lines=lines,
            seconds=seconds,
            lines_per_s=lines / seconds if seconds else None,
            mb_per_s=payload.nbytes / seconds / 1e6 if seconds else None,
            lines_found=verdict.found,
            lines_lost=verdict.lost,
            exact=verdict.exact,
            out_of_order=verdict.out_of_order,
            server_cpu_s=cpu_after - cpu_before,
            senders_seconds=(
                report["senders_done"] - t0 if report.get("senders_done") and t0 else None
            ),
            problem=problem,
        )
    finally:
        if sender is not None:
            servers.kill(sender)
        if started is not None:
            servers.kill(started.proc)
        shutil.rmtree(rundir, ignore_errors=True)


# --------------------------------------------------------------------------- sender


def send_main(argv: list[str]) -> int:
    """The load generator process: N clients, each its slice once; prints JSON."""
    parser = argparse.ArgumentParser(prog="persist_bench.py _send")
    parser.add_argument("--payload", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    payload = Path(args.payload).read_bytes()
    slices = loadgen.split_payload(payload, args.clients)
    barrier = threading.Barrier(args.clients + 1)
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
        t0 = time.monotonic()
    except threading.BrokenBarrierError:
        errors.append("clients could not all connect")
    end = time.monotonic() + args.timeout
    for thread in threads:
        thread.join(max(end - time.monotonic(), 0.0))
    errors += [r.error for r in results if r.error]
    report = {
        "t0": t0,
        "senders_done": max((r.finished for r in results), default=None),
        "nbytes": sum(r.nbytes for r in results),
        "errors": errors[:5],
    }
    print(json.dumps(report), flush=True)
    return 0


# --------------------------------------------------------------------------- report


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(
    results: list[RunResult], targets: list[Target], settings: Settings
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for clients in settings.clients:
        group: dict[str, dict[str, object]] = {}
        for target in targets:
            runs = [r for r in results if r.target == target.label and r.clients == clients]
            rates = [r.lines_per_s for r in runs if r.lines_per_s is not None]
            mbs = [r.mb_per_s for r in runs if r.mb_per_s is not None]
            cpu = [r.server_cpu_s / (r.lines / 1e6) for r in runs if r.server_cpu_s is not None]
            group[target.label] = {
                "clients": clients,
                "target": target.label,
                "kind": target.kind,
                "runs": len(runs),
                "complete_runs": len(rates),
                "lines_per_s": median(rates),
                "mb_per_s": median(mbs),
                "server_cpu_s_per_m_lines": median(cpu),
                "lines_lost_max": max((r.lines_lost for r in runs), default=None),
                "exact_all": bool(runs) and all(r.exact for r in runs),
                "out_of_order_max": max((r.out_of_order for r in runs), default=None),
                "problems": sorted({r.problem for r in runs if r.problem}),
            }
        daemon_rates = [
            v
            for t in targets
            if t.kind != "logcaster"
            and isinstance(v := group[t.label]["lines_per_s"], float)
            and group[t.label]["complete_runs"] == group[t.label]["runs"]
        ]
        best = max(daemon_rates) if daemon_rates else None
        for target in targets:
            row = group[target.label]
            rate = row["lines_per_s"]
            row["ratio_vs_faster_daemon"] = (
                rate / best
                if isinstance(rate, float) and best and target.kind == "logcaster"
                else None
            )
            rows.append(row)
    return rows


def fmt(value: object, spec: str, missing: str = "n/a") -> str:
    return format(value, spec) if isinstance(value, int | float) else missing


def print_table(rows: list[dict[str, object]], unavailable: dict[str, str]) -> None:
    print(
        f"{'clients':>7}  {'server':<29} {'lines/s':>10} {'MB/s':>6} {'LC/best':>7}"
        f" {'lost':>7} {'exact':>5} {'reorder':>7} {'cpu s/M':>7}"
    )
    for row in rows:
        reason = unavailable.get(str(row["kind"]))
        exact = "n/a" if reason else ("yes" if row["exact_all"] else "NO")
        ratio = "-" if row["kind"] != "logcaster" else fmt(row["ratio_vs_faster_daemon"], "7.2f")
        print(
            f"{row['clients']:>7}  {row['target']:<29} {fmt(row['lines_per_s'], '10,.0f')}"
            f" {fmt(row['mb_per_s'], '6.1f')} {ratio:>7} {fmt(row['lines_lost_max'], '7d')}"
            f" {exact:>5} {fmt(row['out_of_order_max'], '7d')}"
            f" {fmt(row['server_cpu_s_per_m_lines'], '7.2f')}"
        )
    print(
        "lines/s, MB/s, cpu s/M (server CPU s per million lines): medians over the rounds;"
        " LC/best: LogCaster / the faster daemon; lost: most lines missing in one round;"
        " exact: files hold every line sent once, byte for byte; reorder: most places where"
        " a client's line was written after a later line of the same client."
    )
    for kind, reason in unavailable.items():
        print(f"!!! {kind}: n/a: {reason}")
    for row in rows:
        for problem in row["problems"]:  # type: ignore[attr-defined]
            print(f"!!! {row['target']} x{row['clients']}: {problem}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 000 lines per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 1])
    parser.add_argument("--lines", type=int, default=0, help="lines per run (overrides sizes)")
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds per run")
    parser.add_argument("--stall", type=float, default=10.0, help="give up after no progress")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--private-daemons",
        action="store_true",
        help="unpack both daemons from their packages even if installed",
    )
    return parser.parse_args(argv)


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="persist-bench-"))
    try:
        yield workdir
    finally:
        servers.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_send"]:
        return send_main(argv[1:])
    args = parse_args(argv)
    settings = make_settings(args)
    signal.signal(signal.SIGTERM, on_signal)
    started_at = time.monotonic()
    targets = [
        Target("LogCaster -P fsync-ms 1000", "logcaster", "fsync at least every 1000 ms", 1000),
        Target("LogCaster -P fsync-ms 0", "logcaster", "fsync after every write", 0),
        Target("rsyslog imtcp>omfile", "rsyslog", "omfile defaults: no fsync"),
        Target("syslog-ng network>file", "syslog-ng", "file() defaults: no fsync"),
    ]
    with workspace() as workdir:
        fetcher = PackageFetcher(workdir)
        daemons: dict[str, Daemon] = {}
        unavailable: dict[str, str] = {}
        for name, get in (("rsyslog", get_rsyslog), ("syslog-ng", get_syslog_ng)):
            try:
                daemons[name] = get(fetcher, settings.private_daemons)
                print(f"{name}: {daemons[name].version}; {daemons[name].origin}", flush=True)
            except Unavailable as exc:
                unavailable[name] = str(exc)
                print(f"!!! {name}: n/a: {exc}", flush=True)
        print(f"payload: {settings.lines:,} lines ...", flush=True)
        payload = make_payload(workdir / "payload.log", settings.lines)
        results: list[RunResult] = []
        for round_no in range(settings.rounds):
            for clients in settings.clients:
                shift = round_no % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    if target.kind in unavailable:
                        continue
                    try:
                        res = run_once(
                            target, daemons.get(target.kind), clients, payload, settings, workdir
                        )
                    except Unavailable as exc:
                        unavailable.setdefault(target.kind, str(exc))
                        print(f"!!! {target.label}: n/a: {exc}", flush=True)
                        continue
                    results.append(res)
                    rate = fmt(res.lines_per_s, ",.0f")
                    print(
                        f"round {round_no + 1} clients {clients} {target.label}: {rate} lines/s,"
                        f" lost {res.lines_lost}, exact {res.exact}, reorder {res.out_of_order}"
                        + (f" ({res.problem})" if res.problem else ""),
                        flush=True,
                    )
        rows = summarize(results, targets, settings)
        print()
        print_table(rows, unavailable)
        report = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_seconds": round(time.monotonic() - started_at, 1),
            "settings": asdict(settings),
            "payload": {"lines": settings.lines, "bytes": payload.nbytes},
            "host": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "os": platform.platform(),
            },
            "durability": {t.label: t.durability for t in targets},
            "daemons": {
                name: {"version": d.version, "origin": d.origin, "binary": str(d.binary)}
                for name, d in daemons.items()
            },
            "configs": {
                "rsyslog": rsyslog_config(0, Path("OUT"), Path("WORKDIR")),
                "syslog-ng": syslog_ng_config(
                    0, Path("OUT"), daemons["syslog-ng"].version if "syslog-ng" in daemons else ""
                ),
            },
            "package_steps": fetcher.log,
            "unavailable": unavailable,
            "completion": {
                "logcaster": "INFO PersistedLines == lines sent",
                "daemons": "output file size == payload bytes",
                "poll_s": POLL_S,
            },
            "rows": rows,
            "runs": [asdict(r) for r in results],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
