"""Input checks: clean arrays out, typed errors naming the bad value otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from vecdb import validate as v
from vecdb.errors import DimensionMismatch, InvalidArgumentError


def test_ids_accept_ints_lists_and_unsigned_arrays():
    assert v.check_ids(7, 10).tolist() == [7]
    assert v.check_ids(np.array([1, 2], np.uint64), 10).dtype == np.int64
    assert v.check_ids([], 10, allow_empty=True).size == 0
    assert v.check_ids([2**63 - 1], 10).tolist() == [2**63 - 1]


@pytest.mark.parametrize("ids", [[True], [1.0], [[1, 2]], ["7"], [2**64], np.array([2**63], np.uint64)])
def test_ids_reject(ids):
    with pytest.raises(InvalidArgumentError):
        v.check_ids(ids, 10)


def test_batch_limit():
    with pytest.raises(InvalidArgumentError, match="limit of 3"):
        v.check_ids([1, 2, 3, 4], 3)


def test_vectors_reshape_one_row_and_reject_bad_shapes():
    assert v.check_vectors([1, 2, 3], 3, "c", 10).shape == (1, 3)
    with pytest.raises(DimensionMismatch, match="dim 2, collection 'c' expects 3"):
        v.check_vectors([[1, 2]], 3, "c", 10)
    with pytest.raises(InvalidArgumentError):
        v.check_vectors(np.zeros((2, 3, 1)), 3, "c", 10)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_query_fast_path_still_checks_finiteness(bad):
    q = np.array([1, bad], np.float32)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        v.check_query(q, 2, "c")
    strided = np.zeros(8, np.float32)
    strided[6] = bad
    with pytest.raises(InvalidArgumentError, match="NaN"):
        v.check_query(strided[::2], 4, "c")  # the fast path takes any float32 array of the right shape
    assert v.check_query(strided[:4:2], 2, "c").flags.c_contiguous
    assert v.check_query([[1, 2]], 2, "c").shape == (2,)


@pytest.mark.parametrize("tenants", [3, [["a"], "b", 5], [["a"], []], b"x"])
def test_tenant_lists_reject(tenants):
    with pytest.raises(InvalidArgumentError):
        v.check_tenant_lists(tenants, 3 if isinstance(tenants, list) and len(tenants) == 3 else 2)


def test_tenant_lists_dedupe_and_default():
    assert v.check_tenant_lists([["b", "a", "b"]], 1) == [["a", "b"]]
    assert v.check_tenant_lists(None, 2) == [["default"], ["default"]]
    assert v.check_tenant("é" * 128) == "é" * 128  # 256 UTF-8 bytes: the limit
    with pytest.raises(InvalidArgumentError, match="256"):
        v.check_tenant("é" * 129)
