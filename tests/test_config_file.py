"""Config sources: the TOML file, the environment, precedence over them, startup checks."""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from support import REPO, logcaster_cmd

from logcaster.cli import build_parser
from logcaster.config import (
    Config,
    ConfigError,
    ConfigFile,
    IngestConfig,
    PersistConfig,
    PoolConfig,
    QueryConfig,
    RingConfig,
    TLSConfig,
    check_startup,
    config_from_args,
    load_config,
)
from logcaster.values import parse_host, parse_networks, parse_switch

MiB = 1 << 20
EXAMPLE = REPO / "docs" / "logcaster.example.toml"


def toml(text: str, name: str = "logcaster.toml") -> ConfigFile:
    return ConfigFile(name, text)


def from_flags(*argv: str, environ: dict[str, str] | None = None) -> Config:
    return config_from_args(build_parser().parse_args(["serve", *argv]), environ or {})


# ------------------------------------------------------------------ precedence

# (section, key, flag, file value, env value, flag value, expected file/env/flag results)
PRECEDENCE = [
    ("ingest", "port", "--port", "1001", "1002", "1003", (1001, 1002, 1003)),
    ("ring", "max_memory", "--max-memory", '"1M"', "2M", "3M", (MiB, 2 * MiB, 3 * MiB)),
    ("query", "timeout", "--query-timeout", "1.5", "2.5", "3.5", (1.5, 2.5, 3.5)),
    (
        "ingest",
        "host",
        "--host",
        '"127.0.0.1"',
        "::1",
        "localhost",
        ("127.0.0.1", "::1", "localhost"),
    ),
    ("persist", "dir", "--dir", '"/a"', "/b", "/c", ("/a", "/b", "/c")),
    ("persist", "max_file_mb", "--max-file-mb", "1", "2.5", "0.5", (1.0, 2.5, 0.5)),
]


@pytest.mark.parametrize(("sec", "key", "flag", "in_file", "in_env", "on_cli", "want"), PRECEDENCE)
def test_cli_over_env_over_file_over_defaults(sec, key, flag, in_file, in_env, on_cli, want):
    file = toml(f"[{sec}]\n{key} = {in_file}\n")
    var = f"LOGCASTER_{sec}_{key}".upper()
    default = getattr(getattr(Config(), sec), key)
    assert getattr(getattr(load_config(), sec), key) == default
    assert getattr(getattr(load_config(file=file), sec), key) == want[0]
    assert getattr(getattr(load_config(environ={var: in_env}, file=file), sec), key) == want[1]
    ns = build_parser().parse_args(["serve", flag, on_cli])
    cli = {sec: {key: getattr(ns, f"{sec}_{key}")}}
    merged = load_config(cli, {var: in_env}, file)
    assert getattr(getattr(merged, sec), key) == want[2]
    assert default not in want


def test_switch_precedence_env_can_turn_off_what_the_file_turns_on() -> None:
    file = toml("[persist]\nenabled = true\n")
    assert load_config(file=file).persist.enabled is True
    assert (
        load_config(environ={"LOGCASTER_PERSIST_ENABLED": "off"}, file=file).persist.enabled
        is False
    )
    assert load_config(
        {"persist": {"enabled": True}}, {"LOGCASTER_PERSIST_ENABLED": "0"}
    ).persist.enabled


def test_flags_not_given_leave_lower_sources_in_charge(tmp_path: Path) -> None:
    path = tmp_path / "lc.toml"
    path.write_text("[pool]\nworkers = 7\nqueue_size = 9\n[ingest]\nport = 4000\n")
    env = {"LOGCASTER_POOL_QUEUE_SIZE": "11"}
    cfg = from_flags("--config", str(path), "-p", "4001", environ=env)
    assert (cfg.pool.workers, cfg.pool.queue_size, cfg.ingest.port) == (7, 11, 4001)
    assert cfg.query == QueryConfig()


def test_logcaster_config_variable_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lc.toml"
    path.write_text("[ring]\ncapacity = 123\n")
    assert from_flags(environ={"LOGCASTER_CONFIG": str(path)}).ring.capacity == 123
    other = tmp_path / "other.toml"
    other.write_text("[ring]\ncapacity = 456\n")
    cfg = from_flags("--config", str(other), environ={"LOGCASTER_CONFIG": str(path)})
    assert cfg.ring.capacity == 456


def test_auth_token_variables() -> None:
    assert load_config(environ={"LOGCASTER_AUTH_TOKEN": "old-token-1"}).query.auth_token == (
        "old-token-1"
    )
    both = {"LOGCASTER_AUTH_TOKEN": "old-token-1", "LOGCASTER_QUERY_AUTH_TOKEN": "new-token-2"}
    assert load_config(environ=both).query.auth_token == "new-token-2"
    assert from_flags("--auth-token", "cli-token-3", environ=both).query.auth_token == "cli-token-3"


def test_empty_variable_counts_as_unset() -> None:
    assert load_config(environ={"LOGCASTER_INGEST_PORT": ""}).ingest.port == 9999


def test_file_native_and_string_values() -> None:
    cfg = load_config(
        file=toml(
            '[ring]\nmax_memory = 1024\ncapacity = "1_000"\n'
            '[query]\ntimeout = 3\ntls = false\n[persist]\nenabled = "yes"\nfsync_ms = "0"\n'
            '[ingest]\nallow = "10.1.2.3/8, 192.168.1.7"\n'
        )
    )
    assert (cfg.ring.max_memory, cfg.ring.capacity) == (1024, 1000)
    assert cfg.query.timeout == 3.0 and isinstance(cfg.query.timeout, float)
    assert cfg.persist.enabled is True and cfg.persist.fsync_ms == 0
    assert cfg.ingest.allow == "10.0.0.0/8,192.168.1.7/32"


# ------------------------------------------------------------------ file errors


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(file=toml(text))
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_unknown_key_names_file_line_and_key() -> None:
    text = "# settings\n\n[query]\nport = 9000\n\n[ingest]\nprot = 9999\n"
    message = error_of(text)
    assert message.startswith("logcaster.toml:7: [ingest] prot: unknown key"), message


def test_unknown_section_names_file_line_and_section() -> None:
    assert error_of("[ingest]\nport = 1\n[qurey]\nport = 2\n").startswith(
        "logcaster.toml:3: [qurey]: unknown section"
    )


def test_key_outside_a_section() -> None:
    assert error_of("\nport = 1\n").startswith("logcaster.toml:2: port: not in a section")


def test_invalid_value_names_file_line_and_key() -> None:
    message = error_of("[ingest]\nport = 1\n[query]\nport = 70000\n")
    assert message == (
        "logcaster.toml:4: [query] port: 70000 is not a port (1-65535, or 0 for any free port)"
    )


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[query]\ntimeout = true\n", "logcaster.toml:2: [query] timeout: expected a number"),
        ("[ingest]\nport = 1.5\n", "logcaster.toml:2: [ingest] port: expected a whole number"),
        ("[persist]\nenabled = 1\n", "logcaster.toml:2: [persist] enabled: expected true or false"),
        ("[tls]\ncert = 5\n", "logcaster.toml:2: [tls] cert: expected a string"),
        ("[ingest]\nallow = [1]\n", "logcaster.toml:2: [ingest] allow: expected a string"),
        ('[ring]\n\nmax_memory = "lots"\n', "logcaster.toml:3: [ring] max_memory: 'lots'"),
        ("[pool]\nworkers = 257\n", "logcaster.toml:2: [pool] workers: at most 256"),
        (
            '[ingest]\nmax_line_bytes = "65M"\n',
            "logcaster.toml:2: [ingest] max_line_bytes: at most 64M",
        ),
        ("ingest = 3\n", "logcaster.toml:1: ingest: not in a section"),
    ],
)
def test_wrong_type_or_value(text: str, expect: str) -> None:
    assert error_of(text).startswith(expect)


def test_bad_token_in_file_is_not_echoed() -> None:
    message = error_of('[query]\nauth_token = "has spaces in it"\n')
    assert message.startswith("logcaster.toml:2: [query] auth_token:")
    assert "spaces in it" not in message


def test_syntax_error_is_one_line_with_file_and_position() -> None:
    message = error_of("[ingest]\nport = = 3\n")
    assert message.startswith("logcaster.toml: ") and "line 2" in message


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--config: no such file: .*nope\.toml$"):
        from_flags("--config", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"^LOGCASTER_CONFIG: no such file"):
        from_flags(environ={"LOGCASTER_CONFIG": str(tmp_path / "nope.toml")})


def test_cross_field_checks_apply_to_files_too() -> None:
    assert error_of('[tls]\ncert = "c.pem"\n') == "--tls-cert: give both --tls-cert and --tls-key"
    assert error_of("[query]\ntls = true\n").startswith("--ingest-tls/--query-tls: need")


# ------------------------------------------------------------------ environment errors


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("LOGCASTER_INGEST_PORT", "abc", "LOGCASTER_INGEST_PORT (--port): 'abc' is not a whole"),
        ("LOGCASTER_POOL_WORKERS", "1000", "LOGCASTER_POOL_WORKERS (--workers): at most 256"),
        ("LOGCASTER_PERSIST_ENABLED", "maybe", "LOGCASTER_PERSIST_ENABLED (--persist): 'maybe'"),
        ("LOGCASTER_AUTH_TOKEN", "bad token here", "LOGCASTER_AUTH_TOKEN (--auth-token): a token"),
    ],
)
def test_env_errors_name_the_variable(var: str, value: str, expect: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(environ={var: value})
    assert str(exc.value).startswith(expect), str(exc.value)
    if "TOKEN" in var:
        assert value not in str(exc.value)


# ------------------------------------------------------------------ example file, defaults


def test_example_file_equals_defaults() -> None:
    assert load_config(file=ConfigFile(str(EXAMPLE), EXAMPLE.read_text())) == Config()


def test_example_file_sets_every_key() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    declared = {f.name: {g.name for g in fields(getattr(Config(), f.name))} for f in fields(Config)}
    assert {name: set(table) for name, table in data.items()} == declared


def test_documentation_names_every_key_and_variable() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    for f in fields(Config):
        for g in fields(getattr(Config(), f.name)):
            assert f"`{f.name}.{g.name}`" in doc
            assert f"LOGCASTER_{f.name}_{g.name}".upper() in doc


def test_defaults_as_specified() -> None:
    assert Config() == Config(
        ingest=IngestConfig("0.0.0.0", 9999, 65536, 10_000, 0.0, "", False),
        query=QueryConfig("127.0.0.1", 9998, 10.0, 64, "", False),
        ring=RingConfig(1_000_000, 512 * MiB),
        pool=PoolConfig(4, 64),
        tls=TLSConfig("", ""),
        persist=PersistConfig(False, "./logs", 10.0, 1024.0, 1000),
    )
    assert "auth_token" not in repr(Config())


def test_config_is_frozen_and_checks_types() -> None:
    with pytest.raises(AttributeError):
        Config().ingest.port = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"^--workers: expected a whole number"):
        PoolConfig(workers="4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^--capacity: at most 1000000000"):
        RingConfig(capacity=2_000_000_000)


# ------------------------------------------------------------------ pure values


def test_parse_host_checks_syntax_only() -> None:
    assert parse_host(" no-such-host.invalid ") == "no-such-host.invalid"
    assert parse_host("::1") == "::1"
    for bad in ["", "  ", "two words", "nul\0byte", "bad..dots", "-leading"]:
        with pytest.raises(ValueError):
            parse_host(bad)


def test_parse_switch_and_networks() -> None:
    assert [parse_switch(t) for t in ("on", "TRUE", "1", "no", "False", "0")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(ValueError, match="not on or off"):
        parse_switch("maybe")
    assert parse_networks("10.9.8.7/8,::1") == "10.0.0.0/8,::1/128"


# ------------------------------------------------------------------ startup checks


def test_check_startup_rejects_unresolvable_host() -> None:
    cfg = Config(ingest=IngestConfig(host="no-such-host.invalid"))  # building does no lookup
    with pytest.raises(ConfigError) as exc:
        check_startup(cfg)
    assert str(exc.value) == (
        "--host: 'no-such-host.invalid' is neither an IP address nor a known host name"
    )
    with pytest.raises(ConfigError, match=r"^--query-host: "):
        check_startup(Config(query=QueryConfig(host="no-such-host.invalid")))


def test_check_startup_rejects_missing_tls_files(tmp_path: Path) -> None:
    present = tmp_path / "key.pem"
    present.write_text("x")
    missing = tmp_path / "cert.pem"
    cfg = Config(tls=TLSConfig(cert=str(missing), key=str(present)))
    with pytest.raises(ConfigError) as exc:
        check_startup(cfg)
    assert str(exc.value) == f"--tls-cert: no such file: {missing}"
    with pytest.raises(ConfigError, match=r"^--tls-key: no such file"):
        check_startup(Config(tls=TLSConfig(cert=str(present), key=str(missing))))


def test_check_startup_accepts_defaults_and_real_files(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("x")
    check_startup(Config())
    check_startup(Config(tls=TLSConfig(cert=str(pem), key=str(pem))))
    check_startup(Config(ingest=IngestConfig(host="localhost")))


# ------------------------------------------------------------------ the command


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        logcaster_cmd(*args), capture_output=True, text=True, timeout=30, cwd=cwd, env=env
    )


def test_serve_with_bad_config_file_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[ingest]\nport = 1234\n\n[query]\nprot = 9998\n")
    proc = run("serve", "--config", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "logcaster serve: error: bad.toml:5: [query] prot: unknown key (did you mean port?)"
    ]
    assert "listening" not in proc.stdout


def test_serve_with_unresolvable_host_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = run("serve", "--host", "no-such-host.invalid", "-p", "0", "-q", "0", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "logcaster serve: error: --host: 'no-such-host.invalid' is neither an IP address "
        "nor a known host name"
    ]


def test_client_default_ports_come_from_the_declarations() -> None:
    parser = build_parser()
    assert parser.parse_args(["query", "STATS"]).port == QueryConfig().port
    assert parser.parse_args(["send"]).port == IngestConfig().port


@pytest.mark.parametrize(
    ("text", "expected"),
    [("udp_port = 5514", "5514"), ('udp_port = "off"', "off"), ('udp_port = "SAME"', "same")],
)
def test_udp_port_as_number_or_word(text: str, expected: str) -> None:
    assert load_config(file=toml("[ingest]\n" + text)).ingest.udp_port == expected


def test_udp_port_rejects_other_words() -> None:
    with pytest.raises(ConfigError, match=r"\[ingest\] udp_port: 'sometimes' is not a port"):
        load_config(file=toml('[ingest]\nudp_port = "sometimes"'))
    with pytest.raises(ConfigError, match=r"udp_port: 70000 is not a port"):
        load_config(file=toml("[ingest]\nudp_port = 70000"))
    assert from_flags("--udp-port", "off").ingest.udp_port == "off"
