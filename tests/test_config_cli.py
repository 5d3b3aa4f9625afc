"""Configuration and command line: defaults, flag validation, exit status 2, query/send."""

from __future__ import annotations

import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import logcaster_cmd, parse_found, parse_stats

from logcaster import __version__
from logcaster.cli import build_parser, main
from logcaster.config import Config, ConfigError, IngestConfig, config_from_args, parse_size

MiB = 1 << 20


def run(*args: str, stdin: bytes = b"", timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(logcaster_cmd(*args), input=stdin, capture_output=True, timeout=timeout)


def test_serve_defaults() -> None:
    cfg = config_from_args(build_parser().parse_args(["serve"]))
    assert cfg == Config()
    assert (cfg.ingest.port, cfg.query.port) == (9999, 9998)
    assert (cfg.ingest.host, cfg.query.host) == ("0.0.0.0", "127.0.0.1")
    assert cfg.pool.workers == 4
    assert cfg.ring.capacity == 1_000_000
    assert cfg.ring.max_memory == 512 * MiB
    assert cfg.ingest.max_line_bytes == 65536
    assert cfg.query.timeout == 10


def test_serve_short_and_long_flags() -> None:
    ns = build_parser().parse_args(
        [
            "serve",
            "-p",
            "0",
            "-q",
            "1234",
            "-w",
            "2",
            "-c",
            "10",
            "--host",
            "127.0.0.1",
            "--query-host",
            "::1",
            "--max-memory",
            "1M",
            "--max-line-bytes",
            "4K",
            "--query-timeout",
            "0.5",
        ]
    )
    cfg = config_from_args(ns)
    assert (cfg.ingest.port, cfg.query.port) == (0, 1234)
    assert (cfg.pool.workers, cfg.ring.capacity) == (2, 10)
    assert (cfg.ingest.host, cfg.query.host) == ("127.0.0.1", "::1")
    assert (cfg.ring.max_memory, cfg.ingest.max_line_bytes, cfg.query.timeout) == (MiB, 4096, 0.5)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("65536", 65536),
        ("512M", 512 * MiB),
        ("1K", 1024),
        ("2k", 2048),
        ("1G", 1 << 30),
        ("1KB", 1024),
        ("8_192", 8192),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["512MiB", "64KiB"])
def test_parse_size_binary_suffix(text: str) -> None:
    assert parse_size(text) == int(text[:-3]) * {"M": MiB, "K": 1024}[text[-3]]


@pytest.mark.parametrize("text", ["", "M", "-1", "-1M", "0", "0K", "1.5M", "1T", "ten", "1 2"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_config_rejects_bad_values_directly() -> None:
    with pytest.raises(ConfigError, match="--port"):
        Config(ingest=IngestConfig(port=70000))
    with pytest.raises(ConfigError, match="--max-line-bytes"):
        Config(ingest=IngestConfig(max_line_bytes=65 * MiB))


BAD_FLAGS = [
    (["--port", "70000"], "--port"),
    (["--port=-1"], "--port"),
    (["-p", "abc"], "--port"),
    (["--query-port", "65536"], "--query-port"),
    (["-q", "-1"], "--query-port"),
    (["--workers", "0"], "--workers"),
    (["-w", "-3"], "--workers"),
    (["-w", "four"], "--workers"),
    (["-w", "1000"], "--workers"),
    (["--capacity", "0"], "--capacity"),
    (["-c=-5"], "--capacity"),
    (["-c", "1.5"], "--capacity"),
    (["--max-memory=-1"], "--max-memory"),
    (["--max-memory=-1M"], "--max-memory"),
    (["--max-memory", "lots"], "--max-memory"),
    (["--max-line-bytes", "0"], "--max-line-bytes"),
    (["--max-line-bytes=-10"], "--max-line-bytes"),
    (["--max-line-bytes", "100M"], "--max-line-bytes"),
    (["--query-timeout", "0"], "--query-timeout"),
    (["--query-timeout=-1"], "--query-timeout"),
    (["--query-timeout", "soon"], "--query-timeout"),
    (["--query-timeout", "nan"], "--query-timeout"),
    (["--host", ""], "--host"),
    (["--query-host", " "], "--query-host"),
]


def test_invalid_serve_flags_exit_2_with_one_line_naming_the_flag() -> None:
    """Each bad value, as its own `python -m logcaster serve` process (run in parallel)."""
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda case: run("serve", *case[0]), BAD_FLAGS))
    for (args, flag), proc in zip(BAD_FLAGS, results, strict=True):
        err = proc.stderr.decode()
        assert proc.returncode == 2, (args, proc.returncode, err)
        assert len(err.strip().splitlines()) == 1, (args, err)
        assert flag in err, (args, err)
        assert "Traceback" not in err
        assert b"listening" not in proc.stdout


def test_unknown_flag_and_missing_command_exit_2() -> None:
    assert run("serve", "--bogus").returncode == 2
    assert run().returncode == 2


def test_port_in_use_exits_2(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run("serve", "--host", "127.0.0.1", "-p", str(port), "-q", "0")
    assert proc.returncode == 2
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert __version__ in proc.stdout.decode()


def test_in_process_main_rejects_bad_port(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "70000"])
    assert exc.value.code == 2
    assert "--port" in capsys.readouterr().err


# ------------------------------------------------- query/send against a server


def test_cli_send_and_query(server) -> None:
    sent = run(
        "send",
        "--port",
        str(server.ingest_port),
        stdin=b"cli line one\ncli line two\r\n\ncli line three",
    )
    assert sent.returncode == 0, sent.stderr
    # `send` waits for the server to close the connection, so the lines are stored.
    proc = run("query", "--port", str(server.query_port), "QUERY keyword=cli line")
    assert proc.returncode == 0
    assert parse_found(proc.stdout) == (3, [b"cli line one", b"cli line two", b"cli line three"])

    proc = run("query", "-q", str(server.query_port), "STATS")
    assert proc.returncode == 0
    stats = parse_stats(proc.stdout)
    assert (stats["Total"], stats["Current"], stats["Dropped"]) == (3, 3, 0)

    proc = run("query", "--host", "127.0.0.1", "-p", str(server.query_port), "COUNT")
    assert proc.stdout == b"COUNT: 3\n"

    proc = run("query", "--port", str(server.query_port), "NONSENSE")
    assert proc.stdout.startswith(b"ERROR: Unknown command")
    assert proc.returncode != 0


def test_cli_query_connection_refused_is_an_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run("query", "--port", str(port), "STATS")
    assert proc.returncode == 1
    assert "error" in proc.stderr.decode()
