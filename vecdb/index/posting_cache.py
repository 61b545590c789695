"""The RAM cache of hot postings (disk mode), bounded by `cache_bytes`.

One preallocated arena of posting rows (ids, scales, norms, codes), so the scan kernel reads any cached
posting in place and a query's postings are scanned in one kernel call. Postings are placed round-robin
(a FIFO ring, as in log-structured caches): a new posting overwrites the oldest ones, so there is no
fragmentation and eviction is O(1). A posting bigger than the whole arena is not cached (the caller scans
it straight from the LMDB map). The caller reserves room (`reserve`) and fills the rows itself (the miss
scan kernel copies them in while it scans).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

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
        self.entries: OrderedDict[tuple[int, int], tuple[int, int]] = OrderedDict()  # oldest first
        self.head = 0
        self.used_rows = 0
        self.lock = threading.Lock()  # held by a query from lookup to the end of its scan
        self.hits = self.misses = 0

    @property
    def capacity_bytes(self) -> int:
        return sum(a.nbytes for a in (self.ids, self.refs, self.scale, self.sqnorm, self.codes))

    @property
    def held_bytes(self) -> int:
        return self.used_rows * (self.capacity_bytes // max(self.rows_cap, 1))

    def get(self, key: tuple[int, int]) -> tuple[int, int] | None:
        hit = self.entries.get(key)
        if hit is None:
            self.misses += 1
        else:
            self.hits += 1
        return hit

    def reserve(self, key: tuple[int, int], n: int) -> int:
        """Make room for a posting of n rows and register it; -> its first row, or -1 if it is bigger
        than the arena. The caller fills the rows before releasing the lock."""
        self.invalidate([key])  # whatever happens, an older copy of this posting must not stay
        if n > self.rows_cap:
            return -1
        if self.head + n > self.rows_cap:
            self._evict(self.head, self.rows_cap)  # the tail end is skipped; its postings are the oldest
            self.head = 0
        start = self.head
        self._evict(start, start + n)
        self.head = start + n
        self.entries[key] = (start, n)
        self.used_rows += n
        return start

    def invalidate(self, keys) -> None:
        for key in keys:
            gone = self.entries.pop(key, None)
            if gone is not None:
                self.used_rows -= gone[1]

    def clear(self) -> None:
        self.entries.clear()
        self.head = self.used_rows = 0

    def _evict(self, lo: int, hi: int) -> None:
        """Drop the postings starting in [lo, hi). Within one trip round the ring postings are placed at
        rising offsets, so the ones still ahead of `head` are exactly the oldest, at the front."""
        while self.entries:
            key, (start, n) = next(iter(self.entries.items()))
            if not lo <= start < hi:
                break
            del self.entries[key]
            self.used_rows -= n
