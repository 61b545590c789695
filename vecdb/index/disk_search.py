"""Search in disk mode: one query kernel call (kernels/disk_query.py) plans the tenant's postings, scans
the cached ones and reads the others from the data file; then the best candidates are reranked on their
exact vectors.

Only the shared tree and each tenant's subtree (TenantView without a slab) are in memory, with the RAM
cache of postings and the posting directory (where each posting's chunks are in the file).
"""

from __future__ import annotations

import ctypes
import os
import weakref

import numpy as np

from ..errors import InternalError
from ..kernels.disk_query import BYTES, FAILED, HITS, MISSES, PROGRESS_SLOTS, READ, SCANNED, disk_scan
from ..kernels.distances import normalize_rows, one_to_many
from ..kernels.postings import new_scan_state, plan_start, to_rerank
from ..storage import Store
from .posting_cache import PostingCache, grown
from .postings import PostingStore, row_bytes
from .tenant_tree import TenantView
from .vector_reader import VectorReader


class PostingDirectory:
    """Where each posting's chunks sit in the LMDB data file, in one snapshot: so the query kernel reads
    them with no Python per posting.

    Any commit may move values (LMDB copies what it changes and reuses freed pages), so the directory
    belongs to one snapshot (transaction id) and starts empty in a newer one; a query only uses entries
    made in its own snapshot, whose pages its read transaction keeps as they are. Entries are made on
    demand, as queries reach postings."""

    def __init__(self, store: Store, postings: PostingStore):
        self.postings = postings
        self.psize = store.env.stat()["psize"]
        self.fd = os.open(store.path / "data.mdb", os.O_RDONLY)
        self._closer = weakref.finalize(self, os.close, self.fd)
        self.base = -1  # the map's address: a value's file offset is its address minus this
        self.first = np.zeros(0, dtype=np.int64)
        self.n = np.full(0, -1, dtype=np.int64)  # per gp: chunks, -1: not looked up in this snapshot
        self.off = np.zeros(1024, dtype=np.int64)  # per chunk entry: file offset of its value ...
        self.size = np.zeros(1024, dtype=np.int64)  # ... and the value's length
        self.used = 0
        self.snapshot = -1
        self.scratch = self._scratch(1)  # a chunk-sized buffer per chunk of the longest posting

    def _scratch(self, chunks: int) -> np.ndarray:
        value_bytes = 8 + self.postings.cap * row_bytes(self.postings.dim, self.postings.fmt)
        return np.empty((chunks, -(-value_bytes // 8) * 8), np.uint8)  # rows 8-byte aligned, for the ids

    def grow(self, postings: int) -> None:
        self.first = grown(self.first, postings, 0)
        self.n = grown(self.n, postings, -1)

    def use_snapshot(self, txn) -> None:
        if txn.id() != self.snapshot:
            self.n[:] = -1
            self.used = 0
            self.snapshot = txn.id()

    def look_up(self, txn, tno: int, lists: list[tuple[int, int, int]]) -> None:
        """Enter the chunks of (gp, node, rows in memory) lists of tenant tno."""
        found = self.postings.read_many(txn, tno, [(node, rows) for _, node, rows in lists])
        self._enter(found, [(gp, node) for gp, node, _ in lists])

    def look_up_tenant(self, txn, tno: int, gps: list[tuple[int, int]]) -> None:
        """Enter all of a tenant's (gp, node) lists, in one cursor pass over its postings."""
        self._enter(self.postings.read_tenant(txn, tno), gps)

    def _enter(self, found: dict[int, list], gps: list[tuple[int, int]]) -> None:
        for gp, node in gps:
            values = found.get(node, ())
            need = self.used + len(values)
            self.off = grown(self.off, need, 0)
            self.size = grown(self.size, need, 0)
            if len(values) > len(self.scratch):
                self.scratch = self._scratch(len(values))
            for i, v in enumerate(values):
                self.off[self.used + i] = self._address(v) - self._map_base(v)
                self.size[self.used + i] = len(v)
            self.first[gp] = self.used
            self.n[gp] = len(values)
            self.used = need

    @staticmethod
    def _address(value) -> int:
        return np.frombuffer(value, np.uint8).__array_interface__["data"][0]

    def _map_base(self, value) -> int:
        """The map's address, from any value's: every LMDB page starts with its page number (a value over
        half a page starts 16 bytes into an overflow page of its own, a smaller one inside a leaf page)."""
        if self.base < 0:
            page = self._address(value) & ~(self.psize - 1)
            self.base = page - ctypes.c_uint64.from_address(page).value * self.psize
        return self.base

    def close(self) -> None:
        self._closer()
        self.fd = -1  # a search that still holds this directory fails to read instead of reading a reused fd


class DiskSearcher:
    def __init__(self, store: Store, cid: int, dim: int, metric: int, cosine: bool, postings: PostingStore,
                 cache_bytes: int):
        self.store, self.cid, self.dim, self.metric, self.cosine = store, cid, dim, metric, cosine
        self.postings = postings
        self.cache = PostingCache(cache_bytes, dim, postings.fmt)
        self.directory = PostingDirectory(store, postings)
        self.vectors = VectorReader(store, cid, dim, max(1 << 20, cache_bytes // 4))
        self.residual = postings.fmt == "int8"  # int8 codes are residuals from their leaf's centroid
        self._gp: dict[tuple[int, int], int] = {}  # (tno, node) -> posting number
        self._gp_of: dict[int, tuple[TenantView, np.ndarray]] = {}  # tno -> (view, gp per local node)
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
                self.directory.use_snapshot(txn)
                # A commit not yet published may have replaced cached postings: bypass the cache till then.
                use_cache = txn.id() <= self.store.published
                self._scan(txn, q, tno, view, k, budget, prune, patience, state, use_cache)
                found = np.sort(to_rerank(state))  # id order: one forward pass over `vectors`
                exact = self.vectors.get_many(txn, found, self.directory.fd)
                self.counters["reranked"] += len(found)
            ids[i], dists[i] = self._rerank(q, found, exact, k)
            self.store.map_pages.maybe_release(self._release_at)
        return ids, dists

    def _scan(self, txn, q: np.ndarray, tno: int, view: TenantView, k: int, budget: int, prune: float,
              patience: int, state, use_cache: bool) -> None:
        """The query kernel, called again after each directory look-up it asks for."""
        gp_of = self._postings_of(tno, view, txn)
        cache, d = self.cache, self.directory
        fd, fn, frontier, limits = plan_start(len(view.t_node))
        prog = np.zeros(PROGRESS_SLOTS, dtype=np.int64)
        kth_at = np.zeros(1, dtype=np.float32)
        pending = np.zeros(4, dtype=np.int64)
        while True:
            n = disk_scan(q, view.centroids, view.radius, view.t_node, view.t_child_start, view.t_children,
                          view.t_list_start, gp_of, fd, fn, frontier, limits, prog, kth_at, pending, d.first, d.n,
                          d.off, d.size, d.fd, self.postings.cap, d.scratch, cache.ids, cache.refs, cache.scale,
                          cache.sqnorm, cache.codes, cache.slot_start, cache.slot_len, cache.r_gp, cache.r_start,
                          cache.meta, state, k, budget, prune, patience, self.residual, self.metric, use_cache)
            if n == 0:
                break
            lists = [(int(gp_of[u]), int(view.t_node[u]), int(view.t_list_start[u + 1] - view.t_list_start[u]))
                     for u in pending[:n]]
            d.look_up(txn, tno, [entry for entry in lists if d.n[entry[0]] < 0])
        if prog[FAILED]:
            raise InternalError(f"{int(prog[FAILED])} posting chunks of tenant {tno} could not be read from "
                                f"{self.store.path / 'data.mdb'}")
        cache.hits += int(prog[HITS])
        cache.misses += int(prog[MISSES])
        c = self.counters
        c["queries"] += 1
        c["postings_read"] += int(prog[READ])
        c["posting_bytes_read"] += int(prog[BYTES])
        c["rows_scanned"] += int(prog[SCANNED])

    def _postings_of(self, tno: int, view: TenantView, txn) -> np.ndarray:
        """The posting number of each of the tenant's local nodes (made again when its view changes). The
        first time a tenant is searched, all its postings go into the directory in one pass (later ones
        are looked up as queries reach them)."""
        known = self._gp_of.get(tno)
        if known is not None and known[0] is view:
            return known[1]
        nodes = view.t_node.tolist()
        gp_of = np.array([self._gp.setdefault((tno, node), len(self._gp)) for node in nodes], dtype=np.int64)
        self.cache.grow(len(self._gp))
        self.directory.grow(len(self._gp))
        self._gp_of[tno] = (view, gp_of)
        if known is None:
            self.directory.look_up_tenant(txn, tno, list(zip(gp_of.tolist(), nodes, strict=True)))
        return gp_of

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
            self.cache.invalidate([gp for gp in map(self._gp.get, keys) if gp is not None])

    def clear(self) -> None:
        with self.cache.lock:
            self.cache.clear()

    def close(self) -> None:
        with self.cache.lock:
            self.directory.close()

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
            "cached_postings": c.cached_postings,
            "map_releases": self.store.map_pages.releases,
            "rerank_pages_bytes": self.vectors.held_bytes,
            "rerank_fallbacks": self.vectors.fallbacks,
        }
