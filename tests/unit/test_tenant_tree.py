"""TenantTree: shortlists split past tau, fold back below tau // 2, and never nest."""

from __future__ import annotations

import numpy as np

from vecdb.index.base import group_by_tenant
from vecdb.index.tenant_tree import TenantTree, _without
from vecdb.index.tree import SharedTree, TreeParams


def _tree_and_leaves(rng):
    x = np.concatenate([rng.normal(size=(200, 2)) + c for c in ([0, 0], [20, 0], [0, 20], [20, 20])])
    x = x.astype(np.float32)
    tree = SharedTree.build(x, len(x), TreeParams(branching=4, max_leaf=200), metric=0)
    return tree, tree.assign(x, 0)


def _check_invariants(tt: TenantTree, tree: SharedTree, leaf_of):
    lists = set(tt.lists)
    for node in lists:  # list nodes never nest
        assert not (set(tree.path(node)[:-1]) & lists)
    for node, count in tt.counts.items():  # counts are exact
        below = [s for n, sl in tt.lists.items() if node in tree.path(n) for s in sl.tolist()]
        assert count == len(below)
    for node, slots in tt.lists.items():  # every slot sits on its leaf's path
        assert all(node in tree.path(int(leaf_of[s])) for s in slots.tolist())


def test_split_and_merge(rng):
    tree, leaf_of = _tree_and_leaves(rng)
    tt = TenantTree()
    touched: set[int] = set()
    tt.insert(np.arange(10), leaf_of, tree, tau=16, touched=touched)
    assert list(tt.lists) == [0] and tt.size == 10  # small: one shortlist at the root
    tt.insert(np.arange(10, 800, 3), leaf_of, tree, tau=16, touched=touched)
    assert 0 not in tt.lists and len(tt.lists) > 4
    _check_invariants(tt, tree, leaf_of)
    held = np.concatenate(list(tt.lists.values()))
    tt.remove(held[:-5], leaf_of, tree, tau=16, touched=touched)
    assert list(tt.lists) == [0] and tt.size == 5  # folded back into the root
    _check_invariants(tt, tree, leaf_of)
    tt.remove(held[-5:], leaf_of, tree, tau=16, touched=touched)
    assert tt.lists == {} and tt.counts == {}


def test_view_is_root_first_with_grouped_children(rng):
    tree, leaf_of = _tree_and_leaves(rng)
    tt = TenantTree()
    tt.insert(np.arange(800), leaf_of, tree, tau=8, touched=set())
    view = tt.compile(tree, np.zeros((800, 2), np.float32), np.arange(800), default_budget=100)
    assert view.t_node[0] == 0 and view.size == 800
    assert sorted(view.t_slots.tolist()) == list(range(800))
    for u in range(len(view.t_node)):
        for c in view.t_children[view.t_child_start[u]:view.t_child_start[u + 1]]:
            assert tree.parent[view.t_node[c]] == view.t_node[u]


def test_packed_copies_stay_within_their_budget(rng):
    from vecdb.index.tenant_tree import PackBudget

    tree, leaf_of = _tree_and_leaves(rng)
    slab = rng.normal(size=(800, 2)).astype(np.float32)
    budget = PackBudget(limit=100 * (2 + 12))  # room for 100 packed rows (2 int8, ref, scale, norm)
    first, second = TenantTree(budget), TenantTree(budget)
    first.insert(np.arange(80), leaf_of, tree, tau=16, touched=set())
    second.insert(np.arange(80, 160), leaf_of, tree, tau=16, touched=set())
    first.view = first.compile(tree, slab, np.arange(800), 100, pack_max=1000)
    second.view = second.compile(tree, slab, np.arange(800), 100, pack_max=1000)
    assert first.view.packed and not second.view.packed  # the second would overflow: it reads the slab
    assert budget.used == first.view.packed_bytes() == 80 * (2 + 12)
    c = first.view.codes  # row j codes list position j's slab row, as a residual from its list's node
    decoded = tree.centroids[c.refs] + c.scale[:, None] * c.codes
    np.testing.assert_allclose(decoded, slab[first.view.t_slots], atol=float(c.scale.max()))
    first.remove(np.arange(10), leaf_of, tree, tau=16, touched=set())  # invalidates: releases its bytes
    assert budget.used == 0
    second.view = None
    second.view = second.compile(tree, slab, np.arange(800), 100, pack_max=1000)
    assert second.view.packed


def test_building_on_identical_vectors_stops(rng):
    """k-means cannot split copies of one vector: the node stays a leaf instead of splitting forever."""
    x = np.concatenate([np.ones((300, 2)), rng.normal(size=(20, 2)) + 50]).astype(np.float32)
    tree = SharedTree.build(x, len(x), TreeParams(branching=3, max_leaf=8), metric=0)
    leaf_of = tree.assign(x, 0)
    assert tree.n_nodes < 60 and len(set(leaf_of[:300].tolist())) == 1


def test_removing_one_row_swaps_the_last_into_its_place():
    slots = np.array([5, 6, 7, 8], dtype=np.int64)
    assert _without(slots, [6]).tolist() == [5, 8, 7]
    assert _without(slots, [8]).tolist() == [5, 6, 7]
    assert _without(slots, [5, 7]).tolist() == [8, 6]
    assert _without(slots, [9]).tolist() == [5, 6, 7, 8]  # not there: nothing goes


def test_path_totals_give_the_counts_the_inserts_kept(rng):
    tree, leaf_of = _tree_and_leaves(rng)
    tt = TenantTree()
    tt.insert(rng.choice(800, 500, replace=False), leaf_of, tree, tau=16, touched=set())
    nodes = np.array(list(tt.lists), dtype=np.int64)
    sizes = np.array([len(tt.lists[n]) for n in nodes.tolist()], dtype=np.int64)
    assert tree.path_totals(nodes, sizes) == tt.counts
    assert tree.path_totals(np.zeros(0, np.int64), np.zeros(0, np.int64)) == {}


def test_group_by_tenant_gives_each_tenant_its_rows_in_order():
    a, b, none = np.array([1, 3], np.uint32), np.array([3], np.uint32), np.zeros(0, np.uint32)
    got = group_by_tenant([a, b, a, none, b])  # shared array objects, as one tenant list per batch gives
    assert {t: r.tolist() for t, r in got.items()} == {1: [0, 2], 3: [0, 1, 2, 4]}
    assert all(isinstance(t, int) for t in got)
    assert group_by_tenant([]) == {} and group_by_tenant([none]) == {}
