"""kernels/prefetch.py: a hint to the CPU, compiled into the kernels; it must never change a result or fault."""

from __future__ import annotations

import platform

import numba as nb
import numpy as np
import pytest

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
