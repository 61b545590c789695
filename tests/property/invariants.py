"""Checks of the real collection against the in-memory model (a dict of vectors and tenant sets)."""

from __future__ import annotations

import numpy as np


def model_top_k(model: dict[int, tuple[np.ndarray, set[str]]], query: np.ndarray, k: int, tenant: str,
                metric: str) -> list[tuple[int, float]]:
    rows = [(i, vec) for i, (vec, ts) in model.items() if tenant in ts]
    scored = []
    for i, vec in rows:
        if metric == "l2":
            d = float(((vec.astype(np.float64) - query) ** 2).sum())
        else:
            d = 1.0 - float(vec.astype(np.float64) @ query)
        scored.append((d, i))
    scored.sort()
    return [(i, d) for d, i in scored[:k]]


def check_search(res_ids, res_d, expected, model, tenant, tol=1e-4):
    """Same length, same distances; every id visible to the tenant; no duplicates."""
    assert len(res_ids) == len(expected), (res_ids, expected)
    assert len(set(res_ids.tolist())) == len(res_ids), "duplicate ids in a result"
    for i in res_ids.tolist():
        assert tenant in model[i][1], f"tenant {tenant} saw id {i} it cannot access"
    np.testing.assert_allclose(res_d, [d for _, d in expected], rtol=tol, atol=tol)


def check_counts(col, model, tenants):
    assert col.count() == len(model)
    for t in tenants:
        expected = sum(t in ts for _, ts in model.values())
        if expected or t in col.tenants():
            assert col.count(tenant=t) == expected
    assert col.tenants() == sorted({t for _, ts in model.values() for t in ts})
