"""The array-backed id -> row hash map against a dict, through inserts, overwrites and deletes."""

from __future__ import annotations

import numpy as np

from vecdb.kernels.hashmap import hm_delete, hm_get, hm_new, hm_put


def test_matches_a_dict_under_churn(rng):
    keys, vals = hm_new(4000)
    model: dict[int, int] = {}
    for _ in range(20):
        ks = rng.choice(10**12, 200, replace=False).astype(np.int64)
        ks[:50] = rng.choice(list(model) or [1], 50)  # overwrite some existing keys
        ks = np.unique(ks)
        vs = rng.integers(0, 10**6, len(ks)).astype(np.int64)
        added = hm_put(keys, vals, ks, vs)
        assert added == sum(int(k) not in model for k in ks)
        model.update(zip(ks.tolist(), vs.tolist(), strict=True))
        gone = np.array(list(model)[:30], dtype=np.int64)
        assert hm_delete(keys, vals, gone) == 30
        for k in gone.tolist():
            del model[k]
    probe = np.array(list(model) + [-5 + 10**13, 3], dtype=np.int64)
    expected = [model.get(int(k), -1) for k in probe]
    assert hm_get(keys, vals, probe).tolist() == expected


def test_sequential_ids_spread_and_resolve():
    keys, vals = hm_new(10_000)
    ids = np.arange(10_000, dtype=np.int64)
    hm_put(keys, vals, ids, ids * 2)
    assert np.array_equal(hm_get(keys, vals, ids), ids * 2)
