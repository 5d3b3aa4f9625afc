"""The original LogCaster-C MVP2 test client, run unchanged (but for its ports)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, start_server

BUILD_SCRIPT = REPO.parent / "shared" / "reference" / "build-c-reference.sh"


@pytest.fixture(scope="module")
def seed_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not BUILD_SCRIPT.is_file():
        pytest.skip(f"seed reference build script not found: {BUILD_SCRIPT}")
    out = tmp_path_factory.mktemp("c-reference")
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(out)], capture_output=True, timeout=300, text=True
    )
    client = out / "tests" / "test_mvp2.py"
    # The script extracts the client before compiling the C server; only the client is needed.
    assert client.is_file(), f"build script made no test client:\n{proc.stdout}\n{proc.stderr}"
    return client


@pytest.fixture(scope="module")
def seed_output(seed_client: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run the seed client once against a fresh LogCaster server; return its stdout."""
    tmp_path = tmp_path_factory.mktemp("seed-run")
    server = start_server(tmp_path)
    try:
        source = seed_client.read_text()
        assert "9999" in source and "9998" in source
        source = source.replace("9999", "\0INGEST\0").replace("9998", "\0QUERY\0")
        source = source.replace("\0INGEST\0", str(server.ingest_port))
        source = source.replace("\0QUERY\0", str(server.query_port))
        client = tmp_path / "test_mvp2_ported.py"
        client.write_text(source)
        proc = subprocess.run(
            [sys.executable, str(client)], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        yield proc.stdout
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)


def test_seed_client_stats_count_and_found(seed_output: str) -> None:
    out = seed_output
    assert "Error" not in out and "Query error" not in out, out
    assert "STATS: Total=50, Dropped=0, Current=50, Clients=0" in out, out
    assert "COUNT: 50" in out, out
    assert out.count("FOUND: 10 matches") == 1, out


def test_seed_client_prints_the_ten_matching_lines(seed_output: str) -> None:
    # The client reads the reply with one recv(4096): header and lines must come together.
    lines = seed_output.splitlines()
    at = next(i for i, line in enumerate(lines) if "FOUND: 10 matches" in line)
    matches = lines[at + 1 : at + 11]
    assert len(matches) == 10 and all("Log message 3" in m for m in matches), seed_output
    assert sorted(m.split("]")[0] for m in matches) == sorted(
        f"[Client {c}" for c in range(1, 11)
    ), seed_output
