"""index="curator" (the default): one shared clustering tree, a subtree per tenant (Curator), searched
best-first in Numba.

In memory, per collection:
- the slab: every live vector once, in index space (`slab`, `slab_ids`, `leaf_of` per row), however many
  tenants share it; rows of deleted vectors are dead until compaction;
- an id -> row hash map (kernels/hashmap.py);
- the shared tree (tree.py);
- a TenantTree per tenant (tenant_tree.py), loaded from LMDB the first time the tenant is used.

In LMDB (sub-database `index`, keys after the collection's 4-byte id):
- `T`: the tree (npz); `R`: its node radii (float32); `M`: JSON state (rows at the last rebuild, whether
  the postings are current);
- `L` + id (8 bytes, big-endian): the vector's leaf (u32);
- `S` + tno (4) + node (4): one shortlist, as the ids it holds (int64);
- `P` + tno (4) + node (4) + chunk (4): the same shortlist as a posting list of ids and codes (postings.py).
Reopening reads the `L` keys (and, in memory mode, the slab from `vectors`); tenants load lazily; nothing
is rebuilt.

Two modes, chosen by `cache_bytes` (Settings.cache_budget) when the index loads: while every vector fits
in it, the slab is in RAM and searches scan it (memory mode); otherwise there is no slab, and searches read
the tenant's postings through a RAM cache of that size (disk mode, disk_search.py). Memory mode does not
keep postings (they would triple its write cost): its writes mark them stale in `M`, and disk mode builds
them afresh when it loads, or when a collection outgrows the budget while open and switches.

Before a collection holds `train_min` vectors the tree is a single root, so every search is exact. Once
it does, the tree is built by hierarchical k-means over all vectors and every tenant's shortlists are
pushed down; it is rebuilt the same way each time the collection grows `rebuild_growth`-fold, and in
between a leaf that outgrows `max_leaf` is split in place, so inserts that drift away from the training
data get their own clusters.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable
from functools import partial

import lmdb
import numpy as np

from ..config import Settings
from ..errors import InvalidArgumentError
from ..kernels import METRIC_CODES
from ..kernels.distances import L2, normalize_rows
from ..kernels.hashmap import hm_delete, hm_get, hm_new, hm_put
from ..kernels.packed_search import packed_search, packed_search_batch
from ..kernels.tree_search import tenant_search, tenant_search_batch
from ..storage import Store
from ..storage import tenants as tenants_store
from ..storage import vectors as vectors_store
from ..storage.env import cid_prefix, id_keys
from ..storage.residency import trim_heap
from ..types import CollectionInfo
from .base import Change, VectorIndex, group_by_tenant
from .disk_search import DiskSearcher
from .postings import PostingStore, Rows
from .tenant_tree import PackBudget, TenantTree, TenantView
from .tree import SharedTree, TreeParams

_U32 = struct.Struct("<I")

#: Options a collection may set at creation (`create_collection(..., index="curator", tau=...)`).
DEFAULTS = {
    "tau": 128,  # shortlist size past which a tenant's shortlist splits down a level
    "branching": 16,
    "max_leaf": 1024,
    "train_min": 4096,  # vectors before the first tree is built (until then search is exact)
    "rebuild_growth": 8.0,  # rebuild the tree each time the collection grows this many times over
    "min_budget": 2048,  # default cap on vectors scanned per query, at least ...
    "budget_fraction": 0.02,  # ... or this fraction of the tenant's vectors, whichever is larger
    "patience": 256,  # default adaptive stop: vectors scanned since the top k last improved (tree_search)
    "pack_max": 4096,  # tenants this small search a packed copy of their rows (locality), within cache_bytes
    "codes": "int8",  # posting codes: "int8" (a quarter of the bytes, exact rerank) or "fp32"
    "prune": -1.0,  # disk mode (SPANN): skip postings over (1 + prune) x the nearest centroid's distance; <0: off
    "rerank": 100,  # disk mode, packed tenants: candidates kept for the exact rerank (only possible top-k are read)
    "posting_pages": 1,  # pages per posting chunk; new collections record NEW_POSTING_PAGES (older ones had 1)
}
NEW_POSTING_PAGES = 4  # one read of up to 4 pages costs little more than one of 1 page (postings.py)
# Postings written by an older version are rebuilt when disk mode loads them. 2: before it, an upsert that
# left a shortlist's ids in place could leave the vector's old code in the posting.
POSTINGS_VERSION = 2
CHOICES = {"codes": ("int8", "fp32")}


def check_options(options: dict) -> dict:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise InvalidArgumentError(
            f"unknown curator option(s) {sorted(unknown)}: expected some of {sorted(DEFAULTS)}")
    out = dict(DEFAULTS)
    for key, value in options.items():
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise InvalidArgumentError(f"curator option {key}={value!r} must be one of {CHOICES[key]}")
            out[key] = value
            continue
        kind = float if isinstance(DEFAULTS[key], float) else int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise InvalidArgumentError(f"curator option {key}={value!r} must be a positive number")
        out[key] = kind(value)
    if out["max_leaf"] < 8 or out["tau"] < 2:
        raise InvalidArgumentError("curator needs max_leaf >= 8 and tau >= 2")
    if out["posting_pages"] > 64:
        raise InvalidArgumentError(f"curator option posting_pages={out['posting_pages']} must be at most 64")
    return out


class CuratorIndex(VectorIndex):
    SEARCH_OPTIONS = frozenset({"budget", "patience", "prune", "rerank"})

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """The options a new collection records: the ones given, and its posting chunk size, which its
        postings' layout depends on (so a later default cannot change it)."""
        check_options(options)
        return {"posting_pages": NEW_POSTING_PAGES, **options}

    def __init__(self, store: Store, info: CollectionInfo, settings: Settings):
        self.store, self.info = store, info
        self.opts = check_options({k: v for k, v in info.options.items() if k in DEFAULTS})
        self.params = TreeParams(branching=self.opts["branching"], max_leaf=self.opts["max_leaf"])
        self.metric = METRIC_CODES[info.metric]
        # The tree partitions by Euclidean k-means except for cosine (unit vectors, where the two agree):
        # inner-product k-means on raw vectors sends everything to the longest centroid.
        self.tree_metric = self.metric if info.metric == "cosine" else L2
        self._unsplittable: set[int] = set()
        self.prefix = cid_prefix(info.id)
        self._lock = threading.RLock()
        self._tally_lock = threading.Lock()
        self._searched = [0, 0]  # memory mode: queries, vectors scanned (disk mode counts its own)
        self._loaded = False
        self.cache_budget = settings.cache_budget
        self.postings = PostingStore(store.dbs["index"], self.prefix, info.dim, self.opts["codes"],
                                     self.opts["posting_pages"])
        self.disk: DiskSearcher | None = None  # set in disk mode
        self._postings_current = False  # the `P` keys match the shortlists (memory mode lets them go stale)
        self.slab = None
        self._new_tenant_map()

    # ---- loading -------------------------------------------------------------------------------

    def _ensure_loaded(self, write_txn: lmdb.Transaction | None = None) -> None:
        """Load on first use. Disk mode needs current postings: if memory-mode writes left them stale,
        they are built here, in `write_txn` or a write transaction of their own (taking the store's
        write lock before the index lock, in the order writes take them)."""
        if self._loaded:
            return
        with self.store.write_lock, self._lock:
            if self._loaded:
                return
            with self.store.read() as txn:
                self._load(txn)
            if self.disk is not None and not self._postings_current:
                if write_txn is not None:
                    self._build_postings(write_txn)
                else:
                    with self.store.write() as txn:
                        self._build_postings(txn)
            self._loaded = True

    def _load(self, txn: lmdb.Transaction) -> None:
        db = self.store.dbs["index"]
        raw = txn.get(self.prefix + b"T", db=db)
        self.tree = SharedTree(self.info.dim) if raw is None else SharedTree.from_bytes(raw, self.info.dim)
        self._unsplittable = set()
        meta = json.loads(bytes(txn.get(self.prefix + b"M", db=db) or b"{}"))
        self.trained_rows = meta.get("trained_rows", 0)
        self._postings_current = (meta.get("postings_current", False)
                                  and meta.get("postings_version", 1) >= POSTINGS_VERSION)
        ids, leaves = self._read_leaves(txn)
        vecs = None
        if self._fits_in_memory(len(ids)):
            chunks = list(self._stream_vectors(txn))
            vecs = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros((0, self.info.dim), np.float32)
            if chunks and not np.array_equal(ids, np.concatenate([c[0] for c in chunks])):
                raise RuntimeError(f"index of collection {self.info.name!r} is out of step with its vectors")
        self._set_mode(vecs is not None)
        self._reset_slab(ids, vecs, leaves)
        self._relayout()
        self._new_tenant_map()
        if vecs is not None:  # the slab holds every vector now: the map pages just read duplicate it
            self.store.map_pages.release()
        radii = txn.get(self.prefix + b"R", db=db)
        if radii is not None and len(radii) == 4 * self.tree.n_nodes:
            self.tree.radius[: self.tree.n_nodes] = np.frombuffer(radii, dtype="<f4")
        else:
            self.tree.recompute_radii(np.zeros((0, self.info.dim), np.float32), np.zeros(0, np.int64))
            for chunk_ids, chunk in self._stream_vectors(txn):
                self.tree.grow_radii(chunk, self.leaf_of[self._slots(chunk_ids)])

    def _read_leaves(self, txn: lmdb.Transaction) -> tuple[np.ndarray, np.ndarray]:
        """(ids, leaves) from the `L` keys, in id order (the same order as `vectors.scan`)."""
        prefix = self.prefix + b"L"
        ids, leaves = [], []
        cur = txn.cursor(self.store.dbs["index"])
        if cur.set_range(prefix):
            for key, value in cur:
                if key[:5] != prefix:
                    break
                ids.append(key[5:])
                leaves.append(value)
        return (np.frombuffer(b"".join(ids), dtype=">u8").astype(np.int64),
                np.frombuffer(b"".join(leaves), dtype="<u4").astype(np.int64))

    def _fits_in_memory(self, n_vectors: int) -> bool:
        return n_vectors * self.info.dim * 4 <= self.cache_budget

    def _set_mode(self, in_memory: bool) -> None:
        if in_memory:
            self._close_disk()
        elif self.disk is None:
            self.disk = DiskSearcher(self.store, self.info.id, self.info.dim, self.metric,
                                     self.info.metric == "cosine", self.postings, self.cache_budget)

    def _stream_vectors(self, txn: lmdb.Transaction):
        """Every stored vector in index space, in id order, as (ids, float32[m, dim]) chunks."""
        for ids, vecs in vectors_store.scan(self.store, txn, self.info.id, self.info.dim):
            yield ids, self._index_space(vecs)

    def _vectors_by_id(self, txn: lmdb.Transaction, ids: np.ndarray) -> np.ndarray:
        """Index-space vectors of live ids: from the slab in memory mode, else from LMDB."""
        if self.slab is not None:
            return self.slab[self._slots(ids)]
        return self._index_space(vectors_store.get_many(self.store, txn, self.info.id, ids, self.info.dim))

    def _reset_slab(self, ids: np.ndarray, vecs: np.ndarray | None, leaves: np.ndarray) -> None:
        """Row tables for `ids`; the slab of their vectors only when `vecs` is given (memory mode)."""
        cap = max(1024, 2 * len(ids))
        self.slab = None if vecs is None else np.zeros((cap, self.info.dim), dtype=np.float32)
        self.slab_ids = np.full(cap, -1, dtype=np.int64)
        self.row_dead = np.zeros(cap, dtype=bool)
        self.leaf_of = np.zeros(cap, dtype=np.int64)
        self.n_rows = len(ids)
        if vecs is not None:
            self.slab[: self.n_rows] = vecs
        self.slab_ids[: self.n_rows] = ids
        self.leaf_of[: self.n_rows] = leaves
        self.n_dead = 0
        self.sorted_rows = 0  # rows [0, sorted_rows) are in depth-first leaf order (see _relayout)
        self.hm_keys, self.hm_vals = hm_new(len(ids))
        self.hm_used = hm_put(self.hm_keys, self.hm_vals, ids, np.arange(len(ids), dtype=np.int64))
        self.leaf_size = np.bincount(leaves, minlength=self.tree.n_nodes).astype(np.int64)

    def _new_tenant_map(self) -> None:
        """Forget all tenant subtrees (they reload lazily), with a fresh budget for packed copies: what
        the cache budget leaves beside the slab."""
        self._tenants: dict[int, TenantTree] = {}
        slab_bytes = 0 if self.slab is None else self.n_rows * self.info.dim * 4
        self._pack_budget = PackBudget(max(0, self.cache_budget - slab_bytes))

    def _tenant(self, tno: int, txn: lmdb.Transaction) -> TenantTree:
        tt = self._tenants.get(tno)
        if tt is None:
            tt = self._tenants[tno] = self._read_tenant(tno, txn)
        return tt

    def _read_tenant(self, tno: int, txn: lmdb.Transaction) -> TenantTree:
        tt = TenantTree(self._pack_budget)
        prefix = self.prefix + b"S" + tno.to_bytes(4, "big")
        nodes, values = [], []
        cur = txn.cursor(self.store.dbs["index"])
        if cur.set_range(prefix):
            for key, value in cur:
                if key[:9] != prefix:
                    break
                nodes.append(int.from_bytes(key[9:13], "big"))
                values.append(value)
        if not nodes:
            return tt
        # One id lookup and one count pass for all the tenant's shortlists, not one per list: the first
        # write after a reopen loads hundreds of tenants.
        sizes = np.array([len(v) // 8 for v in values], dtype=np.int64)
        slots = hm_get(self.hm_keys, self.hm_vals, np.frombuffer(b"".join(values), dtype="<i8").astype(np.int64))
        ends = np.cumsum(sizes).tolist()
        tt.lists = {node: slots[a:b] for node, a, b in zip(nodes, [0, *ends[:-1]], ends, strict=True)}
        tt.counts = self.tree.path_totals(np.array(nodes, dtype=np.int64), sizes)
        return tt

    # ---- search --------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, tenant: int, budget: int | None = None,
               patience: int | None = None, prune: float | None = None,
               rerank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """budget: the most vectors to scan (once k are found) — the recall/speed knob; default
        max(min_budget, budget_fraction * the tenant's vector count). patience: stop once this many vectors
        (and STALE_SHARE times those before) were scanned since the top k last improved; 0 turns the
        adaptive stop off. A budget given without a patience turns the adaptive stop off, so the budget
        alone decides. rerank: the most candidates kept for the exact rerank (disk mode, and packed tenants
        in memory). Disk mode only: prune (skip postings whose centroid is more than (1 + prune) times
        farther than the nearest; negative: off)."""
        view = self._view(tenant)
        if budget is None and patience is None:
            budget, patience = view.default_budget, self.opts["patience"]
        else:
            budget, patience = self._check_knobs(view, budget, patience)
        rerank = self.opts["rerank"] if rerank is None else _check_number("rerank", rerank, int, 1)
        if self.disk is not None:
            prune = self.opts["prune"] if prune is None else _check_number("prune", prune, float, -1.0)
            return self.disk.search(queries, k, tenant, view, budget, prune, rerank, patience)
        args = (view.centroids, view.radius, view.slab, view.slab_ids, view.t_node, view.t_child_start,
                view.t_children, view.t_list_start, view.t_slots)
        knobs = (k, int(budget), int(patience))
        if view.codes is None:
            one, many = tenant_search, tenant_search_batch
        else:  # a packed small tenant: scan its int8 codes, rerank on the slab
            c = view.codes
            one, many = packed_search, packed_search_batch
            args += (c.refs, c.scale, c.sqnorm, c.codes)
            knobs += (rerank,)
        if len(queries) == 1:
            ids, dists, scanned = one(queries[0], *args, *knobs, self.metric)
            self._tally(1, int(scanned))
            return ids[None, :], dists[None, :]
        ids, dists, scanned = many(queries, *args, *knobs, self.metric)
        self._tally(len(queries), int(scanned.sum()))
        return ids, dists

    def _tally(self, queries: int, scanned: int) -> None:
        with self._tally_lock:  # concurrent searches: += on a shared list is not atomic
            self._searched[0] += queries
            self._searched[1] += scanned

    def _check_knobs(self, view: TenantView, budget, patience) -> tuple[int, int]:
        if budget is None:
            budget = view.default_budget
            patience = self.opts["patience"] if patience is None else patience
        patience = 0 if patience is None else patience
        for name, value, low in (("budget", budget, 1), ("patience", patience, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InvalidArgumentError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(budget), int(patience)

    def _view(self, tno: int) -> TenantView:
        self._ensure_loaded()
        tt = self._tenants.get(tno)
        view = None if tt is None else tt.view
        if view is not None:
            return view
        with self._lock:
            tt = self._tenants.get(tno)
            if tt is None:
                with self.store.read() as txn:
                    tt = self._tenant(tno, txn)
            if tt.view is None:
                budget = max(self.opts["min_budget"], int(self.opts["budget_fraction"] * tt.size))
                pack_max = self.opts["pack_max"] if self.slab is not None else 0
                tt.view = tt.compile(self.tree, self.slab, self.slab_ids, budget, pack_max)
            return tt.view

    # ---- writes --------------------------------------------------------------------------------

    def write(self, txn: lmdb.Transaction, change: Change) -> Callable[[], None]:
        # In-memory state changes here, inside the transaction; a failed commit calls reset() so the
        # next use reloads from LMDB. Loading reads the last commit, i.e. the state before `change`
        # (the caller holds the write lock, so nothing commits in between).
        self._ensure_loaded(txn)
        with self._lock:
            touched: dict[int, set[int]] = {}
            # Revokes first: a Change may revoke a vector that it then removes (Change.then).
            for tno, ids in change.revoked:
                slots = self._slots(ids)
                self._tenant(tno, txn).remove(slots, self.leaf_of, self.tree, self.opts["tau"],
                                              touched.setdefault(tno, set()))
            if len(change.removed_ids):
                self._remove_vectors(txn, change.removed_ids, change.removed_tenants, touched)
            if len(change.added_ids):
                self._add_vectors(txn, change.added_ids, change.added_vectors, change.added_tenants, touched)
            for tno, ids, _ in change.granted:
                self._tenant(tno, txn).insert(self._slots(ids), self.leaf_of, self.tree, self.opts["tau"],
                                              touched.setdefault(tno, set()))
            publish = _noop
            if self._needs_rebuild():
                self._rebuild(txn)
                if self.disk is not None:
                    publish = self.disk.clear
            else:
                self._save_lists(txn, touched, self._fresh_rows(change), replaced=change.added_ids)
                if self.disk is not None:
                    publish = partial(self.disk.invalidate, [(t, n) for t, nodes in touched.items() for n in nodes])
            unsorted = self.n_rows - self.sorted_rows
            if self.n_dead > max(10_000, self.n_rows // 3) or unsorted > max(50_000, self.sorted_rows):
                self._relayout()
            if self.slab is not None and not self._fits_in_memory(self._live_rows()):
                self._to_disk_mode(txn)
        # The cache drops postings this write replaced only after the commit (publish), so a search
        # reading the last commit meanwhile cannot cache a version that is about to go stale.
        return publish

    def _fresh_rows(self, change: Change) -> Rows | None:
        """Posting rows of the vectors a write brings (disk mode: everything else must come from LMDB)."""
        if self.disk is None:
            return None
        ids = [change.added_ids] + [g[1] for g in change.granted]
        vecs = [np.zeros((0, self.info.dim), np.float32) if change.added_vectors is None else change.added_vectors]
        vecs += [g[2] for g in change.granted]
        ids = np.concatenate(ids)
        return self._encode(ids, np.concatenate(vecs), self.leaf_of[self._slots(ids)])

    def _encode(self, ids: np.ndarray, vecs: np.ndarray, leaves: np.ndarray) -> Rows:
        return Rows.encode(ids, vecs, leaves, self.tree.centroids, self.opts["codes"])

    def _encode_ids(self, txn: lmdb.Transaction, ids: np.ndarray) -> Rows:
        return self._encode(ids, self._vectors_by_id(txn, ids), self.leaf_of[self._slots(ids)])

    def _to_disk_mode(self, txn: lmdb.Transaction) -> None:
        """The vectors outgrew the cache budget: bring the postings up to date (from the slab, while it is
        there), then drop the slab and packed copies and read postings instead."""
        if not self._postings_current:
            self._build_postings(txn)
        self.slab = None
        for tt in self._tenants.values():
            tt.view = None
        self._set_mode(False)

    def _build_postings(self, txn: lmdb.Transaction) -> None:
        """Write every tenant's postings afresh from its shortlists (memory mode does not keep them)."""
        self.store.delete_prefix(txn, "index", self.prefix + b"P")
        # Not by the tenants' counts: those already leave out tombstoned vectors the index still holds.
        for _, tno, _count in tenants_store.list_all(self.store, txn, self.info.id):
            tt = self._tenant(tno, txn)
            lists = [(tno, node, None, self.slab_ids[slots]) for node, slots in tt.lists.items()]
            if lists:
                self.postings.sync(txn, lists, None, partial(self._encode_ids, txn), reuse_old=False)
        self._set_postings_current(txn, True)

    def _set_postings_current(self, txn: lmdb.Transaction, current: bool) -> None:
        if current != self._postings_current:
            self._postings_current = current
            self._save_meta(txn)

    def _save_meta(self, txn: lmdb.Transaction) -> None:
        meta = {"trained_rows": self.trained_rows, "postings_current": self._postings_current,
                "postings_version": POSTINGS_VERSION}
        txn.put(self.prefix + b"M", json.dumps(meta).encode(), db=self.store.dbs["index"])

    def reset(self) -> None:
        """Forget in-memory state (after a failed commit); it is reloaded from LMDB on next use."""
        with self._lock:
            self._loaded = False
            self.slab = None
            if self.disk is not None:
                self.disk.clear()
            self._new_tenant_map()

    def _slots(self, ids: np.ndarray) -> np.ndarray:
        slots = hm_get(self.hm_keys, self.hm_vals, np.ascontiguousarray(ids, dtype=np.int64))
        if (slots < 0).any():
            raise RuntimeError(f"index of collection {self.info.name!r} lost id {int(ids[slots < 0][0])}")
        return slots

    def _remove_vectors(self, txn, ids: np.ndarray, tenant_lists: list[np.ndarray], touched) -> None:
        slots = self._slots(ids)
        for tno, rows in group_by_tenant(tenant_lists).items():
            self._tenant(tno, txn).remove(slots[rows], self.leaf_of, self.tree, self.opts["tau"],
                                          touched.setdefault(tno, set()))
        np.subtract.at(self.leaf_size, self.leaf_of[slots], 1)
        # Dead rows keep their ids: a search already scanning them (an older view) still names them right.
        self.row_dead[slots] = True
        hm_delete(self.hm_keys, self.hm_vals, ids)
        self.n_dead += len(ids)
        db = self.store.dbs["index"]
        for key in id_keys(self.prefix + b"L", ids):
            txn.delete(key, db=db)

    def _add_vectors(self, txn, ids: np.ndarray, vecs: np.ndarray, tenant_lists: list[np.ndarray], touched) -> None:
        slots = self._append_rows(ids, vecs)
        leaves = self.tree.assign(vecs, self.tree_metric)
        self.leaf_of[slots] = leaves
        if self.tree.grow_radii(vecs, leaves):
            self._save_radii(txn)
        self._grow_leaf_sizes()
        np.add.at(self.leaf_size, leaves, 1)
        self._save_leaves(txn, ids, leaves)
        # Split overflowing leaves before the tenants place the new rows, so a batch that lands in one
        # leaf is spread over its new children instead of piling into one shortlist.
        self._split_big_leaves(txn)
        for tno, rows in group_by_tenant(tenant_lists).items():
            self._tenant(tno, txn).insert(slots[rows], self.leaf_of, self.tree, self.opts["tau"],
                                          touched.setdefault(tno, set()))

    def _append_rows(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        n = len(ids)
        if self.n_rows + n > len(self.slab_ids):
            self._grow_slab(self.n_rows + n)
        slots = np.arange(self.n_rows, self.n_rows + n, dtype=np.int64)
        # Rows past n_rows are referenced by no published view, so writing them in place is safe.
        if self.slab is not None:
            self.slab[slots] = vecs
        self.slab_ids[slots] = ids
        self.n_rows += n
        if 2 * (self.hm_used + n) > len(self.hm_keys):
            self._rebuild_hashmap(extra=n)
        self.hm_used += hm_put(self.hm_keys, self.hm_vals, ids, slots)
        return slots

    def _grow_slab(self, need: int) -> None:
        cap = max(need, 2 * len(self.slab_ids))
        slab = None
        if self.slab is not None:
            slab = np.zeros((cap, self.info.dim), dtype=np.float32)
            slab[: self.n_rows] = self.slab[: self.n_rows]
        slab_ids = np.full(cap, -1, dtype=np.int64)
        slab_ids[: self.n_rows] = self.slab_ids[: self.n_rows]
        row_dead = np.zeros(cap, dtype=bool)
        row_dead[: self.n_rows] = self.row_dead[: self.n_rows]
        self.row_dead = row_dead
        leaf_of = np.zeros(cap, dtype=np.int64)
        leaf_of[: self.n_rows] = self.leaf_of[: self.n_rows]
        # New arrays, not resized ones: searches holding the old slab keep reading valid rows.
        self.slab, self.slab_ids, self.leaf_of = slab, slab_ids, leaf_of
        for tt in self._tenants.values():
            tt.view = None

    def _live(self) -> np.ndarray:
        """Slots of the live rows."""
        return np.flatnonzero(~self.row_dead[: self.n_rows])

    def _rebuild_hashmap(self, extra: int = 0) -> None:
        live = self._live()
        # 1.5x headroom: the table grows geometrically instead of being rebuilt every batch.
        self.hm_keys, self.hm_vals = hm_new(int(1.5 * (len(live) + extra)))
        self.hm_used = hm_put(self.hm_keys, self.hm_vals, self.slab_ids[live], live.astype(np.int64))

    def _grow_leaf_sizes(self) -> None:
        if len(self.leaf_size) < self.tree.n_nodes:
            grown = np.zeros(max(self.tree.n_nodes, 2 * len(self.leaf_size)), dtype=np.int64)
            grown[: len(self.leaf_size)] = self.leaf_size
            self.leaf_size = grown

    # ---- tree maintenance ----------------------------------------------------------------------

    def _live_rows(self) -> int:
        return self.n_rows - self.n_dead

    def _needs_rebuild(self) -> bool:
        live = self._live_rows()
        if live < self.opts["train_min"]:
            return False
        return self.trained_rows == 0 or live >= self.opts["rebuild_growth"] * self.trained_rows

    def _rebuild(self, txn: lmdb.Transaction) -> None:
        """Build a new tree over all live vectors, re-place them, and re-home every tenant's lists."""
        live = self._live()
        rng = np.random.default_rng(self.params.seed + len(live))
        sample = live if len(live) <= 100_000 else np.sort(rng.choice(live, 100_000, replace=False))
        tree = SharedTree.build(np.ascontiguousarray(self._row_vectors(txn, sample)), len(live), self.params,
                                self.tree_metric)
        # Loaded tenants are re-homed from memory; only the others are read from `members`.
        held = {tno: self.slab_ids[np.concatenate(list(tt.lists.values()))]
                for tno, tt in self._tenants.items() if tt.lists}
        in_memory = self.slab is not None
        chunks = [(self.slab_ids[live], self.slab[live])] if in_memory else self._stream_vectors(txn)
        ids, vecs, leaves, fresh = [], [], [], []
        for chunk_ids, chunk in chunks:
            chunk_leaves = tree.assign(chunk, self.tree_metric)
            tree.grow_radii(chunk, chunk_leaves)
            ids.append(chunk_ids)
            leaves.append(chunk_leaves)
            if in_memory:
                vecs.append(chunk)
            else:  # disk mode streams the vectors once; their codes are kept for the postings below
                fresh.append(Rows.encode(chunk_ids, chunk, chunk_leaves, tree.centroids, self.opts["codes"]))
        self.tree = tree
        self._unsplittable = set()
        self._reset_slab(np.concatenate(ids), np.concatenate(vecs) if in_memory else None, np.concatenate(leaves))
        self._new_tenant_map()
        self._split_big_leaves(txn)
        self._relayout()
        self.trained_rows = self.n_rows
        self.store.delete_prefix(txn, "index", self.prefix + b"L")
        self._save_leaves(txn, self.slab_ids[: self.n_rows], self.leaf_of[: self.n_rows])
        # Every tenant is re-homed from its ids, whether or not it was loaded.
        self.store.delete_prefix(txn, "index", self.prefix + b"S")
        self.store.delete_prefix(txn, "index", self.prefix + b"P")
        touched: dict[int, set[int]] = {}
        for _, tno, _count in tenants_store.list_all(self.store, txn, self.info.id):  # (see _build_postings)
            members = held.get(tno)
            if members is None:
                members = tenants_store.members(self.store, txn, self.info.id, tno)
            if len(members):
                tt = self._tenants[tno] = TenantTree(self._pack_budget)
                tt.insert(self._slots(members), self.leaf_of, self.tree, self.opts["tau"],
                          touched.setdefault(tno, set()))
        self._save_lists(txn, touched, Rows.concat(fresh, self.info.dim, self.opts["codes"]) if fresh else None)
        self._save_meta(txn)
        self._save_tree(txn)
        trim_heap()  # k-means and re-homing freed tens of MB of temporaries, even when the write was small

    def _split_big_leaves(self, txn: lmdb.Transaction) -> None:
        """Split every leaf over max_leaf (only once the tree is trained: before that, search is exact)."""
        if not self.tree.trained:
            return
        self._grow_leaf_sizes()
        changed = False
        while True:
            big = np.flatnonzero(self.leaf_size[: self.tree.n_nodes] > self.opts["max_leaf"])
            big = [n for n in big.tolist() if self.tree.is_leaf(n) and n not in self._unsplittable]
            if not big:
                break
            for leaf in big:
                rows = np.flatnonzero((self.leaf_of[: self.n_rows] == leaf) & ~self.row_dead[: self.n_rows])
                X = np.ascontiguousarray(self._row_vectors(txn, rows))
                _, labels = self.tree.split_leaf(leaf, X, self.params, self.tree_metric)
                if np.bincount(labels).max() == len(rows):  # identical vectors: splitting cannot help
                    self._unsplittable.add(int(labels[0]))
                self._grow_leaf_sizes()
                self.leaf_of[rows] = labels
                self.leaf_size[leaf] = 0
                np.add.at(self.leaf_size, labels, 1)
                self.tree.grow_radii(X, labels)
                self._save_leaves(txn, self.slab_ids[rows], labels)
                changed = True
        if changed:
            self._save_tree(txn)

    def _relayout(self) -> None:
        """Rewrite the slab without dead rows and in depth-first leaf order, so the rows below any node,
        hence any shortlist below the root, are one contiguous range (scans stream instead of missing
        cache on every row). New arrays: searches in flight keep the old ones. Loaded tenants are
        renumbered; stored shortlists hold ids and need nothing."""
        live = self._live()
        live = live[np.argsort(self.tree.dfs_rank()[self.leaf_of[live]], kind="stable")]
        new_slot = np.full(self.n_rows, -1, dtype=np.int64)
        new_slot[live] = np.arange(len(live))
        self._reset_slab(self.slab_ids[live], None if self.slab is None else self.slab[live], self.leaf_of[live])
        self.sorted_rows = self.n_rows
        self._grow_leaf_sizes()
        for tt in self._tenants.values():
            tt.remap(new_slot)

    # ---- persistence ---------------------------------------------------------------------------

    def _save_leaves(self, txn: lmdb.Transaction, ids: np.ndarray, leaves: np.ndarray) -> None:
        values = [_U32.pack(leaf) for leaf in leaves.tolist()]
        txn.cursor(self.store.dbs["index"]).putmulti(zip(id_keys(self.prefix + b"L", ids), values, strict=True))

    def _save_lists(self, txn: lmdb.Transaction, touched: dict[int, set[int]], fresh: Rows | None,
                    replaced: np.ndarray | None = None) -> None:
        """Write the touched shortlists (`S`) and bring their postings (`P`) in step. `fresh`: codes of
        the vectors this write brings (disk mode), so postings rarely need to read `vectors`; `replaced`:
        ids whose vectors it changes (an upsert can leave a list's ids as they were)."""
        db = self.store.dbs["index"]
        disk = self.disk is not None  # only postings need the lists as they were
        changed = []
        for tno, nodes in touched.items():
            tt = self._tenants[tno]
            base = self.prefix + b"S" + tno.to_bytes(4, "big")
            for node in nodes:
                key = base + node.to_bytes(4, "big")
                old = txn.get(key, db=db) if disk else None
                old_ids = None if old is None else np.frombuffer(old, dtype="<i8").astype(np.int64)
                slots = tt.lists.get(node)
                new_ids = None if slots is None else self.slab_ids[slots]
                if new_ids is None:
                    txn.delete(key, db=db)
                else:
                    txn.put(key, new_ids.astype("<i8").tobytes(), db=db)
                changed.append((tno, node, old_ids, new_ids))
        if self.disk is None:  # memory mode keeps no postings: disk mode builds them when it needs them
            self._set_postings_current(txn, False)
        else:  # moving codes from the chunks being replaced
            self.postings.sync(txn, changed, fresh, partial(self._encode_ids, txn), replaced=replaced)

    def _row_vectors(self, txn: lmdb.Transaction, rows: np.ndarray) -> np.ndarray:
        if self.slab is not None:
            return self.slab[rows]
        return self._vectors_by_id(txn, self.slab_ids[rows])

    def _save_radii(self, txn: lmdb.Transaction) -> None:
        txn.put(self.prefix + b"R", self.tree.radius[: self.tree.n_nodes].astype("<f4").tobytes(),
                db=self.store.dbs["index"])

    def _save_tree(self, txn: lmdb.Transaction) -> None:
        txn.put(self.prefix + b"T", self.tree.to_bytes(), db=self.store.dbs["index"])
        self._save_radii(txn)
        for tt in self._tenants.values():
            tt.view = None  # views captured the old tree arrays

    def drop(self, txn: lmdb.Transaction) -> None:
        self.store.delete_prefix(txn, "index", self.prefix)

    # ---- misc ----------------------------------------------------------------------------------

    def _index_space(self, vecs: np.ndarray) -> np.ndarray:
        return normalize_rows(vecs) if self.info.metric == "cosine" else vecs

    def stats(self) -> dict:
        self._ensure_loaded()
        with self._lock:
            live = self._live_rows()
            tree = self.tree
            leaves = [n for n in range(tree.n_nodes) if tree.is_leaf(n)]
            tenant_bytes = sum(tt.nbytes() for tt in self._tenants.values())
            slab_bytes = self.n_rows * ((self.info.dim * 4 if self.slab is not None else 0) + 16)
            disk = (self.disk.stats() if self.disk is not None else
                    {"queries": self._searched[0], "rows_scanned": self._searched[1]})
            return {
                "mode": "disk" if self.disk is not None else "memory",
                "codes": self.opts["codes"],
                **disk,
                "vectors_in_slab": live,
                "dead_rows": self.n_dead,
                "tree_nodes": tree.n_nodes,
                "tree_leaves": len(leaves),
                "tree_depth": int(tree.depth[: tree.n_nodes].max()),
                "trained_rows": self.trained_rows,
                "tenants_loaded": len(self._tenants),
                "tenant_pairs": sum(tt.size for tt in self._tenants.values()),
                "slab_bytes": slab_bytes,
                "hashmap_bytes": self.hm_keys.nbytes + self.hm_vals.nbytes,
                "tree_bytes": tree.nbytes(),
                "tenant_bytes": tenant_bytes,
                "packed_bytes": self._pack_budget.used,
                "structure_bytes": slab_bytes + self.hm_keys.nbytes * 2 + tree.nbytes() + tenant_bytes,
            }

    def close(self) -> None:
        with self._lock:
            self._new_tenant_map()
            self._loaded = False
            self.slab = None
            self._close_disk()

    def _close_disk(self) -> None:
        if self.disk is not None:
            self.disk.close()
            self.disk = None


def _noop() -> None:
    return None


def _check_number(name: str, value, kind: type, low: float):
    ok = isinstance(value, (int, np.integer)) or (kind is float and isinstance(value, (float, np.floating)))
    if isinstance(value, bool) or not ok or value < low or not np.isfinite(value):
        raise InvalidArgumentError(f"{name} must be {'an integer' if kind is int else 'a number'} >= {low}, "
                                   f"got {value!r}")
    return kind(value)
