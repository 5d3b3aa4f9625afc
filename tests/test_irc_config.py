"""The ``[irc]`` settings: defaults, the series' short flags, bounds, TLS checks, the
environment; and the IRC port served over TLS with the shared certificate."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from irc_support import IRC_BANNER_RE, IrcServer, irc_factory
from support import logcaster_cmd

from logcaster.cli import build_parser
from logcaster.config import Config, ConfigError, IrcConfig, config_from_args, load_config

__all__ = ["irc_factory"]  # fixture used below


def from_flags(*argv: str, environ: dict[str, str] | None = None) -> Config:
    return config_from_args(build_parser().parse_args(["serve", *argv]), environ or {})


def test_defaults() -> None:
    assert Config().irc == IrcConfig(False, "127.0.0.1", 6667, "", False, 20)
    assert "password" not in repr(IrcConfig(password="secret-irc-pass"))


def test_short_and_long_flags() -> None:
    irc = from_flags("-i", "-I", "7000").irc
    assert (irc.enabled, irc.port) == (True, 7000)
    irc = from_flags("--irc", "--irc-port", "0", "--irc-host", "::1", "--irc-max-reply", "5").irc
    assert (irc.enabled, irc.port, irc.host, irc.max_reply) == (True, 0, "::1", 5)
    assert from_flags("--irc-password", "irc-pass-1234").irc.password == "irc-pass-1234"


def test_environment_and_file() -> None:
    env = {"LOGCASTER_IRC_ENABLED": "1", "LOGCASTER_IRC_PORT": "6697"}
    irc = load_config(environ=env).irc
    assert (irc.enabled, irc.port) == (True, 6697)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--irc-max-reply", "1001"), "at most 1000"),
        (("--irc-max-reply", "0"), "--irc-max-reply"),
        (("-I", "70000"), "--irc-port"),
        (("--irc-password", "short"), "at least 8 characters"),
    ],
)
def test_bad_values_stop_with_the_flag_named(argv: tuple[str, ...], message: str) -> None:
    proc = subprocess.run(logcaster_cmd("serve", *argv), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_irc_tls_needs_the_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--irc-tls: needs --tls-cert and --tls-key"):
        from_flags("--irc-tls")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    config = from_flags("--irc-tls", "--tls-cert", str(cert), "--tls-key", str(key))
    assert config.irc.tls and config.tls_ports == (False, False)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command-line tool is needed to make a test certificate")
    d = tmp_path_factory.mktemp("irc-tls")
    cert, key = d / "cert.pem", d / "key.pem"
    proc = subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj"),
            *("/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {proc.stderr[-200:]}")
    return cert, key


def test_irc_over_tls(irc_factory, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    srv: IrcServer = irc_factory("--tls-cert", str(cert), "--tls-key", str(key), "--irc-tls")
    assert IRC_BANNER_RE.search(srv.banner)
    ctx = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", srv.irc_port), timeout=15) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"NICK secure\r\nUSER secure 0 * :TLS user\r\nJOIN #logs-error\r\n")
        got = b""
        while b" 366 " not in got:
            chunk = tls.recv(4096)
            assert chunk, got
            got += chunk
        assert b":logcaster 001 secure " in got
        srv.send(b"ERROR over tls\n")
        while b"over tls" not in got:
            chunk = tls.recv(4096)
            assert chunk, got
            got += chunk
    # The other ports stay plain: --irc-tls alone does not switch them to TLS.
    assert srv.query("COUNT") == b"COUNT: 1\n"
