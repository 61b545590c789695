"""Distance kernels.

Inside the index every metric is computed as a cheap proxy where smaller is better:

=========  ==================================  ==========================
metric     proxy inside the loops              distance at the API
=========  ==================================  ==========================
l2         sum((a - b)^2)                      proxy (squared Euclidean)
ip         -dot(a, b)                          1 + proxy
cosine     -dot(a, b) on unit-normalised rows  1 + proxy
=========  ==================================  ==========================

Kernels are compiled lazily (no explicit signatures), so read-only arrays straight from LMDB buffers get
their own specialisation instead of being rejected. Inputs are checked finite at the API, which is what
makes the relaxed float flags below safe; they deliberately leave out `nnan`/`ninf` so the +inf used as
"empty" in the top-k heaps keeps its meaning.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: fastmath flags that allow vectorised reductions without assuming away inf.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: For the small functions a search calls per shortlist or per row, which never allocate: compiled
#: without numba's reference counting, which otherwise updates every array argument's count on entry
#: and exit with atomic instructions (13% of a memory-mode query's samples), each one a barrier that
#: stops the CPU from running ahead to the next rows' loads. (numba's own sort and string helpers use
#: this option; it is spelled with an underscore but has been stable since numba 0.40.)
NO_REFCOUNT = {"_nrt": False}

L2 = 0
NEG_DOT = 1
#: metric name -> kernel code; cosine runs NEG_DOT over normalised vectors.
METRIC_CODES = {"l2": L2, "ip": NEG_DOT, "cosine": NEG_DOT}




@nb.njit(cache=True, nogil=True)
def cosine(a, b):
    """Cosine distance 1 - a.b / (|a| |b|); 1.0 when either vector is all zeros (no direction)."""
    dot = 0.0
    na = 0.0
    nb_ = 0.0
    for i in range(a.shape[0]):
        dot += a[i] * b[i]
        na += a[i] * a[i]
        nb_ += b[i] * b[i]
    if na == 0.0 or nb_ == 0.0:
        return np.float32(1.0)
    return np.float32(1.0 - dot / (np.sqrt(na) * np.sqrt(nb_)))


@nb.njit(cache=True, fastmath=FAST, nogil=True, **NO_REFCOUNT)
def proxy_row(q, X, i, metric):
    """The in-loop distance proxy (see the module table) of q and row i of X, read in place: a row view
    would be a new array whose reference count numba updates with atomic instructions (see NO_REFCOUNT)."""
    acc = np.float32(0.0)
    if metric == L2:
        for j in range(q.shape[0]):
            d = q[j] - X[i, j]
            acc += d * d
        return acc
    for j in range(q.shape[0]):
        acc += q[j] * X[i, j]
    return -acc


@nb.njit(cache=True, nogil=True)
def sq_l2(a, b):
    """Squared Euclidean distance of two float32 vectors of equal length: sum((a - b)^2)."""
    return proxy_row(a, b[None, :], 0, L2)


@nb.njit(cache=True, nogil=True)
def inner_product(a, b):
    """Dot product of two float32 vectors: sum(a * b)."""
    return -proxy_row(a, b[None, :], 0, NEG_DOT)


@nb.njit(cache=True, nogil=True)
def one_to_many(q, X, metric):
    """Proxy distances from one query to every row.

    q: float32[d]; X: float32[n, d]; metric: kernel code. Returns float32[n].
    """
    n = X.shape[0]
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        out[i] = proxy_row(q, X, i, metric)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def many_to_many(Q, X, metric):
    """Proxy distances between every query and every row.

    Q: float32[m, d]; X: float32[n, d]. Returns float32[m, n]; each thread fills its own rows.
    """
    m = Q.shape[0]
    n = X.shape[0]
    out = np.empty((m, n), dtype=np.float32)
    for i in nb.prange(m):
        q = Q[i]
        for j in range(n):
            out[i, j] = proxy_row(q, X, j, metric)
    return out


@nb.njit(cache=True, nogil=True)
def normalize_rows(X):
    """Unit-normalised copy of float32[n, d]; all-zero rows stay zero (cosine distance 1 to anything)."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        s = 0.0
        for j in range(X.shape[1]):
            s += X[i, j] * X[i, j]
        inv = 1.0 / np.sqrt(s) if s > 0.0 else 0.0
        for j in range(X.shape[1]):
            out[i, j] = X[i, j] * inv
    return out


@nb.njit(cache=True, nogil=True)
def all_finite(a):
    """Is every element of a 1-D array finite? (For a query's check: a few us faster than numpy's
    isfinite + all when the CPU's caches are cold, as they are after other tenants' queries.)"""
    for x in a:
        if not np.isfinite(x):
            return False
    return True
