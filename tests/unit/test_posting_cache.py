"""The FIFO ring of the disk-mode posting cache (kernels/disk_query.py): whatever the sequence of
reservations and invalidations, cached postings never overlap, stay inside the arena and account for the
rows held."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vecdb.index.posting_cache import PostingCache, SharedLock
from vecdb.index.postings import row_bytes
from vecdb.kernels.disk_query import COUNT, HEAD, WRAPS, _due_for_eviction, _refresh, ring_reserve

DIM = 4
ROWS = 50
POSTINGS = 20

ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, POSTINGS - 1), st.integers(0, 60)),
    st.tuples(st.just("invalidate"), st.integers(0, POSTINGS - 1), st.just(0)),
    st.tuples(st.just("refresh"), st.integers(0, POSTINGS - 1), st.just(0)),
), max_size=80)


def reserve(cache: PostingCache, gp: int, n: int) -> int:
    """What the query kernel does for a posting it reads."""
    return ring_reserve(cache.r_gp, cache.r_start, cache.meta, cache.slot_start, cache.slot_len, cache.rows_cap,
                        gp, n)


@given(ops)
def test_cached_postings_never_overlap_and_fit(sequence):
    cache = PostingCache(ROWS * row_bytes(DIM, "int8"), DIM, "int8")
    cache.grow(POSTINGS)
    assert cache.rows_cap == ROWS
    for op, gp, n in sequence:
        if op == "reserve":
            start = reserve(cache, gp, n)
            if n == 0 or n > ROWS:
                assert start == -1 and cache.slot(gp) is None
            else:
                assert cache.slot(gp) == (start, n)
                cache.ids[start:start + n] = gp
                cache.codes[start:start + n] = gp
        elif op == "refresh":  # what a hit near the ring's head does; the rows move with the posting
            if cache.slot(gp) is not None:
                n = cache.slot(gp)[1]
                _refresh(gp, cache.ids, cache.refs, cache.scale, cache.sqnorm, cache.codes, cache.slot_start,
                         cache.slot_len, cache.r_gp, cache.r_start, cache.meta)
                start, m = cache.slot(gp)
                assert m == n and (cache.ids[start:start + n] == gp).all()
                assert (cache.codes[start:start + n] == gp).all()
        else:
            cache.invalidate([gp])
            assert cache.slot(gp) is None
        spans = sorted(s for s in map(cache.slot, range(POSTINGS)) if s is not None)
        for (s1, n1), (s2, _) in zip(spans, spans[1:], strict=False):
            assert s1 + n1 <= s2, spans
        assert all(0 <= s and s + n <= ROWS for s, n in spans)
        assert cache.used_rows == sum(n for _, n in spans)
        assert cache.cached_postings == len(spans)
        assert cache.meta[COUNT] <= ROWS  # ring entries own disjoint rows
        assert cache.held_bytes <= cache.capacity_bytes


def test_newest_postings_stay_until_the_ring_comes_round():
    cache = PostingCache(10 * row_bytes(DIM, "fp32"), DIM, "fp32")
    cache.grow(4)
    assert [reserve(cache, gp, 3) for gp in range(3)] == [0, 3, 6]
    assert reserve(cache, 3, 3) == 0  # wraps: the oldest posting goes, the others stay
    assert cache.slot(0) is None and cache.slot(1) == (3, 3) and cache.slot(2) == (6, 3)
    cache.clear()
    assert cache.slot(1) is None and cache.used_rows == 0 and reserve(cache, 1, 2) == 0


def test_a_posting_in_use_is_moved_ahead_of_eviction():
    cache = PostingCache(12 * row_bytes(DIM, "int8"), DIM, "int8")
    cache.grow(6)
    assert [reserve(cache, gp, 3) for gp in range(3)] == [0, 3, 6]  # head at row 9
    assert _due_for_eviction(cache.meta, 9 % 12, 12) and not _due_for_eviction(cache.meta, 3, 12)
    cache.ids[0:3] = 7
    _refresh(0, cache.ids, cache.refs, cache.scale, cache.sqnorm, cache.codes, cache.slot_start, cache.slot_len,
             cache.r_gp, cache.r_start, cache.meta)  # posting 0 (rows 0-2) was next to go: now it is the newest
    assert cache.slot(0) == (9, 3) and (cache.ids[9:12] == 7).all()
    assert reserve(cache, 3, 3) == 0  # the ring comes round: posting 1 is now the oldest...
    assert reserve(cache, 4, 3) == 3 and cache.slot(1) is None and cache.slot(0) == (9, 3)  # ...and goes first


def test_shared_lock_excludes_writers_and_lets_readers_share():
    lock = SharedLock()
    with lock.shared(), lock.shared():  # readers share
        assert not lock.try_exclusive()
    assert lock.try_exclusive()
    lock.release_exclusive()
    order = []

    def write():
        with lock.exclusive():
            order.append("w")

    def read():
        with lock.shared():
            order.append("r")

    with lock.shared():
        writer = threading.Thread(target=write)
        writer.start()
        while not lock._waiting:  # the writer queues behind this reader
            time.sleep(0.001)
        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.05)
        assert order == []  # a new reader waits behind the queued writer
    writer.join()
    reader.join()
    assert order == ["w", "r"]


def _staged_posting(first_id: int):
    """(stage bytes, end of its value in them, rows) of one 5-row int8 posting, ids first_id.. first_id + 4."""
    import numpy as np

    from vecdb.index.postings import Rows

    rows = Rows(np.arange(5, dtype=np.int64) + first_id, np.arange(5, dtype=np.uint32), np.ones(5, np.float32),
                np.full(5, 2.0, np.float32), np.arange(5 * DIM, dtype=np.int8).reshape(5, DIM))
    value = rows.to_bytes("int8")
    stage = np.zeros(64 + len(value), np.uint8)
    stage[:len(value)] = np.frombuffer(value, np.uint8)
    return stage, -(-len(value) // 8) * 8, rows


def test_once_the_arena_is_full_a_posting_is_admitted_when_used_more_than_what_it_evicts():
    import numpy as np

    from vecdb.kernels.disk_query import admit

    cache = PostingCache(10 * row_bytes(DIM, "int8"), DIM, "int8")
    assert cache.rows_cap == 10
    cache.grow(3)
    stage, end, rows = _staged_posting(100)
    none = np.zeros(0, np.int64)

    def offer(g, hits=none):
        staged = np.array([[g, 0, end, 5]], np.int64) if g >= 0 else np.zeros((0, 4), np.int64)
        admit(stage, staged, len(staged), hits, len(hits), cache.ids, cache.refs, cache.scale, cache.sqnorm,
              cache.codes, cache.slot_start, cache.slot_len, cache.r_gp, cache.r_start, cache.meta, cache.freq,
              cache.uses)

    offer(0)
    offer(1)
    assert cache.slot(0) == (0, 5) and cache.slot(1) == (5, 5)  # filling for the first time: anything goes in
    cache.meta[WRAPS] = 1  # as the ring does when it comes round; posting 2 would evict posting 0 (used once)
    offer(2)
    assert cache.slot(2) is None  # used once, as often as what it would evict: not worth a copy
    offer(2)
    start, n = cache.slot(2)  # used twice: in, in posting 0's place
    assert (start, n) == (0, 5) and cache.slot(0) is None and cache.slot(1) == (5, 5)
    assert cache.ids[start:start + 5].tolist() == list(range(100, 105))
    assert (cache.codes[start:start + 5] == rows.codes).all() and (cache.sqnorm[start:start + 5] == 2).all()
    offer(-1, hits=np.array([1, 1, 1], np.int64))  # posting 1 is in use: about to be evicted, it moves ahead
    assert cache.slot(1) == (5, 5) and cache.meta[HEAD] == 10  # so posting 2 (2 uses) is next in line
    offer(0)
    assert cache.slot(0) is None and cache.slot(2) == (0, 5)  # 2 uses against 2: stays out
    offer(0)
    assert cache.slot(0) == (0, 5) and cache.slot(2) is None and cache.slot(1) == (5, 5)  # 3 against 2: in


def test_a_shared_release_without_an_acquire_is_an_error_not_a_stuck_writer():
    lock = SharedLock()
    lock.acquire_shared()
    lock.release_shared()
    with pytest.raises(RuntimeError, match="without acquire_shared"):
        lock.release_shared()
    assert lock.try_exclusive()  # the count did not go negative
