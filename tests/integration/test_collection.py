"""The embedded API end to end on LMDB with the exact (flat) index."""

from __future__ import annotations

import numpy as np
import pytest

import vecdb
from tests.conftest import assert_same_neighbours, brute_force


def _dist_map(vectors, ids, q, metric):
    got_ids, got_d = brute_force(vectors, ids, q, len(ids), metric)
    return dict(zip(got_ids.tolist(), got_d.tolist(), strict=True))


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_flat_search_equals_brute_force_per_tenant(db, rng, metric):
    n, dim = 600, 24
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x[10] = 0  # zero vector
    x[20] = x[21]  # duplicates
    ids = rng.choice(10**12, size=n, replace=False)
    owners = [["a"] if i % 3 else ["a", "b"] for i in range(n)]
    col = db.create_collection("c", dim=dim, metric=metric)
    col.upsert(ids, x, tenants=owners)
    for tenant in ("a", "b"):
        mask = np.array([tenant in o for o in owners])
        for q in rng.normal(size=(5, dim)).astype(np.float32):
            exp_ids, exp_d = brute_force(x[mask], ids[mask], q, 10, metric)
            res = col.search(q, k=10, tenant=tenant)
            assert_same_neighbours(res.ids, res.distances, exp_ids, exp_d, _dist_map(x[mask], ids[mask], q, metric))
        qs = rng.normal(size=(7, dim)).astype(np.float32)
        b_ids, b_d = col.search_batch(qs, k=10, tenant=tenant)
        for row, q in enumerate(qs):
            single = col.search(q, k=10, tenant=tenant)
            np.testing.assert_allclose(b_d[row], single.distances, rtol=1e-5)


def test_search_returns_min_k_and_tenant_size_with_padding_in_batch(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2, 3], [[0, 0], [1, 1], [2, 2]], tenants=[["a"], ["a"], ["b"]])
    assert col.search([0, 0], k=10, tenant="a").ids.tolist() == [1, 2]
    ids, d = col.search_batch([[0, 0], [5, 5]], k=4, tenant="a")
    assert ids.shape == (2, 4) and ids[0].tolist() == [1, 2, -1, -1] and np.isinf(d[0, 2:]).all()
    assert ids.dtype == np.int64 and d.dtype == np.float32


def test_tenant_isolation_grant_revoke_delete(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2], [[0, 0], [1, 0]], tenants=[["a"], ["b"]])
    assert col.search([0, 0], k=5, tenant="b").ids.tolist() == [2]
    assert col.grant([1, 2], "b") == 1
    assert col.search([0, 0], k=5, tenant="b").ids.tolist() == [1, 2]
    assert col.revoke([1], "a") == 1
    assert col.search([0, 0], k=5, tenant="a").ids.tolist() == []
    assert col.count() == 2 and col.count(tenant="a") == 0 and col.count(tenant="b") == 2
    assert col.tenants() == ["b"]
    assert col.delete([1, 99]) == 1
    assert col.search([0, 0], k=5, tenant="b").ids.tolist() == [2]


def test_upsert_replaces_vector_tenants_and_metadata(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1], [[0, 0]], tenants="a", metadata=[{"v": 1}])
    col.upsert([1], [[9, 9]], tenants=["b"])
    (rec,) = col.get([1])
    assert rec.vector.tolist() == [9, 9] and rec.tenants == ["b"] and rec.metadata == {}
    assert col.count() == 1 and col.count(tenant="a") == 0
    assert col.search([9, 9], k=1, tenant="b").distances.tolist() == [0.0]


def test_tenant_scoped_delete_never_touches_other_tenants(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2, 3], [[0, 0], [1, 0], [2, 0]], tenants=[["a"], ["a", "b"], ["b"]])
    assert col.delete([1, 2, 3], tenant="a") == 2
    assert col.get([1]) == []
    assert col.search([0, 0], k=5, tenant="b").ids.tolist() == [2, 3]
    assert [r.tenants for r in col.get([2])] == [["b"]]


def test_drop_tenant_deletes_private_and_unshares_shared(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2], [[0, 0], [1, 0]], tenants=[["a"], ["a", "b"]])
    assert col.drop_tenant("a") == 2
    assert col.count() == 1 and col.tenants() == ["b"]
    assert col.search([0, 0], k=5, tenant="a").ids.tolist() == []


def test_get_with_tenant_and_missing_ids(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2], [[0, 0], [1, 0]], tenants=[["a"], ["b"]], metadata=[{"x": 1}, None])
    assert [r.id for r in col.get([2, 7, 1])] == [2, 1]
    assert [r.id for r in col.get([1, 2], tenant="a")] == [1]
    assert col.get([1])[0].metadata == {"x": 1}


def test_where_filter_widens_until_k_match(db, rng):
    col = db.create_collection("c", dim=4)
    x = rng.normal(size=(500, 4)).astype(np.float32)
    col.upsert(np.arange(500), x, tenants="t", metadata=[{"even": i % 2 == 0, "i": i} for i in range(500)])
    res = col.search(x[0], k=20, tenant="t", where={"i": {"$gte": 490}})
    assert sorted(res.ids.tolist()) == list(range(490, 500)) and res.complete
    res = col.search(x[0], k=5, tenant="t", where={"$and": [{"even": True}, {"i": {"$lt": 100}}]})
    assert len(res) == 5 and all(i % 2 == 0 and i < 100 for i in res.ids.tolist())
    exp = brute_force(x[:100:2], np.arange(0, 100, 2), x[0], 5)[0]
    assert res.ids.tolist() == exp.tolist()


def test_where_filter_reports_incomplete_when_budget_runs_out(tmp_path, rng):
    db = vecdb.open(tmp_path / "d", settings=vecdb.Settings(filter_budget=100))
    col = db.create_collection("c", dim=2)
    col.upsert(np.arange(300), rng.normal(size=(300, 2)), tenants="t",
               metadata=[{"i": i} for i in range(300)])
    res = col.search([0, 0], k=5, tenant="t", where={"i": {"$gte": 299}})
    assert not res.complete and len(res) <= 1


def test_collections_catalog(db):
    db.create_collection("a", dim=3)
    db.create_collection("b", dim=4, metric="cosine")
    assert db.list_collections() == ["a", "b"]
    with pytest.raises(vecdb.AlreadyExistsError):
        db.create_collection("a", dim=3)
    assert db.create_collection("a", dim=3, exist_ok=True).dim == 3
    with pytest.raises(vecdb.AlreadyExistsError, match="dim=3"):
        db.create_collection("a", dim=5, exist_ok=True)
    db.drop_collection("a")
    assert db.list_collections() == ["b"]
    with pytest.raises(vecdb.CollectionNotFound):
        db.collection("a")


def test_drop_collection_removes_all_keys_and_old_handles_fail(db):
    col = db.create_collection("a", dim=2)
    col.upsert([1], [[0, 0]], tenants="t", metadata=[{"m": 1}])
    db.drop_collection("a")
    with pytest.raises(vecdb.CollectionNotFound):
        col.search([0, 0], tenant="t")
    store = db._store
    with store.read() as txn:
        for name, handle in store.dbs.items():
            keys = [k for k, _ in txn.cursor(handle) if not (name == "catalog" and k.startswith(b"\x00next"))]
            assert keys == [], name
    again = db.create_collection("a", dim=2)
    assert again.count() == 0


def test_reopen_keeps_everything(tmp_path, rng):
    x = rng.normal(size=(50, 3)).astype(np.float32)
    with vecdb.open(tmp_path / "d") as db:
        db.create_collection("c", dim=3, metric="ip").upsert(np.arange(50), x, tenants="t")
    with vecdb.open(tmp_path / "d") as db:
        col = db.collection("c")
        assert col.count() == 50 and col.metric == "ip"
        assert col.search(x[3], k=1, tenant="t").ids[0] == np.argmax(x @ x[3])


def test_closed_database_raises(tmp_path):
    db = vecdb.open(tmp_path / "d")
    col = db.create_collection("c", dim=2)
    db.close()
    with pytest.raises(vecdb.FailedPreconditionError):
        db.list_collections()
    with pytest.raises(vecdb.VecDBError):
        col.count()


def test_backup_is_a_working_compacted_copy(db, tmp_path):
    col = db.create_collection("c", dim=2)
    col.upsert(np.arange(1000), np.ones((1000, 2)), tenants="t")
    col.delete(np.arange(900))
    dest = db.backup(tmp_path / "copy")
    with vecdb.open(dest) as copy:
        assert copy.collection("c").count() == 100
    with pytest.raises(vecdb.AlreadyExistsError):
        db.backup(dest)


def test_stats(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2], [[0, 0], [1, 1]], tenants=[["a"], ["a", "b"]])
    s = col.stats()
    assert s["vectors"] == 2 and s["tenants"] == 2 and s["dim"] == 2 and s["database_disk_bytes"] > 0
    assert db.stats()["collections"]["c"]["vectors"] == 2


def test_ids_pages_in_order_per_tenant(db):
    col = db.create_collection("c", dim=2)
    col.upsert([5, 1, 9, 3], np.zeros((4, 2)), tenants=[["a"], ["a", "b"], ["b"], ["a"]])
    assert col.ids().tolist() == [1, 3, 5, 9]
    assert col.ids(tenant="a").tolist() == [1, 3, 5]
    assert col.ids(tenant="a", after=1, limit=1).tolist() == [3]
    assert col.ids(after=9).tolist() == []
    with pytest.raises(vecdb.TenantNotFound):
        col.ids(tenant="zzz")
    with pytest.raises(vecdb.InvalidArgumentError):
        col.ids(limit=0)


def test_update_metadata_only(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2], [[0, 0], [1, 1]], tenants="a", metadata=[{"x": 1}, None])
    assert col.update_metadata([2, 1], [{"y": 2}, None]) == 2
    assert [r.metadata for r in col.get([1, 2])] == [{}, {"y": 2}]
    assert col.search([1, 1], k=1, tenant="a", where={"y": 2}).ids.tolist() == [2]
    with pytest.raises(vecdb.NotFoundError, match="id 7"):
        col.update_metadata([1, 7], [{"z": 1}, {"z": 1}])
    assert col.get([1])[0].metadata == {}


def test_scoped_writes_cannot_touch_other_tenants(db):
    col = db.create_collection("c", dim=2)
    col.upsert([1, 2, 3], [[0, 0], [1, 0], [2, 0]], tenants=[["a"], ["a", "b"], ["b"]])
    with pytest.raises(vecdb.PermissionDeniedError, match="'b'"):
        col.upsert([9], [[0, 0]], tenants="b", scope=["a"])
    with pytest.raises(vecdb.PermissionDeniedError, match="id 2"):
        col.upsert([2], [[5, 5]], tenants="a", scope=["a"])  # shared with b: not a's to replace
    assert col.upsert([1], [[5, 5]], tenants="a", scope=["a"]) == 1
    with pytest.raises(vecdb.NotFoundError, match="id 3"):
        col.grant([3], "a", scope=["a"])  # a cannot see 3: as if absent
    with pytest.raises(vecdb.PermissionDeniedError):
        col.grant([1], "b", scope=["a"])
    assert col.grant([1], "c", scope=["a", "c"]) == 1
    with pytest.raises(vecdb.PermissionDeniedError, match="id 2"):
        col.update_metadata([2], [{"x": 1}], scope=["a"])
    with pytest.raises(vecdb.NotFoundError):
        col.update_metadata([3], [{"x": 1}], scope=["a"])
    assert col.update_metadata([1], [{"x": 1}], scope=["a", "c"]) == 1
    assert col.get([2])[0].vector.tolist() == [1, 0] and col.get([3])[0].tenants == ["b"]
