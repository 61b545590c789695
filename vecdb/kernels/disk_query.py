"""One disk-mode query as one kernel call: plan the tenant's postings best-first, scan the cached ones in
the RAM arena and read the others from LMDB's data file, staging them for the cache; then `admit` puts
the staged postings into the arena.

Postings are numbered ("gp", global posting) by the caller. Per gp:
- the arena slot: `slot_start[gp]` (first arena row, -1 when not cached) and `slot_len[gp]`;
- the directory: `dir_n[gp]` chunks (-1: not looked up in this snapshot) whose values start at file
  offsets `dir_off[dir_first[gp]:dir_first[gp] + dir_n[gp]]` and are `dir_size[...]` bytes long (layout
  in index/postings.py).

Chunks are read with pread(2), not through the map: in a virtual machine a page fault costs about twice
a small read, and reads leave nothing mapped (the process's resident memory stays the arena's). While
the caller's read transaction is open LMDB never rewrites its snapshot's pages, so the file holds
exactly what the map shows.

Queries scan the arena concurrently and never change it; the caller runs `admit` (and every other change
of the cache) under an exclusive lock. The arena is a FIFO ring (as in log-structured caches): postings
are placed at rising rows and a new one overwrites the oldest, so there is no fragmentation and eviction
is O(1). The ring's entries (r_gp, r_start) are queued in arena order; `meta` holds [front entry,
entries, head row, rows held, times the head went round]. An entry whose posting was invalidated or
cached again elsewhere stays queued until the head passes it, and evicting it then changes nothing (its
slot no longer points at it).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .btree_read import _pread, read_values
from .distances import normalize_rows, one_to_many
from .postings import candidates, clear_scan_state, new_memo, plan_next, query_norms, restart_plan, scan_rows
from .tree_search import adaptive_stop, prefetch_subtree

FRONT, COUNT, HEAD, USED, WRAPS = 0, 1, 2, 3, 4  # ring meta

# query progress (int64), kept across calls so a query can stop for directory look-ups and resume
READ, ROWS, USEFUL, PENDING, HITS, MISSES, BYTES, SCANNED, FAILED, STAGED, STAGED_BYTES = range(11)
PROGRESS_SLOTS = 11
QUERIES, RERANKED = PROGRESS_SLOTS, PROGRESS_SLOTS + 1  # further slots of a running total (`tally`)


GROUP = 4  # postings planned and scanned per step (each step tightens the bound that prunes the next)


@nb.njit(cache=True, nogil=True)
def new_ring(rows_cap):
    """(r_gp, r_start, meta) of an empty ring over an arena of rows_cap rows."""
    size = max(rows_cap, 1)  # entries own disjoint row ranges, so there are never more than rows
    return np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int64), np.zeros(5, dtype=np.int64)


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
        meta[WRAPS] += 1
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
def _chunk_columns(buf, n, codes_like):
    """(ids, refs, scales, norms, codes) views of a chunk value's n rows (layout in index/postings.py);
    codes of codes_like's width and type."""
    dim = codes_like.shape[1]
    w = n * dim * codes_like.itemsize
    return (buf[8:8 + 8 * n].view(np.int64), buf[8 + 8 * n:8 + 12 * n].view(np.uint32),
            buf[8 + 12 * n:8 + 16 * n].view(np.float32), buf[8 + 16 * n:8 + 20 * n].view(np.float32),
            buf[8 + 20 * n:8 + 20 * n + w].view(codes_like.dtype).reshape((n, dim)))


@nb.njit(cache=True, nogil=True)
def _aligned(nbytes):
    return (nbytes + 7) & ~7  # chunk values sit 8-byte aligned in the stage, for the ids


@nb.njit(cache=True, nogil=True)
def _scan_posting(q, qsq, qabs, g, dir_first, dir_n, dir_off, dir_size, fd, cap, stage, staged, a_codes, centroids,
                  residual, memo, state, metric, prog):
    """Read a posting's chunks (into `stage`, as they are in the file, when it has room) and scan them. A
    staged posting is listed in `staged` as (g, first stage byte, end byte, rows), for `admit` to copy into
    the cache later."""
    first = dir_first[g]
    nc = dir_n[g]
    dim = a_codes.shape[1]
    row_width = 20 + a_codes.itemsize * dim
    start = prog[STAGED_BYTES]
    need = 0
    for c in range(nc):
        need += _aligned(dir_size[first + c])
    keep = start + need <= stage.shape[0] and prog[STAGED] < staged.shape[0]
    pos = start
    rows = 0
    cand_lo, cand_i, hi_d, hi_i = state
    for c in range(nc):
        size = dir_size[first + c]
        if keep:
            buf = stage[pos:pos + size]
        else:
            buf = np.empty(_aligned(size) // 8, dtype=np.int64).view(np.uint8)  # small: malloc reuses it
        got = _pread(fd, buf.ctypes.data, size, dir_off[first + c])
        n = np.int64(buf[:4].view(np.uint32)[0]) if got >= 8 else -1
        if n < 0 or n > cap or got < 8 + n * row_width:
            prog[FAILED] += 1
            keep = False
            continue
        ids, refs, scale, sqnorm, codes = _chunk_columns(buf, n, a_codes)
        scan_rows(q, qsq, qabs, ids, refs, scale, sqnorm, codes, 0, n, centroids, residual, memo, cand_lo, cand_i,
                  hi_d, hi_i, metric, 0, 0)
        pos += _aligned(8 + n * row_width)
        rows += n
        prog[BYTES] += 8 + row_width * n
    if keep and rows > 0:
        e = prog[STAGED]
        staged[e, 0] = g
        staged[e, 1] = start
        staged[e, 2] = pos
        staged[e, 3] = rows
        prog[STAGED] += 1
        prog[STAGED_BYTES] = pos
    prog[SCANNED] += rows


@nb.njit(cache=True, nogil=True)
def _copy(dst, src):
    for j in range(src.shape[0]):  # a plain loop: LLVM makes it a memcpy (slice assignment checks overlap)
        dst[j] = src[j]


@nb.njit(cache=True, nogil=True)
def _count_use(freq, uses, g, age_at):
    """Count one use (hit or miss) of posting g. Every `age_at` uses all counts halve (TinyLFU's reset), so
    they measure recent use."""
    if freq[g] < 255:
        freq[g] += 1
    uses[0] += 1
    if uses[0] >= age_at:
        for i in range(freq.shape[0]):
            freq[i] >>= 1
        uses[0] = 0


@nb.njit(cache=True, nogil=True)
def _victims_use(r_gp, r_start, meta, slot_start, freq, rows_cap, n, mover):
    """The highest use count among the cached postings that n rows placed at the head would evict: the
    entries at the ring's front that ring_reserve's _evict calls would drop (not counting `mover`, a
    posting that would be moved there)."""
    size = r_gp.shape[0]
    lo, hi = meta[HEAD], meta[HEAD] + n
    wrap = hi > rows_cap  # the rest of this trip round goes, then [0, n)
    if wrap:
        hi = rows_cap
    top = 0
    i = 0
    while i < meta[COUNT]:
        e = (meta[FRONT] + i) % size
        start = r_start[e]
        if start < lo or start >= hi:
            if not wrap:
                break
            wrap = False
            lo, hi = 0, n
            continue  # the same entry, against the next range
        g = r_gp[e]
        if slot_start[g] == start and g != mover:
            top = max(top, np.int64(freq[g]))
        i += 1
    return top


@nb.njit(cache=True, nogil=True)
def admit(stage, staged, n_staged, hit_gps, n_hits, a_ids, a_refs, a_scale, a_sqnorm, a_codes, slot_start, slot_len,
          r_gp, r_start, meta, freq, uses):
    """After a query, under the cache's exclusive lock: count the use of every posting it read, copy its
    staged postings into the arena (those no other query cached meanwhile; once the arena is full, only
    those used more lately than every posting they would evict, as TinyLFU admits: under uniform use the
    cache stops churning, under skewed use it follows the hot postings), then move its hits that are
    about to be evicted to the ring's head, if used more than what they would evict there."""
    dim = a_codes.shape[1]
    row_width = 20 + a_codes.itemsize * dim
    flat_codes = a_codes.reshape(a_codes.shape[0] * dim)
    rows_cap = a_ids.shape[0]
    age_at = max(10 * meta[COUNT], 1024)  # TinyLFU's sample: ten uses per cached posting
    for i in range(n_hits):
        _count_use(freq, uses, hit_gps[i], age_at)
    for e in range(n_staged):
        g, pos, end, rows = staged[e, 0], staged[e, 1], staged[e, 2], staged[e, 3]
        _count_use(freq, uses, g, age_at)
        if slot_start[g] >= 0 or rows > rows_cap:
            continue
        # (while the arena is filling for the first time, anything goes in)
        if meta[WRAPS] and freq[g] <= _victims_use(r_gp, r_start, meta, slot_start, freq, rows_cap, rows, -1):
            continue
        dest = ring_reserve(r_gp, r_start, meta, slot_start, slot_len, rows_cap, g, rows)
        while dest >= 0 and pos < end:
            n = np.int64(stage[pos:pos + 4].view(np.uint32)[0])
            ids, refs, scale, sqnorm, codes = _chunk_columns(stage[pos:pos + 8 + n * row_width], n, a_codes)
            _copy(a_ids[dest:dest + n], ids)
            _copy(a_refs[dest:dest + n], refs)
            _copy(a_scale[dest:dest + n], scale)
            _copy(a_sqnorm[dest:dest + n], sqnorm)
            _copy(flat_codes[dest * dim:(dest + n) * dim], codes.reshape(n * dim))
            dest += n
            pos += _aligned(8 + n * row_width)
    for i in range(n_hits):  # by the same rule, so that under uniform use this does not churn either
        g = hit_gps[i]
        if (slot_start[g] >= 0 and _due_for_eviction(meta, slot_start[g], rows_cap)
                and freq[g] > _victims_use(r_gp, r_start, meta, slot_start, freq, rows_cap, slot_len[g], g)):
            _refresh(g, a_ids, a_refs, a_scale, a_sqnorm, a_codes, slot_start, slot_len, r_gp, r_start, meta)


@nb.njit(cache=True, nogil=True)
def start_query(state, fd, fn, counters, limits, prog, kth_at, m):
    """Reset one thread's reused query buffers for a query on a tenant subtree of m nodes."""
    clear_scan_state(state)
    restart_plan(fd, fn, counters, limits, m)
    prog[:] = 0
    kth_at[0] = 0.0


@nb.njit(cache=True, nogil=True)
def tally(totals, prog, reranked):
    """Add a finished query's progress (and the candidates it reranked) to a running total."""
    for i in range(PROGRESS_SLOTS):
        totals[i] += prog[i]
    totals[QUERIES] += 1
    totals[RERANKED] += reranked


@nb.njit(cache=True, nogil=True)
def disk_scan(q, centroids, radius, t_node, t_child_start, t_children, t_list_start, gp_of, fd, fn, counters,
              limits, prog, kth_at, pending, dir_first, dir_n, dir_off, dir_size, data_fd, cap, a_ids, a_refs, a_scale,
              a_sqnorm, a_codes, slot_start, slot_len, stage, staged, hit_gps, state, k, budget, prune, patience,
              residual, metric, use_cache):
    """Run (or resume) one query over a tenant's postings into `state` (kernels/postings.new_scan_state),
    a few postings at a time, each plan step dropping the subtrees that cannot beat the k-th smallest
    upper bound found so far (the frontier fd, fn, counters, limits, set up by start_query). Like memory
    mode's adaptive stop (tree_search.adaptive_stop), it also ends once the rows read since that bound last
    fell are at least `patience` and STALE_SHARE times the rows it took to get there (patience 0: off).

    The cache is only read (other queries may be scanning it too): postings read from the file land in
    `stage` (bytes) and are listed in `staged`, hits in `hit_gps`, and the caller admits them afterwards (`admit`,
    under the cache's exclusive lock). `use_cache` False: the cache is not read (the caller's snapshot is
    newer than what it is known to match: a commit whose publish step has not run yet).

    Returns 0 when the query is done, or n > 0 when the next postings, local nodes pending[:n], include
    one that is neither cached nor in the directory: the caller looks those up and calls again."""
    memo = new_memo(q.shape[0])
    qsq, qabs = query_norms(q)
    hi_d = state[2]
    prefetch_subtree(t_node, t_child_start, t_children, t_list_start)
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
        for i in range(n):
            next_lo = next_hi = 0
            if use_cache and i + 1 < n and slot_start[gp_of[nodes[i + 1]]] >= 0:  # prefetched while i is scanned
                h = gp_of[nodes[i + 1]]
                next_lo, next_hi = slot_start[h], slot_start[h] + slot_len[h]
            g = gp_of[nodes[i]]
            start = slot_start[g] if use_cache else -1
            if start >= 0:
                scan_rows(q, qsq, qabs, a_ids, a_refs, a_scale, a_sqnorm, a_codes, start, start + slot_len[g],
                          centroids, residual, memo, state[0], state[1], state[2], state[3], metric, next_lo, next_hi)
                hit_gps[prog[HITS]] = g
                prog[HITS] += 1
                prog[SCANNED] += slot_len[g]
            else:
                _scan_posting(q, qsq, qabs, g, dir_first, dir_n, dir_off, dir_size, data_fd, cap, stage, staged,
                              a_codes, centroids, residual, memo, state, metric, prog)
                prog[MISSES] += 1
        prog[READ] += n
        for i in range(n):
            prog[ROWS] += t_list_start[nodes[i] + 1] - t_list_start[nodes[i]]
        stop, useful = adaptive_stop(hi_d[0] < kth or kth == np.inf, prog[ROWS], prog[USEFUL], patience)
        prog[USEFUL] = useful
        if stop:
            return 0
    return 0  # unreachable; keeps numba's return type simple


@nb.njit(cache=True, nogil=True)
def rerank(q, state, prefix, root, fd, psize, ranks, kids, counts, tags, scratch, k, metric, cosine):
    """The exact top k among the candidates that may be in it (postings.candidates), their vectors read
    from the `vectors` B-tree (btree_read.read_values). They are read by lower bound, the k lowest first,
    and reading stops once the k-th exact distance found is below every remaining lower bound (those
    cannot be in the top k): a read is a leaf page cold in every cache, most of a rerank's time. Returns
    (ids int64[k] padded with -1, proxies float32[k] padded with +inf, candidates read), or candidates
    read -1 when a vector could not be read this way (the caller asks LMDB, then calls exact_top_k)."""
    ids, lows = candidates(state)
    n, dim = ids.shape[0], q.shape[0]
    raw = np.empty((n, 4 * dim), dtype=np.uint8)
    prox = np.empty(n, dtype=np.float32)
    done, end = 0, min(k, n)
    while end > done:
        if read_values(ids[done:end], prefix, root, fd, psize, ranks, kids, counts, tags, scratch, raw[done:end]) >= 0:
            return np.full(k, -1, dtype=np.int64), np.full(k, np.inf, dtype=np.float32), -1
        vecs = raw[done:end].view(np.float32).reshape((end - done, dim))
        prox[done:end] = exact_proxies(q, vecs, metric, cosine)
        done = end
        kth = np.sort(prox[:done])[k - 1] if done >= k else np.inf
        while end < n and lows[end] <= kth:
            end += 1
    out_i, out_d = top_k(ids[:done], prox[:done], k)
    return out_i, out_d, done


@nb.njit(cache=True, nogil=True)
def exact_top_k(q, ids, vecs, k, metric, cosine):
    """The k of (ids, stored vectors) nearest to q, scored as exact search scores them (cosine: rows
    normalised first) -> (ids int64[k] padded with -1, proxies float32[k] padded with +inf)."""
    return top_k(ids, exact_proxies(q, vecs, metric, cosine), k)


@nb.njit(cache=True, nogil=True)
def exact_proxies(q, vecs, metric, cosine):
    """Proxies of stored vectors as exact search computes them (cosine: rows normalised first)."""
    return one_to_many(q, normalize_rows(vecs) if cosine else vecs, metric)


@nb.njit(cache=True, nogil=True)
def top_k(ids, prox, k):
    """The k smallest proxies, ties to the lower id -> (ids int64[k] padded with -1, proxies padded with +inf)."""
    by_id = np.argsort(ids)
    order = by_id[np.argsort(prox[by_id], kind="mergesort")]
    out_i = np.full(k, -1, dtype=np.int64)
    out_d = np.full(k, np.inf, dtype=np.float32)
    for j in range(min(k, ids.shape[0])):
        out_i[j] = ids[order[j]]
        out_d[j] = prox[order[j]]
    return out_i, out_d
