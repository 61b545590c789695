"""Kernels of the disk mode (SPANN-style postings): encoding vectors into posting codes, choosing which
of a tenant's postings a query reads, and scanning them.

A posting row is (id, ref, scale, sqnorm, code). `code` is either the float32 vector itself ("fp32") or
int8 of the residual from the centroid of tree node `ref` (the vector's leaf when it was encoded), with one
symmetric scale per vector ("int8": x ~= centroid[ref] + scale * code, a quarter of the bytes). Residuals
are small whatever the data's offset, and tree nodes are never removed (only a rebuild replaces the tree,
and it rewrites every posting), so a code stays valid while its row moves between shortlists. `sqnorm` is
the exact |x|^2, so the approximate L2 proxy is |q|^2 - 2 q.x + |x|^2. Candidates found on codes are
reranked exactly by the caller.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .distances import FAST, L2
from .heap import heap_push
from .tree_search import _fpop, _fpush, _lower_bound

#: code formats: name -> code dtype
FORMATS = {"int8": np.int8, "fp32": np.float32}


@nb.njit(cache=True, nogil=True, fastmath=FAST)
def encode_int8(X, refs, centroids, codes, scale, sqnorm):
    """Fill codes int8[n, d], scale float32[n], sqnorm float32[n] from X float32[n, d], coding each row's
    residual from centroids[refs[i]]."""
    for i in range(X.shape[0]):
        c = centroids[refs[i]]
        top = np.float32(0.0)
        sq = np.float32(0.0)
        for j in range(X.shape[1]):
            top = max(top, abs(X[i, j] - c[j]))
            sq += X[i, j] * X[i, j]
        s = top / np.float32(127.0) if top > 0 else np.float32(1.0)
        for j in range(X.shape[1]):
            codes[i, j] = np.int8(min(127.0, max(-127.0, np.rint((X[i, j] - c[j]) / s))))
        scale[i] = s
        sqnorm[i] = sq


def encode(X: np.ndarray, refs: np.ndarray, centroids: np.ndarray, fmt: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32[n, d] -> (scale float32[n], sqnorm float32[n], codes[n, d]) in format `fmt`."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    if fmt == "fp32":
        return np.ones(n, np.float32), np.einsum("ij,ij->i", X, X).astype(np.float32), X.copy()
    codes = np.empty(X.shape, dtype=np.int8)
    scale = np.empty(n, dtype=np.float32)
    sqnorm = np.empty(n, dtype=np.float32)
    if n:
        encode_int8(X, np.ascontiguousarray(refs, dtype=np.int64), centroids, codes, scale, sqnorm)
    return scale, sqnorm, codes


@nb.njit(cache=True, nogil=True)
def plan_postings(q, centroids, radius, t_node, t_child_start, t_children, t_list_start, k, budget, prune,
                  metric):
    """The tenant's list nodes (local indices) a query should read, nearest centroid first.

    Best-first over the subtree as in tree_search.tenant_search, but emitting shortlists instead of
    scanning them: it stops once the chosen lists hold `budget` vectors (and at least k), and, for l2,
    at the first list whose centroid is more than (1 + prune) times farther than the nearest list's
    (SPANN's query-aware pruning; prune < 0 turns it off). Returns (nodes int64[m], bounds float32[m],
    count): bounds[i] is the smallest proxy any vector of list i can have (its ball), which lets the
    caller stop reading once the k-th best found beats the next list's bound.
    """
    m = t_node.shape[0]
    out = np.empty(m, dtype=np.int64)
    bounds = np.empty(m, dtype=np.float32)
    if m == 0:
        return out, bounds, 0
    qnorm = 0.0
    if metric != L2:
        for j in range(q.shape[0]):
            qnorm += q[j] * q[j]
        qnorm = np.sqrt(qnorm)
    fd = np.empty(m, dtype=np.float32)
    fn = np.empty(m, dtype=np.int64)
    size = _fpush(fd, fn, 0, np.float32(0.0), 0)
    n_out = 0
    held = 0
    limit = np.inf
    while size > 0:
        key, u, size = _fpop(fd, fn, size)
        if t_list_start[u + 1] > t_list_start[u]:
            if held >= k and (held >= budget or key > limit):
                break
            if n_out == 0 and prune >= 0 and metric == L2:
                limit = key * (1.0 + prune) * (1.0 + prune)  # keys are squared distances
            out[n_out] = u
            bounds[n_out] = _lower_bound(key, radius[t_node[u]], qnorm, metric)
            n_out += 1
            held += t_list_start[u + 1] - t_list_start[u]
        for j in range(t_child_start[u], t_child_start[u + 1]):
            c = t_children[j]
            g = t_node[c]
            d = 0.0
            if metric == L2:
                for t in range(q.shape[0]):
                    diff = q[t] - centroids[g, t]
                    d += diff * diff
            else:
                for t in range(q.shape[0]):
                    d -= q[t] * centroids[g, t]
            if t_child_start[c + 1] > t_child_start[c]:
                d = _lower_bound(d, radius[g], qnorm, metric)
            size = _fpush(fd, fn, size, np.float32(d), c)
    return out, bounds, n_out


_QC_SLOTS = 1024  # direct-mapped memo of q.centroid[ref] (rows of one posting share few refs)


@nb.njit(cache=True, nogil=True, fastmath=FAST)
def scan_codes(q, qsq, ids, refs, scale, sqnorm, codes, starts, lens, centroids, residual, cand_d, cand_i,
               metric):
    """Offer every row in the ranges [starts[r], starts[r] + lens[r]) to the candidate max-heap
    (cand_d, cand_i of fixed size), by approximate proxy; `residual`: codes are int8 residuals from
    centroids[refs]. Returns rows read."""
    memo_ref = np.full(_QC_SLOTS, -1, dtype=np.int64)
    memo_dot = np.zeros(_QC_SLOTS, dtype=np.float32)
    read = 0
    for r in range(starts.shape[0]):
        for row in range(starts[r], starts[r] + lens[r]):
            dot = np.float32(0.0)
            for j in range(q.shape[0]):
                dot += q[j] * np.float32(codes[row, j])
            dot *= scale[row]
            ref = refs[row]
            if residual and ref < centroids.shape[0]:  # a newer tree's node (a write in flight): skip
                slot = ref % _QC_SLOTS
                if memo_ref[slot] != ref:
                    qc = np.float32(0.0)
                    for j in range(q.shape[0]):
                        qc += q[j] * centroids[ref, j]
                    memo_ref[slot] = ref
                    memo_dot[slot] = qc
                dot += memo_dot[slot]
            p = qsq + sqnorm[row] - 2.0 * dot if metric == L2 else -dot
            heap_push(cand_d, cand_i, np.float32(p), ids[row])
        read += lens[r]
    return read
