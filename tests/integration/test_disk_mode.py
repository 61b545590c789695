"""Disk mode of the tree index: postings on LMDB read through a RAM cache bounded by cache_bytes, against
exact (flat) search; switching modes; stats; options."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading

import numpy as np
import pytest

import vecdb
from vecdb.errors import InternalError
from vecdb.index.curator import CuratorIndex, check_options
from vecdb.index.postings import PAGE, Rows, chunk_capacity, row_bytes
from vecdb.kernels.disk_query import WRAPS

from .test_curator import _both, _pair, clustered, recall


def _build(db, rng, n=6000, dim=16, **options):
    x = clustered(rng, n, dim)
    cols = _pair(db, dim, **options)
    owners = [["big"] + ([f"t{i % 30}"] if i % 2 == 0 else []) for i in range(n)]
    for lo in range(0, n, 1500):
        hi = min(lo + 1500, n)
        _both(cols, "upsert", np.arange(lo, hi), x[lo:hi], tenants=owners[lo:hi])
    return cols, x


@pytest.mark.parametrize("codes", ["int8", "fp32"])
@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_disk_mode_recall_against_flat(tmp_path, rng, codes, metric):
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=50_000) as db:
        cols, x = _build(db, rng, codes=codes, metric=metric)
        st = cols[0].stats()["index_stats"]
        assert st["mode"] == "disk" and st["codes"] == codes
        queries = x[rng.integers(len(x), size=40)] + rng.normal(size=(40, x.shape[1])).astype(np.float32) * 0.3
        assert recall(*cols, queries, "big") >= 0.93
        assert recall(*cols, queries[:10], "t4") >= 0.99  # a small tenant reads its whole posting



@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_disk_mode_distances_are_the_exact_ones(tmp_path, rng, metric):
    """The rerank reads each candidate's stored vector: what comes back is its exact distance, in order."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=50_000) as db:
        (cur, _), x = _build(db, rng, metric=metric)
        assert cur.stats()["index_stats"]["mode"] == "disk"
        for q in x[rng.integers(len(x), size=20)] + rng.normal(size=(20, x.shape[1])).astype(np.float32):
            got = cur.search(q, k=10, tenant="big")
            v, qq = x[got.ids].astype(np.float64), q.astype(np.float64)
            if metric == "l2":
                want = ((v - qq) ** 2).sum(1)
            elif metric == "ip":
                want = 1 - v @ qq
            else:
                want = 1 - (v @ qq) / (np.linalg.norm(v, axis=1) * np.linalg.norm(qq))
            np.testing.assert_allclose(got.distances, want, rtol=1e-4, atol=1e-4)
            assert np.all(np.diff(got.distances) >= 0)


def test_threads_that_come_and_go_keep_their_counts_but_not_their_buffers(tmp_path, rng):
    """Each thread reuses its own query buffers (2 MB of staging); a thread that ended must not keep
    them alive, and its queries must still count in stats()."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=50_000) as db:
        (cur, _), x = _build(db, rng)
        before = cur.stats()["index_stats"]["queries"]

        def three():
            for v in x[:3]:
                cur.search(v, k=5, tenant="big")

        for _ in range(6):
            t = threading.Thread(target=three)
            t.start()
            t.join()
        gc.collect()
        assert cur.stats()["index_stats"]["queries"] - before == 18
        assert len(cur._index.disk._totals._live) <= 1  # at most this thread's (none searched here)


def test_cache_stays_within_budget_and_counts_reads(tmp_path, rng):
    budget = 30_000
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=budget) as db:
        (cur, _), x = _build(db, rng)
        q = x[:20]
        before = cur.stats()["index_stats"]
        for v in q:
            cur.search(v, k=10, tenant="big")
        mid = cur.stats()["index_stats"]
        for v in q:  # the same queries again: the small tenant's posting is hot now
            cur.search(v, k=10, tenant="t4")
            cur.search(v, k=10, tenant="t4")
        after = cur.stats()["index_stats"]
    assert mid["queries"] - before["queries"] == 20
    assert mid["postings_read"] > before["postings_read"] and mid["posting_bytes_read"] > 0
    assert after["cache_hits"] > mid["cache_hits"] and 0 < after["cache_hit_ratio"] <= 1
    assert after["cache_bytes"] <= after["cache_capacity_bytes"] <= budget


def test_a_tenant_in_use_takes_the_cache_from_postings_used_less(tmp_path, rng):
    """Admission follows use: after two scans of the big tenant have filled the arena (and gone round
    it), a small tenant searched again and again gets its postings cached, pushing out postings read at
    most twice."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, _), x = _build(db, rng)
        for v in (x[0], -x[0]):
            cur.search(v, k=10, tenant="big")
        assert cur._index.disk.cache.meta[WRAPS] > 0  # the arena is full and has gone round
        for v in x[:12]:  # its postings need a third use to beat the big tenant's (used at most twice)
            cur.search(v, k=10, tenant="t4")
        before = cur.stats()["index_stats"]
        for v in x[12:18]:
            cur.search(v, k=10, tenant="t4")
        after = cur.stats()["index_stats"]
    hits = after["cache_hits"] - before["cache_hits"]
    assert hits >= 0.9 * (hits + after["cache_misses"] - before["cache_misses"])


def _posting_keys(col) -> int:
    idx = col._index
    with idx.store.read() as txn:
        cur = txn.cursor(idx.store.dbs["index"])
        n = 0
        if cur.set_range(idx.postings.base):
            for key in cur.iternext(values=False):
                if not key.startswith(idx.postings.base):
                    break
                n += 1
        return n


def test_reopen_in_either_mode_answers_the_same(tmp_path, rng):
    """Memory mode keeps no postings (its writes only mark them stale); disk mode builds them on load."""
    with vecdb.open(tmp_path / "d", durable=False) as db:
        cols, x = _build(db, rng)
        cols[0].delete(np.arange(0, 6000, 5))
        cols[1].delete(np.arange(0, 6000, 5))
        assert cols[0].stats()["index_stats"]["mode"] == "memory"
        assert _posting_keys(cols[0]) == 0
    queries = x[:30] + 0.1
    for cache in (10_000, None, 10_000):
        with vecdb.open(tmp_path / "d", cache_bytes=cache) as db:
            cols = [db.collection("cur"), db.collection("flat")]
            assert cols[0].stats()["index_stats"]["mode"] == ("memory" if cache is None else "disk")
            assert recall(*cols, queries, "big") >= 0.95
            if cache is None:  # a memory-mode write leaves the postings stale for the next disk-mode open
                for col in cols:
                    col.upsert([6000], x[:1] + 0.01, tenants="big")
            else:
                assert _posting_keys(cols[0]) > 0


def test_a_growing_collection_switches_to_disk_mode(tmp_path, rng):
    dim = 8
    x = clustered(rng, 4000, dim)
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=1000 * dim * 4) as db:
        cols = _pair(db, dim)
        _both(cols, "upsert", np.arange(500), x[:500], tenants="t")
        assert cols[0].stats()["index_stats"]["mode"] == "memory"
        assert recall(*cols, x[:10], "t") == 1.0
        _both(cols, "upsert", np.arange(500, 4000), x[500:], tenants="t")
        assert cols[0].stats()["index_stats"]["mode"] == "disk"
        assert recall(*cols, x[:40] + 0.05, "t") >= 0.95


def test_moving_upsert_is_not_served_its_old_code(tmp_path, rng):
    """An upsert that changes a vector must replace its code in every posting, cached or not."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng)
        cur.search(x[8], k=10, tenant="t8")  # caches t8's posting, which holds id 8
        for col in (cur, flat):
            col.upsert([8], x[8:9] + 50.0, tenants=[["big", "t8"]])
        for tenant in ("t8", "big"):
            res = cur.search(x[8] + 50.0, k=1, tenant=tenant)
            assert res.ids.tolist() == [8] and res.distances[0] < 1e-3


def test_upserts_that_keep_the_lists_rewrite_the_codes(tmp_path, rng):
    """Re-upserting vectors with the same tenants can leave every shortlist's ids as they were; the
    postings must still carry the new vectors (a stale code there broke the search's pruning bound)."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng, codes="fp32")
        moved = x[4500:] + 0.5
        owners = [["big"] + ([f"t{i % 30}"] if i % 2 == 0 else []) for i in range(4500, 6000)]
        _both((cur, flat), "upsert", np.arange(4500, 6000), moved, tenants=owners)
        want = np.concatenate([x[:4500], moved])
        idx = cur._index
        with idx.store.read() as txn:
            for tno in range(len(cur.tenants()) + 1):
                for node in idx._tenant(tno, txn).lists:
                    for raw in idx.postings.read_values(txn, tno, node):
                        rows = Rows.from_buffer(raw, idx.postings.dim)
                        np.testing.assert_array_equal(rows.codes, want[rows.ids])  # fp32 codes: the vectors
        assert recall(cur, flat, moved[::50], "big") >= 0.93


def test_postings_of_an_older_version_are_rebuilt_on_load(tmp_path, rng):
    """Postings written before POSTINGS_VERSION may hold stale codes (see the test above): disk mode does
    not trust them and writes them afresh when it loads."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, _), x = _build(db, rng, codes="fp32")
        idx = cur._index
        db_index = idx.store.dbs["index"]
        with idx.store.write() as txn:  # what an older version left: no version, one chunk's codes wrong
            meta = json.loads(bytes(txn.get(idx.prefix + b"M", db=db_index)))
            del meta["postings_version"]
            txn.put(idx.prefix + b"M", json.dumps(meta).encode(), db=db_index)
            cursor = txn.cursor(db_index)
            assert cursor.set_range(idx.postings.base)
            key, raw = cursor.item()
            rows = Rows.from_buffer(bytes(raw), idx.postings.dim).copy()
            rows.codes += 100.0
            txn.put(key, rows.to_bytes("fp32"), db=db_index)
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        col = db.collection(cur.name)
        col.search(x[0], k=1, tenant="big")  # loads the index
        idx = col._index
        with idx.store.read() as txn:
            raw = txn.get(key, db=idx.store.dbs["index"])
            rows = Rows.from_buffer(raw, idx.postings.dim)
            np.testing.assert_array_equal(rows.codes, x[rows.ids])
            assert json.loads(bytes(txn.get(idx.prefix + b"M", db=idx.store.dbs["index"])))["postings_version"] >= 2


def test_disk_mode_options_are_checked(tmp_path, rng):
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=10_000) as db:
        (cur, _), x = _build(db, rng, n=2000)
        assert len(cur.search(x[0], k=10, tenant="big", prune=-1, rerank=100, budget=5000)) == 10
        for bad in ({"prune": "wide"}, {"rerank": 0}, {"budget": 0}, {"prune": float("nan")}):
            with pytest.raises(vecdb.InvalidArgumentError):
                cur.search(x[0], k=10, tenant="big", **bad)
        with pytest.raises(vecdb.InvalidArgumentError, match="codes"):
            db.create_collection("bad", dim=4, codes="fp8")


@pytest.mark.parametrize("chunk_pages", [1, 4])
def test_chunks_fill_whole_pages(chunk_pages):
    for dim in (8, 128, 192, 384, 768):
        for fmt in ("int8", "fp32"):
            cap, rb = chunk_capacity(dim, fmt, chunk_pages), row_bytes(dim, fmt)
            used = 16 + 8 + cap * rb  # LMDB overflow page header + our header + rows
            pages = -(-used // PAGE)
            assert cap >= 1 and used <= pages * PAGE < used + rb, (dim, fmt)
            assert pages == chunk_pages or cap == 1  # the pages asked for, unless one row needs more


def test_collections_record_their_chunk_size(tmp_path, rng):
    """The postings' layout depends on the chunk size, so a collection keeps the one it was made with;
    one made before the option existed (none recorded) has one-page chunks."""
    with vecdb.open(tmp_path / "d", durable=False) as db:
        assert db.create_collection("new", dim=8).info.options["posting_pages"] == 4
        assert db.create_collection("set", dim=8, posting_pages=2).info.options["posting_pages"] == 2
        with pytest.raises(vecdb.InvalidArgumentError):
            db.create_collection("bad", dim=8, posting_pages=65)
    assert check_options({})["posting_pages"] == 1 and CuratorIndex.check_options({})["posting_pages"] == 4


@pytest.mark.parametrize("posting_pages", [1, 4])
def test_postings_match_shortlists_after_churn(tmp_path, rng, posting_pages):
    """Every posting holds exactly its shortlist's ids, in order, after inserts, deletes and revokes; and
    searches still agree with exact ones."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng, posting_pages=posting_pages)
        _both((cur, flat), "delete", np.arange(0, 6000, 3))
        _both((cur, flat), "revoke", np.arange(1, 6000, 3), "big")
        _both((cur, flat), "upsert", np.arange(0, 600, 3), x[:600:3] * 1.01, tenants="t1")
        assert recall(cur, flat, x[2:600:7] + 0.1, "big") >= 0.93
        assert recall(cur, flat, x[0:600:21] + 0.1, "t1") >= 0.99
        idx = cur._index
        assert idx.postings.cap == chunk_capacity(16, "int8", posting_pages)
        with idx.store.read() as txn:
            for tno in range(len(cur.tenants()) + 1):
                tt = idx._tenant(tno, txn)
                for node, slots in tt.lists.items():
                    chunks = [Rows.from_buffer(v, idx.postings.dim) for v in idx.postings.read_values(txn, tno, node)]
                    got = np.concatenate([c.ids for c in chunks])
                    assert got.tolist() == idx.slab_ids[slots].tolist()
                    assert all(len(c) <= idx.postings.cap for c in chunks)



def _resident_kb(data_file) -> int:
    """Resident KB of this process's mappings of data_file (from /proc/self/smaps)."""
    total, inside = 0, False
    target = str(data_file.resolve())
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                inside = len(head) >= 6 and head[5] == target
            elif inside and line.startswith("Rss:"):
                total += int(head[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise release is Linux-only")
def test_map_pages_are_handed_back_after_reads(tmp_path, rng):
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng)
        data_file = tmp_path / "d" / "data.mdb"
        flat.search(x[0], k=10, tenant="big")  # reads every vector of the tenant through the map
        before = _resident_kb(data_file)
        db._store.map_pages.release()
        after = _resident_kb(data_file)
        assert before > 200 and after < before / 4
        # the pages come back on demand: results are unchanged
        assert recall(cur, flat, x[:10] + 0.1, "big") >= 0.95
        assert cur.stats()["index_stats"]["map_releases"] >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise release is Linux-only")
def test_writes_hand_back_map_pages_past_the_cache_budget(tmp_path, rng):
    budget = 1 << 20
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=budget) as db:
        col = db.create_collection("c", dim=64, index="flat")
        x = rng.normal(size=(2000, 64)).astype(np.float32)
        for lo in range(0, 40_000, 2000):  # ~10 MB of vectors through the map, ten times the budget
            col.upsert(np.arange(lo, lo + 2000), x, tenants="t")
        assert db._store.map_pages.releases >= 2
        assert _resident_kb(tmp_path / "d" / "data.mdb") < 4 * budget // 1024


def test_directory_points_at_each_chunk_in_the_data_file(tmp_path, rng):
    """The query kernel reads chunks from data.mdb at the offsets the directory found through the map."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, _), x = _build(db, rng)
        cur.search(x[0], k=10, tenant="big")
        idx = cur._index
        d, tno = idx.disk.directory, cur._tenant_for_read("big")
        with idx.store.read() as txn:
            values = idx.postings.read_tenant(txn, tno)
            assert txn.id() == d.snapshot
        gp_of = idx.disk._gp_of[tno][1]
        nodes = idx._view(tno).t_node
        checked = 0
        for gp, node in zip(gp_of.tolist(), nodes.tolist(), strict=True):
            if d.n[gp] < 0:
                continue
            assert d.n[gp] == len(values.get(node, ()))
            for c, value in enumerate(values.get(node, ())):
                assert os.pread(d.fd, len(value), int(d.off[d.first[gp] + c])) == bytes(value)
                checked += 1
        assert checked >= 5


def test_writes_anywhere_between_searches_never_serve_moved_chunks(tmp_path, rng):
    """Every commit may move or reuse pages; searches after writes to the same collection and to another
    one must still read what LMDB holds now."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng)
        other = db.create_collection("other", dim=x.shape[1], index="curator")
        queries = x[rng.integers(len(x), size=10)] + 0.05
        for step in range(6):
            assert recall(cur, flat, queries, "big") >= 0.93
            other.upsert(np.arange(step * 500, step * 500 + 500), x[:500] + step, tenants="o")
            ids = rng.choice(len(x), 200, replace=False)
            moved = x[ids] + rng.normal(size=(200, x.shape[1])).astype(np.float32)
            _both((cur, flat), "upsert", ids, moved, tenants="big")
            x[ids] = moved
        assert cur.stats()["index_stats"]["mode"] == "disk"


def test_a_chunk_that_cannot_be_read_fails_the_search_loudly(tmp_path, rng):
    """A read that fails must not pass for a shorter posting: the search raises instead."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, _), x = _build(db, rng)
        cur.search(x[0], k=10, tenant="big")
        disk = cur._index.disk
        disk.clear()  # nothing cached: every posting is read again
        disk.directory.close()
        with pytest.raises(InternalError, match="could not be read"):
            cur.search(x[1], k=10, tenant="big")


def test_searches_between_deletes_with_a_cache_that_keeps_turning_over(tmp_path, rng):
    """Writes empty the posting directory while postings stay cached; hits moved ahead of eviction then
    evict others in the same step. Every search must still read what LMDB holds."""
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng, n=3000)
        live = np.arange(3000)
        seen = []
        for step in range(40):
            queries = x[rng.integers(len(x), size=5)] + rng.normal(size=(5, x.shape[1])).astype(np.float32) * 0.3
            seen.append(recall(cur, flat, queries, "big"))
            gone = rng.choice(live, 30, replace=False)
            _both((cur, flat), "delete", gone)
            fresh = gone + 100_000 * (step + 1)
            _both((cur, flat), "upsert", fresh, rng.normal(size=(30, x.shape[1])), tenants="big")
            live = np.union1d(np.setdiff1d(live, gone), fresh)
        assert np.mean(seen) >= 0.93 and min(seen) >= 0.8


def test_search_batch_runs_on_threads_and_matches_single_searches(tmp_path, rng):
    numba = pytest.importorskip("numba")
    with vecdb.open(tmp_path / "d", durable=False, cache_bytes=20_000) as db:
        (cur, flat), x = _build(db, rng)
        queries = x[rng.integers(len(x), size=60)] + rng.normal(size=(60, x.shape[1])).astype(np.float32) * 0.3
        single = [cur.search(q, k=10, tenant="big").ids for q in queries]
        before = numba.get_num_threads()
        numba.set_num_threads(2)
        try:
            ids, dists = cur.search_batch(queries, k=10, tenant="big")
        finally:
            numba.set_num_threads(before)
        assert [row.tolist() for row in ids] == [s.tolist() for s in single]
        assert np.isfinite(dists).all()
        assert cur._index.disk._pool is not None  # the batch ran on the searcher's threads
