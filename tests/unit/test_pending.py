"""PendingState against a plain model: what each tenant may still see after a run of deletes and revokes."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vecdb.pending import EMPTY_STATE, member

IDS = st.lists(st.integers(0, 40), min_size=0, max_size=6, unique=True)
OPS = st.lists(st.tuples(st.sampled_from(["delete", "revoke"]), IDS, st.integers(0, 3)), max_size=40)


@given(OPS)
def test_pending_state_matches_a_model(ops):
    access = {i: set(range(i % 4 + 1)) for i in range(41)}  # id i is held by tenants 0..i%4
    stored = {i: np.array(sorted(ts), np.uint32) for i, ts in access.items()}
    state, model, tombstones = EMPTY_STATE, {i: set(ts) for i, ts in access.items()}, 0
    for op, ids, tno in ops:
        ids = np.array([i for i in ids if i in model and (op == "delete" or tno in model[i])], np.int64)
        if op == "delete":
            state = state.with_deleted(ids, [np.array(sorted(model[i]), np.uint32) for i in ids.tolist()])
            for i in ids.tolist():
                del model[i]
        else:
            state = state.with_revoked(tno, ids)
            for i in ids.tolist():
                model[i].discard(tno)
        tombstones += len(ids)
    everything = np.arange(41, dtype=np.int64)
    seen = state.effective(everything, [stored[i] for i in range(41)])
    assert [None if a is None else set(a.tolist()) for a in seen] == [model.get(i) for i in range(41)]
    for tno in range(4):
        hidden = state.hidden_from(tno).tolist()
        assert hidden == sorted(i for i, ts in access.items() if tno in ts and tno not in model.get(i, set()))
    assert state.size == tombstones
    assert state.touches(everything) == (tombstones > 0)
    assert not state.touches(np.array([41, 1000], np.int64))


def test_member_finds_ids_in_a_sorted_array():
    sorted_ids = np.array([2, 5, 9], np.int64)
    assert member(np.array([9, 0, 5, 10, 2], np.int64), sorted_ids).tolist() == [True, False, True, False, True]
    assert member(np.array([1], np.int64), sorted_ids[:0]).tolist() == [False]
