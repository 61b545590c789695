"""Best-first search over one tenant's subtree of the shared clustering tree.

A tenant's subtree arrives as flat arrays (see index/tenant_tree.py, `TenantView`): local node u is
global node `t_node[u]`; its children in the subtree are `t_children[t_child_start[u]:t_child_start[u+1]]`
(local indices); the vectors listed at it (its shortlist) are slab rows
`t_slots[t_list_start[u]:t_list_start[u+1]]`. Local node 0 is the root.

One priority queue holds both kinds of node. A shortlist node is keyed by its centroid's distance, so
shortlists are scanned nearest centroid first, as in an inverted-file index. An internal node is keyed by
the lower bound of its ball (centroid, Euclidean radius covering every vector below), which is never more
than the key of any node below it: internal nodes are opened just in time, and a subtree whose old
centroid sits far away while it holds data near the query (after drift) is still opened early. A node is
skipped when its bound cannot beat the current k-th result. Once k results are held, the search stops
after a shortlist when the vectors scanned since the last improvement of the top k are at least
`patience` and at least STALE_SHARE times the vectors it took to reach that improvement (the query-aware
stop: the nearest data has been seen, judged on the query's own scale), or once it has scanned `budget`
vectors, or when nothing is left to visit.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .distances import L2, NO_REFCOUNT, proxy_row
from .heap import heap_push, heap_sort
from .prefetch import prefetch_row, prefetch_rows

_AHEAD = 4  # slab rows prefetched ahead of the one being scored
_SUBTREE_HEAD = 512  # entries of each subtree array prefetched when a search starts (4 KiB)
STALE_SHARE = 0.75  # the adaptive stop's dry spell, relative to the vectors that came before it


@nb.njit(cache=True, nogil=True, **NO_REFCOUNT)
def _fpush(fd, fn, size, d, u):
    """Push (d, u) onto the min-heap (fd, fn) holding `size` items; returns the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if fd[parent] <= d:
            break
        fd[pos] = fd[parent]
        fn[pos] = fn[parent]
        pos = parent
    fd[pos] = d
    fn[pos] = u
    return size + 1


@nb.njit(cache=True, nogil=True, **NO_REFCOUNT)
def _fpop(fd, fn, size):
    """Pop the smallest item of the min-heap; returns (d, u, new size)."""
    d0 = fd[0]
    u0 = fn[0]
    size -= 1
    if size > 0:
        d = fd[size]
        u = fn[size]
        pos = 0
        while True:
            left = 2 * pos + 1
            if left >= size:
                break
            child = left
            if left + 1 < size and fd[left + 1] < fd[left]:
                child = left + 1
            if fd[child] >= d:
                break
            fd[pos] = fd[child]
            fn[pos] = fn[child]
            pos = child
        fd[pos] = d
        fn[pos] = u
    return d0, u0, size


@nb.njit(cache=True, nogil=True)
def _lower_bound(d, radius, qnorm, metric):
    """Smallest proxy any vector within `radius` of a centroid at proxy `d` can have."""
    if metric == L2:
        gap = np.sqrt(max(d, 0.0)) - radius
        return gap * gap if gap > 0.0 else 0.0
    return d - qnorm * radius  # -q.x >= -q.c - |q| |x - c|


@nb.njit(cache=True, nogil=True)
def query_norm(q, metric):
    """|q|, which the inner-product ball bounds need (0.0 for l2, which does not)."""
    qnorm = 0.0
    if metric != L2:
        for j in range(q.shape[0]):
            qnorm += q[j] * q[j]
        qnorm = np.sqrt(qnorm)
    return qnorm


@nb.njit(cache=True, nogil=True)
def new_frontier(m):
    """An empty best-first frontier for a subtree of m nodes, holding its root: (keys, nodes, size)."""
    fd = np.empty(m, dtype=np.float32)
    fn = np.empty(m, dtype=np.int64)
    return fd, fn, _fpush(fd, fn, 0, np.float32(0.0), 0)


@nb.njit(cache=True, nogil=True)
def adaptive_stop(improved, scanned, useful, patience):
    """After a shortlist: (stop now, useful). `useful`: vectors scanned up to the last improvement; stop
    once the vectors scanned since are at least `patience` and at least STALE_SHARE times `useful`.
    Counted in vectors, not shortlists: lists vary in length, and a dry spell of a few long lists says
    more than one of many short ones."""
    if improved:
        return False, scanned
    dry = scanned - useful
    return patience > 0 and dry >= patience and dry >= STALE_SHARE * useful, useful


@nb.njit(cache=True, nogil=True)
def prefetch_subtree(t_node, t_child_start, t_children, t_list_start):
    """Prefetch the top of a subtree's arrays (nodes are root first, by depth): the walk reads them at
    random, each line a miss otherwise; a large tenant's walk reaches only part of its nodes."""
    prefetch_rows(t_node, 0, min(t_node.shape[0], _SUBTREE_HEAD))
    prefetch_rows(t_child_start, 0, min(t_child_start.shape[0], _SUBTREE_HEAD))
    prefetch_rows(t_children, 0, min(t_children.shape[0], _SUBTREE_HEAD))
    prefetch_rows(t_list_start, 0, min(t_list_start.shape[0], _SUBTREE_HEAD))


@nb.njit(cache=True, nogil=True, **NO_REFCOUNT)
def push_children(q, centroids, radius, t_node, t_child_start, t_children, u, fd, fn, size, qnorm, metric):
    """Push local node u's children onto the frontier (fd, fn): shortlists keyed by centroid distance,
    internal nodes by their ball's lower bound. Returns the new frontier size."""
    for j in range(t_child_start[u], t_child_start[u + 1]):
        prefetch_row(centroids, t_node[t_children[j]])
    for j in range(t_child_start[u], t_child_start[u + 1]):
        c = t_children[j]
        g = t_node[c]
        d = proxy_row(q, centroids, g, metric)
        if t_child_start[c + 1] > t_child_start[c]:
            d = _lower_bound(d, radius[g], qnorm, metric)
        size = _fpush(fd, fn, size, np.float32(d), c)
    return size


@nb.njit(cache=True, nogil=True)
def tenant_search(q, centroids, radius, slab, slab_ids, t_node, t_child_start, t_children,
                  t_list_start, t_slots, k, budget, patience, metric):
    """Top-k of one query among a tenant's vectors.

    q: float32[d]; centroids: float32[nodes, d]; radius: float32[nodes]; slab: float32[cap, d] with
    slab_ids int64[cap]; t_*: the tenant's subtree (module docstring); patience <= 0 disables the
    adaptive stop. Returns (ids int64[k] padded with
    -1, proxies float32[k] padded with +inf, vectors scanned).
    """
    m = t_node.shape[0]
    res_d = np.full(k, np.inf, dtype=np.float32)
    res_s = np.full(k, -1, dtype=np.int64)
    ids = np.full(k, -1, dtype=np.int64)
    if m == 0:
        return ids, res_d, 0
    qnorm = query_norm(q, metric)
    prefetch_subtree(t_node, t_child_start, t_children, t_list_start)
    fd, fn, size = new_frontier(m)
    scanned = 0
    found = 0
    useful = 0
    while size > 0:
        key, u, size = _fpop(fd, fn, size)
        internal = t_child_start[u + 1] > t_child_start[u]
        if found >= k:
            if scanned >= budget:
                break
            bound = key if internal else _lower_bound(key, radius[t_node[u]], qnorm, metric)
            if bound >= res_d[0]:
                continue
        if t_list_start[u + 1] > t_list_start[u]:
            improved = False
            lo, hi = t_list_start[u], t_list_start[u + 1]
            prefetch_rows(t_slots, lo, hi)
            for j in range(lo, min(lo + _AHEAD, hi)):
                prefetch_row(slab, t_slots[j])
            for j in range(lo, hi):
                if j + _AHEAD < hi:  # the list's rows are scattered over the slab: keep a few on their way
                    prefetch_row(slab, t_slots[j + _AHEAD])
                s = t_slots[j]
                if heap_push(res_d, res_s, proxy_row(q, slab, s, metric), s):
                    found += 1
                    improved = True
            scanned += t_list_start[u + 1] - t_list_start[u]
            stop, useful = adaptive_stop(improved or found < k, scanned, useful, patience)
            if stop:
                break
        size = push_children(q, centroids, radius, t_node, t_child_start, t_children, u, fd, fn, size, qnorm,
                             metric)
    heap_sort(res_d, res_s)
    for i in range(k):
        if res_s[i] >= 0:
            ids[i] = slab_ids[res_s[i]]
    return ids, res_d, scanned


@nb.njit(cache=True, nogil=True, parallel=True)
def tenant_search_batch(Q, centroids, radius, slab, slab_ids, t_node, t_child_start, t_children,
                        t_list_start, t_slots, k, budget, patience, metric):
    """tenant_search for every row of Q (float32[m, d]), one query per thread; returns (ids int64[m, k],
    proxies float32[m, k], scanned int64[m]), each thread writing only its own rows."""
    m = Q.shape[0]
    ids = np.full((m, k), -1, dtype=np.int64)
    dists = np.full((m, k), np.inf, dtype=np.float32)
    scanned = np.zeros(m, dtype=np.int64)
    for i in nb.prange(m):
        a, b, c = tenant_search(Q[i], centroids, radius, slab, slab_ids, t_node, t_child_start, t_children,
                                t_list_start, t_slots, k, budget, patience, metric)
        ids[i] = a
        dists[i] = b
        scanned[i] = c
    return ids, dists, scanned
