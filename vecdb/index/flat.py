"""index="flat": exact search over a tenant's own vectors. The reference every approximate index is
tested against.

Nothing is persisted beyond the records themselves: a tenant's matrix is read from LMDB on its first
search and kept in an LRU cache bounded by `Settings.cache_bytes`; later writes patch cached matrices
(copy-on-write, so searches in flight keep a consistent snapshot without locks).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import lmdb
import numpy as np

from ..config import Settings
from ..kernels import METRIC_CODES, scan_topk_batch
from ..kernels.distances import normalize_rows
from ..storage import Store, tenants, vectors
from ..types import CollectionInfo
from .base import Change, VectorIndex

TenantMatrix = tuple[np.ndarray, np.ndarray]  # (ids int64[n], float32[n, dim] in index space)


class FlatIndex(VectorIndex):
    def __init__(self, store: Store, info: CollectionInfo, settings: Settings):
        self.store, self.info = store, info
        self.metric = METRIC_CODES[info.metric]
        self.budget = settings.cache_budget
        self._cache: OrderedDict[int, TenantMatrix] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Bumped on every publish: a matrix loaded from an older snapshot must not enter the cache.
        self._epoch = 0

    # ---- search ----------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, tenant: int) -> tuple[np.ndarray, np.ndarray]:
        ids, mat = self.tenant_matrix(tenant)
        rows, dists = scan_topk_batch(queries, mat, k, self.metric)
        if len(ids) == 0:
            return rows, dists  # all padding
        return np.where(rows >= 0, ids[np.maximum(rows, 0)], -1), dists

    def tenant_matrix(self, tno: int) -> TenantMatrix:
        with self._lock:
            hit = self._cache.get(tno)
            if hit is not None:
                self._cache.move_to_end(tno)
                return hit
            epoch = self._epoch
        loaded = self._load(tno)
        with self._lock:
            if self._epoch == epoch and tno not in self._cache:
                self._put(tno, loaded)
        return loaded

    def _load(self, tno: int) -> TenantMatrix:
        with self.store.read() as txn:
            ids = tenants.members(self.store, txn, self.info.id, tno)
            _, mat = vectors.get(self.store, txn, self.info.id, ids, self.info.dim)
        return ids, self._to_index_space(mat)

    def _to_index_space(self, mat: np.ndarray) -> np.ndarray:
        return normalize_rows(mat) if self.info.metric == "cosine" else mat

    def _put(self, tno: int, entry: TenantMatrix) -> None:
        old = self._cache.pop(tno, None)
        if old is not None:
            self._bytes -= old[1].nbytes
        self._cache[tno] = entry
        self._bytes += entry[1].nbytes
        while self._bytes > self.budget and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._bytes -= evicted[1].nbytes

    # ---- writes ----------------------------------------------------------------------------------

    def write(self, txn: lmdb.Transaction, change: Change) -> Callable[[], None]:
        return lambda: self._publish(change)

    def _publish(self, change: Change) -> None:
        with self._lock:
            self._epoch += 1
            for tno, (remove, add_ids, add_vecs) in self._deltas(change).items():
                ids, mat = self._cache[tno]
                keep = ~np.isin(ids, remove) if len(remove) else slice(None)
                ids = np.concatenate([ids[keep], add_ids])
                mat = np.concatenate([mat[keep], add_vecs]) if len(add_ids) else mat[keep]
                self._put(tno, (ids, np.ascontiguousarray(mat)))

    def _deltas(self, change: Change) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per cached tenant: (ids to remove, ids to add, their vectors)."""
        removes: dict[int, list[int]] = {}
        adds: dict[int, list[tuple[int, np.ndarray]]] = {}
        for vid, tnos in zip(change.removed_ids, change.removed_tenants, strict=True):
            for t in tnos:
                if int(t) in self._cache:
                    removes.setdefault(int(t), []).append(int(vid))
        for tno, ids in change.revoked:
            if tno in self._cache:
                removes.setdefault(tno, []).extend(int(i) for i in ids)
        for row, (vid, tnos) in enumerate(zip(change.added_ids, change.added_tenants, strict=True)):
            for t in tnos:
                if int(t) in self._cache:
                    adds.setdefault(int(t), []).append((int(vid), change.added_vectors[row]))
        for tno, ids, vecs in change.granted:
            if tno in self._cache:
                adds.setdefault(tno, []).extend(zip((int(i) for i in ids), vecs, strict=True))
        out = {}
        for tno in set(removes) | set(adds):
            pairs = adds.get(tno, [])
            add_ids = np.array([p[0] for p in pairs], dtype=np.int64)
            add_vecs = (np.stack([p[1] for p in pairs]) if pairs
                        else np.zeros((0, self.info.dim), np.float32))
            out[tno] = (np.array(removes.get(tno, []), dtype=np.int64), add_ids, add_vecs)
        return out

    def stats(self) -> dict:
        with self._lock:
            return {"cached_tenants": len(self._cache), "cache_bytes": self._bytes}

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._bytes = 0
