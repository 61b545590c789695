"""Memory-mode search of a small tenant whose rows are packed as int8 residual codes (index/tenant_tree.py).

The same best-first walk and adaptive stop as tree_search.tenant_search, but each shortlist is scanned
from the tenant's own contiguous codes (a quarter of the bytes of its float32 rows; all rows of a list
share one centroid) with the rigorous error bounds of the disk mode (postings.scan_rows); the k-th smallest
upper bound stands in for the k-th distance. The candidates that may be in the top k are then reranked
on their exact rows in the shared slab, so results and distances are those of an exact scan of the rows
visited.

Row j of the codes is list position j: its slab row is t_slots[j], which is also what the heaps carry.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .distances import proxy_row
from .heap import heap_push, heap_sort
from .postings import new_memo, new_scan_state, query_norms, scan_rows
from .prefetch import prefetch_row
from .tree_search import _fpop, _lower_bound, adaptive_stop, new_frontier, prefetch_subtree, push_children, query_norm


@nb.njit(cache=True, nogil=True)
def packed_search(q, centroids, radius, slab, slab_ids, t_node, t_child_start, t_children, t_list_start, t_slots,
                  refs, scale, sqnorm, codes, k, budget, patience, width, metric):
    """Top-k of one query among a packed tenant's vectors: (ids int64[k] padded with -1, proxies
    float32[k] padded with +inf, vectors scanned). `width`: candidates kept for the rerank (>= k)."""
    ids = np.full(k, -1, dtype=np.int64)
    m = t_node.shape[0]
    if m == 0:
        return ids, np.full(k, np.inf, dtype=np.float32), 0
    qnorm = query_norm(q, metric)
    cand_lo, cand_i, hi_d, hi_i = new_scan_state(k, max(k, width))
    memo = new_memo(q.shape[0])
    qsq, qabs = query_norms(q)
    prefetch_subtree(t_node, t_child_start, t_children, t_list_start)
    fd, fn, size = new_frontier(m)
    scanned = 0
    useful = 0
    while size > 0:
        key, u, size = _fpop(fd, fn, size)
        next_lo = next_hi = 0
        if size > 0:  # the likely next list: scan_rows prefetches it as it goes
            next_lo, next_hi = t_list_start[fn[0]], t_list_start[fn[0] + 1]
        internal = t_child_start[u + 1] > t_child_start[u]
        if scanned >= k:
            if scanned >= budget:
                break
            bound = key if internal else _lower_bound(key, radius[t_node[u]], qnorm, metric)
            if bound >= hi_d[0]:
                continue
        lo, hi = t_list_start[u], t_list_start[u + 1]
        if hi > lo:
            before = hi_d[0]
            scan_rows(q, qsq, qabs, t_slots, refs, scale, sqnorm, codes, lo, hi, centroids, True, memo, cand_lo,
                      cand_i, hi_d, hi_i, metric, next_lo, next_hi)
            scanned += hi - lo
            stop, useful = adaptive_stop(hi_d[0] < before or scanned <= k, scanned, useful, patience)
            if stop:
                break
        size = push_children(q, centroids, radius, t_node, t_child_start, t_children, u, fd, fn, size, qnorm,
                             metric)
    res_d = _rerank(q, slab, slab_ids, cand_lo, cand_i, hi_d, ids, k, metric)
    return ids, res_d, scanned


@nb.njit(cache=True, nogil=True)
def _rerank(q, slab, slab_ids, cand_lo, cand_i, hi_d, ids, k, metric):
    """Exact proxies of the candidates whose lower bound does not exceed the k-th upper bound (the others
    cannot be in the top k); fills `ids` and returns their proxies, best first."""
    res_d = np.full(k, np.inf, dtype=np.float32)
    res_s = np.full(k, -1, dtype=np.int64)
    limit = hi_d[0]
    for j in range(cand_i.shape[0]):
        if cand_i[j] >= 0 and cand_lo[j] <= limit:
            prefetch_row(slab, cand_i[j])
    for j in range(cand_i.shape[0]):
        s = cand_i[j]
        if s >= 0 and cand_lo[j] <= limit:
            heap_push(res_d, res_s, proxy_row(q, slab, s, metric), s)
    heap_sort(res_d, res_s)
    for i in range(k):
        if res_s[i] >= 0:
            ids[i] = slab_ids[res_s[i]]
    return res_d


@nb.njit(cache=True, nogil=True, parallel=True)
def packed_search_batch(Q, centroids, radius, slab, slab_ids, t_node, t_child_start, t_children, t_list_start,
                        t_slots, refs, scale, sqnorm, codes, k, budget, patience, width, metric):
    """packed_search for every row of Q, one query per thread; returns (ids int64[m, k], proxies
    float32[m, k], scanned int64[m])."""
    m = Q.shape[0]
    ids = np.full((m, k), -1, dtype=np.int64)
    dists = np.full((m, k), np.inf, dtype=np.float32)
    scanned = np.zeros(m, dtype=np.int64)
    for i in nb.prange(m):
        a, b, c = packed_search(Q[i], centroids, radius, slab, slab_ids, t_node, t_child_start, t_children,
                                t_list_start, t_slots, refs, scale, sqnorm, codes, k, budget, patience, width,
                                metric)
        ids[i] = a
        dists[i] = b
        scanned[i] = c
    return ids, dists, scanned
