"""Search in disk mode: which postings to read (kernel), fetching them through the RAM cache, scanning
their codes (kernel) and reranking the best candidates on their exact vectors.

Only the shared tree and each tenant's subtree (TenantView without a slab) are in memory; posting rows
come from the cache or, on a miss, zero-copy from the LMDB map, and are copied into the cache.
"""

from __future__ import annotations

import numpy as np

from ..kernels.distances import normalize_rows, one_to_many
from ..kernels.postings import new_scan_state, plan_next, plan_start, scan_chunks, scan_codes, to_rerank
from ..storage import Store
from ..storage import vectors as vectors_store
from .posting_cache import PostingCache
from .postings import PostingStore
from .tenant_tree import TenantView

#: postings planned and scanned per step (each step tightens the bound that prunes the next)
_GROUP = 4


class DiskSearcher:
    def __init__(self, store: Store, cid: int, dim: int, metric: int, cosine: bool, postings: PostingStore,
                 cache_bytes: int):
        self.store, self.cid, self.dim, self.metric, self.cosine = store, cid, dim, metric, cosine
        self.postings = postings
        self.cache = PostingCache(cache_bytes, dim, postings.fmt)
        self.residual = postings.fmt == "int8"  # int8 codes are residuals from their leaf's centroid
        # Updated under the cache lock, which a query holds from its first read to its rerank.
        self.counters = {"queries": 0, "postings_read": 0, "posting_bytes_read": 0, "rows_scanned": 0, "reranked": 0}
        # Map pages reads leave resident are handed back once they pass the cache budget
        # (storage/residency.py).
        self._release_at = max(8 << 20, cache_bytes)

    def search(self, queries: np.ndarray, k: int, tno: int, view: TenantView, budget: int, prune: float,
               rerank: int, patience: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        dists = np.full((len(queries), k), np.inf, dtype=np.float32)
        width = max(k, rerank)
        for i, q in enumerate(queries):
            state = new_scan_state(k, width)
            with self.cache.lock, self.store.read(buffers=True) as txn:
                read = self._scan(txn, q, tno, view, k, budget, prune, patience, state)
                found = np.sort(to_rerank(state))  # id order: one forward pass over `vectors`
                exact = vectors_store.get_many(self.store, txn, self.cid, found, self.dim)
                self.counters["queries"] += 1
                self.counters["postings_read"] += read
                self.counters["reranked"] += len(found)
            ids[i], dists[i] = self._rerank(q, found, exact, k)
            self.store.map_pages.maybe_release(self._release_at)
        return ids, dists

    def _scan(self, txn, q: np.ndarray, tno: int, view: TenantView, k: int, budget: int, prune: float,
              patience: int, state) -> int:
        """Plan and scan a few postings at a time, each plan step dropping the subtrees that cannot beat
        the k-th smallest upper bound found so far. Like memory mode's adaptive stop, it also ends once
        `patience` postings in a row left that bound where it was and they held at least as many rows as
        it took to reach the last improvement (patience 0: off); -> postings read."""
        fd, fn, counters, limits = plan_start(len(view.t_node))
        hi_d = state[2]
        read = rows = useful = stale = 0
        while True:
            kth = hi_d[0]
            nodes, n = plan_next(q, view.centroids, view.radius, view.t_node, view.t_child_start,
                                    view.t_children, view.t_list_start, fd, fn, counters, limits, k, budget,
                                    prune, kth, _GROUP, self.metric)
            if n == 0:
                return read
            sizes = view.t_list_start[nodes[:n] + 1] - view.t_list_start[nodes[:n]]
            self._scan_group(txn, q, view.centroids, tno, view.t_node[nodes[:n]].tolist(), sizes.tolist(), state)
            read += n
            rows += int(sizes.sum())
            if hi_d[0] < kth or kth == np.inf:
                stale, useful = 0, rows
            else:
                stale += n
                if 0 < patience <= stale and rows - useful >= useful:
                    return read

    def _scan_group(self, txn, q: np.ndarray, centroids: np.ndarray, tno: int, nodes: list[int], sizes: list[int],
                    state) -> None:
        """The cached postings in one kernel call, then the misses in another. `sizes`: the lists' lengths
        in memory, which tell how many chunks each has in LMDB."""
        cache, residual = self.cache, self.residual
        starts, lens, misses = [], [], []
        for node, size in zip(nodes, sizes, strict=True):
            hit = cache.get((tno, node))
            if hit is None:
                misses.append((node, size))
            else:
                starts.append(hit[0])
                lens.append(hit[1])
        scanned = 0
        if starts:
            scanned = scan_codes(q, cache.ids, cache.refs, cache.scale, cache.sqnorm, cache.codes,
                                 np.array(starts, dtype=np.int64), np.array(lens, dtype=np.int64), centroids,
                                 residual, state, self.metric)
        if misses:
            scanned += self._scan_misses(txn, q, centroids, residual, tno, misses, state)
        self.counters["rows_scanned"] += scanned

    def _scan_misses(self, txn, q, centroids, residual, tno, misses, state) -> int:
        """Read the postings' chunks from the map in one call, make room for each posting in the cache
        (FIFO), then scan them and fill the cache in one kernel call over the raw values."""
        cache, cap = self.cache, self.postings.cap
        by_node = self.postings.read_many(txn, tno, misses)
        values, dest = [], []
        for node, chunks in by_node.items():
            start = cache.reserve((tno, node), self.postings.rows_in(chunks))
            values += chunks
            dest += [start + c * cap for c in range(len(chunks))] if start >= 0 else [-1] * len(chunks)
        sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        offsets = np.zeros(len(values), dtype=np.int64)
        np.cumsum(sizes[:-1], out=offsets[1:])
        nbytes = int(sizes.sum())
        self.counters["posting_bytes_read"] += nbytes
        buf = np.frombuffer(b"".join(values), dtype=np.uint8)
        return scan_chunks(q, buf, offsets, np.array(dest, dtype=np.int64), cache.ids, cache.refs, cache.scale,
                           cache.sqnorm, cache.codes, centroids, residual, state, self.metric)

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
            "map_releases": self.store.map_pages.releases,
        }
