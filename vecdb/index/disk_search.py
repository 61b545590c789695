"""Search in disk mode: which postings to read (kernel), fetching them through the RAM cache, scanning
their codes (kernel) and reranking the best candidates on their exact vectors.

Only the shared tree and each tenant's subtree (TenantView without a slab) are in memory; posting rows
come from the cache or, on a miss, zero-copy from the LMDB map, and are copied into the cache.
"""

from __future__ import annotations

import numpy as np

from ..kernels.distances import normalize_rows, one_to_many
from ..kernels.postings import plan_postings, scan_codes
from ..storage import Store
from ..storage import vectors as vectors_store
from .posting_cache import PostingCache
from .postings import PostingStore
from .tenant_tree import TenantView

#: postings scanned between two checks of the stop bound
_GROUP = 4


def _one(x: int) -> np.ndarray:
    return np.array([x], dtype=np.int64)


class DiskSearcher:
    def __init__(self, store: Store, cid: int, dim: int, metric: int, cosine: bool, postings: PostingStore,
                 cache_bytes: int):
        self.store, self.cid, self.dim, self.metric, self.cosine = store, cid, dim, metric, cosine
        self.postings = postings
        self.cache = PostingCache(cache_bytes, dim, postings.fmt)
        self.counters = {"queries": 0, "postings_read": 0, "posting_bytes_read": 0, "rows_scanned": 0}

    def search(self, queries: np.ndarray, k: int, tno: int, view: TenantView, budget: int, prune: float,
               rerank: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        dists = np.full((len(queries), k), np.inf, dtype=np.float32)
        width = k if self.postings.fmt == "fp32" else max(k, rerank)
        for i, q in enumerate(queries):
            nodes, bounds, n = plan_postings(q, view.centroids, view.radius, view.t_node, view.t_child_start,
                                             view.t_children, view.t_list_start, k, budget, prune, self.metric)
            cand_d = np.full(width, np.inf, dtype=np.float32)
            cand_i = np.full(width, -1, dtype=np.int64)
            with self.cache.lock, self.store.read() as txn:
                read = self._scan(txn, q, view.centroids, tno, view.t_node[nodes[:n]].tolist(), bounds[:n], k,
                                  cand_d, cand_i)
                found = np.sort(cand_i[cand_i >= 0])  # id order: one forward pass over `vectors`
                exact = vectors_store.get_many(self.store, txn, self.cid, found, self.dim)
            ids[i], dists[i] = self._rerank(q, found, exact, k)
            self.counters["queries"] += 1
            self.counters["postings_read"] += read
        return ids, dists

    def _scan(self, txn, q: np.ndarray, centroids: np.ndarray, tno: int, nodes: list[int], bounds: np.ndarray,
              k: int, cand_d, cand_i) -> int:
        """Offer the rows of the planned postings to the candidate heap, a group at a time, until the
        k-th best candidate beats every remaining posting's bound (they cannot improve the top k);
        -> postings read."""
        floor = np.minimum.accumulate(bounds[::-1])[::-1]  # the best any posting from here on can hold
        done = 0
        while done < len(nodes):
            group = nodes[done:done + _GROUP]
            self._scan_group(txn, q, centroids, tno, group, cand_d, cand_i)
            done += len(group)
            if done < len(nodes) and np.partition(cand_d, k - 1)[k - 1] <= floor[done]:
                break
        return done

    def _scan_group(self, txn, q: np.ndarray, centroids: np.ndarray, tno: int, nodes: list[int], cand_d,
                    cand_i) -> None:
        """The cached postings in one kernel call, then each miss as soon as it is in the cache (a later
        miss may overwrite an earlier one)."""
        cache = self.cache
        qsq = np.float32(q @ q)
        residual = self.postings.fmt == "int8"

        def scan(rows, starts, lens) -> int:
            return scan_codes(q, qsq, rows.ids, rows.refs, rows.scale, rows.sqnorm, rows.codes, starts, lens,
                              centroids, residual, cand_d, cand_i, self.metric)
        starts, lens, misses = [], [], []
        for node in nodes:
            hit = cache.get((tno, node))
            if hit is None:
                misses.append(node)
            else:
                starts.append(hit[0])
                lens.append(hit[1])
        scanned = scan(cache, np.array(starts, dtype=np.int64), np.array(lens, dtype=np.int64))
        for node in misses:
            chunks, nbytes = self.postings.read_list(txn, tno, node)
            self.counters["posting_bytes_read"] += nbytes
            placed = cache.put((tno, node), chunks)
            if placed is not None:
                scanned += scan(cache, _one(placed[0]), _one(placed[1]))
                continue
            for c in chunks:  # bigger than the whole cache: scan it in the map
                scanned += scan(c, _one(0), _one(len(c)))
        self.counters["rows_scanned"] += scanned

    def _rerank(self, q: np.ndarray, ids: np.ndarray, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cosine and len(vecs):
            vecs = normalize_rows(vecs)
        prox = one_to_many(q, np.ascontiguousarray(vecs), self.metric)  # the same kernel as exact search
        order = np.argsort(prox, kind="stable")[:k]
        out_i = np.full(k, -1, dtype=np.int64)
        out_d = np.full(k, np.inf, dtype=np.float32)
        out_i[: len(order)] = ids[order]
        out_d[: len(order)] = prox[order]
        return out_i, out_d

    def invalidate(self, keys) -> None:
        with self.cache.lock:
            self.cache.invalidate(keys)

    def clear(self) -> None:
        with self.cache.lock:
            self.cache.clear()

    def stats(self) -> dict:
        c = self.cache
        looked = c.hits + c.misses
        return {
            **self.counters,
            "cache_hits": c.hits,
            "cache_misses": c.misses,
            "cache_hit_ratio": c.hits / looked if looked else 0.0,
            "cache_bytes": c.held_bytes,
            "cache_capacity_bytes": c.capacity_bytes,
            "cached_postings": len(c.entries),
        }
