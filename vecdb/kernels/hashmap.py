"""An open-addressing hash map from int64 keys (ids, >= 0) to int64 values (slots), held in two arrays
so it costs 16 bytes a slot instead of a Python dict's ~100 bytes an entry.

keys: -1 marks an empty slot, -2 a deleted one. Capacity is a power of two; callers keep the load
(live + deleted) under one half and rebuild when it is not (see index/curator.py).
"""

from __future__ import annotations

import numba as nb
import numpy as np

EMPTY = -1
DELETED = -2


@nb.njit(cache=True, nogil=True)
def _hash(key, mask):
    # splitmix64 finaliser: spreads sequential ids over the whole table.
    h = np.uint64(key)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    h = h ^ (h >> np.uint64(31))
    return np.int64(h & np.uint64(mask))


@nb.njit(cache=True, nogil=True)
def hm_put(keys, vals, ks, vs):
    """Insert or overwrite ks[i] -> vs[i]. Returns how many keys were new."""
    mask = keys.shape[0] - 1
    added = 0
    for i in range(ks.shape[0]):
        key = ks[i]
        pos = _hash(key, mask)
        tomb = -1
        while True:
            cur = keys[pos]
            if cur == key:
                vals[pos] = vs[i]
                break
            if cur == EMPTY:
                target = tomb if tomb >= 0 else pos
                keys[target] = key
                vals[target] = vs[i]
                added += 1
                break
            if cur == DELETED and tomb < 0:
                tomb = pos
            pos = (pos + 1) & mask
    return added


@nb.njit(cache=True, nogil=True)
def hm_get(keys, vals, ks):
    """Values of ks (int64[n]); -1 where a key is absent."""
    mask = keys.shape[0] - 1
    out = np.full(ks.shape[0], -1, dtype=np.int64)
    for i in range(ks.shape[0]):
        key = ks[i]
        pos = _hash(key, mask)
        while True:
            cur = keys[pos]
            if cur == key:
                out[i] = vals[pos]
                break
            if cur == EMPTY:
                break
            pos = (pos + 1) & mask
    return out


@nb.njit(cache=True, nogil=True)
def hm_delete(keys, vals, ks):
    """Remove ks; returns how many were present."""
    mask = keys.shape[0] - 1
    removed = 0
    for i in range(ks.shape[0]):
        key = ks[i]
        pos = _hash(key, mask)
        while True:
            cur = keys[pos]
            if cur == key:
                keys[pos] = DELETED
                removed += 1
                break
            if cur == EMPTY:
                break
            pos = (pos + 1) & mask
    return removed


def hm_new(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty table with room for `capacity` entries at load one half."""
    size = 1 << max(4, int(2 * max(capacity, 1) - 1).bit_length())
    return np.full(size, EMPTY, dtype=np.int64), np.zeros(size, dtype=np.int64)
