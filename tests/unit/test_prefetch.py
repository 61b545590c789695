"""kernels/prefetch.py and its uses: a hint to the CPU, compiled into the kernels; it must never change a
result or fault."""

from __future__ import annotations

import platform

import numba as nb
import numpy as np
import pytest

from vecdb.kernels.postings import encode, new_memo, new_scan_state, query_norms, scan_rows
from vecdb.kernels.prefetch import prefetch_row, prefetch_rows


@nb.njit
def _sum_rows_prefetched(a, lo, hi):
    prefetch_rows(a, lo, hi)
    prefetch_rows(a, hi, lo)  # an empty range
    prefetch_rows(a, a.shape[0] + 1000, a.shape[0] + 1001)  # past the end: a hint, never a fault
    t = 0.0
    for i in range(lo, hi):
        prefetch_row(a, i + 2)
        t += np.sum(a[i:i + 1])
    return t


def test_prefetching_changes_no_result_on_1d_and_2d_arrays():
    a2 = np.arange(40 * 48, dtype=np.float32).reshape(40, 48)
    a1 = np.arange(1000, dtype=np.int64)
    assert _sum_rows_prefetched(a2, 3, 29) == a2[3:29].sum()
    assert _sum_rows_prefetched(a1, 5, 900) == a1[5:900].sum()
    assert _sum_rows_prefetched(a1[::3], 0, 10) == a1[::3][:10].sum()  # strided: addresses off, result not


def test_the_hint_is_compiled_to_a_prefetch_instruction():
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the instruction's name is x86's")
    a = np.zeros((8, 64), dtype=np.int8)
    _sum_rows_prefetched(a, 0, 4)
    asm = "".join(_sum_rows_prefetched.inspect_asm().values())
    assert "prefetcht0" in asm


def _scan(codes_args, order, next_of):
    """Heaps after scan_rows over the lists `order` ((lo, hi) pairs), each told next_of(i) comes next."""
    q, ids, refs, scale, sqnorm, codes, centroids = codes_args
    qsq, qabs = query_norms(q)
    memo = new_memo(q.shape[0])
    state = new_scan_state(10, 40)
    for i, (lo, hi) in enumerate(order):
        scan_rows(q, qsq, qabs, ids, refs, scale, sqnorm, codes, lo, hi, centroids, True, memo, *state, 0,
                  *next_of(i))
    return [a.copy() for a in state]


def test_scan_rows_paced_prefetch_of_the_next_rows_changes_no_result():
    rng = np.random.default_rng(3)
    centroids = rng.standard_normal((4, 24)).astype(np.float32)
    refs = np.repeat(np.arange(4), 50).astype(np.int64)
    X = centroids[refs] + 0.2 * rng.standard_normal((200, 24)).astype(np.float32)
    scale, sqnorm, codes = encode(X, refs, centroids, "int8")
    args = (rng.standard_normal(24).astype(np.float32), np.arange(200, dtype=np.int64), refs, scale, sqnorm, codes,
            centroids)
    # long and short lists (under the lead of 8 rows), visited out of order; the last has no next one
    order = [(150, 200), (3, 5), (60, 100), (5, 9), (0, 3), (100, 150)]
    alone = _scan(args, order, lambda i: (0, 0))
    told = _scan(args, order, lambda i: order[i + 1] if i + 1 < len(order) else (0, 0))
    wrong = _scan(args, order, lambda i: (190, 400))  # a wrong guess, running past the end: still a hint
    for a, b, c in zip(alone, told, wrong, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert (alone[1] >= 0).sum() == 40  # the scan did fill the candidate heap
