"""Acceptance with real syslog senders: util-linux logger, rsyslog, syslog-ng, Python's
SysLogHandler, graypy (GELF), Perl Sys::Syslog, nc and socat.

Each sender delivers 1000 numbered messages, one with spaces and a tab, one in UTF-8,
one of 10 KB and, where its framing can carry it, one with an embedded newline; every
message must be exactly one entry with no framing byte (count, NUL, CR) in it.

A test is skipped when its sender is not installed (``scripts/install-test-deps``
installs them all; rsyslog and syslog-ng are unpacked into ``.deps/``, else the machine's
own copy is used). Both daemons run in the foreground with a private config and work
directory and no local-log inputs: the machine's own syslog is never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import re
import shutil
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO, Server, wait_for

pytestmark = pytest.mark.senders

N = 1000
DEPS = Path(os.environ.get("LOGCASTER_TEST_DEPS", REPO / ".deps"))
LEAKED_COUNT = re.compile(rb"^\d+ <")


@dataclass
class Messages:
    """What one sender is asked to deliver; ``tag`` makes its entries findable."""

    tag: str
    multiline: bool

    @property
    def numbered(self) -> list[str]:
        return [f"seq-{self.tag}-{i:04d} numbered message" for i in range(N)]

    @property
    def special(self) -> dict[str, str]:
        msgs = {
            "tab": f"tabs-{self.tag} two  spaces\tand a tab",
            "utf8": f"utf8-{self.tag} h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e",
            "big": f"big-{self.tag} " + "0123456789" * 1000,
        }
        if self.multiline:
            msgs["multi"] = f"multi-{self.tag} first line\nsecond line"
        return msgs

    @property
    def all(self) -> list[str]:
        return [*self.numbered, *self.special.values()]


def stored(srv: Server, tag: str, expected: int) -> list[bytes]:
    """The entries holding ``tag``, once ``expected`` of them have arrived."""
    last: list[bytes] = []

    def arrived() -> bool:
        last[:] = srv.found(tag)[1]
        return len(last) >= expected

    try:
        wait_for(arrived, timeout=30, interval=0.1, what=f"{expected} entries of {tag}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: got {len(last)}, last {last[-3:]!r}") from None
    return last


def check(
    srv: Server,
    msgs: Messages,
    text_of: Callable[[bytes], bytes] = lambda e: e,
    starts: bytes | None = b"<",
) -> None:
    """Every message exactly one entry, its text intact, no framing byte stored."""
    entries = stored(srv, msgs.tag, N + len(msgs.special))
    for entry in entries:
        assert b"\0" not in entry and not entry.endswith(b"\r"), entry[:200]
        assert not LEAKED_COUNT.match(entry), entry[:200]
        if starts is not None:
            assert entry.startswith(starts), entry[:200]
    texts = [text_of(e) for e in entries]
    numbers = Counter(
        m for t in texts for m in re.findall(rb"seq-%b-(\d{4}) " % msgs.tag.encode(), t)
    )
    assert len(numbers) == N and set(numbers.values()) == {1}, numbers.most_common(3)
    for name, message in msgs.special.items():
        marker = message.split(" ", 1)[0].encode()
        hits = [t for t in texts if marker in t]
        assert len(hits) == 1, (name, hits)
        want = message.encode().replace(b"\n", b"#012")
        assert want in hits[0] or message.encode() in hits[0], (name, hits[0][:300])
    assert len(entries) == N + len(msgs.special)


def need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (scripts/install-test-deps)")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def frame(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


@pytest.fixture
def srv(server_factory: Callable[..., Server]) -> Server:
    return server_factory("--max-line-bytes", "65536")


# ---------------------------------------------------------------- util-linux logger


LOGGER_CASES = {
    "logger-rfc5424": ["--tcp", "--rfc5424"],
    "logger-rfc3164": ["--tcp", "--rfc3164"],
    "logger-octet": ["--tcp", "--octet-count"],
    "logger-udp": ["--udp"],
}


@pytest.mark.parametrize("case", sorted(LOGGER_CASES))
def test_logger(srv: Server, case: str) -> None:
    need("logger")
    opts = LOGGER_CASES[case]
    multiline = "--octet-count" in opts or "--udp" in opts
    msgs = Messages(case.replace("-", ""), multiline)
    base = ["logger", "-n", "127.0.0.1", "-P", str(srv.ingest_port), "-t", "app"]
    base += [*opts, "--size", "20000", "-p", "user.err"]
    lines = [m for m in msgs.all if "\n" not in m]
    subprocess.run(base, input="\n".join(lines) + "\n", text=True, check=True, timeout=60)
    if multiline:
        subprocess.run([*base, msgs.special["multi"]], check=True, timeout=30)
    check(srv, msgs)


# ---------------------------------------------------------------- rsyslog

RSYSLOG_CASES = {
    "rsyslog-tcp": 'Protocol="tcp"',
    "rsyslog-proto23": 'Protocol="tcp" Template="RSYSLOG_SyslogProtocol23Format"',
    "rsyslog-octet": 'Protocol="tcp" TCP_Framing="octet-counted"',
    "rsyslog-octet23": (
        'Protocol="tcp" TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format"'
    ),
    "rsyslog-udp": 'Protocol="udp"',
    "rsyslog-tls": (
        'Protocol="tcp" TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format" '
        'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="anon"'
    ),
    "rsyslog-tls-ossl": (
        'Protocol="tcp" TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format" '
        'StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="anon"'
    ),
}


def unpacked(name: str, binary: str) -> tuple[list[str], dict[str, str]] | None:
    """The command prefix and environment of a daemon unpacked by install-test-deps into
    ``.deps/<name>``, else of the machine's own copy; None when there is neither."""
    root = DEPS / name
    path = root / "usr" / "sbin" / binary
    if path.exists():
        libs = [root / "usr/lib/x86_64-linux-gnu", root / "lib/x86_64-linux-gnu"]
        libs.append(root / "usr/lib" / name)
        env = dict(os.environ, LD_LIBRARY_PATH=":".join(map(str, libs)))
        if name == "rsyslog":
            return [str(path), "-M", str(root / "usr/lib/x86_64-linux-gnu/rsyslog")], env
        (modules,) = (root / "usr/lib/syslog-ng").glob("3.*")
        return [str(path), f"--module-path={modules}"], env
    found = shutil.which(binary)
    return ([found], dict(os.environ)) if found else None


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (scripts/install-test-deps)")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return cert, key


@contextlib.contextmanager
def daemon(
    cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a syslog daemon in the foreground until its input ``port`` accepts."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    try:
        wait_for(
            lambda: proc.poll() is not None or can_connect(port),
            timeout=20,
            what=f"{cmd[0]} to listen",
        )
        assert proc.poll() is None, f"{cmd[0]} exited: {log.read_text(errors='replace')[-2000:]}"
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def send_through(port: int, msgs: Messages, octet: bool) -> None:
    """Feed a daemon's TCP input: RFC 3164 messages at user.err, framed as asked."""
    out = bytearray()
    for text in msgs.all:
        if "\n" in text and not octet:
            continue
        msg = f"<11>Dec  1 19:00:00 vm app: {text}".encode()
        out += frame(msg) if octet else msg + b"\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(bytes(out))


@pytest.mark.parametrize("case", sorted(RSYSLOG_CASES))
def test_rsyslog(
    server_factory: Callable[..., Server], tmp_path: Path, tls_files: tuple[Path, Path], case: str
) -> None:
    daemon_cmd = unpacked("rsyslog", "rsyslogd")
    if daemon_cmd is None:
        pytest.skip("rsyslog is not installed (scripts/install-test-deps)")
    tls = "-tls" in case
    cert, key = tls_files
    srv = server_factory(
        *(["--tls-cert", str(cert), "--tls-key", str(key), "--ingest-tls"] if tls else [])
    )
    work = tmp_path / "rsyslog"
    work.mkdir()
    in_port = free_port()
    ca = f'defaultNetstreamDriverCAFile="{cert}"' if tls else ""
    conf = work / "rsyslog.conf"
    conf.write_text(
        f"""
global(workDirectory="{work}" maxMessageSize="64k" parser.escapeControlCharacterTab="off" {ca})
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{in_port}" ruleset="fwd")
ruleset(name="fwd") {{
    action(type="omfwd" target="127.0.0.1" port="{srv.ingest_port}" {RSYSLOG_CASES[case]}
           action.resumeRetryCount="-1")
}}
"""
    )
    msgs = Messages(case.replace("-", ""), multiline=True)
    prefix, env = daemon_cmd
    cmd = [*prefix, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")]
    with daemon(cmd, in_port, work / "rsyslogd.log", env):
        send_through(in_port, msgs, octet=True)
        check(srv, msgs)


# ---------------------------------------------------------------- syslog-ng

SYSLOG_NG_CASES = {
    "syslogng-tcp": ('network("127.0.0.1" port({port}) transport("tcp"))', False),
    "syslogng-udp": ('network("127.0.0.1" port({port}) transport("udp"))', True),
    "syslogng-ietf": ('syslog("127.0.0.1" port({port}) transport("tcp"))', True),
}


@pytest.mark.parametrize("case", sorted(SYSLOG_NG_CASES))
def test_syslog_ng(srv: Server, tmp_path: Path, case: str) -> None:
    daemon_cmd = unpacked("syslog-ng", "syslog-ng")
    if daemon_cmd is None:
        pytest.skip("syslog-ng is not installed (scripts/install-test-deps)")
    work = tmp_path / "syslog-ng"
    work.mkdir()
    in_port = free_port()
    dest, multiline = SYSLOG_NG_CASES[case]
    conf = work / "syslog-ng.conf"
    conf.write_text(
        f"""@version: 3.38
options {{ log-msg-size(65536); keep-hostname(yes); stats-freq(0); }};
source s_in {{ syslog(ip("127.0.0.1") port({in_port}) transport("tcp") log-msg-size(65536)); }};
destination d_out {{ {dest.format(port=srv.ingest_port)}; }};
log {{ source(s_in); destination(d_out); }};
"""
    )
    prefix, env = daemon_cmd
    cmd = [*prefix, "-F", "--no-caps", "-f", str(conf)]
    cmd += [f"--persist-file={work / 'persist'}", f"--pidfile={work / 'pid'}"]
    cmd += [f"--control={work / 'ctl'}"]
    msgs = Messages(case.replace("-", ""), multiline)
    with daemon(cmd, in_port, work / "syslog-ng.log", env):
        send_through(in_port, msgs, octet=True)
        check(srv, msgs)


# ---------------------------------------------------------------- Python logging


def log_all(handler: logging.Handler, msgs: Messages) -> None:
    logger = logging.getLogger(f"senders.{msgs.tag}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for text in msgs.all:
            logger.error("%s", text)
    finally:
        logger.removeHandler(handler)
        handler.close()


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_python_syslog_handler(srv: Server, kind: str) -> None:
    socktype = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    # Over TCP a message ends in NUL, so a newline inside one would end it: not sent.
    msgs = Messages(f"pysyslog{kind}", multiline=kind == "udp")
    handler = logging.handlers.SysLogHandler(("127.0.0.1", srv.ingest_port), socktype=socktype)
    handler.setFormatter(logging.Formatter("app: %(message)s"))
    log_all(handler, msgs)
    check(srv, msgs)


def gelf_text(entry: bytes) -> bytes:
    doc = json.loads(entry)
    assert doc["version"] in ("1.0", "1.1") and doc["level"] == 3
    return str(doc["short_message"]).replace("\n", "#012").encode()


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_graypy_gelf(srv: Server, kind: str) -> None:
    graypy = pytest.importorskip("graypy", reason="pip install graypy (scripts/install-test-deps)")
    msgs = Messages(f"gelf{kind}", multiline=True)
    if kind == "tcp":
        handler = graypy.GELFTCPHandler("127.0.0.1", srv.ingest_port)
    else:
        handler = graypy.GELFUDPHandler(
            "127.0.0.1", srv.ingest_port, gelf_chunker=graypy.handler.GELFWarningChunker(100)
        )
    log_all(handler, msgs)
    check(srv, msgs, gelf_text, starts=b"{")
    if kind == "udp":
        # Every message came in chunks.
        assert int(srv.info()["GelfReassembled"]) == N + len(msgs.special)


# ---------------------------------------------------------------- Perl, nc, socat

PERL = r"""
use Sys::Syslog qw(:standard :macros setlogsock);
setlogsock({type => "tcp", host => "127.0.0.1", port => $ARGV[0]}) or die "setlogsock";
openlog("app", "", "user") or die "openlog";
binmode STDIN, ":raw";
while (my $line = <STDIN>) { chomp $line; syslog("err", "%s", $line); }
closelog();
"""


def test_perl_sys_syslog(srv: Server, tmp_path: Path) -> None:
    need("perl")
    if subprocess.run(["perl", "-MSys::Syslog", "-e1"], capture_output=True).returncode:
        pytest.skip("Perl's Sys::Syslog is not installed")
    msgs = Messages("perl", multiline=False)
    script = tmp_path / "send.pl"
    script.write_text(PERL)
    data = "".join(m + "\n" for m in msgs.all).encode()
    subprocess.run(["perl", str(script), str(srv.ingest_port)], input=data, check=True, timeout=60)
    check(srv, msgs)


@pytest.mark.parametrize("tool", ["nc", "socat"])
def test_plain_lines_with_nc_and_socat(srv: Server, tmp_path: Path, tool: str) -> None:
    need(tool)
    msgs = Messages(tool, multiline=False)
    path = tmp_path / "lines.txt"
    path.write_bytes("".join(m + "\n" for m in msgs.all).encode())
    port = str(srv.ingest_port)
    cmd = (
        ["nc", "-N", "127.0.0.1", port]
        if tool == "nc"
        else ["socat", "-u", f"FILE:{path}", f"TCP:127.0.0.1:{port}"]
    )
    with path.open("rb") as f:
        subprocess.run(cmd, stdin=f if tool == "nc" else subprocess.DEVNULL, check=True, timeout=60)
    check(srv, msgs, starts=None)
    assert set(srv.found(tool)[1]) == {m.encode() for m in msgs.all}  # stored exactly as sent
