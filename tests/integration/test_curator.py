"""The tree index against exact (flat) search on several data shapes, with inserts, deletes, grants and
revokes interleaved with searches; persistence; and the structure it keeps."""

from __future__ import annotations

import numpy as np
import pytest

import vecdb
from vecdb.config import Settings

SMALL_TREE = {"tau": 16, "max_leaf": 64, "train_min": 256, "branching": 8}
#: cache_bytes per mode: None keeps every vector in RAM; 20 kB forces disk mode (postings through a cache).
MODES = {"memory": None, "disk": 20_000}


@pytest.fixture(params=sorted(MODES))
def cache(request):
    return MODES[request.param]


def _pair(db, dim, metric="l2", **options):
    cur = db.create_collection("cur", dim=dim, metric=metric, index="curator", **(SMALL_TREE | options))
    flat = db.create_collection("flat", dim=dim, metric=metric, index="flat")
    return cur, flat


def _both(cols, method, *args, **kwargs):
    return [getattr(c, method)(*args, **kwargs) for c in cols]


def recall(cur, flat, queries, tenant, k=10, **opts) -> float:
    hits = total = 0
    for q in queries:
        got = cur.search(q, k=k, tenant=tenant, **opts)
        exp = flat.search(q, k=k, tenant=tenant)
        assert len(got) == len(exp), "a search returned fewer than min(k, visible) results"
        assert len(set(got.ids.tolist())) == len(got)
        # ties: count a hit when the distance is within the exact k-th distance
        kth = exp.distances[-1] if len(exp) else np.inf
        hits += int(np.sum(got.distances <= kth + 1e-4))
        total += len(exp)
    return hits / max(total, 1)


def clustered(rng, n, dim, centers=40, spread=1.0):
    c = rng.normal(size=(centers, dim)) * 4
    return (c[rng.integers(centers, size=n)] + rng.normal(size=(n, dim)) * spread).astype(np.float32)


SHAPES = {
    "clustered": lambda rng, n, d: clustered(rng, n, d),
    "uniform": lambda rng, n, d: rng.uniform(-1, 1, size=(n, d)).astype(np.float32),
    "duplicates": lambda rng, n, d: np.repeat(clustered(rng, n // 20 + 1, d), 20, axis=0)[:n],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_recall_against_flat_on_data_shapes(tmp_path, rng, shape, metric):
    n, dim = 6000, 16
    x = SHAPES[shape](rng, n, dim)
    owners = [["big"] + ([f"t{i % 50}"] if i % 3 == 0 else []) for i in range(n)]
    with vecdb.open(tmp_path / "d", durable=False) as db:
        cols = _pair(db, dim, metric)
        for lo in range(0, n, 1000):
            _both(cols, "upsert", np.arange(lo, lo + 1000), x[lo:lo + 1000], tenants=owners[lo:lo + 1000])
        assert cols[0].stats()["index_stats"]["tree_leaves"] > 8, "the tree was never built"
        queries = x[rng.integers(n, size=60)] + rng.normal(size=(60, dim)).astype(np.float32) * 0.3
        # Uniform noise has no clusters for any partition index to find: defaults promise 0.95 on data
        # with structure; on noise the budget knob has to buy it.
        opts = {"budget": n // 4} if shape == "uniform" else {}
        assert recall(*cols, queries, "big", **opts) >= 0.95
        assert recall(*cols, queries[:20], "t7") >= 0.99  # small tenants: one shortlist, exhaustive


def test_interleaved_writes_keep_recall_and_isolation(tmp_path, rng, cache):
    n, dim = 5000, 12
    x = clustered(rng, n, dim)
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=cache) as db:
        cols = _pair(db, dim)
        tenants = [[f"t{i % 7}", f"t{(i * 13) % 7}"] for i in range(n)]
        queries = clustered(rng, 30, dim)
        live = np.zeros(n, dtype=bool)
        for step, lo in enumerate(range(0, n, 500)):
            ids = np.arange(lo, lo + 500)
            old = np.flatnonzero(live)
            _both(cols, "upsert", ids, x[lo:lo + 500], tenants=tenants[lo:lo + 500])
            live[ids] = True
            if len(old):
                _both(cols, "delete", rng.choice(old, 60, replace=False))
            _both(cols, "grant", ids[::5], "shared")
            _both(cols, "revoke", ids[::10], "shared")
            _both(cols, "revoke", ids[1::9], "t3")
            if step % 3 == 2:  # an upsert that moves vectors far away and re-tenants them
                moved = rng.choice(ids, 40, replace=False)
                _both(cols, "upsert", moved, x[moved] + 25, tenants="mover")
            live[:] = False
            live[[r.id for r in cols[1].get(np.arange(n))]] = True
            for tenant in ("t0", "t3", "shared", "mover"):
                if tenant in cols[1].tenants():
                    assert recall(*cols, queries[:8], tenant) >= 0.95, (step, tenant)
            for tenant in cols[1].tenants():
                assert cols[0].count(tenant=tenant) == cols[1].count(tenant=tenant)
        # isolation: every result of every tenant is visible to it
        for tenant in cols[1].tenants():
            res = cols[0].search(queries[0], k=50, tenant=tenant)
            assert all(tenant in r.tenants for r in cols[0].get(res.ids))


def test_tenants_of_one_vector_and_one_tenant_with_everything(tmp_path, rng, cache):
    n, dim = 3000, 8
    x = clustered(rng, n, dim)
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=cache) as db:
        cols = _pair(db, dim)
        _both(cols, "upsert", np.arange(n), x, tenants=[["all", f"solo{i}"] for i in range(n)])
        for i in (0, 1234, n - 1):
            res = cols[0].search(x[i] + 1, k=10, tenant=f"solo{i}")
            assert res.ids.tolist() == [i]
        assert recall(*cols, clustered(rng, 40, dim), "all") >= 0.95


def test_vectors_shared_by_dozens_of_tenants_are_stored_once(tmp_path, rng, cache):
    n, dim = 2000, 8
    x = clustered(rng, n, dim)
    owners = [[f"team{j}" for j in range(40) if (i + j) % 3 == 0] for i in range(n)]
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=cache) as db:
        cols = _pair(db, dim)
        _both(cols, "upsert", np.arange(n), x, tenants=owners)
        for tenant in ("team0", "team17", "team39"):
            assert recall(*cols, clustered(rng, 10, dim), tenant) >= 0.95
        st = cols[0].stats()["index_stats"]
        assert st["vectors_in_slab"] == n  # once, not once per tenant
        assert st["tenant_pairs"] == sum(len(o) for o in owners)


def test_drift_splits_leaves_and_keeps_recall(tmp_path, rng, cache):
    dim = 8
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=cache) as db:
        cols = _pair(db, dim, rebuild_growth=100.0)  # no rebuild: only leaf splits can adapt
        first = clustered(rng, 1000, dim)
        _both(cols, "upsert", np.arange(1000), first, tenants="t")
        leaves_before = cols[0].stats()["index_stats"]["tree_leaves"]
        far = clustered(rng, 3000, dim) + 40  # a region the tree was never trained on
        _both(cols, "upsert", np.arange(1000, 4000), far, tenants="t")
        st = cols[0].stats()["index_stats"]
        assert st["tree_leaves"] > leaves_before
        assert recall(*cols, far[:40] + 0.1, "t") >= 0.95


def test_reopen_does_not_rebuild_and_answers_the_same(tmp_path, rng, cache):
    n, dim = 4000, 8
    x = clustered(rng, n, dim)
    queries = clustered(rng, 20, dim)
    with vecdb.open(tmp_path / "d", cache_bytes=cache) as db:
        col = db.create_collection("c", dim=dim, **SMALL_TREE)
        col.upsert(np.arange(n), x, tenants=[[f"t{i % 5}"] for i in range(n)])
        col.delete(np.arange(0, n, 7))
        before = [col.search(q, k=10, tenant="t1").ids.tolist() for q in queries]
        tree = col.stats()["index_stats"]
    with vecdb.open(tmp_path / "d", cache_bytes=cache) as db:
        col = db.collection("c")
        after = [col.search(q, k=10, tenant="t1").ids.tolist() for q in queries]
        again = col.stats()["index_stats"]
    assert after == before
    for key in ("tree_nodes", "tree_leaves", "trained_rows"):
        assert again[key] == tree[key], key
    # The deletes were still tombstones when `tree` was read; closing applied them.
    assert tree["vectors_in_slab"] == n and again["vectors_in_slab"] == n - len(range(0, n, 7))


def test_a_tenant_reloaded_from_lmdb_has_the_lists_and_counts_it_had(tmp_path, rng):
    n, dim = 6000, 8
    x = clustered(rng, n, dim)
    with vecdb.open(tmp_path / "d", settings=Settings(durable=False, reclaim_after=0)) as db:  # applied at once
        col = db.create_collection("c", dim=dim, **SMALL_TREE)
        col.upsert(np.arange(n), x, tenants=[[f"t{i % 3}"] + (["all"] if i % 2 else []) for i in range(n)])
        col.delete(np.arange(0, n, 11))
        revoked = np.arange(1, n, 10)
        col.revoke(revoked[revoked % 11 != 0], "all")
        idx, tno = col._index, col._tno_by_name["all"]
        held = idx._tenants[tno]
        before = ({node: sorted(idx.slab_ids[s].tolist()) for node, s in held.lists.items()}, dict(held.counts))
    with vecdb.open(tmp_path / "d", durable=False) as db:
        col = db.collection("c")
        col.search(x[1], k=5, tenant="t0")  # loads the index, not tenant "all"
        idx = col._index
        assert tno not in idx._tenants
        with db._store.read() as txn:
            loaded = idx._tenant(tno, txn)
        after = ({node: sorted(idx.slab_ids[s].tolist()) for node, s in loaded.lists.items()}, dict(loaded.counts))
    assert len(before[0]) > 3 and after == before


def test_compaction_after_heavy_churn(tmp_path, rng, cache):
    n, dim = 30_000, 4
    x = rng.normal(size=(n, dim)).astype(np.float32)
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=cache) as db:
        cols = _pair(db, dim)
        _both(cols, "upsert", np.arange(n), x, tenants="t")
        _both(cols, "delete", np.arange(0, n, 2))
        _both(cols, "upsert", np.arange(0, 12_000, 2), x[:12_000:2] * 0.5, tenants="t")
        st = cols[0].stats()["index_stats"]
        assert st["dead_rows"] < 10_000  # compaction ran
        assert recall(*cols, rng.normal(size=(20, dim)).astype(np.float32), "t") >= 0.95


def test_budget_option_and_bad_options(db, rng):
    col = db.create_collection("c", dim=4, **SMALL_TREE)
    col.upsert(np.arange(2000), rng.normal(size=(2000, 4)), tenants="t")
    assert len(col.search(np.zeros(4), k=10, tenant="t", budget=16)) == 10
    with pytest.raises(vecdb.InvalidArgumentError, match="budget"):
        col.search(np.zeros(4), k=10, tenant="t", budget=0)
    with pytest.raises(vecdb.InvalidArgumentError, match="nprobe"):
        col.search(np.zeros(4), k=10, tenant="t", nprobe=3)
    with pytest.raises(vecdb.InvalidArgumentError, match="tau"):
        db.create_collection("d", dim=4, tau=-1)
    with pytest.raises(vecdb.InvalidArgumentError, match="unknown curator option"):
        db.create_collection("d", dim=4, colour="red")
    with pytest.raises(vecdb.InvalidArgumentError, match="no options"):
        db.create_collection("d", dim=4, index="flat", tau=3)


def test_search_batch_matches_single(tmp_path, rng, cache):
    db = vecdb.open(tmp_path / "d", cache_bytes=cache)
    col = db.create_collection("c", dim=6, **SMALL_TREE)
    col.upsert(np.arange(3000), clustered(rng, 3000, 6), tenants="t")
    qs = clustered(rng, 16, 6)
    ids, dists = col.search_batch(qs, k=5, tenant="t")
    for row, q in enumerate(qs):
        res = col.search(q, k=5, tenant="t")
        assert ids[row].tolist() == res.ids.tolist()


def test_patience_trades_recall_for_work_and_zero_disables_it(db, rng):
    col = db.create_collection("c", dim=16, **SMALL_TREE)
    x = clustered(rng, 6000, 16, spread=2.0)
    col.upsert(np.arange(6000), x, tenants="t")
    flat = db.create_collection("f", dim=16, index="flat")
    flat.upsert(np.arange(6000), x, tenants="t")
    qs = clustered(rng, 30, 16, spread=2.0)
    exhaustive = recall(col, flat, qs, "t", budget=10**6, patience=0)
    assert exhaustive == 1.0  # no stop but the exact ball bound: exact
    assert recall(col, flat, qs, "t", patience=1) <= recall(col, flat, qs, "t", patience=2000)
    with pytest.raises(vecdb.InvalidArgumentError, match="patience"):
        col.search(qs[0], tenant="t", patience=-1)


def test_slab_is_in_depth_first_leaf_order_and_small_tenants_are_packed(tmp_path, rng):
    n, dim = 5000, 8
    x = clustered(rng, n, dim)
    with vecdb.open(tmp_path / "d", durable=False) as db:
        col = db.create_collection("c", dim=dim, **SMALL_TREE)
        col.upsert(np.arange(n), x, tenants=[["big"] if i % 50 else ["big", "small"] for i in range(n)])
    with vecdb.open(tmp_path / "d") as db:  # reopen: the slab is laid out at load
        col = db.collection("c")
        res = col.search(x[0], k=5, tenant="small")
        assert len(res) == 5
        idx = col._index
        ranks = idx.tree.dfs_rank()[idx.leaf_of[: idx.n_rows]]
        assert idx.sorted_rows == idx.n_rows and np.all(np.diff(ranks) >= 0)
        small = idx._view(col._tno_by_name["small"])
        assert small.packed and len(small.codes) == len(small.t_slots) == n // 50
        assert np.array_equal(small.codes.ids, small.t_slots)  # code row j is list position j
        exact = np.argsort(((x[small.slab_ids[small.t_slots]] - x[0]) ** 2).sum(1))[:5]
        assert res.ids.tolist() == small.slab_ids[small.t_slots][exact].tolist()  # codes, then an exact rerank
        col.search(x[0], k=5, tenant="big")
        assert not idx._view(col._tno_by_name["big"]).packed


def test_memory_mode_counts_its_queries_and_the_vectors_they_scanned(db, rng):
    col = db.create_collection("c", dim=16, **SMALL_TREE)
    col.upsert(np.arange(3000), clustered(rng, 3000, 16), tenants=[["big"]] * 2990 + [["small"]] * 10)
    before = col.stats()["index_stats"]
    assert before["mode"] == "memory" and before["queries"] == 0 and before["rows_scanned"] == 0
    col.search(rng.standard_normal(16), k=5, tenant="small")
    col.search_batch(rng.standard_normal((3, 16)), k=5, tenant="big", budget=100)
    after = col.stats()["index_stats"]
    assert after["queries"] == 4
    # the small tenant is scanned whole; a budget stops after the shortlist that reaches it
    assert 10 + 3 * 100 <= after["rows_scanned"] <= 10 + 3 * (100 + SMALL_TREE["max_leaf"])
