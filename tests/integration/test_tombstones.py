"""Deletes and revokes commit tombstones (vecdb/pending.py) and are applied in bulk later: every read
must see through them at once, and applying them must leave the same answers."""

from __future__ import annotations

import numpy as np
import pytest

import vecdb
from vecdb.config import Settings

N, DIM = 1500, 8
TREE = {"tau": 16, "max_leaf": 64, "train_min": 256, "branching": 8}
# The tree index searched exhaustively (a budget past every tenant, no adaptive stop, no pruning), so
# results must equal brute force exactly; its recall at defaults is tested in test_curator.py.
EXHAUSTIVE = {"curator": {"budget": 10 * N, "prune": -1.0}, "flat": {}}


@pytest.fixture(params=["curator-memory", "curator-disk", "flat"])
def make(request, tmp_path):
    """make(reclaim_after) -> a collection of N vectors: even ids held by "a", odd by "b", every third by
    "c" as well; plus the vectors and each id's tenants, as a model."""
    index, _, mode = request.param.partition("-")
    opened = []

    def build(reclaim_after: int = 20_000):
        cache = 4096 if mode == "disk" else None
        db = vecdb.open(tmp_path / "db", settings=Settings(durable=False, cache_bytes=cache,
                                                         reclaim_after=reclaim_after))
        opened.append(db)
        options = TREE | ({"codes": "fp32"} if mode == "disk" else {}) if index == "curator" else {}
        col = db.create_collection("c", dim=DIM, index=index, **options)
        x = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
        tenants = [{"a" if i % 2 == 0 else "b"} | ({"c"} if i % 3 == 0 else set()) for i in range(N)]
        col.upsert(np.arange(N), x, tenants=[sorted(t) for t in tenants],
                   metadata=[{"three": i % 3 == 0} for i in range(N)])
        return col, x, dict(enumerate(tenants))

    yield build
    for db in opened:
        db.close()


def exact(x, model, q, k, tenant):
    ids = np.array(sorted(i for i, ts in model.items() if tenant in ts), dtype=np.int64)
    d = ((x[ids] - q) ** 2).sum(axis=1)
    order = np.lexsort((ids, d))[:k]
    return ids[order].tolist()


def check_reads(col, x, model, rng):
    for tenant in ("a", "b", "c"):
        held = sorted(i for i, ts in model.items() if tenant in ts)
        assert col.count(tenant=tenant) == len(held)
        assert col.ids(tenant=tenant).tolist() == held
        assert col.ids(tenant=tenant, after=held[3], limit=5).tolist() == held[4:9]
        queries = rng.normal(size=(3, DIM)).astype(np.float32)
        opts = EXHAUSTIVE[col.info.index]
        for q in queries:
            assert col.search(q, k=10, tenant=tenant, **opts).ids.tolist() == exact(x, model, q, 10, tenant)
        got, _ = col.search_batch(queries, k=10, tenant=tenant, **opts)
        assert got.tolist() == [exact(x, model, q, 10, tenant) for q in queries]
        filtered = col.search(queries[0], k=5, tenant=tenant, where={"three": True}, **opts).ids.tolist()
        model_c = {i: ts for i, ts in model.items() if i % 3 == 0}
        assert filtered == exact(x, model_c, queries[0], 5, tenant)
    assert col.count() == len(model)
    assert col.ids().tolist() == sorted(model)
    records = col.get(np.arange(N))
    assert [r.id for r in records] == sorted(model)
    assert all(set(r.tenants) == model[r.id] for r in records)


def test_reads_see_through_tombstones_and_applying_them_changes_no_answer(make, rng):
    col, x, model = make()
    slab = col.stats()["index_stats"].get("vectors_in_slab")
    gone = rng.choice(N, 300, replace=False)
    assert col.delete(gone) == 300
    lost_b = [i for i in rng.choice(N, 200, replace=False).tolist() if "b" in model[i] and i not in gone]
    assert col.revoke(lost_b, "b") == len(lost_b)
    only_a = [i for i in range(0, 60, 2) if i in model]  # a tenant-scoped delete: a's own, or a's share
    col.delete(only_a, tenant="a")
    for i in gone.tolist():
        model.pop(i, None)
    for i in lost_b:
        if i in model:
            model[i].discard("b")
    for i in only_a:
        if i in model:
            model[i].discard("a")
            if not model[i]:
                del model[i]
    st = col.stats()
    assert st["pending_tombstones"] > 300
    if slab is not None:  # nothing reached the index yet
        assert st["index_stats"]["vectors_in_slab"] == slab
    check_reads(col, x, model, rng)
    assert col.delete(gone[:10]) == 0 and col.revoke(lost_b[:10], "b") == 0  # already gone
    with pytest.raises(vecdb.NotFoundError):
        col.revoke(gone[:1], "a")

    col.upsert([N], x[:1], tenants="d")  # a write that names no tombstoned id leaves them waiting
    assert col.stats()["pending_tombstones"] == st["pending_tombstones"]
    col.delete([N])
    col.upsert([int(gone[0])], x[gone[0]][None, :], tenants="a")  # ... one that does applies them all
    model[int(gone[0])] = {"a"}
    st = col.stats()
    assert st["pending_tombstones"] == 0
    if slab is not None:
        assert st["index_stats"]["vectors_in_slab"] == len(model)
    check_reads(col, x, model, rng)


def test_the_nearest_neighbours_all_deleted(make, rng):
    """The hidden ids fill the index's whole first answer: the search must ask again, for enough."""
    col, x, model = make()
    q = x[0] + 0.01
    near = exact(x, model, q, 60, "a")
    col.delete(near)
    for i in near:
        model.pop(i)
    opts = EXHAUSTIVE[col.info.index]
    assert col.search(q, k=10, tenant="a", **opts).ids.tolist() == exact(x, model, q, 10, "a")
    got, _ = col.search_batch(np.stack([q, x[1]]), k=10, tenant="a", **opts)
    assert got.tolist() == [exact(x, model, q, 10, "a"), exact(x, model, x[1], 10, "a")]


def test_past_reclaim_after_the_tombstones_are_applied(make, rng):
    col, x, model = make(reclaim_after=100)
    first, second = np.arange(0, 160, 2), np.arange(1, 81, 2)
    col.delete(first)
    assert col.stats()["pending_tombstones"] == len(first)
    col.delete(second)  # 120 > 100: applied in this call
    assert col.stats()["pending_tombstones"] == 0
    for i in np.concatenate([first, second]).tolist():
        model.pop(i)
    check_reads(col, x, model, rng)


def test_reclaim_after_zero_applies_every_delete_at_once(make, rng):
    col, x, model = make(reclaim_after=0)
    col.delete([1, 2, 3])
    col.revoke([6, 12], "c")
    assert col.stats()["pending_tombstones"] == 0
    for i in (1, 2, 3):
        model.pop(i)
    model[6].discard("c")
    model[12].discard("c")
    check_reads(col, x, model, rng)


def test_grants_on_ids_with_tombstones(make, rng):
    col, x, model = make()
    col.revoke([0, 6, 12, 24], "c")
    col.grant([6], "c")  # granting back what a tombstone took
    col.grant([12, 24], "d")  # another tenant: the stored access list is rewritten, "c" must stay lost
    col.delete([18, 24])
    with pytest.raises(vecdb.NotFoundError):
        col.grant([18], "d")
    model[0].discard("c")
    model[12] = (model[12] - {"c"}) | {"d"}
    model.pop(18)
    model.pop(24)
    check_reads(col, x, model, rng)
    assert col.search(x[12], k=1, tenant="d").ids.tolist() == [12]
    col.upsert([18], x[18][None, :], tenants="a")  # applies every tombstone
    model[18] = {"a"}
    assert col.stats()["pending_tombstones"] == 0
    check_reads(col, x, model, rng)
    for i in (0, 12, 24):  # gone from "c" in the index too, not only in the records
        assert i not in col.search(x[i], k=3, tenant="c", **EXHAUSTIVE[col.info.index]).ids.tolist()


def test_drop_tenant_with_tombstones(make, rng):
    col, x, model = make()
    col.revoke([0, 3], "c")
    col.delete([6, 9])
    col.delete([2, 4], tenant="a")
    assert col.drop_tenant("c") == sum("c" in ts for i, ts in model.items() if i not in (0, 3, 6, 9))
    for i in (6, 9, 2, 4):
        model.pop(i)
    for ts in model.values():
        ts.discard("c")
    model = {i: ts for i, ts in model.items() if ts}
    assert col.count(tenant="c") == 0
    for tenant in ("a", "b"):
        assert col.ids(tenant=tenant).tolist() == sorted(i for i, ts in model.items() if tenant in ts)
        q = rng.normal(size=DIM).astype(np.float32)
        got = col.search(q, k=10, tenant=tenant, **EXHAUSTIVE[col.info.index]).ids.tolist()
        assert got == exact(x, model, q, 10, tenant)


def test_close_applies_the_tombstones(tmp_path, rng):
    x = rng.normal(size=(500, DIM)).astype(np.float32)
    with vecdb.open(tmp_path / "db", durable=False) as db:
        col = db.create_collection("c", dim=DIM, index="curator", **TREE)
        col.upsert(np.arange(500), x, tenants=[["a", "b"]] * 250 + [["a"]] * 250)
        col.delete(np.arange(100))
        col.revoke(np.arange(100, 150), "b")
        assert col.stats()["pending_tombstones"] == 150
    with vecdb.open(tmp_path / "db", durable=False) as db:
        col = db.collection("c")
        assert col.stats()["pending_tombstones"] == 0
        assert col.stats()["index_stats"]["vectors_in_slab"] == 400
        assert col.count(tenant="b") == 100 and col.ids(tenant="b").tolist() == list(range(150, 250))
