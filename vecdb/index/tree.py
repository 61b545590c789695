"""The shared clustering tree: one hierarchy of centroids for all tenants.

Flat arrays with spare capacity (STYLE.md: trees as flat arrays). Node 0 is the root; the children of a
node are contiguous (`first_child`, `n_children`), leaves have no children. Nodes are only ever added
(a leaf that grows too big is split into children), so node ids are stable and arrays grow by
reallocation: a search holding the old arrays keeps a consistent view.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ..kernels.kmeans import descend, kmeans, subtree_radii


@dataclass
class TreeParams:
    branching: int = 16  # children per node when the tree is (re)built
    split_fanout: int = 4  # children made when one leaf overflows
    max_leaf: int = 1024  # a leaf holding more live vectors than this is split
    kmeans_iters: int = 12
    seed: int = 0


class SharedTree:
    def __init__(self, dim: int, capacity: int = 64):
        self.dim = dim
        self.n_nodes = 1
        self.centroids = np.zeros((capacity, dim), dtype=np.float32)
        self.parent = np.full(capacity, -1, dtype=np.int64)
        self.first_child = np.zeros(capacity, dtype=np.int64)
        self.n_children = np.zeros(capacity, dtype=np.int64)
        self.depth = np.zeros(capacity, dtype=np.int64)
        self.radius = np.zeros(capacity, dtype=np.float32)  # Euclidean, grows only (a safe bound)
        self._paths: dict[int, tuple[int, ...]] = {}

    @property
    def trained(self) -> bool:
        return self.n_nodes > 1

    def is_leaf(self, node: int) -> bool:
        return self.n_children[node] == 0

    def children(self, node: int) -> range:
        start = int(self.first_child[node])
        return range(start, start + int(self.n_children[node]))

    def path(self, leaf: int) -> tuple[int, ...]:
        """Nodes from the root down to `leaf` (cached: paths never change, the tree only grows)."""
        p = self._paths.get(leaf)
        if p is None:
            nodes = []
            node = leaf
            while node >= 0:
                nodes.append(node)
                node = int(self.parent[node])
            p = self._paths[leaf] = tuple(reversed(nodes))
        return p

    def path_totals(self, nodes: np.ndarray, sizes: np.ndarray) -> dict[int, int]:
        """For every node on the paths from the root to `nodes`, the sum of `sizes` of those at or below
        it (a tenant's per-node counts from its shortlists); a level of the tree at a time."""
        levels, weights = [], []
        cur, w = np.asarray(nodes, dtype=np.int64), np.asarray(sizes, dtype=np.int64)
        while len(cur):
            levels.append(cur)
            weights.append(w)
            up = self.parent[cur]
            keep = up >= 0
            cur, w = up[keep], w[keep]
        if not levels:
            return {}
        uniq, inv = np.unique(np.concatenate(levels), return_inverse=True)
        totals = np.zeros(len(uniq), dtype=np.int64)
        np.add.at(totals, inv, np.concatenate(weights))
        return dict(zip(uniq.tolist(), totals.tolist(), strict=True))

    def child_toward(self, leaves: np.ndarray, node: int) -> np.ndarray:
        """For vectors below `node` sitting at `leaves`, the child of `node` on the way to each."""
        cur = leaves.astype(np.int64, copy=True)
        for _ in range(int(self.depth[cur].max() - self.depth[node]) if len(cur) else 0):
            up = self.parent[cur]
            move = up != node
            if not move.any():
                break
            cur = np.where(move, up, cur)
        return cur

    def dfs_rank(self) -> np.ndarray:
        """Each node's position in a depth-first walk: sorting rows by their leaf's rank makes every
        subtree's rows one contiguous range."""
        rank = np.zeros(self.n_nodes, dtype=np.int64)
        stack = [0]
        pos = 0
        while stack:
            node = stack.pop()
            rank[node] = pos
            pos += 1
            stack.extend(reversed(self.children(node)))
        return rank

    def assign(self, X: np.ndarray, metric: int) -> np.ndarray:
        """Leaf of every row by greedy descent."""
        n = self.n_nodes
        return descend(X, self.centroids[:n], self.first_child[:n], self.n_children[:n], metric)

    # ---- growing -------------------------------------------------------------------------------

    def add_children(self, node: int, centroids: np.ndarray) -> range:
        k = len(centroids)
        self._reserve(self.n_nodes + k)
        start = self.n_nodes
        self.centroids[start:start + k] = centroids
        self.parent[start:start + k] = node
        self.depth[start:start + k] = self.depth[node] + 1
        self.first_child[node] = start
        self.n_children[node] = k
        self.n_nodes += k
        return range(start, start + k)

    def _reserve(self, n: int) -> None:
        cap = len(self.parent)
        if n <= cap:
            return
        new = max(n, 2 * cap)
        for name in ("centroids", "parent", "first_child", "n_children", "depth", "radius"):
            old = getattr(self, name)
            grown = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
            if name == "parent":
                grown[:] = -1
            grown[:cap] = old
            setattr(self, name, grown)  # readers holding the old array keep a consistent view

    def split_leaf(self, leaf: int, X: np.ndarray, params: TreeParams, metric: int) -> tuple[range, np.ndarray]:
        """Turn a leaf into the parent of k-means clusters of its vectors X; -> (children, label per row)."""
        k = max(2, min(params.split_fanout, len(X)))
        C, labels = kmeans(X, k, params.kmeans_iters, params.seed + leaf, metric)
        kids = self.add_children(leaf, C)
        return kids, np.asarray(kids.start + labels, dtype=np.int64)

    def grow_radii(self, X: np.ndarray, leaves: np.ndarray) -> bool:
        """Widen node radii to cover new vectors X at `leaves`; -> whether any radius grew."""
        if not len(X):
            return False
        r = subtree_radii(X, leaves, self.centroids, self.parent, self.n_nodes)
        grew = bool((r > self.radius[: self.n_nodes]).any())
        np.maximum(self.radius[: self.n_nodes], r, out=self.radius[: self.n_nodes])
        return grew

    def recompute_radii(self, X: np.ndarray, leaves: np.ndarray) -> None:
        self.radius[: self.n_nodes] = 0
        self.grow_radii(X, leaves)

    # ---- building ------------------------------------------------------------------------------

    @classmethod
    def build(cls, X: np.ndarray, n_total: int, params: TreeParams, metric: int) -> SharedTree:
        """Balanced hierarchical k-means on the sample X (rows of a data set of n_total vectors): nodes
        are split `branching` ways until a node would hold at most max_leaf / 2 of the full data."""
        tree = cls(X.shape[1], capacity=max(64, 4 * n_total // max(params.max_leaf, 1)))
        scale = n_total / max(len(X), 1)
        stack = [(0, np.arange(len(X)))]
        while stack:
            node, rows = stack.pop()
            if len(rows) * scale <= params.max_leaf / 2 or len(rows) < 2 * params.branching:
                continue
            k = params.branching
            C, labels = kmeans(np.ascontiguousarray(X[rows]), k, params.kmeans_iters, params.seed + node, metric)
            if np.bincount(labels).max() == len(rows):  # identical vectors: a split would repeat forever
                continue
            kids = tree.add_children(node, C)
            for i, child in enumerate(kids):
                stack.append((child, rows[labels == i]))
        if tree.trained:
            tree.centroids[0] = X.mean(axis=0)
        return tree

    # ---- persistence ---------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        n = self.n_nodes
        buf = io.BytesIO()
        np.savez(buf, centroids=self.centroids[:n], parent=self.parent[:n], first_child=self.first_child[:n],
                 n_children=self.n_children[:n], depth=self.depth[:n])
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes, dim: int) -> SharedTree:
        with np.load(io.BytesIO(raw)) as z:
            n = len(z["parent"])
            tree = cls(dim, capacity=max(64, 2 * n))
            tree.n_nodes = n
            for name in ("centroids", "parent", "first_child", "n_children", "depth"):
                getattr(tree, name)[:n] = z[name]
        return tree

    def nbytes(self) -> int:
        n = self.n_nodes
        return n * (self.dim * 4 + 8 * 4 + 4)
