"""One tenant's subtree of the shared tree (Curator): which nodes it reaches and its shortlists.

Invariant: a tenant's vectors under a node it reaches are either all in that node's shortlist (a "list
node") or the node is internal for the tenant and they sit further down. So list nodes never nest, the
tenant's internal nodes are exactly the ancestors of its list nodes, and membership is exact (no Bloom
filters): `counts` holds, for every node the tenant reaches, how many of its vectors are below.

A shortlist that grows past `tau` is pushed down one level (split); when an internal node's count falls
to `tau // 2` its subtree is folded back into one shortlist (merge). Small tenants therefore live in a
single shortlist at the root and are searched exhaustively.

Shortlists hold slab rows (int64 "slots"); the vectors live once in the index's slab, however many
tenants share them (a small tenant's view may add its own int8 codes of them, see `compile`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .postings import Rows, row_bytes
from .tree import SharedTree

EMPTY = np.zeros(0, dtype=np.int64)


class PackBudget:
    """Bytes of packed row copies an index may hold (shared by all its tenants' views)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def fits(self, nbytes: int) -> bool:
        return self.used + nbytes <= self.limit


@dataclass(frozen=True)
class TenantView:
    """Immutable flat arrays for the search kernel (see kernels/tree_search.py), plus the slab and tree
    arrays they index, captured together so a search never mixes generations."""

    t_node: np.ndarray
    t_child_start: np.ndarray
    t_children: np.ndarray
    t_list_start: np.ndarray
    t_slots: np.ndarray
    centroids: np.ndarray
    radius: np.ndarray
    slab: np.ndarray
    slab_ids: np.ndarray
    size: int
    default_budget: int
    codes: Rows | None = None  # a small tenant's rows packed as int8 codes, in list order (ids: slab rows)

    @property
    def packed(self) -> bool:
        return self.codes is not None

    def packed_bytes(self) -> int:
        if self.codes is None:
            return 0
        return sum(getattr(self.codes, f).nbytes for f in ("refs", "scale", "sqnorm", "codes"))  # ids: t_slots

    def nbytes(self) -> int:
        own = sum(a.nbytes for a in (self.t_node, self.t_child_start, self.t_children, self.t_list_start,
                                     self.t_slots))
        return own + self.packed_bytes()


class TenantTree:
    def __init__(self, budget: PackBudget | None = None) -> None:
        self.lists: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self._budget = budget
        self._view: TenantView | None = None

    @property
    def view(self) -> TenantView | None:
        """The compiled search view, or None when it must be compiled again."""
        return self._view

    @view.setter
    def view(self, new: TenantView | None) -> None:
        # Every replacement goes through here, so the shared budget always knows what packed copies exist.
        if self._budget is not None:
            old = self._view.packed_bytes() if self._view is not None else 0
            self._budget.used += (new.packed_bytes() if new is not None else 0) - old
        self._view = new

    @property
    def size(self) -> int:
        return self.counts.get(0, 0)

    # ---- writes (each returns nothing; touched list nodes are added to `touched`) -----------------

    def insert(self, slots: np.ndarray, leaf_of: np.ndarray, tree: SharedTree, tau: int, touched: set[int]) -> None:
        """Add slab rows: each goes to the list node on its leaf's path, or starts a new one where the
        path leaves the tenant's subtree."""
        pending: dict[int, list[int]] = {}
        counts, lists = self.counts, self.lists
        for s, leaf in zip(slots.tolist(), leaf_of[slots].tolist(), strict=True):
            for node in tree.path(leaf):
                c = counts.get(node, 0)
                counts[node] = c + 1
                if c == 0 or node in lists:
                    if c == 0:
                        lists[node] = EMPTY
                    pending.setdefault(node, []).append(s)
                    break
        for node, new in pending.items():
            lists[node] = np.concatenate([lists[node], np.array(new, dtype=np.int64)])
            touched.add(node)
        for node in pending:
            self._split_if_big(node, leaf_of, tree, tau, touched)
        self.view = None

    def remove(self, slots: np.ndarray, leaf_of: np.ndarray, tree: SharedTree, tau: int, touched: set[int]) -> None:
        """Drop slab rows (each must be held by this tenant)."""
        gone: dict[int, list[int]] = {}
        counts, lists = self.counts, self.lists
        for s, leaf in zip(slots.tolist(), leaf_of[slots].tolist(), strict=True):
            for node in tree.path(leaf):
                counts[node] -= 1
                if node in lists:
                    gone.setdefault(node, []).append(s)
                    break
        for node, rm in gone.items():
            kept = _without(lists[node], rm)
            touched.add(node)
            if len(kept):
                lists[node] = kept
            else:
                del lists[node]
        for node in [n for n, c in counts.items() if c <= 0]:
            del counts[node]
        for node in gone:
            self._merge_above(node, tree, tau, touched)
        self.view = None

    def normalise(self, leaf_of: np.ndarray, tree: SharedTree, tau: int, touched: set[int]) -> None:
        """Split every shortlist that is over tau where the tree now has children (after a rebuild)."""
        for node in list(self.lists):
            self._split_if_big(node, leaf_of, tree, tau, touched)
        self.view = None

    def remap(self, new_slot: np.ndarray) -> None:
        """Slab rows were compacted: old row r is now new_slot[r]."""
        for node, slots in self.lists.items():
            self.lists[node] = new_slot[slots]
        self.view = None

    def _split_if_big(self, node: int, leaf_of: np.ndarray, tree: SharedTree, tau: int, touched: set[int]) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            slots = self.lists.get(n)
            if slots is None or len(slots) <= tau or tree.is_leaf(n):
                continue
            del self.lists[n]
            touched.add(n)
            kids = tree.child_toward(leaf_of[slots], n)
            order = np.argsort(kids, kind="stable")
            uniq, starts = np.unique(kids[order], return_index=True)
            for child, part in zip(uniq.tolist(), np.split(slots[order], starts[1:]), strict=True):
                self.lists[child] = part
                self.counts[child] = len(part)
                touched.add(child)
                stack.append(child)

    def _merge_above(self, node: int, tree: SharedTree, tau: int, touched: set[int]) -> None:
        """Fold the highest internal ancestor of `node` whose count fell to tau // 2 into one shortlist."""
        for anc in tree.path(node)[:-1]:
            c = self.counts.get(anc)
            if c is None:
                return  # the whole branch is gone
            if anc not in self.lists and c <= tau // 2:
                self._fold(anc, tree, touched)
                return

    def _fold(self, top: int, tree: SharedTree, touched: set[int]) -> None:
        parts = []
        stack = [c for c in tree.children(top) if c in self.counts]
        while stack:
            n = stack.pop()
            del self.counts[n]
            touched.add(n)
            if n in self.lists:
                parts.append(self.lists.pop(n))
            else:
                stack.extend(c for c in tree.children(n) if c in self.counts)
        self.lists[top] = np.concatenate(parts) if parts else EMPTY
        touched.add(top)

    # ---- search view ---------------------------------------------------------------------------

    def compile(self, tree: SharedTree, slab: np.ndarray, slab_ids: np.ndarray, default_budget: int,
                pack_max: int = 0) -> TenantView:
        """The flat arrays of this subtree, root first, children grouped by parent.

        A tenant of at most `pack_max` vectors gets a packed copy of its rows while the shared
        `PackBudget` has room: int8 residual codes from the centroid of its list's node, in list order, so
        its search reads one contiguous block, a quarter of the float32 bytes, instead of rows scattered
        over the shared slab (memory latency dominates those searches), and reranks its few candidates on
        the slab. Over budget it searches the slab: slower, never wrong.
        """
        nodes = np.array(sorted(self.counts, key=lambda n: (int(tree.depth[n]), n)), dtype=np.int64)
        local = {n: i for i, n in enumerate(nodes.tolist())}
        parents = np.array([local[int(tree.parent[n])] for n in nodes[1:].tolist()], dtype=np.int64)
        order = np.argsort(parents, kind="stable")
        children = (order + 1).astype(np.int64)
        child_start = np.zeros(len(nodes) + 1, dtype=np.int64)
        np.cumsum(np.bincount(parents, minlength=len(nodes)), out=child_start[1:])
        lens = np.array([len(self.lists.get(n, EMPTY)) for n in nodes.tolist()], dtype=np.int64)
        list_start = np.zeros(len(nodes) + 1, dtype=np.int64)
        np.cumsum(lens, out=list_start[1:])
        slots = np.concatenate([self.lists[n] for n in nodes.tolist() if n in self.lists]) if self.lists else EMPTY
        packed = 0 < len(slots) <= pack_max
        if packed and self._budget is not None:
            mine = self._view.packed_bytes() if self._view is not None else 0
            per_row = row_bytes(slab.shape[1], "int8") - 8  # the ids are t_slots, already held
            packed = self._budget.fits(len(slots) * per_row - mine)
        codes = None
        if packed:  # residuals from each list's own node: a list's rows share one centroid, so a scan fetches one
            codes = Rows.encode(slots, slab[slots], np.repeat(nodes, lens), tree.centroids, "int8")
        return TenantView(nodes, child_start, children, list_start, slots, tree.centroids, tree.radius,
                          slab, slab_ids, self.size, default_budget, codes)

    def nbytes(self) -> int:
        lists = sum(a.nbytes for a in self.lists.values())
        return lists + 100 * len(self.counts) + (self.view.nbytes() if self.view is not None else 0)


def _without(slots: np.ndarray, remove: list[int]) -> np.ndarray:
    """slots minus `remove`, by _swap_remove; a batch mostly takes one row from a list, done directly."""
    if len(remove) == 1:
        pos = int((slots == remove[0]).argmax())
        if slots[pos] == remove[0]:
            out = slots[:-1].copy()
            if pos < len(out):
                out[pos] = slots[-1]
            return out
    return _swap_remove(slots, _keep_mask(slots, remove))


def _swap_remove(slots: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """slots[keep], but with each removed entry's place taken by one from the end rather than every later
    entry moving up: positions of the other entries stay, so only the stored posting chunks holding a
    hole or the tail change (index/postings.py rewrites chunks whose ids changed)."""
    n_keep = int(keep.sum())
    out = slots[:n_keep].copy()
    holes = np.flatnonzero(~keep[:n_keep])
    out[holes] = slots[n_keep:][keep[n_keep:]]
    return out


def _keep_mask(slots: np.ndarray, remove: list[int]) -> np.ndarray:
    """slots not in `remove`. A batch usually takes one or two rows from a shortlist, where a few
    vectorised comparisons cost ~1 us against ~20 us for np.isin's sort."""
    if len(remove) > 16:
        return ~np.isin(slots, np.array(remove, dtype=np.int64))
    keep = np.ones(len(slots), dtype=bool)
    for s in remove:
        keep &= slots != s
    return keep

