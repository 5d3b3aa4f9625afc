"""Two private ClickHouse servers on 127.0.0.1 as the two shards of cluster ``logs``,
for the store's tests: configs, data and logs in a temporary directory, free ports,
processes started and stopped by the tests (never the system's service)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVER = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
AVAILABLE = os.access(SERVER, os.X_OK)

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <remote_servers>
    <logs>
      <shard><replica><host>127.0.0.1</host><port>{tcp1}</port></replica></shard>
      <shard><replica><host>127.0.0.1</host><port>{tcp2}</port></replica></shard>
    </logs>
  </remote_servers>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default>
    <max_memory_usage>2000000000</max_memory_usage>
    <receive_timeout>5</receive_timeout><send_timeout>5</send_timeout>
    <connect_timeout_with_failover_ms>200</connect_timeout_with_failover_ms>
  </default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class Shard:
    directory: Path
    tcp: int
    proc: subprocess.Popen[bytes] | None = None
    nice: int = 0  # a lower CPU priority (benchmarks: the node's ingest comes first)

    def start(self, timeout: float = 30.0) -> None:
        log = (self.directory / "stdout.log").open("ab")
        niced = ["nice", "-n", str(self.nice)] if self.nice else []
        self.proc = subprocess.Popen(
            [*niced, SERVER, f"--config-file={self.directory}/config.xml"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ClickHouse in {self.directory} did not start")
            time.sleep(0.05)

    def answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.tcp), 0.2):
            return True
        return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Pair:
    root: Path
    shards: list[Shard] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path, nice: int = 0) -> Pair:
        tcp1, http1, inter1, tcp2, http2, inter2 = free_ports(6)
        pair = cls(root)
        for n, (tcp, http, inter) in enumerate(((tcp1, http1, inter1), (tcp2, http2, inter2)), 1):
            d = root / f"ch{n}"
            for sub in ("data", "tmp"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            text = CONFIG.format(d=d, tcp=tcp, http=http, inter=inter, tcp1=tcp1, tcp2=tcp2)
            (d / "config.xml").write_text(text)
            (d / "users.xml").write_text(USERS)
            pair.shards.append(Shard(d, tcp, nice=nice))
        try:
            for shard in pair.shards:
                shard.start()
        except BaseException:
            pair.stop()
            raise
        return pair

    def url(self, table: str = "logs") -> str:
        return f"clickhouse://127.0.0.1:{self.shards[0].tcp}/default?table={table}&cluster=logs"

    def stop(self) -> None:
        for shard in self.shards:
            shard.stop()
