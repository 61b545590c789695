"""Memory a database hands back to the OS: LMDB map pages left resident by loads and writes
(storage/residency.py, Settings.map_resident_bytes) and the allocator's heap after large writes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import vecdb
import vecdb.collection
from vecdb.config import Settings

from .test_disk_mode import _resident_kb

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise release is Linux-only")


@linux_only
def test_memory_mode_load_hands_back_the_map_pages_it_read(tmp_path, rng):
    x = rng.normal(size=(20_000, 64)).astype(np.float32)
    with vecdb.open(tmp_path / "d", durable=False) as db:
        db.create_collection("c", dim=64).upsert(np.arange(len(x)), x, tenants="t")
    with vecdb.open(tmp_path / "d", durable=False) as db:
        col = db.collection("c")
        db._store.map_pages.release()
        got = col.search(x[7], k=5, tenant="t")  # loads the index: every vector read through the map
        assert col.stats()["index_stats"]["mode"] == "memory"
        assert got.ids[0] == 7
        # 5 MB of vectors went through the map; the slab holds them, so those pages are given back
        # (what stays is the tenant's lists and B-tree pages the search read after the load)
        assert _resident_kb(tmp_path / "d" / "data.mdb") < 1200


@linux_only
def test_writes_hand_back_map_pages_past_map_resident_bytes_within_a_large_cache(tmp_path, rng):
    settings = Settings(map_resident_bytes=1 << 20, durable=False)
    with vecdb.open(tmp_path / "d", settings=settings, cache_bytes=1 << 30) as db:
        col = db.create_collection("c", dim=64, index="flat")
        x = rng.normal(size=(2000, 64)).astype(np.float32)
        for lo in range(0, 40_000, 2000):  # ~10 MB of vectors through the map, ten times the allowance
            col.upsert(np.arange(lo, lo + 2000), x, tenants="t")
        assert db._store.map_pages.releases >= 2
        assert _resident_kb(tmp_path / "d" / "data.mdb") < 4 * 1024


def test_large_writes_trim_the_heap_once_they_return_and_small_ones_do_not(tmp_path, rng, monkeypatch):
    calls = []
    monkeypatch.setattr(vecdb.collection, "trim_heap", lambda: calls.append(1))
    big = vecdb.collection.TRIM_AFTER_ROWS
    x = rng.normal(size=(big + 10, 8)).astype(np.float32)
    with vecdb.open(tmp_path / "d", durable=False) as db:
        col = db.create_collection("c", dim=8, index="flat")
        col.upsert(np.arange(10), x[:10], tenants="t")
        col.grant(np.arange(10), "u")
        assert calls == []
        col.upsert(np.arange(10, big + 10), x[10:], tenants="t")
        assert calls == [1]
        col.grant(np.arange(big + 10), "u")  # (the first 10 already granted: still a large write)
        assert calls == [1, 1]
        with pytest.raises(vecdb.InvalidArgumentError):
            col.upsert(np.arange(3), x[:2], tenants="t")  # rejected before any write: nothing to trim
        assert calls == [1, 1]
