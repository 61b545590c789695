"""Kernels of the disk mode (SPANN-style postings): encoding vectors into posting codes, choosing which
of a tenant's postings a query reads, and scanning them.

A posting row is (id, ref, scale, sqnorm, code). `code` is either the float32 vector itself ("fp32",
`sqnorm` = |x|^2) or int8 of the residual r = x - c from c = the centroid of tree node `ref` (the vector's
leaf when it was encoded), with one symmetric scale per vector ("int8": r ~= scale * code, a quarter of
the bytes; `sqnorm` = the exact |r|^2). Residuals are small whatever the data's offset, and tree nodes are
never removed (only a rebuild replaces the tree, and it rewrites every posting), so a code stays valid
while its row moves between shortlists.

Every scanned row gets an approximate proxy and a rigorous error bound: rounding leaves each residual
coordinate within scale / 2, so for l2, |q - x|^2 = |q - c|^2 - 2 (q - c).r + |r|^2 is off by at most
scale * |q - c|_1, and -q.x by at most scale / 2 * |q|_1. Candidates are kept by their lower bound, and
the caller reranks on exact vectors only those whose lower bound does not exceed the k-th smallest upper
bound: the others cannot be in the top k.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .distances import FAST, L2, NO_REFCOUNT
from .heap import heap_push
from .prefetch import prefetch_row, prefetch_rows
from .tree_search import _fpop, _fpush, _lower_bound, push_children, query_norm

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
            r = X[i, j] - c[j]
            top = max(top, abs(r))
            sq += r * r
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
def restart_plan(fd, fn, counters, limits, m):
    """Make (fd, fn, counters, limits) a fresh best-first frontier over a tenant subtree of m nodes (fd and
    fn hold at least m), holding the root: keys, nodes, [frontier size, rows planned], [SPANN prune limit]."""
    counters[0] = _fpush(fd, fn, 0, np.float32(0.0), 0) if m else 0
    counters[1] = 0
    limits[0] = np.inf


@nb.njit(cache=True, nogil=True)
def plan_next(q, centroids, radius, t_node, t_child_start, t_children, t_list_start, fd, fn, counters, limits, k,
              budget, prune, threshold, max_out, metric):
    """The next (at most max_out) shortlist nodes (local indices) a query should read, continuing the
    frontier (restart_plan). The same best-first order as tree_search.tenant_search: shortlists keyed by
    centroid distance, internal nodes by their ball's lower bound. A node whose lower bound is not below
    `threshold` (the caller's k-th smallest upper bound so far) is dropped: nothing below it can enter the
    top k. The plan ends once the lists planned hold `budget` rows (and at least k), and, for l2 with
    prune >= 0, at the first list whose centroid is more than (1 + prune) times farther than the nearest
    list's (SPANN's query-aware pruning). Returns (nodes int64[max_out], n): the first n are the lists."""
    out = np.empty(max_out, dtype=np.int64)
    size, held = counters[0], counters[1]
    qnorm = query_norm(q, metric)
    n_out = 0
    while size > 0 and n_out < max_out:
        key, u, size = _fpop(fd, fn, size)
        internal = t_child_start[u + 1] > t_child_start[u]
        bound = key if internal else _lower_bound(key, radius[t_node[u]], qnorm, metric)
        if bound >= threshold:
            continue
        if t_list_start[u + 1] > t_list_start[u]:
            if held >= k and (held >= budget or key > limits[0]):
                size = 0
                break
            if prune >= 0 and metric == L2 and limits[0] == np.inf:
                limits[0] = key * (1.0 + prune) * (1.0 + prune)  # keys are squared distances
            out[n_out] = u
            n_out += 1
            held += t_list_start[u + 1] - t_list_start[u]
        size = push_children(q, centroids, radius, t_node, t_child_start, t_children, u, fd, fn, size, qnorm,
                             metric)
    counters[0] = size
    counters[1] = held
    return out, n_out


_QC_SLOTS = 64  # direct-mapped memo of per-centroid terms (rows of one posting share few refs)
_EPS = 1e-5  # relative slack on every bound, for float32 rounding
_LEAD = 8  # rows of codes prefetched when a scan starts
_PACE = 2  # rows prefetched further on per row scored: twice the scan's pace, so the next rows are underway


@nb.njit(cache=True, nogil=True)
def new_scan_state(k, width):
    """(cand_lo, cand_i, hi_d, hi_i): candidates by lower bound (width of them) and the k smallest upper
    bounds, as max-heaps."""
    return (np.full(width, np.inf, dtype=np.float32), np.full(width, -1, dtype=np.int64),
            np.full(k, np.inf, dtype=np.float32), np.full(k, -1, dtype=np.int64))


@nb.njit(cache=True, nogil=True)
def clear_scan_state(state):
    """Empty the heaps of a scan state (new_scan_state) for the next query."""
    cand_lo, cand_i, hi_d, hi_i = state
    cand_lo[:] = np.inf
    cand_i[:] = -1
    hi_d[:] = np.inf
    hi_i[:] = -1


@nb.njit(cache=True, nogil=True, fastmath=FAST, **NO_REFCOUNT)
def _remember(q, c, ref, slot, memo, metric):
    """Fill a memo slot with centroid ref's terms: |q - c|^2 (l2) or q.c, |q - c|_1, and q - c."""
    memo_ref, memo_qc, memo_l1, memo_w = memo
    qc = np.float32(0.0)
    l1 = np.float32(0.0)
    for j in range(q.shape[0]):
        diff = q[j] - c[j]
        memo_w[slot, j] = diff
        qc += diff * diff if metric == L2 else q[j] * c[j]
        l1 += abs(diff)
    memo_ref[slot] = ref
    memo_qc[slot] = qc
    memo_l1[slot] = l1


@nb.njit(cache=True, nogil=True, fastmath=FAST, **NO_REFCOUNT)
def scan_rows(q, qsq, qabs, ids, refs, scale, sqnorm, codes, lo, hi, centroids, residual, memo, cand_lo, cand_i,
              hi_d, hi_i, metric, next_lo, next_hi):
    """Offer rows [lo, hi) to the heaps (see new_scan_state) with their bounds. Rows [next_lo, next_hi)
    of `codes` (empty if next_hi <= next_lo): those the caller expects to scan next, prefetched on the way.

    The codes are prefetched at the pace of the scan, _PACE rows per row scored, running on into the
    next rows: prefetching a whole list at once fills the CPU's line-fill buffers and stalls the loop
    until most of it has arrived, so loads and arithmetic took turns instead of overlapping."""
    memo_ref, memo_qc, memo_l1, memo_w = memo
    prefetch_rows(codes, lo, min(hi, lo + _LEAD))
    ahead, end, last = lo + _LEAD, hi, next_hi <= next_lo
    prefetch_rows(scale, lo, hi)
    prefetch_rows(refs, lo, hi)
    prefetch_rows(sqnorm, lo, hi)
    prefetch_rows(ids, lo, hi)
    for row in range(lo, hi):
        for _ in range(_PACE):
            if ahead >= end:
                if last:
                    break
                ahead, end, last = next_lo, next_hi, True
            prefetch_row(codes, ahead)
            ahead += 1
        s = scale[row]
        ref = refs[row]
        if residual and ref < centroids.shape[0]:  # (a ref past the array: a newer tree mid-write)
            slot = ref % _QC_SLOTS
            if memo_ref[slot] != ref:
                _remember(q, centroids[ref], ref, slot, memo, metric)
            w = memo_w[slot] if metric == L2 else q  # one dot product a row: (q - c).r or q.r
            t = np.float32(0.0)
            for j in range(q.shape[0]):
                t += w[j] * np.float32(codes[row, j])
            if metric == L2:  # |q - c|^2 - 2 (q - c).r + |r|^2
                p = memo_qc[slot] - 2.0 * s * t + sqnorm[row]
                err = s * memo_l1[slot]
            else:
                p = -(memo_qc[slot] + s * t)
                err = 0.5 * s * qabs
        else:
            t = np.float32(0.0)
            for j in range(q.shape[0]):
                t += q[j] * np.float32(codes[row, j])
            p = qsq + sqnorm[row] - 2.0 * t if metric == L2 else -t
            err = np.float32(0.0)
        err += _EPS * (abs(p) + qsq + abs(sqnorm[row]))
        heap_push(hi_d, hi_i, np.float32(p + err), ids[row])
        low = np.float32(p - err)
        if low <= hi_d[0]:  # else it can never be a candidate: the k-th upper bound only falls
            heap_push(cand_lo, cand_i, low, ids[row])


@nb.njit(cache=True, nogil=True)
def new_memo(dim):
    """An empty memo (see scan_rows): a slot's terms are only read once its ref is set."""
    return (np.full(_QC_SLOTS, -1, dtype=np.int64), np.empty(_QC_SLOTS, np.float32), np.empty(_QC_SLOTS, np.float32),
            np.empty((_QC_SLOTS, dim), np.float32))


@nb.njit(cache=True, nogil=True)
def query_norms(q):
    qsq = np.float32(0.0)
    qabs = np.float32(0.0)
    for j in range(q.shape[0]):
        qsq += q[j] * q[j]
        qabs += abs(q[j])
    return qsq, qabs


@nb.njit(cache=True, nogil=True)
def candidates(state):
    """(ids, lower bounds) of the candidates that may be in the top k (lower bound <= the k-th smallest
    upper bound), by lower bound."""
    cand_lo, cand_i, hi_d, _ = state
    limit = hi_d.max()
    ids = np.empty(cand_i.shape[0], dtype=np.int64)
    lows = np.empty(cand_i.shape[0], dtype=np.float32)
    n = 0
    for j in range(cand_i.shape[0]):
        if cand_i[j] >= 0 and cand_lo[j] <= limit:
            ids[n] = cand_i[j]
            lows[n] = cand_lo[j]
            n += 1
    order = np.argsort(lows[:n])
    return ids[:n][order], lows[:n][order]
