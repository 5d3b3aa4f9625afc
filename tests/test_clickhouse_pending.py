"""The ClickHouse store's held lines: a burst of ingest defers full batches within
the memory bound and only while it lasts, and taking them hands out every line once,
in order, in batches cut where they reach the batch size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logcaster.storage.batch import Item
from logcaster.storage.clickhouse.pending import BUSY_BYTES, BUSY_S, DEFER_BYTES, Pending


def read(lines: int, width: int = 10) -> Item:
    return (b"".join(b"x" * (width - 1) + b"\n" for _ in range(lines)), 0)


def test_a_burst_defers_only_while_it_lasts() -> None:
    pending = Pending()
    pending.add([read(10)], now=5.0)
    assert not pending.deferred(5.0)  # a small read: ingest is not running a burst
    assert pending.since == 5.0
    pending.add([read(BUSY_BYTES // 10 + 1)], now=6.0)
    assert pending.since == 5.0
    assert pending.deferred(6.0)
    assert pending.deferred(6.0 + BUSY_S / 2)
    assert not pending.deferred(6.0 + BUSY_S)  # ingest went quiet: send


def test_the_memory_bound_ends_a_deferral() -> None:
    pending = Pending()
    big = read(1 << 20, width=64)  # 64 MiB
    for _ in range(DEFER_BYTES // len(big[0]) - 1):
        pending.add([big], now=1.0)
        assert pending.deferred(1.0)
    pending.add([big], now=1.0)
    assert pending.bytes >= DEFER_BYTES
    assert not pending.deferred(1.0)


@given(st.lists(st.integers(1, 50), max_size=40), st.integers(1, 120))
def test_take_hands_out_every_line_once_in_order(reads: list[int], batch_rows: int) -> None:
    pending = Pending()
    items = [(b"%d\n" % i * n, i) for i, n in enumerate(reads)]
    for item in items:
        pending.add([item], now=0.0)
    assert pending.rows == sum(reads)
    batches = pending.take(batch_rows)
    assert [item for batch in batches for item in batch] == items
    for i, batch in enumerate(batches):  # each cut where it reaches batch_rows
        rows = [data.count(b"\n") for data, _ in batch]
        assert sum(rows[:-1]) < batch_rows
        assert sum(rows) >= batch_rows or i == len(batches) - 1
    assert not pending and pending.rows == pending.bytes == 0
    assert pending.take(batch_rows) == []
