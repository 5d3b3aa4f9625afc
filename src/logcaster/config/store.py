"""The ``[store]`` section: where lines go besides the ring and the files (ClickHouse)."""

from __future__ import annotations

from dataclasses import dataclass

from ..storage.clickhouse.url import parse_store_url
from ..values import (
    parse_count,
    parse_directory,
    parse_megabytes,
    parse_milliseconds,
    parse_positive_int,
    parse_switch,
    parse_text,
)
from .schema import Section, setting


def parse_store(text: str) -> str:
    """A ``clickhouse://`` URL (checked, not connected to), or empty for none."""
    if text.strip():
        parse_store_url(text)
    return text.strip()


@dataclass(frozen=True, slots=True)
class StoreConfig(Section):
    """A ClickHouse table or cluster that also receives every accepted line."""

    url: str = setting(
        "",
        parse_store,
        "--store",
        metavar="URL",
        help="clickhouse://HOST:PORT[,HOST:PORT]/DB?table=logs[&cluster=NAME]; default: none",
    )
    init: bool = setting(
        False, parse_switch, "--store-init", help="create the tables if they do not exist"
    )
    retention_days: int = setting(
        0,
        parse_count,
        "--store-retention-days",
        metavar="DAYS",
        most=100_000,
        help="drop day partitions older than this; 0 keeps everything",
    )
    spool_dir: str = setting(
        "./spool",
        parse_directory,
        "--store-spool-dir",
        metavar="DIR",
        help="where batches wait while ClickHouse is unavailable",
    )
    spool_mb: float = setting(
        1024.0,
        parse_megabytes,
        "--store-spool-mb",
        metavar="MB",
        help="spool at most this many MiB; past it, batches are counted as failed",
    )
    batch_rows: int = setting(
        250_000,
        parse_positive_int,
        "--store-batch-rows",
        metavar="N",
        most=10_000_000,
        help="lines per INSERT",
    )
    batch_ms: int = setting(
        1000,
        parse_milliseconds,
        "--store-batch-ms",
        metavar="MS",
        help="longest a line waits before its batch is sent",
    )
    query_timeout_ms: int = setting(
        10_000,
        parse_milliseconds,
        "--store-query-timeout-ms",
        metavar="MS",
        help="longest scope=cluster waits for ClickHouse's next reply (a hung shard)",
    )
    node: str = setting(
        "",
        parse_text,
        "--node-name",
        metavar="NAME",
        help="this node's name in the store's node column; default: the host name",
    )
