"""``--store`` URLs: ``clickhouse://HOST:PORT[,HOST:PORT...]/DATABASE?table=logs[&cluster=NAME]``
(and ``&compression=none`` where ClickHouse is on the same machine or a fast link:
LZ4, the default, costs CPU on both ends).

Pure parsing: no name lookups, no connections. Several hosts are entry points tried
in order (failover); with ``cluster=`` the shards are read from the cluster itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

DEFAULT_PORT = 9000  # ClickHouse's native protocol
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class StoreURL:
    hosts: tuple[tuple[str, int], ...]
    database: str
    table: str
    cluster: str | None = None
    compression: str | bool = "lz4"  # as clickhouse-driver takes it: False for none

    @property
    def local_table(self) -> str:
        """Where rows are written: each shard's own table (with a cluster), or the table."""
        return f"{self.table}_local" if self.cluster else self.table


def parse_store_url(text: str) -> StoreURL:
    """Parse a ``--store`` URL; ValueError with a message saying what is wrong."""
    parts = urlsplit(text.strip())
    if parts.scheme != "clickhouse":
        raise ValueError(f"{text!r}: expected clickhouse://HOST:PORT/DATABASE?table=NAME")
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.split(","):
        host, sep, port = item.rpartition(":") if "]" not in item[-1:] else (item, "", "")
        if not sep:
            host, port = item, str(DEFAULT_PORT)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not HOST:PORT")
        hosts.append((host, int(port)))
    database = parts.path.strip("/") or "default"
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"table", "cluster", "compression"}
    if unknown:
        raise ValueError(f"unknown URL parameter {min(unknown)!r} (table, cluster, compression)")
    compression = query.get("compression", ["lz4"])[-1].lower()
    if compression not in ("lz4", "none"):
        raise ValueError(f"compression={compression!r}: use lz4 (the default) or none")
    table = query.get("table", ["logs"])[-1]
    cluster = query.get("cluster", [None])[-1]
    for what, name in (("database", database), ("table", table), ("cluster", cluster)):
        if name is not None and not _NAME.match(name):
            raise ValueError(f"{name!r} is not a {what} name (letters, digits, _)")
    return StoreURL(tuple(hosts), database, table, cluster, compression != "none" and "lz4")
