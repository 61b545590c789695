"""The RAM cache of hot postings (disk mode), bounded by `cache_bytes`.

One preallocated arena of posting rows (ids, refs, scales, norms, codes) that the query kernel reads in
place and fills as it scans misses (kernels/disk_query.py: the FIFO ring and why). Postings are known by
their number (gp, see disk_search.py); per gp the cache holds the posting's arena slot. A posting bigger
than the whole arena is not cached (the kernel scans it straight from the LMDB map).
"""

from __future__ import annotations

import threading

import numpy as np

from ..kernels.disk_query import USED, new_ring, uncache
from ..kernels.postings import FORMATS
from .postings import row_bytes


class PostingCache:
    def __init__(self, capacity_bytes: int, dim: int, fmt: str):
        self.rows_cap = max(0, int(capacity_bytes) // row_bytes(dim, fmt))
        self.ids = np.full(self.rows_cap, -1, dtype=np.int64)
        self.refs = np.zeros(self.rows_cap, dtype=np.uint32)
        self.scale = np.zeros(self.rows_cap, dtype=np.float32)
        self.sqnorm = np.zeros(self.rows_cap, dtype=np.float32)
        self.codes = np.zeros((self.rows_cap, dim), dtype=FORMATS[fmt])
        self.slot_start = np.full(0, -1, dtype=np.int64)  # per gp: first arena row, -1: not cached
        self.slot_len = np.zeros(0, dtype=np.int64)
        self.r_gp, self.r_start, self.meta = new_ring(self.rows_cap)
        self.lock = threading.Lock()  # held by a query from its first look-up to the end of its scan
        self.hits = self.misses = 0

    def grow(self, postings: int) -> None:
        """Room for slots of gps below `postings`."""
        self.slot_start = grown(self.slot_start, postings, -1)
        self.slot_len = grown(self.slot_len, postings, 0)

    @property
    def capacity_bytes(self) -> int:
        return sum(a.nbytes for a in (self.ids, self.refs, self.scale, self.sqnorm, self.codes))

    @property
    def used_rows(self) -> int:
        return int(self.meta[USED])

    @property
    def held_bytes(self) -> int:
        return self.used_rows * (self.capacity_bytes // max(self.rows_cap, 1))

    @property
    def cached_postings(self) -> int:
        return int(np.count_nonzero(self.slot_start >= 0))

    def slot(self, gp: int) -> tuple[int, int] | None:
        start = int(self.slot_start[gp])
        return None if start < 0 else (start, int(self.slot_len[gp]))

    def invalidate(self, gps) -> None:
        for gp in gps:
            uncache(self.meta, self.slot_start, self.slot_len, gp)

    def clear(self) -> None:
        self.slot_start[:] = -1
        self.r_gp, self.r_start, self.meta = new_ring(self.rows_cap)


def grown(a: np.ndarray, n: int, fill: int) -> np.ndarray:
    """a with room for at least n entries (doubling, the new ones `fill`); a itself if it has room."""
    if n <= len(a):
        return a
    return np.concatenate([a, np.full(max(n, 2 * len(a), 1024) - len(a), fill, a.dtype)])
