"""k-means kernels for building the shared clustering tree.

Assignment uses the same distance proxy as search (see distances.py), so a vector's leaf is the one a
greedy descent by that proxy reaches, and search visits nodes in the order the vectors were placed.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .distances import proxy_row


@nb.njit(cache=True, nogil=True, parallel=True)
def assign(X, C, metric):
    """Nearest centroid of every row.

    X: float32[n, d]; C: float32[k, d]. Returns (labels int64[n], proxies float32[n]); each thread
    fills its own rows.
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.float32)
    for i in nb.prange(n):
        bl = 0
        bd = np.inf
        x = X[i]
        for c in range(C.shape[0]):
            d = proxy_row(x, C, c, metric)  # (no per-centroid view: its refcount is shared by all threads)
            if d < bd:
                bd = d
                bl = c
        labels[i] = bl
        best[i] = bd
    return labels, best


@nb.njit(cache=True, nogil=True)
def _update(X, labels, k):
    d = X.shape[1]
    sums = np.zeros((k, d), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    for i in range(X.shape[0]):
        c = labels[i]
        counts[c] += 1
        for j in range(d):
            sums[c, j] += X[i, j]
    return sums, counts


@nb.njit(cache=True, nogil=True)
def kmeans(X, k, n_iter, seed, metric):
    """Lloyd's k-means with k-means++-style seeding on a subsample; empty clusters are re-seeded with the
    points farthest from their centroids, so every returned cluster is non-empty when n >= k.

    X: float32[n, d], n >= k >= 1. Returns (centroids float32[k, d], labels int64[n]).
    """
    np.random.seed(seed)
    n, d = X.shape
    C = np.empty((k, d), dtype=np.float32)
    # k-means++ seeding, squared-l2 weighted, over at most 20k points (plenty for seeding).
    m = min(n, 20_000)
    pool = np.random.permutation(n)[:m]
    C[0] = X[pool[0]]
    mind = np.full(m, np.inf, dtype=np.float64)
    for c in range(1, k):
        total = 0.0
        for p in range(m):
            diff = 0.0
            for j in range(d):
                t = X[pool[p], j] - C[c - 1, j]
                diff += t * t
            if diff < mind[p]:
                mind[p] = diff
            total += mind[p]
        if total <= 0.0:
            C[c] = X[pool[np.random.randint(m)]]
            continue
        r = np.random.random() * total
        acc = 0.0
        pick = m - 1
        for p in range(m):
            acc += mind[p]
            if acc >= r:
                pick = p
                break
        C[c] = X[pool[pick]]
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(n_iter):
        labels, best = assign(X, C, metric)
        sums, counts = _update(X, labels, k)
        order = np.argsort(-best)  # farthest points first, to re-seed empty clusters
        nxt = 0
        for c in range(k):
            if counts[c] > 0:
                for j in range(d):
                    C[c, j] = sums[c, j] / counts[c]
            elif nxt < n:
                C[c] = X[order[nxt]]
                nxt += 1
    labels, _ = assign(X, C, metric)
    return C, labels


@nb.njit(cache=True, nogil=True, parallel=True)
def descend(X, centroids, first_child, n_children, metric):
    """Greedy descent of the tree from the root (node 0): at each node, the child with the smallest proxy.

    X: float32[n, d]; centroids: float32[nodes, d]; first_child/n_children: int64[nodes] (children of a
    node are contiguous; leaves have n_children == 0). Returns leaves int64[n]; one row per thread.
    """
    n = X.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in nb.prange(n):
        node = 0
        x = X[i]
        while n_children[node] > 0:
            best = first_child[node]
            bd = np.inf
            for c in range(first_child[node], first_child[node] + n_children[node]):
                dd = proxy_row(x, centroids, c, metric)
                if dd < bd:
                    bd = dd
                    best = c
            node = best
        out[i] = node
    return out


@nb.njit(cache=True, nogil=True)
def subtree_radii(X, leaves, centroids, parent, n_nodes):
    """Euclidean radius of every node: the largest distance from its centroid to a vector below it.

    X: float32[n, d] with leaf ids int64[n]; parent: int64[nodes] (-1 at the root). Returns float32[n_nodes].
    """
    r = np.zeros(n_nodes, dtype=np.float32)
    for i in range(X.shape[0]):
        node = leaves[i]
        while node >= 0:
            s = 0.0
            for j in range(X.shape[1]):
                t = X[i, j] - centroids[node, j]
                s += t * t
            s = np.sqrt(s)
            if s > r[node]:
                r[node] = s
            node = parent[node]
    return r
