"""Kernels against numpy/scipy on awkward inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from vecdb.kernels import METRIC_CODES, cosine, inner_product, many_to_many, one_to_many, scan_topk, sq_l2, topk
from vecdb.kernels.distances import normalize_rows
from vecdb.kernels.heap import scan_topk_batch
from vecdb.kernels.tree_search import STALE_SHARE, adaptive_stop


@pytest.fixture
def awkward(rng):
    """Odd dimension, an all-zero row and duplicate rows."""
    x = rng.normal(size=(41, 13)).astype(np.float32)
    x[3] = 0.0
    x[7] = x[8] = x[9]
    return x


def test_pairwise_metrics_match_scipy(awkward):
    a, b = awkward[0], awkward[5]
    assert sq_l2(a, b) == pytest.approx(cdist([a], [b], "sqeuclidean")[0, 0], rel=1e-5)
    assert inner_product(a, b) == pytest.approx(float(a.astype(np.float64) @ b), rel=1e-5, abs=1e-5)
    assert cosine(a, b) == pytest.approx(cdist([a], [b], "cosine")[0, 0], rel=1e-5, abs=1e-6)


def test_cosine_of_zero_vector_is_one(awkward):
    assert cosine(awkward[3], awkward[0]) == 1.0
    assert cosine(awkward[3], awkward[3]) == 1.0


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_one_and_many_to_many_match_numpy(awkward, metric):
    code = METRIC_CODES[metric]
    expected = cdist(awkward, awkward, "sqeuclidean") if metric == "l2" else -(awkward @ awkward.T)
    np.testing.assert_allclose(many_to_many(awkward, awkward, code), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(one_to_many(awkward[2], awkward, code), expected[2], rtol=1e-4, atol=1e-4)


def test_normalize_rows_keeps_zero_rows(awkward):
    n = normalize_rows(awkward)
    assert np.all(n[3] == 0)
    norms = np.linalg.norm(np.delete(n, 3, axis=0), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_topk_sorted_and_k_larger_than_n():
    d = np.array([5, 1, 3, 1, 9], dtype=np.float32)
    idx, vals = topk(d, 3)
    assert vals.tolist() == [1, 1, 3] and set(idx[:2].tolist()) == {1, 3} and idx[2] == 2
    idx, vals = topk(d, 50)
    assert len(idx) == 5 and vals.tolist() == sorted(d.tolist())


def test_topk_of_empty_input():
    idx, vals = topk(np.zeros(0, np.float32), 4)
    assert len(idx) == 0 and len(vals) == 0


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_scan_topk_matches_argsort(awkward, metric, rng):
    code = METRIC_CODES[metric]
    q = rng.normal(size=13).astype(np.float32)
    rows, d = scan_topk(q, awkward, 10, code)
    full = one_to_many(q, awkward, code)
    np.testing.assert_allclose(d, np.sort(full)[:10], rtol=1e-5)
    np.testing.assert_allclose(full[rows], d, rtol=1e-6)


def test_scan_topk_pads_when_k_exceeds_rows(awkward):
    rows, d = scan_topk(awkward[0], awkward[:4], 6, 0)
    assert rows[4:].tolist() == [-1, -1] and np.isinf(d[4:]).all()


def test_kernels_accept_read_only_lmdb_style_buffers(awkward):
    ro = np.frombuffer(awkward.tobytes(), dtype=np.float32).reshape(awkward.shape)
    assert not ro.flags.writeable
    rows, d = scan_topk(ro[1], ro, 3, 0)
    assert rows[0] == 1 and d[0] == 0
    rows_b, _ = scan_topk_batch(ro[:5], ro, 3, 0)
    assert rows_b[:, 0].tolist()[:2] == [0, 1]


def test_batch_equals_single_and_is_deterministic(awkward):
    rows_b, d_b = scan_topk_batch(awkward, awkward, 5, 0)
    for i in range(len(awkward)):
        r, d = scan_topk(awkward[i], awkward, 5, 0)
        np.testing.assert_array_equal(d_b[i], d)
    rows_again, _ = scan_topk_batch(awkward, awkward, 5, 0)
    np.testing.assert_array_equal(rows_b, rows_again)


def test_adaptive_stop_waits_for_a_dry_spell_of_patience_vectors_and_a_share_of_those_before():
    """(improved, scanned, useful, patience) -> (stop, useful): `useful` is where the top k last improved."""
    assert adaptive_stop(True, 5000, 100, 64) == (False, 5000)  # an improvement never stops, and moves `useful`
    assert adaptive_stop(False, 200, 100, 128) == (False, 100)  # dry for 100 < patience vectors
    long_ago = int(1000 * (1 + STALE_SHARE))
    assert adaptive_stop(False, long_ago - 1, 1000, 128) == (False, 1000)  # dry, but for less than the share
    assert adaptive_stop(False, long_ago, 1000, 128) == (True, 1000)
    assert adaptive_stop(False, 300, 10, 128) == (True, 10)  # early luck: patience alone decides
    assert adaptive_stop(False, 10**6, 1, 0) == (False, 1)  # patience 0: off
