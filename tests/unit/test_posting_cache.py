"""The FIFO ring of the disk-mode posting cache: whatever the sequence of reservations and invalidations,
live postings never overlap, stay inside the arena and account for the rows held."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vecdb.index.posting_cache import PostingCache
from vecdb.index.postings import row_bytes

DIM = 4
ROWS = 50

ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 20), st.integers(0, 60)),
    st.tuples(st.just("invalidate"), st.integers(0, 20), st.just(0)),
), max_size=80)


@given(ops)
def test_live_postings_never_overlap_and_fit(sequence):
    cache = PostingCache(ROWS * row_bytes(DIM, "int8"), DIM, "int8")
    assert cache.rows_cap == ROWS
    for op, key, n in sequence:
        if op == "reserve":
            start = cache.reserve((1, key), n)
            if n > ROWS:
                assert start == -1 and (1, key) not in cache.entries
            else:
                assert cache.entries[(1, key)] == (start, n)
        else:
            cache.invalidate([(1, key)])
        spans = sorted(cache.entries.values())
        for (s1, n1), (s2, _) in zip(spans, spans[1:], strict=False):
            assert s1 + n1 <= s2, spans
        assert all(0 <= s and s + n <= ROWS for s, n in spans)
        assert cache.used_rows == sum(n for _, n in spans)
        assert cache.held_bytes <= cache.capacity_bytes


def test_hits_and_misses_are_counted():
    cache = PostingCache(10 * row_bytes(DIM, "fp32"), DIM, "fp32")
    assert cache.get((0, 1)) is None
    cache.reserve((0, 1), 3)
    assert cache.get((0, 1)) == (0, 3)
    assert (cache.hits, cache.misses) == (1, 1)
    cache.clear()
    assert cache.get((0, 1)) is None and cache.used_rows == 0
