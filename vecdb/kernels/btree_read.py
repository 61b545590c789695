"""Reading LMDB values by key with pread(2), walking the B-tree of one snapshot by hand.

Why: in disk mode the map's pages are handed back to the OS (storage/residency.py), so a value read
through the map costs a page fault, and in this virtual machine a fault costs several small reads
(about 12 us against 2-3 us for a 4 KiB pread). The disk-mode rerank reads ~13 scattered vectors a
query; read through the map they were a third of its time.

LMDB's on-disk format (lmdb.h / mdb.c, stable since 0.9; checked against the library by
tests/unit/test_btree_read.py): a page of `psize` bytes starts with a 16-byte header (u64 page number,
u16 pad, u16 flags, u16 lower, u16 upper). Branch and leaf pages follow it with (lower - 16) / 2 u16
offsets (from the page start) of their nodes, in key order. A node is (u16 lo, u16 hi, u16 flags,
u16 key size, key, data): in a leaf, lo | hi << 16 is the data's size and the data follows the key, or,
with flag BIGDATA, its u64 overflow page number does (the value then starts 16 bytes into that page); in
a branch, lo | hi << 16 | flags << 32 is the child's page number, and node 0's key sorts before all.
Keys compare as bytes, a prefix first.

Pages reachable from a snapshot's root never change while a read transaction of that snapshot is open,
so branch pages are kept (direct-mapped by page number) for as long as the caller stays on one snapshot.
Anything unexpected (a page that is not what its parent says, a key not found, a size that is not the
caller's) makes the call return the failing row, and the caller falls back to LMDB itself.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .disk_query import _pread

HEADER = 16
P_BRANCH, P_LEAF, P_LEAF2 = 0x01, 0x02, 0x20
F_BIGDATA = 0x01
MAX_DEPTH = 32


@nb.njit(cache=True, nogil=True)
def _u16(pg, o):
    return np.int64(pg[o]) | (np.int64(pg[o + 1]) << 8)


@nb.njit(cache=True, nogil=True)
def _u64(pg, o):
    v = np.int64(0)
    for j in range(7, -1, -1):
        v = (v << 8) | np.int64(pg[o + j])
    return v


@nb.njit(cache=True, nogil=True)
def _compare(pg, off, size, key):
    """The node key pg[off:off + size] against key: -1, 0 or 1, as LMDB's default order."""
    for j in range(min(size, key.shape[0])):
        a = pg[off + j]
        b = key[j]
        if a != b:
            return -1 if a < b else 1
    if size == key.shape[0]:
        return 0
    return -1 if size < key.shape[0] else 1


@nb.njit(cache=True, nogil=True)
def _node(pg, i, psize):
    """(offset, key size) of node i, or (-1, 0) if it does not fit the page."""
    off = _u16(pg, HEADER + 2 * i)
    if off < HEADER or off + 8 > psize:
        return -1, 0
    ks = _u16(pg, off + 6)
    if off + 8 + ks > psize:
        return -1, 0
    return off, ks


@nb.njit(cache=True, nogil=True)
def _load(p, fd, psize, pages, tags, scratch):
    """Page p: the kept copy if there is one, else read into scratch (-> (page, kept))."""
    slot = p % tags.shape[0]
    if tags[slot] == p:
        return pages[slot], True
    if _pread(fd, scratch.ctypes.data, psize, p * psize) != psize or _u64(scratch, 0) != p:
        scratch[10] = 0  # no page flags: the caller sees a failure
        scratch[11] = 0
    return scratch, False


@nb.njit(cache=True, nogil=True)
def _child(pg, n, psize, key):
    """The page number of the branch node whose subtree holds key (the last whose key is <= key)."""
    lo, hi, best = 1, n - 1, 0
    while lo <= hi:
        mid = (lo + hi) >> 1
        off, ks = _node(pg, mid, psize)
        if off < 0:
            return -1
        if _compare(pg, off + 8, ks, key) <= 0:
            best = mid
            lo = mid + 1
        else:
            hi = mid - 1
    off, _ = _node(pg, best, psize)
    if off < 0:
        return -1
    return _u16(pg, off) | (_u16(pg, off + 2) << 16) | (_u16(pg, off + 4) << 32)


@nb.njit(cache=True, nogil=True)
def _leaf_value(pg, n, psize, key, fd, out):
    """Copy key's value (exactly out.shape[0] bytes) into out; -> success."""
    lo, hi = 0, n - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        off, ks = _node(pg, mid, psize)
        if off < 0:
            return False
        c = _compare(pg, off + 8, ks, key)
        if c < 0:
            lo = mid + 1
        elif c > 0:
            hi = mid - 1
        else:
            size = _u16(pg, off) | (_u16(pg, off + 2) << 16)
            data = off + 8 + ks
            if size != out.shape[0]:
                return False
            if _u16(pg, off + 4) & F_BIGDATA:
                if data + 8 > psize:
                    return False
                return _pread(fd, out.ctypes.data, size, _u64(pg, data) * psize + HEADER) == size
            if data + size > psize:
                return False
            out[:] = pg[data:data + size]
            return True
    return False


@nb.njit(cache=True, nogil=True)
def read_values(keys, root, fd, psize, pages, tags, scratch, out):
    """Copy the value of each keys[i] (uint8 rows, all of one length) into out[i] (uint8 rows of the
    values' exact size), from the B-tree whose root page is `root`; branch pages are kept in
    (pages, tags). Returns -1 when all were read, else the first row that could not be."""
    for i in range(keys.shape[0]):
        key = keys[i]
        p = root
        done = False
        for _ in range(MAX_DEPTH):
            pg, kept = _load(p, fd, psize, pages, tags, scratch)
            flags = _u16(pg, 10)
            n = (_u16(pg, 12) - HEADER) >> 1
            if n <= 0 or HEADER + 2 * n > psize:
                break
            if flags & P_BRANCH:
                if not kept:
                    slot = p % tags.shape[0]
                    pages[slot] = pg
                    tags[slot] = p
                p = _child(pg, n, psize, key)
                if p < 0:
                    break
            elif flags & P_LEAF and not flags & P_LEAF2:
                done = _leaf_value(pg, n, psize, key, fd, out[i])
                break
            else:
                break
        if not done:
            return i
    return -1
