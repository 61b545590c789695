"""Top-k selection with fixed-size max-heaps held as two arrays (distances float32 filled with +inf,
indices int64 filled with -1), sorted ascending at the end. No fastmath here: +inf means "empty"."""

from __future__ import annotations

import numba as nb
import numpy as np

from .distances import NO_REFCOUNT, proxy_row


@nb.njit(cache=True, nogil=True, **NO_REFCOUNT)
def _sift_down(dist, idx, pos, end):
    d = dist[pos]
    i = idx[pos]
    while True:
        left = 2 * pos + 1
        if left >= end:
            break
        child = left
        if left + 1 < end and dist[left + 1] > dist[left]:
            child = left + 1
        if dist[child] <= d:
            break
        dist[pos] = dist[child]
        idx[pos] = idx[child]
        pos = child
    dist[pos] = d
    idx[pos] = i


@nb.njit(cache=True, nogil=True, **NO_REFCOUNT)
def heap_push(dist, idx, d, i):
    """Offer (d, i) to the max-heap (dist, idx) of fixed size; keeps the k smallest. Returns True if kept."""
    if not d < dist[0]:
        return False
    dist[0] = d  # replace the current worst, then restore the heap
    idx[0] = i
    _sift_down(dist, idx, 0, dist.shape[0])
    return True


@nb.njit(cache=True, nogil=True)
def heap_sort(dist, idx):
    """Sort a max-heap's arrays ascending by distance, in place and without allocating (heapsort:
    move the root, the largest, to the end, repeatedly). Empty slots (+inf / -1) end up last."""
    for end in range(dist.shape[0] - 1, 0, -1):
        d = dist[0]
        i = idx[0]
        dist[0] = dist[end]
        idx[0] = idx[end]
        dist[end] = d
        idx[end] = i
        _sift_down(dist, idx, 0, end)


@nb.njit(cache=True, nogil=True)
def topk(dists, k):
    """The k smallest of float32[n]: (positions int64[k'], values float32[k']) ascending, k' = min(k, n)."""
    kk = min(k, dists.shape[0])
    hd = np.full(kk, np.inf, dtype=np.float32)
    hi = np.full(kk, -1, dtype=np.int64)
    if kk == 0:
        return hi, hd
    for i in range(dists.shape[0]):
        heap_push(hd, hi, dists[i], i)
    heap_sort(hd, hi)
    return hi, hd


@nb.njit(cache=True, nogil=True)
def scan_topk(q, X, k, metric):
    """Exact top-k of one query over all rows, distances computed on the fly.

    q: float32[d]; X: float32[n, d]. Returns (rows int64[k], proxies float32[k]), padded with -1 / +inf.
    """
    hd = np.full(k, np.inf, dtype=np.float32)
    hi = np.full(k, -1, dtype=np.int64)
    for i in range(X.shape[0]):
        heap_push(hd, hi, proxy_row(q, X, i, metric), i)
    heap_sort(hd, hi)
    return hi, hd


@nb.njit(cache=True, nogil=True, parallel=True)
def scan_topk_batch(Q, X, k, metric):
    """scan_topk for every query, one query per thread.

    Q: float32[m, d]; X: float32[n, d]. Returns (rows int64[m, k], proxies float32[m, k]); each thread
    writes only its own query's row of the preallocated outputs.
    """
    m = Q.shape[0]
    rows = np.full((m, k), -1, dtype=np.int64)
    dists = np.full((m, k), np.inf, dtype=np.float32)
    for qi in nb.prange(m):
        r, d = scan_topk(Q[qi], X, k, metric)
        rows[qi] = r
        dists[qi] = d
    return rows, dists
