"""The systems the index benchmark compares, behind one small interface.

Every system answers "top-k of this query among the vectors tenant t may see", runs the same write batch
(`bench.workloads.WriteOps`), and has at most one recall/speed knob that the harness sweeps:

- ``brute``: numpy brute force over a per-tenant copy of the tenant's vectors (exact; the memory cost of
  one copy per membership).
- ``hnsw-tenant``: hnswlib, one index per tenant (fast; memory grows with the sharing degree). Knob: ef.
- ``hnsw-shared``: hnswlib, one index over all vectors with hnswlib's filter callable (a per-tenant
  Python set of labels). Knob: ef.
- ``faiss-ivf``: faiss IndexIVFFlat over all vectors, nlist ~ 4 sqrt(n), the tenant as an
  IDSelectorBitmap in SearchParametersIVF. Knob: nprobe.
- ``vecdb-<index>``: vecdb's embedded API with `index=<index>`; knob given on the command line and
  passed as a search keyword (the "default" point passes none).
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import numpy as np

from .workloads import MultiTenantDataset, WriteOps

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_TENANT_EF = [10, 16, 24, 32, 48, 64, 128]
HNSW_SHARED_EF = [10, 16, 24, 32, 48, 64, 128, 256, 512, 1024, 2048]
FAISS_NPROBE = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def _group(tenant_lists: list[np.ndarray], ids: np.ndarray) -> dict[int, list[int]]:
    """tenant -> row numbers (into ids) of the vectors it holds."""
    out: dict[int, list[int]] = {}
    for row, ts in enumerate(tenant_lists):
        for t in ts.tolist():
            out.setdefault(t, []).append(row)
    return out


class System:
    """One competitor. Subclasses fill in build/search/writes; knob values are swept by the harness."""

    name = "?"
    knob: str | None = None
    knob_values: list[Any] = [None]

    def prepare(self) -> None:
        """Import the library and warm it up, so RSS growth measured after this is the index's alone."""

    def build(self, ds: MultiTenantDataset, threads: int) -> None:
        raise NotImplementedError

    def set_threads(self, n: int) -> None:
        """Threads for the library's own parallelism (1 for latency, 2 for throughput)."""

    def search(self, q: np.ndarray, tenant: int, k: int, knob: Any) -> np.ndarray:
        """Ids of the top-k for one query (int64, may be shorter than k or padded with -1)."""
        raise NotImplementedError

    def search_batch(self, Q: np.ndarray, tenant: int, k: int, knob: Any, threads: int) -> np.ndarray:
        """Top-k ids for several queries of one tenant, using `threads` threads."""
        return np.array([self.search(q, tenant, k, knob) for q in Q], dtype=object)

    def insert(self, ops: WriteOps) -> None:
        raise NotImplementedError

    def grant(self, tenant: int, ids: np.ndarray) -> None:
        raise NotImplementedError

    def revoke(self, tenant: int, ids: np.ndarray) -> None:
        raise NotImplementedError

    def delete(self, ops: WriteOps) -> None:
        raise NotImplementedError

    def reclaim(self, ops: WriteOps) -> bool:
        """Finish the work delete() and revoke() put off; False when they put off nothing."""
        return False

    def structure_bytes(self) -> int | None:
        """Bytes of index structures the system itself reports (None when it reports nothing)."""
        return None

    def rows_scanned(self) -> int | None:
        """Vectors scanned by all searches so far, as the system counts them (None: it does not)."""
        return None

    def extra(self) -> dict:
        return {}

    def close(self) -> None:
        pass


# ---- brute force ----------------------------------------------------------------------------------


class _PerTenantCopies(System):
    """Writes for systems that keep a copy of each tenant's vectors: they need every vector by id to grant."""

    def _vec(self, i: int) -> np.ndarray:
        return self.vecs[i] if i in self.vecs else self.ds.xb[i]

    def insert(self, ops):
        for row, i in enumerate(ops.insert_ids.tolist()):
            self.vecs[i] = ops.insert_vecs[row]
        for t, rows in _group(ops.insert_tenants, ops.insert_ids).items():
            self._add(t, ops.insert_ids[rows], ops.insert_vecs[rows])

    def grant(self, tenant, ids):
        self._add(tenant, ids, np.stack([self._vec(int(i)) for i in ids]))


class BruteForce(_PerTenantCopies):
    name = "brute"

    def build(self, ds: MultiTenantDataset, threads: int) -> None:
        self.ds, self.l2 = ds, ds.metric == "l2"
        self.vecs: dict[int, np.ndarray] = {}  # all vectors by id, for grants
        self.tenants: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for t in range(ds.n_tenants):
            mem = ds.members(t)
            self._set(t, mem, ds.xb[mem])

    def _set(self, t: int, ids: np.ndarray, X: np.ndarray) -> None:
        X = np.ascontiguousarray(X, dtype=np.float32)
        self.tenants[t] = (ids, X, np.einsum("ij,ij->i", X, X) if self.l2 else np.zeros(0, np.float32))

    def _topk(self, D: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
        if D.shape[-1] > k:
            part = np.argpartition(D, k - 1, axis=-1)[..., :k]
        else:
            part = np.broadcast_to(np.arange(D.shape[-1]), D.shape[:-1] + (D.shape[-1],))
        order = np.argsort(np.take_along_axis(D, part, axis=-1), axis=-1)
        return ids[np.take_along_axis(part, order, axis=-1)]

    def search(self, q, tenant, k, knob):
        ids, X, sq = self.tenants[tenant]
        if len(ids) == 0:
            return ids
        D = sq - 2 * (X @ q) if self.l2 else -(X @ q)
        return self._topk(D, ids, k)

    def search_batch(self, Q, tenant, k, knob, threads):
        # One matrix product for the batch; its threads are BLAS's (the harness sets them).
        ids, X, sq = self.tenants[tenant]
        if len(ids) == 0:
            return np.full((len(Q), k), -1)
        D = sq[None, :] - 2 * (Q @ X.T) if self.l2 else -(Q @ X.T)
        return self._topk(D, ids, k)

    def _add(self, t: int, ids: np.ndarray, X: np.ndarray) -> None:
        old_ids, old_X, _ = self.tenants.get(t, (np.zeros(0, np.int64), np.zeros((0, X.shape[1]), np.float32), None))
        self._set(t, np.concatenate([old_ids, ids]), np.concatenate([old_X, X]))

    def _remove(self, t: int, ids: np.ndarray) -> None:
        old_ids, old_X, _ = self.tenants[t]
        keep = ~np.isin(old_ids, ids)
        self._set(t, old_ids[keep], old_X[keep])

    def revoke(self, tenant, ids):
        self._remove(tenant, ids)

    def delete(self, ops):
        for t, rows in _group(ops.delete_tenants, ops.delete_ids).items():
            self._remove(t, ops.delete_ids[rows])

    def structure_bytes(self):
        return int(sum(X.nbytes + ids.nbytes + sq.nbytes for ids, X, sq in self.tenants.values()))


# ---- hnswlib --------------------------------------------------------------------------------------


def _hnsw_space(metric: str) -> str:
    return "l2" if metric == "l2" else "ip"  # cosine data is unit-normalised: ip == cosine, and cheaper


class HnswPerTenant(_PerTenantCopies):
    name = "hnsw-tenant"
    knob = "ef"
    knob_values = HNSW_TENANT_EF

    def prepare(self):
        import hnswlib

        self.hnswlib = hnswlib

    def build(self, ds, threads):
        self.ds = ds
        self.vecs: dict[int, np.ndarray] = {}
        self.idx: dict[int, Any] = {}
        self.ef = None
        for t in range(ds.n_tenants):
            mem = ds.members(t)
            self.idx[t] = p = self._new(len(mem) + len(mem) // 10 + 16)  # headroom for later writes
            if len(mem):
                p.add_items(ds.xb[mem], mem, num_threads=threads)

    def _new(self, capacity: int):
        p = self.hnswlib.Index(space=_hnsw_space(self.ds.metric), dim=self.ds.dim)
        p.init_index(
            max_elements=capacity,
            M=HNSW_M,
            ef_construction=HNSW_EF_CONSTRUCTION,
            random_seed=1,
            allow_replace_deleted=False,
        )
        p.set_num_threads(1)
        return p

    def set_threads(self, n):
        for p in self.idx.values():
            p.set_num_threads(n)

    def _set_ef(self, ef: int) -> None:
        if ef != self.ef:
            for p in self.idx.values():
                p.set_ef(ef)
            self.ef = ef

    def search(self, q, tenant, k, knob):
        self._set_ef(knob)
        p = self.idx[tenant]
        try:
            labels, _ = p.knn_query(q, k=min(k, p.get_current_count()), num_threads=1)
        except RuntimeError:
            return np.zeros(0, np.int64)
        return labels[0].astype(np.int64)

    def search_batch(self, Q, tenant, k, knob, threads):
        self._set_ef(knob)
        p = self.idx[tenant]
        try:
            labels, _ = p.knn_query(Q, k=min(k, p.get_current_count()), num_threads=threads)
        except RuntimeError:
            return np.full((len(Q), k), -1)
        return labels.astype(np.int64)

    def _add(self, t: int, ids: np.ndarray, X: np.ndarray) -> None:
        p = self.idx.get(t)
        if p is None:
            p = self.idx[t] = self._new(len(ids))
        if p.get_current_count() + len(ids) > p.get_max_elements():
            p.resize_index(max(2 * p.get_max_elements(), p.get_current_count() + len(ids)))
        p.add_items(X, ids, num_threads=1)

    def revoke(self, tenant, ids):
        p = self.idx[tenant]
        for i in ids.tolist():
            p.mark_deleted(i)

    def delete(self, ops):
        for t, rows in _group(ops.delete_tenants, ops.delete_ids).items():
            p = self.idx[t]
            for i in ops.delete_ids[rows].tolist():
                p.mark_deleted(i)

    def extra(self):
        return {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "indexes": len(self.idx)}


class HnswShared(System):
    name = "hnsw-shared"
    knob = "ef"
    knob_values = HNSW_SHARED_EF

    def prepare(self):
        import hnswlib

        self.hnswlib = hnswlib

    def build(self, ds, threads):
        self.ds, self.ef = ds, None
        cap = ds.n + len(ds.xins)
        self.p = self.hnswlib.Index(space=_hnsw_space(ds.metric), dim=ds.dim)
        self.p.init_index(max_elements=cap, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, random_seed=1)
        self.p.add_items(ds.xb, np.arange(ds.n), num_threads=threads)
        # The tenant filter: one Python set of labels per tenant; set.__contains__ is the cheapest
        # callable hnswlib can be given (it calls back into Python for every candidate it visits).
        self.sets = {t: set(ds.members(t).tolist()) for t in range(ds.n_tenants)}

    def set_threads(self, n):
        self.p.set_num_threads(n)

    def _set_ef(self, ef):
        if ef != self.ef:
            self.p.set_ef(ef)
            self.ef = ef

    def search(self, q, tenant, k, knob):
        self._set_ef(knob)
        s = self.sets[tenant]
        try:
            labels, _ = self.p.knn_query(q, k=min(k, len(s)), num_threads=1, filter=s.__contains__)
        except RuntimeError:  # hnswlib raises when it finds fewer than k that pass the filter
            return np.zeros(0, np.int64)
        return labels[0].astype(np.int64)

    def search_batch(self, Q, tenant, k, knob, threads):
        self._set_ef(knob)
        s = self.sets[tenant]
        try:
            labels, _ = self.p.knn_query(Q, k=min(k, len(s)), num_threads=threads, filter=s.__contains__)
        except RuntimeError:
            return np.full((len(Q), k), -1)
        return labels.astype(np.int64)

    def insert(self, ops):
        self.p.add_items(ops.insert_vecs, ops.insert_ids, num_threads=1)
        for i, ts in zip(ops.insert_ids.tolist(), ops.insert_tenants, strict=True):
            for t in ts.tolist():
                self.sets.setdefault(t, set()).add(i)

    def grant(self, tenant, ids):
        self.sets.setdefault(tenant, set()).update(ids.tolist())

    def revoke(self, tenant, ids):
        self.sets[tenant].difference_update(ids.tolist())

    def delete(self, ops):
        for i, ts in zip(ops.delete_ids.tolist(), ops.delete_tenants, strict=True):
            self.p.mark_deleted(i)
            for t in ts.tolist():
                self.sets[t].discard(i)

    def extra(self):
        return {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}


# ---- faiss IVF ------------------------------------------------------------------------------------


class FaissIVF(System):
    name = "faiss-ivf"
    knob = "nprobe"
    knob_values = FAISS_NPROBE

    def prepare(self):
        import faiss

        self.faiss = faiss

    def build(self, ds, threads):
        faiss, self.ds = self.faiss, ds
        faiss.omp_set_num_threads(threads)
        self.nlist = max(4, int(4 * np.sqrt(ds.n)))
        metric = faiss.METRIC_L2 if ds.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.quantizer = faiss.IndexFlat(ds.dim, metric)
        self.index = faiss.IndexIVFFlat(self.quantizer, ds.dim, self.nlist, metric)
        rng = np.random.default_rng(0)
        ntrain = min(ds.n, 64 * self.nlist)
        self.index.train(ds.xb[np.sort(rng.choice(ds.n, ntrain, replace=False))])
        self.index.add_with_ids(ds.xb, np.arange(ds.n, dtype=np.int64))
        # One bitmap per tenant over the whole id space (ids of the insert batch included).
        self.nbits = ds.n + len(ds.xins)
        self.bitmaps = np.zeros((ds.n_tenants, (self.nbits + 7) // 8), np.uint8)
        for t in range(ds.n_tenants):
            self._set_bits(t, ds.members(t), True)
        self.knob_values = [p for p in FAISS_NPROBE if p <= self.nlist]

    def _set_bits(self, t: int, ids: np.ndarray, on: bool) -> None:
        bm = self.bitmaps[t]
        byte, bit = ids >> 3, (np.uint8(1) << (ids & 7).astype(np.uint8))
        if on:
            np.bitwise_or.at(bm, byte, bit)
        else:
            np.bitwise_and.at(bm, byte, ~bit)

    def set_threads(self, n):
        self.faiss.omp_set_num_threads(n)

    def _params(self, tenant: int, nprobe: int):
        sel = self.faiss.IDSelectorBitmap(self.nbits, self.faiss.swig_ptr(self.bitmaps[tenant]))
        return sel, self.faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)

    def search(self, q, tenant, k, knob):
        sel, params = self._params(tenant, knob)
        _, labels = self.index.search(q[None, :], k, params=params)
        return labels[0]

    def search_batch(self, Q, tenant, k, knob, threads):
        sel, params = self._params(tenant, knob)
        _, labels = self.index.search(Q, k, params=params)
        return labels

    def insert(self, ops):
        self.index.add_with_ids(ops.insert_vecs, ops.insert_ids)
        for t, rows in _group(ops.insert_tenants, ops.insert_ids).items():
            self._set_bits(t, ops.insert_ids[rows], True)

    def grant(self, tenant, ids):
        self._set_bits(tenant, ids, True)

    def revoke(self, tenant, ids):
        self._set_bits(tenant, ids, False)

    def delete(self, ops):
        self.index.remove_ids(self.faiss.IDSelectorBatch(ops.delete_ids))
        for t, rows in _group(ops.delete_tenants, ops.delete_ids).items():
            self._set_bits(t, ops.delete_ids[rows], False)

    def structure_bytes(self):
        return int(self.index.ntotal * (self.ds.dim * 4 + 8) + self.nlist * self.ds.dim * 4 + self.bitmaps.nbytes)

    def extra(self):
        return {"nlist": self.nlist}


# ---- vecdb ----------------------------------------------------------------------------------------


class Vecdb(System):
    """vecdb through its public embedded API: upsert / grant / revoke / delete / search / search_batch."""

    BATCH = 10_000
    COLLECTION = "bench"  # the collection build() creates (bench.bench_postings reopens it by name)

    def __init__(
        self,
        index: str,
        knob: str | None = None,
        values: list[Any] | None = None,
        cache_bytes: int | None = None,
        workdir: str | None = None,
        create_options: dict[str, Any] | None = None,
    ):
        self.index_name, self.name = index, f"vecdb-{index}"
        self.create_options = create_options or {}
        self.knob = knob
        self.knob_values = [None] + list(values or [])  # None: the defaults, no option passed
        self.cache_bytes, self.workdir = cache_bytes, workdir

    def prepare(self):
        import numba

        import vecdb

        self.numba, self.vecdb = numba, vecdb
        # Compile the kernels on a throw-away collection: JIT code is not index memory.
        tmp = tempfile.mkdtemp(prefix="vecdb-warm-", dir=self.workdir)
        try:
            with vecdb.open(tmp, durable=False) as db:
                rng = np.random.default_rng(0)
                for metric in ("l2", "cosine"):
                    col = db.create_collection(
                        f"warm_{metric}", dim=8, metric=metric, index=self.index_name, **self.create_options
                    )
                    col.upsert(np.arange(64), rng.standard_normal((64, 8)), tenants=[["a"]] * 32 + [["a", "b"]] * 32)
                    col.search(rng.standard_normal(8), k=5, tenant="a")
                    col.search_batch(rng.standard_normal((4, 8)), k=5, tenant="b")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def build(self, ds, threads):
        vecdb, numba = self.vecdb, self.numba
        numba.set_num_threads(threads)
        self.dir = tempfile.mkdtemp(prefix="vecdb-bench-", dir=self.workdir)
        self.db = vecdb.open(self.dir, durable=False, cache_bytes=self.cache_bytes)
        self.col = self.db.create_collection(
            self.COLLECTION, dim=ds.dim, metric=ds.metric, index=self.index_name, **self.create_options
        )
        self.names, self.xb = ds.tenant_names, ds.xb
        lists = ds.tenant_lists()
        for s in range(0, ds.n, self.BATCH):
            e = min(s + self.BATCH, ds.n)
            self.col.upsert(
                np.arange(s, e), ds.xb[s:e], tenants=[[self.names[t] for t in ts.tolist()] for ts in lists[s:e]]
            )

    def set_threads(self, n):
        self.numba.set_num_threads(n)

    def _opts(self, knob):
        return {} if knob is None or self.knob is None else {self.knob: knob}

    def search(self, q, tenant, k, knob):
        return self.col.search(q, k=k, tenant=self.names[tenant], **self._opts(knob)).ids

    def search_batch(self, Q, tenant, k, knob, threads):
        return self.col.search_batch(Q, k=k, tenant=self.names[tenant], **self._opts(knob))[0]

    def insert(self, ops):
        self.col.upsert(
            ops.insert_ids, ops.insert_vecs, tenants=[[self.names[t] for t in ts.tolist()] for ts in ops.insert_tenants]
        )

    def grant(self, tenant, ids):
        self.col.grant(ids, self.names[tenant])

    def revoke(self, tenant, ids):
        self.col.revoke(ids, self.names[tenant])

    def delete(self, ops):
        self.col.delete(ops.delete_ids)

    def reclaim(self, ops):
        """Deletes and revokes left tombstones; a write naming one of their ids applies them all. Here:
        putting one deleted vector back (then deleting it again, which leaves one tombstone)."""
        if not self.col.stats()["pending_tombstones"]:
            return False
        i = ops.delete_ids[:1]
        self.col.upsert(i, self.xb[i], tenants=[[self.names[t] for t in ops.delete_tenants[0].tolist()]])
        self.col.delete(i)
        return True

    def stats(self) -> dict:
        return self.col.stats()

    def structure_bytes(self):
        idx = self.col.stats().get("index_stats", {})
        for key in ("structure_bytes", "memory_bytes", "index_bytes"):
            if isinstance(idx.get(key), int):
                return idx[key]
        vals = [v for key, v in idx.items() if key.endswith("bytes") and isinstance(v, int)]
        return sum(vals) if vals else None

    def rows_scanned(self):
        return (self.col.stats().get("index_stats") or {}).get("rows_scanned")

    def extra(self):
        st = self.col.stats()
        return {
            "index": self.index_name,
            "knob": self.knob,
            "disk_bytes": st.get("database_disk_bytes"),
            "index_stats": st.get("index_stats"),
        }

    def close(self):
        if getattr(self, "db", None) is not None:
            self.db.close()
        if getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)


BASELINES = {"brute": BruteForce, "hnsw-tenant": HnswPerTenant, "hnsw-shared": HnswShared, "faiss-ivf": FaissIVF}


def make_system(
    spec: str,
    vecdb_knobs: dict[str, tuple[str, list[Any]]] | None = None,
    cache_bytes: int | None = None,
    workdir: str | None = None,
    create_options: dict[str, dict[str, Any]] | None = None,
) -> System:
    """A system by name: a baseline name, or "vecdb-<index>" (knob and create_collection options looked
    up by index name, then "*")."""
    if spec in BASELINES:
        return BASELINES[spec]()
    if spec.startswith("vecdb-"):
        index = spec[len("vecdb-") :]
        knobs = vecdb_knobs or {}
        knob, values = knobs.get(index) or knobs.get("*") or (None, [])
        if index == "flat" and "flat" not in knobs:
            knob, values = None, []  # flat is exact: nothing to sweep
        opts = {**(create_options or {}).get("*", {}), **(create_options or {}).get(index, {})}
        return Vecdb(index, knob, values, cache_bytes, workdir, opts)
    raise ValueError(f"unknown system {spec!r}: expected one of {', '.join(BASELINES)} or vecdb-<index>")
