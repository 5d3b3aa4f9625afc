"""Which bytes of a block view a query reads, from the receive time of each chunk.

Every chunk of a block (one network read's lines) has one receive time, so time
bounds and time buckets cut a view into byte regions without looking at a line:
:func:`time_regions` for a query's ``time_from``/``time_to``, and
:func:`bucket_regions` for the same split further into fixed-width time buckets
(HITS). Both are work per chunk (vectorised), never per line.
"""

from __future__ import annotations

import numpy as np

from ..storage.ring import BlockView
from .spec import QuerySpec

LOWEST = -(1 << 63)
HIGHEST = (1 << 63) - 1


def bounds(spec: QuerySpec) -> tuple[int, int]:
    """The spec's inclusive receive-time bounds, open ends as the extreme values."""
    lo = spec.time_from if spec.time_from is not None else LOWEST
    hi = spec.time_to if spec.time_to is not None else HIGHEST
    return lo, hi


def time_regions(view: BlockView, spec: QuerySpec) -> list[tuple[int, int]]:
    """Byte regions of ``view`` whose receive time lies within the spec's bounds."""
    if spec.time_from is None and spec.time_to is None:
        return [(view.start, view.end)]
    lo, hi = bounds(spec)
    blk = view.block
    if blk.ts_max < lo or blk.ts_min > hi:
        return []  # the whole block is outside the range
    if lo <= blk.ts_min and blk.ts_max <= hi:
        return [(view.start, view.end)]
    return [(s, e) for s, e, _ in _runs(view, lo, hi, None)]


def bucket_regions(view: BlockView, spec: QuerySpec, step: int) -> list[tuple[int, int, int]]:
    """``(start, end, bucket)`` regions of ``view`` within the spec's time bounds, where
    ``bucket`` is the receive time floor-divided by ``step`` (ns): bucket ``b`` holds
    lines received in ``[b * step, (b + 1) * step)``. Runs of chunks of the same
    bucket are one region; regions are in block order."""
    lo, hi = bounds(spec)
    blk = view.block
    if view.start >= view.end or blk.ts_max < lo or blk.ts_min > hi:
        return []
    if lo <= blk.ts_min and blk.ts_max <= hi and blk.ts_min // step == blk.ts_max // step:
        return [(view.start, view.end, blk.ts_min // step)]
    return _runs(view, lo, hi, step)


def _runs(view: BlockView, lo: int, hi: int, step: int | None) -> list[tuple[int, int, int]]:
    """Regions of consecutive live chunks within ``[lo, hi]`` that share a bucket
    (``step`` None: one bucket, 0)."""
    blk = view.block
    first, last = view.chunk_lo, view.chunk_hi
    # Copies: the ingest thread may be appending to the block's own columns,
    # which must never be pinned by an exported buffer.
    ts = np.frombuffer(blk.chunk_ts[first:last], dtype=np.int64)
    offs = np.frombuffer(blk.chunk_off[first:last], dtype=np.int64).copy()
    if len(ts) == 0:
        return []
    offs[0] = view.start
    ends = np.append(offs[1:], view.end)
    inside = (ts >= lo) & (ts <= hi)
    key = ts // step if step is not None else np.zeros(len(ts), dtype=np.int64)
    # A run starts where a chunk is inside and its predecessor is outside or in
    # another bucket; it ends before the next start or outside chunk.
    change = np.ones(len(ts), dtype=bool)
    change[1:] = (key[1:] != key[:-1]) | (inside[1:] != inside[:-1])
    starts = np.flatnonzero(change)
    stops = np.append(starts[1:], len(ts))
    out: list[tuple[int, int, int]] = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        if inside[a]:
            out.append((int(offs[a]), int(ends[b - 1]), int(key[a])))
    return out
