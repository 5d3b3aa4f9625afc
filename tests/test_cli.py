"""The ``logcaster`` command line against real servers: help and errors, query streaming
and FOLLOW with Ctrl-C, --json through the HTTP API, tail, grep, stats, send (files,
--syslog framing, progress bar), colour, connection and bind errors, version."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import pty
import re
import signal
import socket
import subprocess
import threading
from importlib import metadata

import pytest
from support import PYTHON, Server, logcaster_cmd, parse_stats, send, wait_for

from logcaster.cli import COMMANDS
from logcaster.cli.reply import quote
from logcaster.client import stream_reply, syslog_frames
from logcaster.console import engine
from logcaster.frontends.line.grammar import tokenize

ESC = b"\x1b["


def run(*args: str, stdin: bytes = b"", env: dict | None = None, timeout: float = 60):
    return subprocess.run(
        logcaster_cmd(*args), input=stdin, capture_output=True, timeout=timeout, env=env
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LINES = b"".join(
    [
        b"INFO boot ok\n",
        b"ERROR disk full on /var\n",
        b"WARN slow query 1200 ms\n",
        b"level=error db timeout after 30 ms\n",
        b"INFO user 7 logged in\n",
        b"DEBUG cache warm\n",
        b"INFO done\n",
    ]
)


@pytest.fixture
def filled(server: Server) -> Server:
    send(server.ingest_port, LINES)
    return server


def body_lines(out: bytes) -> list[bytes]:
    """Reply lines without their ``[receive time] `` stamp."""
    return [re.sub(rb"^\[[^]]+\] ", b"", line) for line in out.splitlines()]


# ------------------------------------------------------------------ help and usage


def test_logcaster_alone_lists_the_commands() -> None:
    proc = run()
    assert proc.returncode == 2
    err = proc.stderr.decode()
    for module in COMMANDS:
        assert re.search(rf"^  {module.NAME} +{re.escape(module.SUMMARY)}$", err, re.M), err


@pytest.mark.parametrize("name", [m.NAME for m in COMMANDS])
def test_every_command_has_a_summary_examples_and_one_default_style(name: str) -> None:
    proc = run(name, "--help")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    summary = next(m.SUMMARY for m in COMMANDS if name == m.NAME)
    assert text.split("\n\n")[1].startswith(summary), text[:300]
    assert f"logcaster {name}" in text.split("\nexamples:\n  ")[1]
    flat = " ".join(text.split())
    assert not re.search(r"\((\d+|127\.0\.0\.1)\)", flat), "a default not written (default: X)"
    assert "default" not in flat.replace("(default: ", "").replace("default:", "").lower() or (
        name == "serve"
    )


def test_errors_name_the_program_and_the_command() -> None:
    proc = run("serve", "--bogus")
    assert proc.returncode == 2
    assert proc.stderr.decode() == "logcaster serve: error: unrecognized arguments: --bogus\n"
    proc = run("tail", "-n", "many")
    assert proc.stderr.decode().startswith("logcaster tail: error: argument -n/--lines")
    proc = run("query", "--port", "0", "STATS")
    assert proc.stderr.decode().startswith("logcaster query: error: argument -q/-p/--port")


def test_quote_round_trips_through_the_query_grammar() -> None:
    for value in ['a"b', "x\\", 'p\\"q', "sp ace,comma", "\\d+ ms", "plain", ""]:
        ((key, got, _),) = tokenize(f"regex={quote(value)}")
        assert (key, got) == ("regex", value), value


def test_syslog_frames_are_octet_counted() -> None:
    frames, rest = syslog_frames(b"one\r\n\nh\xc3\xa9llo two\npart")
    assert frames == b"3 one" + b"10 h\xc3\xa9llo two"
    assert rest == b"part"


# ------------------------------------------------------------------ query


def test_query_joins_its_arguments_into_one_command_line(filled: Server) -> None:
    proc = run("query", "-p", str(filled.query_port), "TAIL", "3")
    assert proc.returncode == 0, proc.stderr
    assert body_lines(proc.stdout) == LINES.splitlines()[-3:]
    proc = run("query", "-p", str(filled.query_port), "QUERY", "keywords=disk,db", "operator=OR")
    assert proc.stdout.startswith(b"FOUND: 2 matches\n")
    proc = run("query", "-p", str(filled.query_port), 'QUERY regex="timeout after [0-9]+ ms"')
    assert proc.stdout.startswith(b"FOUND: 1 matches\n")


def test_query_error_reply_exits_1(filled: Server) -> None:
    proc = run("query", "-p", str(filled.query_port), "QUERY", "limit=zero")
    assert proc.returncode == 1
    assert proc.stdout.startswith(b"ERROR: Invalid limit")


def test_a_large_reply_is_streamed_not_held(server: Server) -> None:
    line = b"INFO " + b"s" * 95 + b"\n"
    send(server.ingest_port, line * 300_000)  # ~30 MB
    chunks = 0
    size = 0
    for chunk in stream_reply("127.0.0.1", server.query_port, "QUERY keywords=INFO"):
        chunks += 1
        size += len(chunk)
    assert chunks > 100 and size > 300_000 * len(line)
    # The command itself: its peak memory stays far below the reply's size.
    probe = (
        "import resource, sys\n"
        "from logcaster.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )

    def peak_kib(*args: str) -> int:
        proc = subprocess.run(
            [PYTHON, "-c", probe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert proc.returncode == 0, proc.stderr
        return int(proc.stderr.split()[-1])

    baseline = peak_kib("query", "-p", str(server.query_port), "COUNT")
    big = peak_kib("query", "-p", str(server.query_port), "QUERY keywords=INFO")
    assert big - baseline < 10_000, (baseline, big)  # KiB; the reply is ~32 MB


def test_follow_streams_has_no_read_timeout_and_ctrl_c_exits_0(server: Server) -> None:
    proc = subprocess.Popen(
        logcaster_cmd(
            "query", "-p", str(server.query_port), "--timeout", "1", "FOLLOW", "level=ERROR"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"FOLLOWING\n"  # printed as it arrived
        wait_for(lambda: server.info().get("Followers", "1") != "0", 10, what="the follower")
        # Quiet for longer than --timeout: the follow must go on.
        threading.Event().wait(1.5)
        assert proc.poll() is None
        send(server.ingest_port, b"INFO not this\nERROR this one\n")
        assert body_lines(proc.stdout.readline()) == [b"ERROR this one"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
        proc.wait()


def test_json_goes_through_the_http_api(filled: Server) -> None:
    base = ("--http-port", str(filled.http_port))
    proc = run("query", *base, "--json", "QUERY", "keywords=disk,db", "operator=OR")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["line"] for r in records] == [
        "ERROR disk full on /var",
        "level=error db timeout after 30 ms",
    ]
    assert all(r["time"].endswith("Z") for r in records)
    proc = run("query", *base, "--json", "TAIL", "2")
    tail = [json.loads(x)["line"] for x in proc.stdout.splitlines()]
    assert tail == ["DEBUG cache warm", "INFO done"]
    proc = run("stats", *base, "--json")
    assert json.loads(proc.stdout)["Total"] == 7
    proc = run("query", *base, "--json", "QUERY", "limit=zero")
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("logcaster query: error: HTTP 400: Invalid limit")


def test_json_without_the_http_api_says_so() -> None:
    port = free_port()
    proc = run("query", "--json", "--http-port", str(port), "QUERY")
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert f"127.0.0.1:{port}" in err and "--http-port" in err and "logcaster serve" in err


# ------------------------------------------------------------------ tail, grep, stats


def test_tail(filled: Server) -> None:
    port = ("-p", str(filled.query_port))
    proc = run("tail", *port)
    assert body_lines(proc.stdout) == LINES.splitlines()  # 7 lines: fewer than 10
    proc = run("tail", *port, "-n", "2")
    assert body_lines(proc.stdout) == [b"DEBUG cache warm", b"INFO done"]
    proc = run("tail", *port, "-n", "5", "level=INFO")
    assert body_lines(proc.stdout) == [b"INFO boot ok", b"INFO user 7 logged in", b"INFO done"]
    proc = run("tail", *port, "--level", "ERROR", "keywords=disk")
    assert body_lines(proc.stdout) == [b"ERROR disk full on /var"]
    proc = run("tail", *port, "nonsense")
    assert proc.returncode == 1 and b"is not key=value" in proc.stderr


def test_tail_follow_prints_the_newest_then_new_lines(filled: Server) -> None:
    proc = subprocess.Popen(
        logcaster_cmd("tail", "-f", "-n", "1", "-p", str(filled.query_port), "--level", "INFO"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert body_lines(proc.stdout.readline()) == [b"INFO done"]
        send(filled.ingest_port, b"ERROR no\nINFO yes, new\n")
        assert body_lines(proc.stdout.readline()) == [b"INFO yes, new"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_grep_exit_status_like_grep(filled: Server) -> None:
    port = ("-p", str(filled.query_port))
    proc = run("grep", *port, "timeout after [0-9]+ ms")
    assert proc.returncode == 0
    assert body_lines(proc.stdout) == [b"level=error db timeout after 30 ms"]
    proc = run("grep", *port, "-i", "^info")
    assert len(body_lines(proc.stdout)) == 3
    proc = run("grep", *port, "INFO", "-m", "1")
    assert body_lines(proc.stdout) == [b"INFO done"]
    proc = run("grep", *port, "--level", "WARN", "[0-9]+ ms")
    assert body_lines(proc.stdout) == [b"WARN slow query 1200 ms"]
    proc = run("grep", *port, "no such thing")
    assert (proc.returncode, proc.stdout) == (1, b"")
    proc = run("grep", *port, "[unclosed")
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("logcaster grep: error: the server answered: Invalid")


def test_stats(filled: Server) -> None:
    proc = run("stats", "-p", str(filled.query_port))
    assert proc.returncode == 0
    counters = dict(line.split("=", 1) for line in proc.stdout.decode().splitlines())
    assert counters["Total"] == "7" and counters["Current"] == "7"


# ------------------------------------------------------------------ send


def test_send_files_in_order(server: Server, tmp_path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"file a one\nfile a two\n")
    b.write_bytes(b"file b one")  # no final newline
    proc = run("send", "-p", str(server.ingest_port), str(a), "-", str(b), stdin=b"file stdin\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""  # not a terminal: no progress bar
    assert parse_stats(server.query("STATS"))["Total"] == 4
    proc = run("query", "-p", str(server.query_port), "QUERY", "keywords=file")
    assert body_lines(proc.stdout)[1:] == [
        b"file a one",
        b"file a two",
        b"file stdin",
        b"file b one",
    ]


def test_send_missing_file_is_one_error_line(server: Server, tmp_path) -> None:
    proc = run("send", "-p", str(server.ingest_port), str(tmp_path / "nope.log"))
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        f"logcaster send: error: cannot read {tmp_path / 'nope.log'}: No such file or directory\n"
    )
    assert server.stats()["Total"] == 0


def test_send_syslog_framing_on_the_wire(tmp_path) -> None:
    """What --syslog puts on the wire, read by a plain TCP receiver."""
    received = bytearray()
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)

        def receive() -> None:
            conn, _ = lsock.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received.extend(chunk)

        t = threading.Thread(target=receive)
        t.start()
        port = str(lsock.getsockname()[1])
        proc = run("send", "--syslog", "-p", port, stdin=b"<13>hello\r\n\nsecond line\nlast")
        t.join(10)
    assert proc.returncode == 0, proc.stderr
    assert bytes(received) == b"9 <13>hello11 second line4 last"


def test_send_progress_bar(server: Server, tmp_path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes((b"INFO " + b"p" * 95 + b"\n") * 60_001)  # 6 MB: over the 4 MiB threshold
    proc = run("send", "-p", str(server.ingest_port), "--progress", "always", str(big))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert err.count("big.log") >= 2 and "MiB" in err and "\r" in err, err[-500:]  # redrawn
    proc = run("send", "-p", str(server.ingest_port), str(big))  # auto, stderr is a pipe
    assert proc.stderr == b""
    # auto, stderr a terminal: the bar is drawn.
    leader, follower = pty.openpty()
    tty = subprocess.Popen(
        logcaster_cmd("send", "-p", str(server.ingest_port), str(big)), stderr=follower
    )
    os.close(follower)
    drawn = b""
    with contextlib.suppress(OSError):  # EIO once the terminal's other end closed
        while chunk := os.read(leader, 65536):
            drawn += chunk
    os.close(leader)
    assert tty.wait(60) == 0
    assert b"big.log" in drawn and b"MiB" in drawn
    server.wait_total(3 * 60_001)


# ------------------------------------------------------------------ colour


def test_colour(filled: Server) -> None:
    port = ("-p", str(filled.query_port))
    always = run("tail", *port, "--color", "always")
    assert ESC + b"1;31mERROR" + ESC + b"0m disk full" in always.stdout
    assert b"level=" + ESC + b"1;31merror" in always.stdout
    assert ESC + b"33mWARN" in always.stdout
    assert body_lines(re.sub(rb"\x1b\[[0-9;]*m", b"", always.stdout)) == LINES.splitlines()
    assert ESC not in run("tail", *port).stdout  # auto: stdout is a pipe
    assert ESC not in run("tail", *port, "--color", "never").stdout


def test_no_color_is_respected_on_a_terminal(filled: Server) -> None:
    def on_tty(env: dict) -> bytes:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            logcaster_cmd("tail", "-p", str(filled.query_port)),
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
        )
        os.close(follower)
        out = b""
        try:
            while chunk := os.read(leader, 65536):
                out += chunk
        except OSError:  # EIO: the terminal's other end closed
            pass
        os.close(leader)
        assert proc.wait(30) == 0
        return out

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert ESC + b"1;31mERROR" in on_tty(env)
    assert ESC not in on_tty({**env, "NO_COLOR": "1"})


# ------------------------------------------------------------------ errors


def test_connection_refused_names_the_address_and_the_cause() -> None:
    port = free_port()
    proc = run("query", "-p", str(port), "STATS")
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.startswith(f"logcaster query: error: cannot connect to 127.0.0.1:{port}")
    assert "no server is listening" in err and "logcaster serve" in err
    assert len(err.splitlines()) == 1
    proc = run("send", "-p", str(port), stdin=b"x\n")
    err = proc.stderr.decode()
    assert err.startswith(f"logcaster send: error: cannot connect to 127.0.0.1:{port}")


def test_unknown_host_is_named() -> None:
    proc = run("stats", "--host", "no-such-host.invalid")
    assert proc.returncode == 1
    assert "unknown host 'no-such-host.invalid' (--host)" in proc.stderr.decode()


def test_a_port_that_never_answers_is_a_timeout_naming_the_flag() -> None:
    with socket.socket() as deaf:
        deaf.bind(("127.0.0.1", 0))
        deaf.listen(1)
        port = deaf.getsockname()[1]
        proc = run("query", "-p", str(port), "--timeout", "0.5", "STATS")
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert f"127.0.0.1:{port} accepted the connection but sent nothing within 0.5 s" in err
    assert "--timeout" in err


def test_bind_failures_name_the_flag() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for flag in ("--port", "--query-port", "--http-port"):
            others = {"--port": "0", "--query-port": "0", "--http-port": "0", flag: str(port)}
            args = [x for kv in others.items() for x in kv]
            proc = run("serve", "--host", "127.0.0.1", *args)
            assert proc.returncode == 2
            assert proc.stderr.decode() == (
                f"logcaster serve: error: {flag} {port} is already in use "
                "(another server, or another listener)\n"
            )


def test_two_listeners_on_one_port_are_refused_before_binding() -> None:
    port = free_port()
    proc = run("serve", "-p", str(port), "-q", str(port), "--http-port", "0")
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        f"logcaster serve: error: --query-port {port}: --port already uses this port\n"
    )
    assert b"listening" not in proc.stdout
    proc = run("serve", "-p", "0", "-q", "0", "--http-port", str(port), "--port", str(port))
    assert "--http-port" in proc.stderr.decode() and "--port already uses" in proc.stderr.decode()


# ------------------------------------------------------------------ engine and versions


def test_serve_says_which_engine_it_runs(server: Server) -> None:
    assert f"LogCaster engine: {engine()}\n" in server.stdout()


def test_version_prints_every_component() -> None:
    proc = run("version")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert re.search(r"^LogCaster \d+\.\d+", out, re.M)
    assert f"Python    {platform.python_version()}" in out
    assert f"uvloop    {metadata.version('uvloop')}" in out
    assert f"google-re2 {metadata.version('google-re2')}" in out
    assert f"engine    {engine()}" in out


def test_engine_names_the_pure_python_fallback(monkeypatch) -> None:
    from logcaster import scan

    monkeypatch.setattr(scan, "HAVE_NATIVE", False)
    assert engine().startswith("pure Python")
    monkeypatch.setattr(scan, "HAVE_NATIVE", True)
    assert engine().startswith("C accelerator")
