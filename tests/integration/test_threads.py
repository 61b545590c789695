"""Many threads search while one writes: no errors, no torn results, every write visible afterwards."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vecdb
from tests.conftest import brute_force
from vecdb.config import Settings

#: the tree index in memory mode, and in disk mode (a 20 kB cache: postings read while being rewritten),
#: with thresholds small enough that the tree is trained and shortlists split and merge
MODES = {"memory": None, "disk": 20_000}
SMALL_TREE = {"tau": 16, "max_leaf": 64, "train_min": 256, "branching": 8}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_concurrent_readers_and_writer(tmp_path, rng, mode):
    db = vecdb.open(tmp_path / "d", cache_bytes=MODES[mode])
    col = db.create_collection("c", dim=8, **SMALL_TREE)
    base = rng.normal(size=(2000, 8)).astype(np.float32)
    col.upsert(np.arange(2000), base, tenants=[["a"] if i % 2 else ["a", "b"] for i in range(2000)])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                tenant = "ab"[int(r.integers(2))]
                res = col.search(r.normal(size=8), k=10, tenant=tenant)
                assert len(res) == 10 and len(set(res.ids.tolist())) == 10
                if tenant == "b":  # b only ever sees even ids below 2000 and the writer's "b" rows
                    assert all(i % 2 == 0 or i >= 10_000 for i in res.ids.tolist())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    extra = rng.normal(size=(1000, 8)).astype(np.float32)
    for lo in range(0, 1000, 100):
        col.upsert(np.arange(10_000 + lo, 10_100 + lo), extra[lo:lo + 100], tenants="b")
        col.revoke(np.arange(lo * 2, lo * 2 + 200, 2), "b")
        col.grant(np.arange(lo * 2, lo * 2 + 200, 2), "b")
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert col.count() == 3000 and col.count(tenant="b") == 2000
    assert col.stats()["index_stats"]["mode"] == mode
    ids_b = np.concatenate([np.arange(0, 2000, 2), np.arange(10_000, 11_000)])
    vecs_b = np.concatenate([base[::2], extra])
    q = rng.normal(size=8).astype(np.float32)
    np.testing.assert_allclose(col.search(q, k=10, tenant="b").distances,
                               brute_force(vecs_b, ids_b, q, 10)[1], rtol=1e-4)


@pytest.mark.parametrize("reclaim_after", [0, 500, Settings.reclaim_after])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_searches_while_vectors_are_deleted(tmp_path, rng, mode, reclaim_after):
    """Searches beside deletes see each vector either before or after, never half-way, and never one
    deleted before they began. Disk mode: between a commit and the step that drops the postings it
    replaced from the cache, a search on the new snapshot must not be served the old postings (their
    deleted ids no longer have vectors). Memory mode: a search still scanning rows a delete just retired
    must name them, not return id -1. Deletes are applied at once (0), every ten calls (500) or only at
    close (the default), so searches also meet tombstones being applied."""
    settings = Settings(cache_bytes=MODES[mode], durable=False, reclaim_after=reclaim_after)
    db = vecdb.open(tmp_path / "d", settings=settings)
    col = db.create_collection("c", dim=8, **SMALL_TREE)
    col.upsert(np.arange(3000), rng.normal(size=(3000, 8)), tenants="a")
    assert col.stats()["index_stats"]["mode"] == mode
    errors: list[BaseException] = []
    stop = threading.Event()
    live = set(range(3000))
    deleted: list[int] = []  # grows only after delete() returned

    def reader(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                before = set(deleted)
                res = col.search(r.normal(size=8), k=10, tenant="a")
                assert len(res) == 10 and len(set(res.ids.tolist())) == 10 and (res.ids >= 0).all()
                assert not before.intersection(res.ids.tolist())
                ids, _ = col.search_batch(r.normal(size=(4, 8)), k=10, tenant="a")
                assert ids.shape == (4, 10) and (ids >= 0).all()
                assert not before.intersection(ids.ravel().tolist())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for step in range(150):
        gone = rng.choice(sorted(live), 50, replace=False)
        col.delete(gone)
        deleted.extend(gone.tolist())
        fresh = gone + 100_000 * (step + 1)
        col.upsert(fresh, rng.normal(size=(50, 8)), tenants="a")
        live.difference_update(gone.tolist())
        live.update(fresh.tolist())
        if errors:
            break
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert set(col.search(np.zeros(8), k=3000, tenant="a").ids.tolist()) == live
    db.close()
