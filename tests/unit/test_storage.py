"""Storage modules on a real LMDB environment: key order, registry, access lists, prefix deletes."""

from __future__ import annotations

import numpy as np
import pytest

from vecdb.config import Settings
from vecdb.errors import FailedPreconditionError
from vecdb.storage import Store, catalog, metadata, tenants, vectors
from vecdb.storage.env import cid_prefix, id_keys


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "env", Settings(durable=False))
    yield s
    s.close()


def test_id_keys_sort_numerically():
    keys = id_keys(cid_prefix(1), np.array([300, 2, 2**40, 17]))
    assert sorted(keys) == [keys[1], keys[3], keys[0], keys[2]]


def test_write_aborts_on_error_and_commits_otherwise(store):
    with pytest.raises(RuntimeError):
        with store.write() as txn:
            vectors.put(store, txn, 1, np.array([1]), np.ones((1, 2), np.float32))
            raise RuntimeError("boom")
    with store.read() as txn:
        assert not vectors.get(store, txn, 1, np.array([1]), 2)[0].any()
    with store.write() as txn:
        vectors.put(store, txn, 1, np.array([1]), np.ones((1, 2), np.float32))
    with store.read() as txn:
        found, mat = vectors.get(store, txn, 1, np.array([1, 5]), 2)
        assert found.tolist() == [True, False] and mat[0].tolist() == [1, 1]


def test_scan_and_scan_ids_stay_inside_the_collection(store):
    with store.write() as txn:
        vectors.put(store, txn, 1, np.array([5, 3]), np.arange(4, dtype=np.float32).reshape(2, 2))
        vectors.put(store, txn, 2, np.array([1]), np.zeros((1, 2), np.float32))
    with store.read() as txn:
        ((ids, mat),) = list(vectors.scan(store, txn, 1, 2))
        assert ids.tolist() == [3, 5] and mat[0].tolist() == [2, 3]
        assert vectors.scan_ids(store, txn, 1, start=4).tolist() == [5]
        assert vectors.scan_ids(store, txn, 2).tolist() == [1]


def test_tenant_registry_and_access_lists(store):
    with store.write() as txn:
        tmap = tenants.ensure(store, txn, 1, {"acme", "globex"})
        assert tenants.ensure(store, txn, 1, {"acme"}) == {"acme": tmap["acme"]}  # numbers are stable
        a, g = tmap["acme"], tmap["globex"]
        ids = np.array([10, 11])
        new = [np.array(sorted([a, g]), np.uint32), np.array([a], np.uint32)]
        deltas = tenants.set_access(store, txn, 1, ids, [None, None], new)
        tenants.add_counts(store, txn, 1, deltas)
    with store.read() as txn:
        assert tenants.members(store, txn, 1, a).tolist() == [10, 11]
        assert tenants.members(store, txn, 1, g).tolist() == [10]
        assert tenants.members(store, txn, 1, a, start=11).tolist() == [11]
        assert tenants.count(store, txn, 1, a) == 2 and tenants.name_of(store, txn, 1, g) == "globex"
        assert [(n, c) for n, _, c in tenants.list_all(store, txn, 1)] == [("acme", 2), ("globex", 1)]
        old = tenants.get_access(store, txn, 1, np.array([10, 99]))
        assert old[1] is None
    with store.write() as txn:
        deltas = tenants.set_access(store, txn, 1, np.array([10]), [old[0]], [None])
        tenants.add_counts(store, txn, 1, deltas)
    with store.read() as txn:
        assert tenants.members(store, txn, 1, g).tolist() == [] and tenants.count(store, txn, 1, a) == 1


def test_metadata_and_catalog(store):
    with store.write() as txn:
        info = catalog.create(store, txn, "docs", 3, "l2", "flat", {})
        again = catalog.create(store, txn, "other", 3, "l2", "flat", {})
        assert again.id == info.id + 1
        metadata.put(store, txn, info.id, np.array([1, 2]), [{"a": 1}, None])
        catalog.add_vector_count(store, txn, info.id, 2)
    with store.read() as txn:
        assert metadata.get(store, txn, info.id, np.array([1, 2])) == [{"a": 1}, {}]
        assert catalog.vector_count(store, txn, info.id) == 2
        assert [c.name for c in catalog.list_all(store, txn)] == ["docs", "other"]


def test_delete_prefix_leaves_neighbours(store):
    with store.write() as txn:
        for cid in (1, 2, 3):
            vectors.put(store, txn, cid, np.array([1, 2]), np.zeros((2, 2), np.float32))
        assert store.delete_prefix(txn, "vectors", cid_prefix(2)) == 2
    with store.read() as txn:
        assert [len(vectors.scan_ids(store, txn, c)) for c in (1, 2, 3)] == [2, 0, 2]


def test_closed_store_raises(store):
    store.close()
    with pytest.raises(FailedPreconditionError):
        with store.read():
            pass
