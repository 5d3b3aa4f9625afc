"""The SSE2 paths of the C scanners, the encoder and the ingest scanners, the ones
a CPU without AVX2 takes: the tests that hold the C code to its Python reference,
run again in a process started with ``LOGCASTER_NO_AVX2=1`` (on an AVX2 machine they would
otherwise never run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

speedups = pytest.importorskip("logcaster._speedups")

HERE = Path(__file__).resolve().parent
# every test module that compares a SIMD scanner or the encoder with its reference
FILES = [
    "test_anyof.py",
    "test_casefold.py",
    "test_casefold_exact.py",
    "test_fields_native.py",
    "test_filters.py",
    "test_http_native.py",
    "test_literals.py",
    "test_ndjson.py",
    "test_query_exact.py",
    "test_records.py",
    "test_scan.py",
]
ENV = dict(os.environ, LOGCASTER_NO_AVX2="1")


def test_the_switch_turns_the_avx2_paths_off() -> None:
    probe = "from logcaster import _speedups; print(_speedups.avx2)"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=ENV, capture_output=True, check=True, timeout=60
    )
    assert out.stdout.strip() == b"0"


@pytest.mark.skipif(not speedups.avx2, reason="no AVX2 here: every test ran the SSE2 paths")
def test_the_sse2_paths_agree_with_the_reference() -> None:
    assert all((HERE / name).is_file() for name in FILES)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *FILES],
        cwd=HERE,
        env=ENV,
        capture_output=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout.decode(errors="replace")[-4000:]
