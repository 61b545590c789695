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
so branch pages are kept (in a table of slots by page number, a few probed per page) for as long as the
caller stays on one snapshot, in compact form: each node's key as a uint64 rank and its child's page
number, so the search of a page cold in the CPU's caches touches a few cache lines rather than most of
the page. A leaf page is searched by the same ranks, read straight from its nodes.
Anything unexpected (a page that is not what its parent says, a key not found, a size that is not the
caller's) makes the call return the failing row, and the caller falls back to LMDB itself.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.core import types

# libc's pread, bound by name so the compiled kernels stay cacheable (a ctypes pointer is not)
_pread = types.ExternalFunction("pread", types.intp(types.intc, types.uintp, types.uintp, types.int64))

HEADER = 16
P_BRANCH, P_LEAF, P_LEAF2 = 0x01, 0x02, 0x20
F_BIGDATA = 0x01
MAX_DEPTH = 32
_PROBES = 4  # slots a kept branch page may take, from its home slot on


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
def _read_page(p, fd, psize, scratch):
    """Page p into scratch; -> whether it is there (a short read or another page number is a failure)."""
    return _pread(fd, scratch.ctypes.data, psize, p * psize) == psize and _u64(scratch, 0) == p


@nb.njit(cache=True, nogil=True)
def _key_rank(pg, off, size, prefix):
    """A branch key as a uint64 that orders like the key among keys `prefix + 8-byte id`: 0 for a key of a
    lower prefix, the maximum for a higher one, else the id (ids are below 2**63). -> (rank, ok)."""
    lp = prefix.shape[0]
    for j in range(min(size, lp)):
        if pg[off + j] != prefix[j]:
            return (np.uint64(0) if pg[off + j] < prefix[j] else np.uint64(0xFFFFFFFFFFFFFFFF)), True
    if size != lp + 8:
        return np.uint64(0), False  # not a key of this layout: the caller gives up
    v = np.uint64(0)
    for j in range(8):
        v = (v << np.uint64(8)) | np.uint64(pg[off + lp + j])
    return v, True


@nb.njit(cache=True, nogil=True)
def _keep_branch(pg, n, psize, prefix, slot, ranks, kids, counts):
    """Store branch page pg's n nodes compactly in `slot`: each key's rank and its child's page number
    (node 0's key sorts before all, rank 0). -> success."""
    if n > ranks.shape[1]:
        return False
    for i in range(n):
        off, ks = _node(pg, i, psize)
        if off < 0:
            return False
        rank, ok = _key_rank(pg, off + 8, ks, prefix) if i else (np.uint64(0), True)
        if not ok:
            return False
        ranks[slot, i] = rank
        kids[slot, i] = _u16(pg, off) | (_u16(pg, off + 2) << 16) | (_u16(pg, off + 4) << 32)
    counts[slot] = n
    return True


@nb.njit(cache=True, nogil=True)
def _child_index(ranks, r, n, target):
    """The last node of a kept branch page (row r of ranks, its n nodes) whose rank is <= target (node 0 always
    qualifies). Ids are usually spread evenly enough between a page's first and last key that a guess by
    interpolation lands within a few nodes: one cache line cold in the CPU's caches, where a binary search
    touches six; a few steps from the guess, else a binary search, bound the worst case."""
    if n <= 1 or ranks[r, 1] > target:
        return 0
    if ranks[r, n - 1] <= target:
        return n - 1
    lo, hi = 1, n - 1  # ranks[r, lo] <= target < ranks[r, hi]
    span = np.float64(ranks[r, hi] - ranks[r, lo])
    i = lo + np.int64(np.float64(target - ranks[r, lo]) / span * (hi - lo)) if span > 0 else lo
    i = min(max(i, lo), hi - 1)
    for _ in range(8):
        if ranks[r, i] > target:
            hi = i
            i -= 1
        elif ranks[r, i + 1] <= target:
            lo = i + 1
            i += 1
        else:
            return i
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if ranks[r, mid] <= target:
            lo = mid
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True)
def _leaf_value(pg, n, psize, prefix, target, fd, out):
    """Copy the value of key `prefix + target` (big-endian; exactly out.shape[0] bytes) into out ->
    success. Node keys are compared as ranks (_key_rank), a few loads each rather than a byte loop."""
    lo, hi = 0, n - 1
    lp = prefix.shape[0]
    while lo <= hi:
        mid = (lo + hi) >> 1
        off, ks = _node(pg, mid, psize)
        if off < 0:
            return False
        rank, ok = _key_rank(pg, off + 8, ks, prefix)
        if not ok:
            return False
        if rank < target or (rank == target and _compare(pg, off + 8, lp, prefix) < 0):
            lo = mid + 1  # (a lower prefix ranks 0, as id 0 does)
        elif rank > target:
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
            for j in range(size):  # (a slice assignment would allocate a copy of the source first)
                out[j] = pg[data + j]
            return True
    return False


@nb.njit(cache=True, nogil=True)
def _find_slot(tags, p):
    """Where branch page p is kept, or else where to keep it: the slots from p's home slot on are probed a
    few at a time (a direct-mapped table loses a quarter of its pages to collisions at a third full, and
    a page read again costs a pread and its parsing), then the home slot is taken over."""
    home = p % tags.shape[0]
    free = -1
    for j in range(_PROBES):
        s = home + j
        if s >= tags.shape[0]:
            s -= tags.shape[0]
        if tags[s] == p:
            return s
        if tags[s] < 0 and free < 0:
            free = s
    return home if free < 0 else free


@nb.njit(cache=True, nogil=True)
def _enter(p, i, target, fd, psize, prefix, ranks, kids, counts, tags, scratch, out):
    """Make page p usable for row i: a kept branch page (-> its slot), or, for a leaf, copy the value of
    key `prefix + target` into out[i] (-> -2); -1 when the page is not what it should be."""
    slot = _find_slot(tags, p)
    if tags[slot] == p:
        return slot
    if not _read_page(p, fd, psize, scratch):
        return -1
    flags = _u16(scratch, 10)
    n = (_u16(scratch, 12) - HEADER) >> 1
    if n <= 0 or HEADER + 2 * n > psize:
        return -1
    if flags & P_LEAF and not flags & (P_BRANCH | P_LEAF2):
        return -2 if _leaf_value(scratch, n, psize, prefix, target, fd, out[i]) else -1
    if not flags & P_BRANCH:
        return -1
    tags[slot] = -1  # while it is being filled
    if not _keep_branch(scratch, n, psize, prefix, slot, ranks, kids, counts):
        return -1
    tags[slot] = p
    return slot


@nb.njit(cache=True, nogil=True)
def read_values(ids, prefix, root, fd, psize, ranks, kids, counts, tags, scratch, out):
    """Copy the value of each key `prefix + ids[i]` (big-endian) into out[i] (uint8 rows of the values'
    exact size), from the B-tree whose root page is `root`. Branch pages are kept compactly in slots by
    page number (`_find_slot`): (ranks, kids) rows of their keys' ranks (`_key_rank`) and child pages, `counts` nodes,
    `tags` which page a slot holds (-1: none). Returns -1 when all were read, else the first row that
    could not be.

    All rows go down the tree together, a level at a time, so the loads of their searches (kept pages cold
    in the CPU's caches) can overlap."""
    n = ids.shape[0]
    page = np.full(n, root, dtype=np.int64)
    slot = np.empty(n, dtype=np.int64)
    for _ in range(MAX_DEPTH):
        active = 0
        for i in range(n):
            if page[i] < 0:
                continue
            s = _enter(page[i], i, np.uint64(ids[i]), fd, psize, prefix, ranks, kids, counts, tags, scratch, out)
            if s == -1:
                return i
            if s == -2:
                page[i] = -1  # read
                continue
            slot[i] = s
            active += 1
        if active == 0:
            return -1
        for i in range(n):
            if page[i] >= 0 and tags[slot[i]] == page[i]:
                page[i] = kids[slot[i], _child_index(ranks, slot[i], counts[slot[i]], np.uint64(ids[i]))]
            elif page[i] >= 0:  # its page lost the slot to another row's at this level: enter it again
                s = _enter(page[i], i, np.uint64(ids[i]), fd, psize, prefix, ranks, kids, counts, tags, scratch, out)
                if s < 0:
                    return i
                page[i] = kids[s, _child_index(ranks, s, counts[s], np.uint64(ids[i]))]
    for i in range(n):
        if page[i] >= 0:
            return i
    return -1
