"""The FIFO ring of the disk-mode posting cache (kernels/disk_query.py): whatever the sequence of
reservations and invalidations, cached postings never overlap, stay inside the arena and account for the
rows held."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vecdb.index.posting_cache import PostingCache
from vecdb.index.postings import row_bytes
from vecdb.kernels.disk_query import COUNT, _due_for_eviction, _refresh, ring_reserve

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
