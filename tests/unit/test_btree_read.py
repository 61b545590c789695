"""Reading vectors by walking LMDB's B-tree with pread (kernels/btree_read.py, index/vector_reader.py)
must give exactly what LMDB gives, in every snapshot, for inline and overflow values."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecdb.config import Settings
from vecdb.index.vector_reader import VectorReader
from vecdb.storage import Store, vectors


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "env", Settings(durable=False))
    yield s
    s.close()


def _reader(store, cid, dim):
    fd = os.open(store.path / "data.mdb", os.O_RDONLY)
    return VectorReader(store, cid, dim, 1 << 20), fd


@pytest.mark.parametrize("dim", [8, 192, 1024])  # 32 B, 768 B (inline) and 4 KiB (overflow pages) values
def test_reads_match_lmdb_across_snapshots(store, rng, dim):
    n = 30_000 if dim <= 192 else 3_000  # a tree three levels deep for the inline sizes
    ids = rng.choice(10**12, n, replace=False)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    with store.write() as txn:
        vectors.put(store, txn, 3, ids, x)
        vectors.put(store, txn, 2, ids[:50], x[:50] + 1)  # neighbours in another collection
        vectors.put(store, txn, 4, ids[:50], x[:50] - 1)
    reader, fd = _reader(store, 3, dim)
    try:
        for step in range(4):
            with store.read() as txn:
                if step == 0:
                    assert txn.stat(store.dbs["vectors"])["depth"] >= (3 if dim <= 192 else 2)
                pick = np.sort(rng.choice(n, 300, replace=False))
                got = reader.get_many(txn, ids[pick], fd)
                assert np.array_equal(got, vectors.get_many(store, txn, 3, ids[pick], dim))
                assert np.array_equal(got, x[pick])
            # a new snapshot: some values change, some go, some arrive
            change = rng.choice(n, 500, replace=False)
            x[change] += 1
            with store.write() as txn:
                vectors.put(store, txn, 3, ids[change], x[change])
                vectors.delete(store, txn, 3, ids[change[:100]])
                vectors.put(store, txn, 3, ids[change[:100]], x[change[:100]])
        assert reader.fallbacks == 0
    finally:
        os.close(fd)


def test_reads_are_right_when_every_page_wants_the_same_slot(store, rng):
    """Rows go down the tree together, so two of them may need different pages that share a slot at the
    same level; with a single slot every page does."""
    from vecdb.kernels.btree_read import read_values

    n, dim = 20_000, 192
    ids = rng.choice(10**12, n, replace=False)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    with store.write() as txn:
        vectors.put(store, txn, 3, ids, x)
    reader, fd = _reader(store, 3, dim)
    try:
        with store.read() as txn:
            reader.use_snapshot(txn)
            pick = rng.choice(n, 200, replace=False)
            out = np.empty((200, 4 * dim), np.uint8)
            assert read_values(ids[pick], reader.prefix, reader.root, fd, reader.psize, reader.ranks[:1],
                               reader.kids[:1], reader.counts[:1], np.full(1, -1, np.int64), reader.scratch, out) == -1
            assert np.array_equal(out.view(np.float32), x[pick])
    finally:
        os.close(fd)


@pytest.mark.parametrize("n", [3, 2_000])  # one leaf page (the root), and a tree
def test_id_zero_is_told_from_the_collection_below(store, rng, n):
    """Leaf keys are compared by rank, and a key of a lower collection ranks 0, as id 0 does: the leaf
    that holds id 0 also holds the collection below's last keys, so the search must still find it."""
    dim = 192
    ids = np.arange(n, dtype=np.int64)
    x = rng.normal(size=(3, n, dim)).astype(np.float32)
    with store.write() as txn:
        for cid in (2, 3, 4):
            vectors.put(store, txn, cid, ids, x[cid - 2])
    reader, fd = _reader(store, 3, dim)
    try:
        with store.read() as txn:
            pick = np.array([0, 1, n - 1, 0])
            assert np.array_equal(reader.get_many(txn, ids[pick], fd), x[1][pick])
        assert reader.fallbacks == 0
    finally:
        os.close(fd)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**63 - 1), max_size=185), st.integers(0, 3), st.integers(0, 3),
       st.integers(0, 2**63 - 1), st.booleans())
def test_a_child_is_the_last_node_at_or_below_the_id(ranks, lower, higher, target, pick):
    """_child_index against a plain search, on pages that hold neighbouring collections' keys too (rank 0
    below, the maximum above) and on ids found in the page or between its keys."""
    from vecdb.kernels.btree_read import _child_index

    row = np.array([0] * (1 + lower) + sorted(ranks) + [2**64 - 1] * higher, dtype=np.uint64)
    if pick and ranks:
        target = ranks[target % len(ranks)]
    want = max(0, int(np.searchsorted(row, np.uint64(target), side="right")) - 1)
    assert _child_index(row[None, :], 0, len(row), np.uint64(target)) == want


@pytest.fixture
def hundred(store, rng):
    """100 vectors of dim 8 in collection 1, and a reader with the data file open."""
    x = rng.normal(size=(100, 8)).astype(np.float32)
    with store.write() as txn:
        vectors.put(store, txn, 1, np.arange(100), x)
    reader, fd = _reader(store, 1, 8)
    yield x, reader, fd
    if fd >= 0:
        os.close(fd)


def test_a_missing_vector_falls_back_to_lmdb(store, hundred):
    """A key the walk cannot find is not guessed at: LMDB answers (here: raising, as for any reader)."""
    x, reader, fd = hundred
    with store.read() as txn:
        assert np.array_equal(reader.get_many(txn, np.array([5, 7]), fd), x[[5, 7]])
        with pytest.raises(RuntimeError, match="missing"):
            reader.get_many(txn, np.array([5, 1000]), fd)
        assert reader.fallbacks == 1


def test_an_unreadable_file_falls_back_to_lmdb(store, hundred):
    x, reader, _ = hundred
    with store.read() as txn:
        assert np.array_equal(reader.get_many(txn, np.array([3, 4]), -1), x[[3, 4]])
    assert reader.fallbacks == 1


def test_a_rerank_that_cannot_walk_asks_lmdb(store, hundred):
    """VectorReader.top_k, the disk-mode rerank: when the walk fails (here: no readable file) LMDB reads
    the candidates, with the same result, and the fallback is counted."""
    from vecdb.kernels.disk_query import exact_top_k
    from vecdb.kernels.distances import L2
    from vecdb.kernels.postings import new_scan_state

    x, reader, fd = hundred
    q = x[7] + 0.01
    state = new_scan_state(3, 20)
    state[0][:], state[1][:] = 0.0, np.arange(20)  # lower bounds that exclude nothing
    state[2][:] = np.inf
    want = exact_top_k(q, np.arange(20), x[:20], 3, L2, False)
    with store.read() as txn:
        walked = reader.top_k(txn, q, state, 3, fd, L2, False)
        assert reader.fallbacks == 0
        asked = reader.top_k(txn, q, state, 3, -1, L2, False)
    assert reader.fallbacks == 1
    for got in (walked, asked):
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert asked[0][0] == 7 and asked[2] == 20  # LMDB's way reads every candidate


@pytest.mark.parametrize("slack", [0.0, 0.05, 1.0])  # tight, typical and useless lower bounds
def test_the_rerank_reads_what_can_be_in_the_top_k_and_stops_there(store, rng, slack):
    """kernels/disk_query.rerank reads candidates by lower bound and stops once the k-th exact distance is
    below every lower bound left: the result is the exact top k of all the candidates, however tight or
    loose the bounds, and with tight bounds it reads fewer than all of them."""
    from vecdb.kernels.disk_query import exact_top_k, rerank
    from vecdb.kernels.distances import L2
    from vecdb.kernels.postings import candidates, new_scan_state

    n, dim, k = 2_000, 16, 10
    x = rng.normal(size=(n, dim)).astype(np.float32)
    with store.write() as txn:
        vectors.put(store, txn, 1, np.arange(n), x)
    reader, fd = _reader(store, 1, dim)
    try:
        for _ in range(20):
            q = rng.normal(size=dim).astype(np.float32)
            pool = rng.choice(n, 60, replace=False)
            exact = ((x[pool] - q) ** 2).sum(1)
            lo = exact - slack * rng.random(60) * exact.mean()
            state = new_scan_state(k, 60)
            state[0][:], state[1][:] = lo, pool
            state[2][:] = np.sort(exact)[k - 1]  # the k-th upper bound: the k-th exact distance itself
            with store.read() as txn:
                reader.use_snapshot(txn)
                ids, dists, read = rerank(q, state, reader.prefix, reader.root, fd, reader.psize, reader.ranks,
                                          reader.kids, reader.counts, reader.tags, reader.scratch, k, L2, False)
            cands = np.sort(candidates(state)[0])
            want_i, want_d = exact_top_k(q, cands, x[cands], k, L2, False)
            assert np.array_equal(ids, want_i) and np.array_equal(dists, want_d)
            assert k <= read <= len(cands)
            if slack == 0.0:
                assert read == k  # exact bounds: nothing past the top k is read
    finally:
        os.close(fd)
