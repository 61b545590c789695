"""One disk-mode query as one kernel call: plan the tenant's postings best-first, scan the cached ones in
the RAM arena and read the others from LMDB's data file, copying them into the arena as it goes.

Postings are numbered ("gp", global posting) by the caller. Per gp:
- the arena slot: `slot_start[gp]` (first arena row, -1 when not cached) and `slot_len[gp]`;
- the directory: `dir_n[gp]` chunks (-1: not looked up in this snapshot) whose values start at file
  offsets `dir_off[dir_first[gp]:dir_first[gp] + dir_n[gp]]` and are `dir_size[...]` bytes long (layout
  in index/postings.py).

Chunks are read with pread(2) into a scratch buffer, not through the map: in a virtual machine a page
fault costs about twice a small read, and reads leave nothing mapped (the process's resident memory
stays the arena's). While the caller's read transaction is open LMDB never rewrites its snapshot's
pages, so the file holds exactly what the map shows.

The arena is a FIFO ring (as in log-structured caches): postings are placed at rising rows and a new one
overwrites the oldest, so there is no fragmentation and eviction is O(1). The ring's entries (r_gp,
r_start) are queued in arena order; `meta` holds [front entry, entries, head row, rows held]. An entry
whose posting was invalidated or cached again elsewhere stays queued until the head passes it, and
evicting it then changes nothing (its slot no longer points at it).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.core import types

from .postings import new_memo, plan_next, query_norms, scan_rows

FRONT, COUNT, HEAD, USED = 0, 1, 2, 3  # ring meta

# query progress (int64), kept across calls so a query can stop for directory look-ups and resume
READ, ROWS, USEFUL, STALE, PENDING, HITS, MISSES, BYTES, SCANNED, FAILED = range(10)
PROGRESS_SLOTS = 10

# libc's pread, bound by name so the compiled kernels stay cacheable (a ctypes pointer is not)
_pread = types.ExternalFunction("pread", types.intp(types.intc, types.uintp, types.uintp, types.int64))

GROUP = 4  # postings planned and scanned per step (each step tightens the bound that prunes the next)


@nb.njit(cache=True, nogil=True)
def new_ring(rows_cap):
    """(r_gp, r_start, meta) of an empty ring over an arena of rows_cap rows."""
    size = max(rows_cap, 1)  # entries own disjoint row ranges, so there are never more than rows
    return np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int64), np.zeros(4, dtype=np.int64)


@nb.njit(cache=True, nogil=True)
def _evict(r_gp, r_start, meta, slot_start, slot_len, lo, hi):
    """Drop the entries starting in [lo, hi). Within one trip round the ring entries sit at rising rows,
    so those still ahead of the head are exactly the oldest, at the front."""
    size = r_gp.shape[0]
    while meta[COUNT] > 0:
        e = meta[FRONT]
        start = r_start[e]
        if start < lo or start >= hi:
            break
        g = r_gp[e]
        if slot_start[g] == start:
            slot_start[g] = -1
            meta[USED] -= slot_len[g]
        meta[FRONT] = (e + 1) % size
        meta[COUNT] -= 1


@nb.njit(cache=True, nogil=True)
def uncache(meta, slot_start, slot_len, g):
    if slot_start[g] >= 0:
        meta[USED] -= slot_len[g]
        slot_start[g] = -1


@nb.njit(cache=True, nogil=True)
def ring_reserve(r_gp, r_start, meta, slot_start, slot_len, rows_cap, g, n):
    """Make room for posting g of n rows and point its slot there; -> its first row, or -1 (not cached:
    empty, or bigger than the arena). The caller fills the rows before anyone reads them."""
    uncache(meta, slot_start, slot_len, g)  # whatever happens, an older copy must not stay
    if n == 0 or n > rows_cap:
        return -1
    if meta[HEAD] + n > rows_cap:
        _evict(r_gp, r_start, meta, slot_start, slot_len, meta[HEAD], rows_cap)  # the tail end is skipped
        meta[HEAD] = 0
    start = meta[HEAD]
    _evict(r_gp, r_start, meta, slot_start, slot_len, start, start + n)
    meta[HEAD] = start + n
    e = (meta[FRONT] + meta[COUNT]) % r_gp.shape[0]
    r_gp[e] = g
    r_start[e] = start
    meta[COUNT] += 1
    slot_start[g] = start
    slot_len[g] = n
    meta[USED] += n
    return start


@nb.njit(cache=True, nogil=True)
def _due_for_eviction(meta, start, rows_cap):
    """Whether the rows from `start` are among the quarter of the arena the ring overwrites next."""
    ahead = start - meta[HEAD]
    if ahead < 0:
        ahead += rows_cap
    return ahead < rows_cap // 4


@nb.njit(cache=True, nogil=True)
def _refresh(g, a_ids, a_refs, a_scale, a_sqnorm, a_codes, slot_start, slot_len, r_gp, r_start, meta):
    """Move a cached posting that was just used to the ring's head, so postings in use stay (FIFO with
    reinsertion, close to LRU at no cost to a hit that is not about to be evicted)."""
    lo = slot_start[g]
    hi = lo + slot_len[g]
    ids, refs, scale = a_ids[lo:hi].copy(), a_refs[lo:hi].copy(), a_scale[lo:hi].copy()
    sqnorm, codes = a_sqnorm[lo:hi].copy(), a_codes[lo:hi].copy()  # the new slot may overlap the old
    dest = ring_reserve(r_gp, r_start, meta, slot_start, slot_len, a_ids.shape[0], g, hi - lo)
    if dest >= 0:
        n = hi - lo
        a_ids[dest:dest + n] = ids
        a_refs[dest:dest + n] = refs
        a_scale[dest:dest + n] = scale
        a_sqnorm[dest:dest + n] = sqnorm
        a_codes[dest:dest + n] = codes


@nb.njit(cache=True, nogil=True)
def _read_chunk(fd, off, size, cap, row_width, scratch, chunk):
    """Read the chunk value of `size` bytes at file offset `off` into scratch[chunk]; -> its rows, -1 if
    the read failed or came up short."""
    buf = scratch[chunk]
    if size > buf.shape[0]:
        return -1
    got = _pread(fd, buf.ctypes.data, size, off)
    if got < 8:
        return -1
    n = np.int64(buf[:4].view(np.uint32)[0])
    if n > cap or got < 8 + n * row_width:
        return -1
    return n


@nb.njit(cache=True, nogil=True)
def _scan_posting(q, qsq, qabs, g, dir_first, dir_n, dir_off, dir_size, fd, cap, scratch, a_ids, a_refs, a_scale,
                  a_sqnorm, a_codes, slot_start, slot_len, r_gp, r_start, meta, centroids, residual, memo, state,
                  metric, prog, keep):
    """Read a posting's chunks (scratch has a row per chunk of the longest posting in the directory), scan
    them and, if `keep`, copy the rows into the arena (when the posting fits there)."""
    first = dir_first[g]
    nc = dir_n[g]
    dim = a_codes.shape[1]
    width = a_codes.itemsize * dim
    rows = 0
    lens = np.empty(nc, dtype=np.int64)
    for c in range(nc):
        lens[c] = _read_chunk(fd, dir_off[first + c], dir_size[first + c], cap, 20 + width, scratch, c)
        if lens[c] < 0:
            prog[FAILED] += 1
            lens[c] = 0
        rows += lens[c]
    dest = ring_reserve(r_gp, r_start, meta, slot_start, slot_len, a_ids.shape[0], g, rows) if keep else -1
    cand_lo, cand_i, hi_d, hi_i = state
    for c in range(nc):
        n = lens[c]
        buf = scratch[c]
        ids = buf[8:8 + 8 * n].view(np.int64)
        refs = buf[8 + 8 * n:8 + 12 * n].view(np.uint32)
        scale = buf[8 + 12 * n:8 + 16 * n].view(np.float32)
        sqnorm = buf[8 + 16 * n:8 + 20 * n].view(np.float32)
        codes = buf[8 + 20 * n:8 + 20 * n + width * n].view(a_codes.dtype).reshape((n, dim))
        scan_rows(q, qsq, qabs, ids, refs, scale, sqnorm, codes, 0, n, centroids, residual, memo, cand_lo, cand_i,
                  hi_d, hi_i, metric)
        if dest >= 0:
            a_ids[dest:dest + n] = ids
            a_refs[dest:dest + n] = refs
            a_scale[dest:dest + n] = scale
            a_sqnorm[dest:dest + n] = sqnorm
            a_codes[dest:dest + n] = codes
            dest += n
        prog[BYTES] += 8 + (20 + width) * n
    prog[SCANNED] += rows


@nb.njit(cache=True, nogil=True)
def disk_scan(q, centroids, radius, t_node, t_child_start, t_children, t_list_start, gp_of, fd, fn, counters,
              limits, prog, kth_at, pending, dir_first, dir_n, dir_off, dir_size, data_fd, cap, scratch, a_ids,
              a_refs, a_scale, a_sqnorm, a_codes, slot_start, slot_len, r_gp, r_start, meta, state, k, budget, prune,
              patience, residual, metric, use_cache):
    """Run (or resume) one query over a tenant's postings into `state` (kernels/postings.new_scan_state),
    a few postings at a time, each plan step dropping the subtrees that cannot beat the k-th smallest
    upper bound found so far (the frontier fd, fn, counters, limits comes from plan_start). Like memory
    mode's adaptive stop, it also ends once `patience` postings in a row left that bound where it was and
    they held at least as many rows as it took to reach the last improvement (patience 0: off).

    `use_cache` False: the cache is neither read nor filled (the caller's snapshot is newer than what the
    cache is known to match: a commit whose publish step has not run yet).

    Returns 0 when the query is done, or n > 0 when the next postings, local nodes pending[:n], include
    one that is neither cached nor in the directory: the caller looks those up and calls again."""
    memo = new_memo(q.shape[0])
    qsq, qabs = query_norms(q)
    hi_d = state[2]
    missed = np.zeros(GROUP, dtype=np.bool_)
    while True:
        n = prog[PENDING]
        if n > 0:
            nodes = pending
            kth = kth_at[0]
        else:
            kth = hi_d[0]
            nodes, n = plan_next(q, centroids, radius, t_node, t_child_start, t_children, t_list_start, fd, fn,
                                 counters, limits, k, budget, prune, kth, GROUP, metric)
            if n == 0:
                return 0
        for i in range(n):
            g = gp_of[nodes[i]]
            if (not use_cache or slot_start[g] < 0) and dir_n[g] < 0:
                pending[:n] = nodes[:n]
                prog[PENDING] = n
                kth_at[0] = kth
                return n
        prog[PENDING] = 0
        for i in range(n):  # hits first: a miss's reservation may evict them
            g = gp_of[nodes[i]]
            start = slot_start[g] if use_cache else -1
            missed[i] = start < 0
            if start >= 0:
                scan_rows(q, qsq, qabs, a_ids, a_refs, a_scale, a_sqnorm, a_codes, start, start + slot_len[g],
                           centroids, residual, memo, state[0], state[1], state[2], state[3], metric)
                prog[HITS] += 1
                prog[SCANNED] += slot_len[g]
        for i in range(n):
            if missed[i]:
                _scan_posting(q, qsq, qabs, gp_of[nodes[i]], dir_first, dir_n, dir_off, dir_size, data_fd, cap,
                              scratch, a_ids, a_refs, a_scale, a_sqnorm, a_codes, slot_start, slot_len, r_gp,
                              r_start, meta, centroids, residual, memo, state, metric, prog, use_cache)
                prog[MISSES] += 1
        for i in range(n):  # last: moving a hit may evict others, which the loops above rely on
            g = gp_of[nodes[i]]
            if not missed[i] and slot_start[g] >= 0 and _due_for_eviction(meta, slot_start[g], a_ids.shape[0]):
                _refresh(g, a_ids, a_refs, a_scale, a_sqnorm, a_codes, slot_start, slot_len, r_gp, r_start, meta)
        prog[READ] += n
        for i in range(n):
            prog[ROWS] += t_list_start[nodes[i] + 1] - t_list_start[nodes[i]]
        if hi_d[0] < kth or kth == np.inf:
            prog[STALE] = 0
            prog[USEFUL] = prog[ROWS]
        else:
            prog[STALE] += n
            if 0 < patience <= prog[STALE] and prog[ROWS] - prog[USEFUL] >= prog[USEFUL]:
                return 0
    return 0  # unreachable; keeps numba's return type simple
