"""The RAM cache of hot postings (disk mode), bounded by `cache_bytes`.

One preallocated arena of posting rows (ids, refs, scales, norms, codes) that query kernels read in place,
several at once. After each query, `admit` (kernels/disk_query.py: the FIFO ring, and TinyLFU admission
by recent use) copies in those of the postings it read that are worth their place. Postings are known by
their number (gp, see disk_search.py); per gp the cache holds the posting's arena slot and its use count.
A posting bigger than the whole arena is not cached (queries read it from the file every time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
        self.freq = np.zeros(0, dtype=np.uint8)  # per gp: recent uses, halved now and then (admission)
        self.uses = np.zeros(1, dtype=np.int64)  # uses counted since the last halving
        self.r_gp, self.r_start, self.meta = new_ring(self.rows_cap)
        # Queries hold it shared while they read the arena; anything that changes the cache holds it
        # exclusively (so a posting being scanned is never overwritten).
        self.lock = SharedLock()
        self.generation = 0  # counts changes that drop postings: staged rows older than one are not admitted

    def grow(self, postings: int) -> None:
        """Room for slots of gps below `postings`."""
        self.slot_start = grown(self.slot_start, postings, -1)
        self.slot_len = grown(self.slot_len, postings, 0)
        self.freq = grown(self.freq, postings, 0)

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
        self.generation += 1
        for gp in gps:
            uncache(self.meta, self.slot_start, self.slot_len, gp)

    def clear(self) -> None:
        self.generation += 1
        self.slot_start[:] = -1
        self.r_gp, self.r_start, self.meta = new_ring(self.rows_cap)


def grown(a: np.ndarray, n: int, fill: int) -> np.ndarray:
    """a with room for at least n entries (doubling, the new ones `fill`); a itself if it has room."""
    if n <= len(a):
        return a
    return np.concatenate([a, np.full(max(n, 2 * len(a), 1024) - len(a), fill, a.dtype)])


class SharedLock:
    """Held by many in shared mode or by one exclusively. A blocked exclusive request goes before new shared
    ones (writes must not starve); `try_exclusive` never waits."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0  # exclusive requests waiting
        self._sleepers = 0  # threads in _cond.wait(): only then does a release need to wake anyone

    def acquire_shared(self) -> None:
        """(Methods rather than a context manager: this is on every query's path.)"""
        with self._cond:
            while self._writer or self._waiting:
                self._sleep()
            self._readers += 1

    def release_shared(self) -> None:
        with self._cond:
            if self._readers <= 0:
                raise RuntimeError("release_shared without acquire_shared")  # would block writers forever
            self._readers -= 1
            if not self._readers and self._sleepers:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                while self._writer or self._readers:
                    self._sleep()
            finally:
                self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            self.release_exclusive()

    def try_exclusive(self) -> bool:
        with self._cond:
            if self._writer or self._readers or self._waiting:
                return False
            self._writer = True
            return True

    def release_exclusive(self) -> None:
        with self._cond:
            self._writer = False
            if self._sleepers:
                self._cond.notify_all()

    def _sleep(self) -> None:
        """Wait for a release (the caller holds _cond)."""
        self._sleepers += 1
        try:
            self._cond.wait()
        finally:
            self._sleepers -= 1
