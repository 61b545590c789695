"""Search in disk mode: one query kernel call (kernels/disk_query.py) plans the tenant's postings, scans
the cached ones and reads the others from the data file; then the best candidates are reranked on their
exact vectors.

Only the shared tree and each tenant's subtree (TenantView without a slab) are in memory, with the RAM
cache of postings and the posting directory (where each posting's chunks are in the file).
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ..errors import InternalError
from ..kernels.disk_query import (
    BYTES,
    FAILED,
    GROUP,
    HITS,
    MISSES,
    PROGRESS_SLOTS,
    QUERIES,
    READ,
    RERANKED,
    SCANNED,
    STAGED,
    admit,
    disk_scan,
    start_query,
    tally,
)
from ..kernels.postings import new_scan_state
from ..storage import Store
from .posting_cache import PostingCache, grown
from .postings import PostingStore
from .tenant_tree import TenantView
from .vector_reader import VectorReader

_STAGE_BYTES = 2 << 20  # postings one query may stage for the cache (per thread) ...
_STAGE_CHUNKS = 256  # ... (room for their chunk headers and alignment)


class PostingDirectory:
    """Where each posting's chunks sit in the LMDB data file, in one snapshot: so the query kernel reads
    them with no Python per posting.

    Any commit may move values (LMDB copies what it changes and reuses freed pages), so the directory
    belongs to one snapshot (transaction id) and starts empty in a newer one; a query only uses entries
    made in its own snapshot, whose pages its read transaction keeps as they are. Entries are made on
    demand, as queries reach postings, while other queries' kernels may be reading the arrays: an entry's
    chunk count is written last, and arrays that must grow are replaced all four at once (`arrays`), so a
    kernel always holds a consistent set."""

    def __init__(self, store: Store, postings: PostingStore):
        self.postings = postings
        self.psize = store.env.stat()["psize"]
        self.fd = os.open(store.path / "data.mdb", os.O_RDONLY)
        self._closer = weakref.finalize(self, os.close, self.fd)
        self.base = -1  # the map's address: a value's file offset is its address minus this
        # per gp: its first chunk entry and its chunks (-1: not looked up in this snapshot); per chunk
        # entry: the file offset of its value and the value's length
        self.arrays = (np.zeros(0, np.int64), np.full(0, -1, np.int64), np.zeros(1024, np.int64),
                       np.zeros(1024, np.int64))
        self.used = 0
        self.snapshot = -1
        self.lock = threading.Lock()  # serialises look-ups (and posting numbering, see DiskSearcher)

    first = property(lambda self: self.arrays[0])
    n = property(lambda self: self.arrays[1])
    off = property(lambda self: self.arrays[2])
    size = property(lambda self: self.arrays[3])

    def grow(self, postings: int, entries: int = 0) -> None:
        first, n, off, size = self.arrays
        if postings > len(n) or entries > len(off):
            self.arrays = (grown(first, postings, 0), grown(n, postings, -1), grown(off, entries, 0),
                           grown(size, entries, 0))

    def use_snapshot(self, txn) -> None:
        """Start over in txn's snapshot (the caller keeps every query's kernel out meanwhile)."""
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
            self.grow(0, need)
            first, n, off, size = self.arrays
            for i, v in enumerate(values):
                off[self.used + i] = self._address(v) - self._map_base(v)
                size[self.used + i] = len(v)
            first[gp] = self.used
            n[gp] = len(values)  # last: a kernel reading concurrently takes the entry once this is set
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


class QueryBuffers:
    """One thread's query buffers, reused from query to query (fresh arrays cost more than a small
    query's own work): the scan state, the plan's frontier, the kernel's progress, and what it lists
    for admission, with the bytes it stages; and the thread's running totals for stats()."""

    def __init__(self, stage_bytes: int):
        self.stage = np.empty(stage_bytes // 8, np.int64).view(np.uint8)
        self.k = self.width = -1
        self.state: tuple = ()
        self.fd, self.fn = np.empty(0, np.float32), np.empty(0, np.int64)
        self.staged, self.hit_gps = np.empty((0, 4), np.int64), np.empty(0, np.int64)
        self.counters, self.limits = np.zeros(2, np.int64), np.zeros(1, np.float64)
        self.prog, self.kth_at = np.zeros(PROGRESS_SLOTS, np.int64), np.zeros(1, np.float32)
        self.pending = np.zeros(GROUP, np.int64)
        self.totals = np.zeros(RERANKED + 1, np.int64)  # progress slots, then queries and reranked

    def start(self, k: int, width: int, nodes: int) -> None:
        """Ready for a query of (k, width) on a tenant subtree of `nodes` nodes."""
        if (k, width) != (self.k, self.width):
            self.state, self.k, self.width = new_scan_state(k, width), k, width
        if len(self.fn) < nodes:
            size = max(nodes, 2 * len(self.fn), 64)
            self.fd, self.fn = np.empty(size, np.float32), np.empty(size, np.int64)
            self.staged, self.hit_gps = np.empty((size, 4), np.int64), np.empty(size, np.int64)
        start_query(self.state, self.fd, self.fn, self.counters, self.limits, self.prog, self.kth_at, nodes)


class QueryTotals:
    """The running totals of every thread's QueryBuffers. Holds only their small `totals` arrays, and
    folds a thread's into `retired` once its buffers are gone (a thread that ended), so threads that come
    and go neither lose counts nor keep their staging memory alive."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: dict[int, np.ndarray] = {}
        self._retired = np.zeros(RERANKED + 1, np.int64)

    def track(self, b: QueryBuffers) -> None:
        with self._lock:
            self._live[id(b)] = b.totals
        weakref.finalize(b, self._retire, id(b))

    def _retire(self, key: int) -> None:
        with self._lock:
            self._retired += self._live.pop(key)

    def sum(self) -> list[int]:
        with self._lock:
            return sum(self._live.values(), self._retired.copy()).tolist()


class DiskSearcher:
    """Disk-mode queries of one collection; any number may run at once (see PostingCache.lock)."""

    def __init__(self, store: Store, cid: int, dim: int, metric: int, cosine: bool, postings: PostingStore,
                 cache_bytes: int):
        self.store, self.cid, self.dim, self.metric, self.cosine = store, cid, dim, metric, cosine
        self.postings = postings
        self.cache = PostingCache(cache_bytes, dim, postings.fmt)
        self.directory = PostingDirectory(store, postings)
        self.vectors = VectorReader(store, cid, dim, max(1 << 20, cache_bytes // 4))
        self._vectors_lock = threading.Lock()  # its branch pages and scratch are shared
        self.residual = postings.fmt == "int8"  # int8 codes are residuals from their leaf's centroid
        self._gp: dict[tuple[int, int], int] = {}  # (tno, node) -> posting number
        self._gp_of: dict[int, tuple[TenantView, np.ndarray]] = {}  # tno -> (view, gp per local node)
        self._pool_lock = threading.Lock()
        self._totals = QueryTotals()
        # Postings a query read are staged per thread, then admitted to the cache (at most what it holds).
        self._stage_bytes = min(self.cache.capacity_bytes, _STAGE_BYTES) + 8 * _STAGE_CHUNKS
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None  # search_batch's threads, made on first use
        self._pool_size = 0
        # Map pages reads leave resident are handed back once they pass the cache budget or
        # Settings.map_resident_bytes, whichever is smaller (storage/residency.py).
        self._release_at = max(8 << 20, store.settings.map_resident_budget)

    def search(self, queries: np.ndarray, k: int, tno: int, view: TenantView, budget: int, prune: float,
               rerank: int, patience: int) -> tuple[np.ndarray, np.ndarray]:
        """One query at a time in this thread; a batch on all cores."""
        width = max(k, rerank)
        if len(queries) == 1:
            i, d = self._search_one(queries[0], k, tno, view, budget, prune, width, patience)
            return i[None, :], d[None, :]
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        dists = np.full((len(queries), k), np.inf, dtype=np.float32)

        def one(i: int) -> None:
            ids[i], dists[i] = self._search_one(queries[i], k, tno, view, budget, prune, width, patience)

        threads = min(len(queries), numba.get_num_threads())
        if threads <= 1:
            for i in range(len(queries)):
                one(i)
        else:
            list(self._executor(threads).map(one, range(len(queries))))
        return ids, dists

    def _executor(self, threads: int) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None or self._pool_size < threads:
                old, self._pool = self._pool, ThreadPoolExecutor(threads, thread_name_prefix="vecdb-disk")
                self._pool_size = threads
                if old is not None:
                    old.shutdown(wait=False)
            return self._pool

    def _search_one(self, q: np.ndarray, k: int, tno: int, view: TenantView, budget: int, prune: float,
                    width: int, patience: int) -> tuple[np.ndarray, np.ndarray]:
        b = self._buffers()
        b.start(k, width, len(view.t_node))
        while True:
            with self.store.read(buffers=True) as txn:
                if txn.id() != self.directory.snapshot:
                    with self.cache.lock.exclusive():
                        if txn.id() < self.directory.snapshot:
                            continue  # a newer snapshot is in use: take a newer transaction
                        self.directory.use_snapshot(txn)
                self.cache.lock.acquire_shared()
                try:
                    if txn.id() != self.directory.snapshot:
                        continue  # moved on again before this query got in
                    # A commit not yet published may have replaced cached postings: bypass the cache.
                    snapshot = txn.id()
                    use_cache = snapshot <= self.store.published
                    generation = self.cache.generation
                    ids, dists = self._scan_and_rerank(txn, q, tno, view, k, budget, prune, patience, b, use_cache)
                finally:
                    self.cache.lock.release_shared()
                break
        if use_cache:
            self._admit(b.stage, b.staged[:b.prog[STAGED]], b.hit_gps[:b.prog[HITS]], generation, snapshot)
        self.store.map_pages.maybe_release(self._release_at)
        return ids, dists

    def _scan_and_rerank(self, txn, q, tno, view, k, budget, prune, patience, b: QueryBuffers, use_cache):
        """The query kernel, called again after each directory look-up it asks for; then the exact top k
        among the candidates that may be in it. -> (ids, proxies)."""
        gp_of = self._postings_of(tno, view, txn)
        cache, d, prog = self.cache, self.directory, b.prog
        while True:
            first, n_chunks, off, size = d.arrays
            n = disk_scan(q, view.centroids, view.radius, view.t_node, view.t_child_start, view.t_children,
                          view.t_list_start, gp_of, b.fd, b.fn, b.counters, b.limits, prog, b.kth_at, b.pending,
                          first, n_chunks, off, size, d.fd, self.postings.cap, cache.ids, cache.refs, cache.scale,
                          cache.sqnorm, cache.codes, cache.slot_start, cache.slot_len, b.stage, b.staged, b.hit_gps,
                          b.state, k, budget, prune, patience, self.residual, self.metric, use_cache)
            if n == 0:
                break
            lists = [(int(gp_of[u]), int(view.t_node[u]), int(view.t_list_start[u + 1] - view.t_list_start[u]))
                     for u in b.pending[:n]]
            with d.lock:
                d.look_up(txn, tno, [entry for entry in lists if d.n[entry[0]] < 0])
        if prog[FAILED]:
            raise InternalError(f"{int(prog[FAILED])} posting chunks of tenant {tno} could not be read from "
                                f"{self.store.path / 'data.mdb'}")
        with self._vectors_lock:
            ids, dists, reranked = self.vectors.top_k(txn, q, b.state, k, self.directory.fd, self.metric,
                                                      self.cosine)
        tally(b.totals, prog, reranked)
        return ids, dists

    def _buffers(self) -> QueryBuffers:
        """This thread's query buffers."""
        b = getattr(self._local, "buffers", None)
        if b is None:
            b = self._local.buffers = QueryBuffers(self._stage_bytes)
            self._totals.track(b)
        return b

    def _admit(self, stage, staged: np.ndarray, hits: np.ndarray, generation: int, snapshot: int) -> None:
        """Put what a query read into the cache, unless that would mean waiting for other queries (then
        those postings stay uncached), or a write dropped postings since the query read them, or its
        snapshot is older than the last commit (that commit's drops may already be done, and what the
        query read may be what they dropped; a commit after this check drops it after this admission)."""
        if not (len(staged) or len(hits)) or not self.cache.lock.try_exclusive():
            return
        try:
            c = self.cache
            if c.generation == generation and snapshot >= self.store.committed:
                admit(stage, staged, len(staged), hits, len(hits), c.ids, c.refs, c.scale, c.sqnorm, c.codes,
                      c.slot_start, c.slot_len, c.r_gp, c.r_start, c.meta, c.freq, c.uses)
        finally:
            self.cache.lock.release_exclusive()

    def _postings_of(self, tno: int, view: TenantView, txn) -> np.ndarray:
        """The posting number of each of the tenant's local nodes (made again when its view changes). The
        first time a tenant is searched, all its postings go into the directory in one pass (later ones
        are looked up as queries reach them)."""
        known = self._gp_of.get(tno)
        if known is not None and known[0] is view:
            return known[1]
        with self.directory.lock:
            known = self._gp_of.get(tno)
            if known is not None and known[0] is view:
                return known[1]
            nodes = view.t_node.tolist()
            gp_of = np.array([self._gp.setdefault((tno, node), len(self._gp)) for node in nodes], dtype=np.int64)
            # Other queries' kernels keep the old arrays, which stay right while no one holds the cache
            # exclusively (nothing is admitted or dropped).
            self.cache.grow(len(self._gp))
            self.directory.grow(len(self._gp))
            if known is None:
                self.directory.look_up_tenant(txn, tno, list(zip(gp_of.tolist(), nodes, strict=True)))
            self._gp_of[tno] = (view, gp_of)
        return gp_of

    def invalidate(self, keys) -> None:
        with self.cache.lock.exclusive():
            self.cache.invalidate([gp for gp in map(self._gp.get, keys) if gp is not None])

    def clear(self) -> None:
        with self.cache.lock.exclusive():
            self.cache.clear()

    def close(self) -> None:
        with self.cache.lock.exclusive():
            self.directory.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def stats(self) -> dict:
        c = self.cache
        t = self._totals.sum()
        looked = t[HITS] + t[MISSES]
        return {
            "queries": t[QUERIES],
            "postings_read": t[READ],
            "posting_bytes_read": t[BYTES],
            "rows_scanned": t[SCANNED],
            "reranked": t[RERANKED],
            "cache_hits": t[HITS],
            "cache_misses": t[MISSES],
            "cache_hit_ratio": t[HITS] / looked if looked else 0.0,
            "cache_bytes": c.held_bytes,
            "cache_capacity_bytes": c.capacity_bytes,
            "cached_postings": c.cached_postings,
            "map_releases": self.store.map_pages.releases,
            "rerank_pages_bytes": self.vectors.held_bytes,
            "rerank_fallbacks": self.vectors.fallbacks,
        }
