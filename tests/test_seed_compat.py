"""``QUERY keyword=<rest>`` answers exactly as the original C server (MVP2) does.

The C server is built from the design document (``../shared/reference``) and run in
a private network namespace (``unshare -rn``), since its ports are fixed at 9999
and 9998; both servers get the same lines and the same commands, and the replies
must be byte for byte the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from support import REPO, Server

BUILD_SCRIPT = REPO.parent / "shared" / "reference" / "build-c-reference.sh"

LINES = [
    b"2026-12-01 ERROR payment failed order=123 user=7",
    b"2026-12-01 INFO payment failed order=1234 retried",
    b"2026-12-01 WARN disk limit=1 reached on /var",
    b"2026-12-01 INFO disk fine",
    b'{"level":"error","msg":"boom"}',
    b'msg="quoted" value here',
    b"request user_id=42 reason: timeout",
    b"keywords=x,y operator=OR appears literally",
    b"  two  spaces  ",
]

COMMANDS = [
    "QUERY keyword=payment failed order=123",
    "QUERY keyword=disk limit=1",
    "QUERY keyword=disk",
    'QUERY keyword="quoted" value',
    'QUERY keyword={"level":"error"',
    "QUERY keyword=user_id=42 reason: timeout",
    "QUERY keyword=keywords=x,y operator=OR",
    "QUERY keyword=o",
    "QUERY keyword=  two  spaces",
    "QUERY keyword=nothing matches this",
    "COUNT",
]

# Runs inside the namespace: start the C server, send each line on its own
# connection (one recv() is one entry there), then ask every command.
DRIVER = r"""
import json, socket, subprocess, sys, time
binary, lines, commands = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])

def ask(command):
    with socket.create_connection(("127.0.0.1", 9998), timeout=10) as s:
        s.sendall(command.encode("latin-1") + b"\n")
        parts = []
        while chunk := s.recv(65536):
            parts.append(chunk)
        return b"".join(parts)

def poll(predicate, what):
    deadline = time.monotonic() + 20
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.02)

server = subprocess.Popen([binary], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    poll(lambda: ask("COUNT").startswith(b"COUNT: "), "the C server")
    for n, line in enumerate(lines, 1):
        with socket.create_connection(("127.0.0.1", 9999), timeout=10) as s:
            s.sendall(line.encode("latin-1") + b"\n")
        poll(lambda: ask("COUNT") == b"COUNT: %d\n" % n, "line %d" % n)
    print(json.dumps([ask(c).decode("latin-1") for c in commands]))
finally:
    server.kill()
    server.wait()
"""


@pytest.fixture(scope="module")
def c_replies(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    if not BUILD_SCRIPT.is_file():
        pytest.skip(f"C reference build script not found: {BUILD_SCRIPT}")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) for a private network namespace")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no unprivileged network namespaces here: {probe.stderr.decode()!r}")
    out = tmp_path_factory.mktemp("c-server")
    build = subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(out)], capture_output=True, text=True, timeout=300
    )
    binary = out / "bin" / "logcaster-c"
    assert binary.is_file(), f"C server did not build:\n{build.stdout}\n{build.stderr}"
    driver = out / "driver.py"
    driver.write_text(DRIVER)
    args = [
        json.dumps([line.decode("latin-1") for line in LINES]),
        json.dumps(COMMANDS),
    ]
    script = 'ip link set lo up && exec "$0" "$@"'
    proc = subprocess.run(
        ["unshare", "-rn", "sh", "-c", script, sys.executable, str(driver), str(binary), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [reply.encode("latin-1") for reply in json.loads(proc.stdout)]


def test_seed_form_replies_match_the_c_server(c_replies: list[bytes], server: Server) -> None:
    server.send(b"".join(line + b"\n" for line in LINES))
    server.wait_total(len(LINES))
    ours = [server.query(command) for command in COMMANDS]
    for command, mine, theirs in zip(COMMANDS, ours, c_replies, strict=True):
        assert mine == theirs, command
    assert c_replies[0] == b"FOUND: 2 matches\n" + LINES[0] + b"\n" + LINES[1] + b"\n"
    assert c_replies[1] == b"FOUND: 1 matches\n" + LINES[2] + b"\n"
