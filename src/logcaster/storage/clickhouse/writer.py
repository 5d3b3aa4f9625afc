"""The ClickHouse store: every accepted line also goes to ClickHouse, in large batches.

A :class:`ClickHouseStore` is a :class:`~logcaster.storage.batch.BatchWriter`: the
writer thread gathers submitted blocks until ``batch_rows`` lines or ``batch_s``
seconds, cuts them into one part per shard and inserts the parts at the same time
on insert threads (up to two batches in flight), each as one Native block (receive
time, node, batch id, row number, line, and the level, host, app, facility and fuzzy
columns the node computes; encoded by :mod:`.native` in C without Python work per
line) into one shard's local table, trying the next shard (or the next host of the
URL) when one fails. A part that no server takes goes to the spool and is replayed,
in order, before anything newer once a server answers again; a replayed batch is
first looked up by its id, so a batch whose INSERT reached ClickHouse but whose reply
was lost is not written twice.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clickhouse_driver import Client

from ...console import say
from ...scan import count_lines
from ...stats import Metric
from ..batch import BatchWriter, Item
from .native import encode, insert_encoded
from .pending import Pending
from .schema import distributed_table_ddl, local_table_ddl, table_kinds, takes_computed, upgrade
from .spool import Spool
from .url import StoreURL

ERROR_REPORT_S = 60.0
# Ingest pauses only past this many queued bytes: a burst is held in memory while
# ClickHouse catches up (the lines are the ring's blocks, shared, not copied).
QUEUE_HIGH_WATER = 512 << 20
QUEUE_LOW_WATER = 128 << 20
RETRY_S = 1.0
# Batches whose inserts may run at once: the next one is encoded and sent while
# ClickHouse still writes the previous one's parts.
IN_FLIGHT = 2
INSERT_NICE = 10  # the insert threads' nice value (Linux: per thread)
RETENTION_CHECK_S = 3600.0


@dataclass(slots=True)
class ClickHouseStats:
    sent: int = 0  # rows ClickHouse confirmed
    spooled: int = 0  # rows put in the spool
    replayed: int = 0  # rows sent from the spool
    failed: int = 0  # rows neither sent nor spooled (the spool was full)
    errors: int = 0  # failed inserts or lookups
    partitions_dropped: int = 0


class ClickHouseStore(BatchWriter):
    def __init__(
        self,
        url: StoreURL,
        node: str,
        spool: Spool,
        *,
        batch_rows: int = 250_000,
        batch_s: float = 1.0,
        create: bool = False,
        retention_days: int = 0,
        timeout_s: float = 10.0,
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        super().__init__("logcaster-clickhouse", on_drained)
        self.url = url
        self.node = node
        self.spool = spool
        self.batch_rows = batch_rows
        self.batch_s = batch_s
        self.create = create
        self.retention_days = retention_days
        self.timeout_s = timeout_s
        self.tick_s = min(batch_s, RETRY_S) / 2
        self.stats = ClickHouseStats()
        self._pending = Pending()
        self._seq = itertools.count()
        self._shards: list[Client] = []
        self._lanes: list[list[Client]] = []  # per parallel insert: a client per shard
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: deque[tuple[list[str], list[list[Item]], list[Future[int]]]] = deque()
        self._flushes = itertools.count()
        self.high_water = QUEUE_HIGH_WATER
        self.low_water = QUEUE_LOW_WATER
        self._ready = False  # tables checked or created
        self._fields = True  # the tables take the columns the node computes
        self._last_retry = 0.0
        self._last_report = -ERROR_REPORT_S
        self._last_retention = -RETENTION_CHECK_S

    # ---------------------------------------------------------- connections
    def _client(self, host: str, port: int) -> Client:
        return Client(
            host,
            port=port,
            database=self.url.database,
            connect_timeout=min(self.timeout_s, 2.0),
            send_receive_timeout=self.timeout_s,
            compression=self.url.compression,  # LZ4 blocks, unless the URL says none
            settings={"strings_as_bytes": True},
        )

    def _entry(self) -> Client:
        """The first URL host that answers (for DDL and look-ups)."""
        error: Exception | None = None
        for host, port in self.url.hosts:
            client = self._client(host, port)
            try:
                client.execute("SELECT 1")
                return client
            except Exception as exc:
                error = exc
                client.disconnect()
        raise ConnectionError(f"no ClickHouse host answers: {error}")

    def _prepare(self) -> None:
        """Create or check the tables, find the shards. Raises while no server answers."""
        entry = self._entry()
        if self.url.cluster is None:
            addresses = list(self.url.hosts)
            shards = [self._client(h, p) for h, p in addresses]
            targets = [entry]
        else:
            rows = entry.execute(
                "SELECT shard_num, host_address, port FROM system.clusters "
                "WHERE cluster = %(cluster)s ORDER BY shard_num, replica_num",
                {"cluster": self.url.cluster},
            )
            if not rows:
                raise ConnectionError(f"ClickHouse knows no cluster {self.url.cluster!r}")
            first: dict[int, tuple[str, int]] = {}
            for shard, host, port in rows:
                first.setdefault(shard, (host, port))
            addresses = list(first.values())
            shards = [self._client(h, p) for h, p in addresses]
            targets = shards
        if self.create:
            for client in targets:
                client.execute(local_table_ddl(self.url))
                upgrade(client, self.url.database, self.url.local_table)
            if self.url.cluster is not None:
                entry.execute(distributed_table_ddl(self.url))
                upgrade(entry, self.url.database, self.url.table)
        # A table of an earlier version (MATERIALIZED columns) not yet upgraded by
        # --store-init computes them itself: send only the line and its stamps.
        self._fields = all(
            takes_computed(table_kinds(c, self.url.database, self.url.local_table)) for c in targets
        )
        self._shards = shards
        # One lane per shard and batch in flight, each starting at its own shard and
        # failing over to the next: a batch is cut in one part per shard, inserted
        # at the same time, while the previous batch's may still be in flight.
        n = len(addresses)
        self._lanes = [shards] + [
            [self._client(*addresses[(w + i) % n]) for i in range(n)]
            for w in range(1, n * IN_FLIGHT)
        ]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                n * IN_FLIGHT, "logcaster-clickhouse-insert", _background
            )
        self._reader = entry
        self._ready = True

    # ------------------------------------------------------ writer thread
    def open(self) -> None:
        try:
            self._prepare()
        except Exception as exc:
            self._report(f"ClickHouse not ready ({exc}); spooling until it is")

    def write_batch(self, batch: list[Item]) -> None:
        now = time.monotonic()
        self._pending.add(batch, now)
        if self._pending.rows >= self.batch_rows and not self._pending.deferred(now):
            self._flush()

    def sync(self, force: bool) -> None:
        now = time.monotonic()
        pending = self._pending
        due = now - pending.since >= self.batch_s or pending.rows >= self.batch_rows
        if pending and (force or (due and not pending.deferred(now))):
            self._flush()
        elif len(self.spool) and now - self._last_retry >= RETRY_S:
            self._last_retry = now
            self._settle(0)  # the spool's replay uses the first lane
            self._replay()
        self._settle(0 if force else IN_FLIGHT, wait=force)
        if self.retention_days and now - self._last_retention >= RETENTION_CHECK_S:
            self._last_retention = now
            self._apply_retention()

    def close_sink(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for lane in self._lanes:
            for client in lane:
                client.disconnect()

    # ------------------------------------------------------------ batches
    def _flush(self) -> None:
        """Send the held lines (after a burst: several batches)."""
        for items in self._pending.take(self.batch_rows):
            self._flush_items(items)

    def _flush_items(self, items: list[Item]) -> None:
        stamp = f"{self.node}-{time.time_ns()}-{next(self._seq)}"
        if len(self.spool):
            self._settle(0)  # the spool's replay uses the first lane
        if not self._replay() or not self._ensure_ready() or self._pool is None:
            self._keep(stamp, items)
            return
        self._settle(IN_FLIGHT - 1)
        shards = len(self._lanes) // IN_FLIGHT
        parts = _cut(items, shards)
        ids = [f"{stamp}-{i}" for i in range(len(parts))]
        first = next(self._flushes) % IN_FLIGHT * shards  # this flush's lanes
        futures = [
            self._pool.submit(self._insert, batch_id, part, first + i)
            for i, (batch_id, part) in enumerate(zip(ids, parts, strict=True))
        ]
        self._inflight.append((ids, parts, futures))

    def _settle(self, keep: int, wait: bool = True) -> None:
        """Account for the oldest flushes in flight until at most ``keep`` remain
        (without ``wait``: only those already done): sent, or spooled."""
        while len(self._inflight) > keep or (
            self._inflight and all(f.done() for f in self._inflight[0][2])
        ):
            if not wait and not all(f.done() for f in self._inflight[0][2]):
                return
            ids, parts, futures = self._inflight.popleft()
            for batch_id, part, future in zip(ids, parts, futures, strict=True):
                rows = future.result()
                if rows >= 0:
                    self.stats.sent += rows
                else:
                    self._keep(batch_id, part)

    def _keep(self, batch_id: str, items: list[Item]) -> None:
        """Spool a batch no server took (or count it failed when the spool is full)."""
        rows = _rows(items)
        if self.spool.add(batch_id, rows, items):
            self.stats.spooled += rows
        else:
            self.stats.failed += rows
            self._report(f"ClickHouse spool full: {rows} lines not stored in ClickHouse")

    def _ensure_ready(self) -> bool:
        if not self._ready:
            try:
                self._prepare()
            except Exception as exc:
                self.stats.errors += 1
                self._report(f"ClickHouse not ready: {exc}")
                return False
        return True

    def _insert(self, batch_id: str, items: list[Item], lane: int = 0) -> int:
        """One INSERT of the batch into one shard (the lane's own first, then the
        others), encoded and sent on the calling thread (an insert thread: the C
        encoder and the socket release the GIL); its rows once a server confirmed
        it, -1 when none did."""
        if not self._ensure_ready():
            return -1
        block = encode(items, self.node.encode(), batch_id.encode(), self._fields)
        table = f"{self.url.database}.{self.url.local_table}"
        for client in self._lanes[lane % len(self._lanes)]:
            try:
                insert_encoded(client, table, block)
                return block.rows
            except Exception as exc:
                self.stats.errors += 1
                client.disconnect()
                self._report(f"ClickHouse insert failed ({exc}); trying the next server")
        return -1

    def _replay(self) -> bool:
        """Send spooled batches, oldest first; True when the spool is empty."""
        while (spooled := self.spool.oldest()) is not None:
            try:
                present = self._stored_rows(spooled.batch_id, spooled.items)
            except Exception as exc:
                self.stats.errors += 1
                self._report(f"ClickHouse unavailable ({exc}); {len(self.spool)} batches spooled")
                return False
            if present == 0:
                if self._insert(spooled.batch_id, spooled.items) < 0:
                    return False
                self.stats.replayed += spooled.rows
            self.spool.remove(spooled)
        return True

    def _stored_rows(self, batch_id: str, items: list[Item]) -> int:
        """Rows of batch ``batch_id`` already in ClickHouse (looked up within its time
        range, which the table's sort key narrows down); raises if a shard is down."""
        if not self._ready:
            self._prepare()
        table = f"{self.url.database}.{self.url.table}"
        rows: Any = self._reader.execute(
            f"SELECT count() FROM {table} WHERE ts >= %(lo)s AND ts <= %(hi)s "
            "AND batch = %(batch)s",
            {"batch": batch_id, "lo": min(t for _, t in items), "hi": max(t for _, t in items)},
            settings={"skip_unavailable_shards": 0},
        )
        return int(rows[0][0])

    def _apply_retention(self) -> None:
        """Drop day partitions older than --store-retention-days on every shard."""
        cutoff = int(
            time.strftime("%Y%m%d", time.gmtime(time.time() - 86400 * self.retention_days))
        )
        for client in self._shards:
            try:
                parts = client.execute(
                    "SELECT DISTINCT partition FROM system.parts WHERE active "
                    "AND database = %(db)s AND table = %(table)s",
                    {"db": self.url.database, "table": self.url.local_table},
                )
                for (partition,) in parts:
                    day = int(partition)
                    if day < cutoff:
                        client.execute(
                            f"ALTER TABLE {self.url.database}.{self.url.local_table} "
                            f"DROP PARTITION {day:d}"
                        )
                        self.stats.partitions_dropped += 1
            except Exception as exc:
                self.stats.errors += 1
                self._report(f"ClickHouse retention failed: {exc}")

    def _report(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_report >= ERROR_REPORT_S:
            self._last_report = now
            say(f"LogCaster: {message}")

    # -------------------------------------------------------------- stats
    def collect(self) -> Iterable[Metric]:
        s = self.stats
        yield Metric("Store", "clickhouse", "where lines are also stored")
        yield Metric("StoreRowsSent", s.sent, "lines ClickHouse confirmed", "counter")
        yield Metric("StoreRowsSpooled", s.spooled, "lines put in the spool", "counter")
        yield Metric("StoreRowsReplayed", s.replayed, "spooled lines sent later", "counter")
        yield Metric("StoreRowsFailed", s.failed, "lines the full spool refused", "counter")
        yield Metric("StoreErrors", s.errors, "failed ClickHouse requests", "counter")
        yield Metric("StoreSpoolBatches", len(self.spool), "batches waiting in the spool")
        yield Metric("StoreSpoolBytes", self.spool.bytes, "bytes waiting in the spool")
        yield Metric(
            "StorePartitionsDropped", s.partitions_dropped, "day partitions dropped", "counter"
        )


def _rows(items: list[Item]) -> int:
    return sum(count_lines(data, 0, len(data)) for data, _ in items)


def _cut(items: list[Item], parts: int) -> list[list[Item]]:
    """``items`` in at most ``parts`` runs of about equal bytes, in order."""
    total = sum(len(d) for d, _ in items)
    out: list[list[Item]] = [[]]
    size = 0
    for item in items:
        if size >= total * len(out) / parts and len(out) < parts:
            out.append([])
        out[-1].append(item)
        size += len(item[0])
    return [part for part in out if part]


def _background() -> None:
    """Run the calling (insert) thread at a lower CPU priority than ingest: on
    shared cores, encoding batches waits for ingest, not the other way round."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INSERT_NICE)
