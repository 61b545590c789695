"""Multi-tenant datasets for benchmarks and tests: vectors, who may see each one, queries with a tenant
each, exact per-tenant ground truth, and a fixed batch of writes (insert / grant / revoke / delete).

Two workloads, each at three scales (``small`` for quick runs, ``medium`` ~100k vectors, ``full`` the
paper-sized setup):

- ``yfcc``: a synthetic twin of Curator's YFCC setup: clustered 192-d vectors (topic centroids plus
  low-rank noise), 1,000 tenants at full scale with Zipf sizes, each tenant concentrated on a few nearby
  topics and vectors shared by ~2-4 tenants on average. `SyntheticDataset` builds it.
- ``text``: real sentence embeddings of text found offline on this machine (see `bench.textdata`).

Everything is numpy; vector ids are row numbers (0..n-1 for the base, n.. for the insert batch).

>>> ds = SyntheticDataset(n=2000, dim=32, n_tenants=20, nq=50, seed=0)
>>> gt_ids, gt_dists = ds.ground_truth(10)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCALES = ("toy", "small", "medium", "full")

#: yfcc parameters per scale: n base vectors, dim, tenants, queries, write-batch size.
YFCC_SCALES = {
    "toy": dict(n=3_000, dim=32, n_tenants=30, nq=100, n_ops=200),
    "small": dict(n=20_000, dim=192, n_tenants=200, nq=500, n_ops=1_000),
    "medium": dict(n=100_000, dim=192, n_tenants=1_000, nq=1_000, n_ops=2_000),
    "full": dict(n=1_000_000, dim=192, n_tenants=1_000, nq=1_000, n_ops=5_000),
}


# ---- the dataset container ------------------------------------------------------------------------


@dataclass
class MultiTenantDataset:
    """Base vectors with their access lists, queries with one tenant each, and a write batch.

    Access lists are CSR: the tenants of vector i are ``vt_idx[vt_ptr[i]:vt_ptr[i+1]]`` (sorted int32).
    ``metric`` is "l2" (squared Euclidean) or "cosine" (rows are unit-normalised, so it is 1 - dot).
    """

    name: str
    metric: str
    xb: np.ndarray  # float32[n, d]
    vt_ptr: np.ndarray  # int64[n + 1]
    vt_idx: np.ndarray  # int32[nnz]
    xq: np.ndarray  # float32[nq, d]
    q_tenant: np.ndarray  # int32[nq]
    xins: np.ndarray  # float32[ni, d]: vectors the write benchmark inserts (ids n .. n + ni - 1)
    ins_ptr: np.ndarray  # int64[ni + 1]
    ins_idx: np.ndarray  # int32[...]: their tenants
    n_tenants: int
    tenant_names: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    _gt: dict = field(default_factory=dict, repr=False)
    _members: tuple | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.tenant_names:
            self.tenant_names = [f"t{t}" for t in range(self.n_tenants)]

    # ---- shape ----------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return len(self.xb)

    @property
    def dim(self) -> int:
        return self.xb.shape[1]

    @property
    def nq(self) -> int:
        return len(self.xq)

    def tenants_of(self, i: int) -> np.ndarray:
        return self.vt_idx[self.vt_ptr[i] : self.vt_ptr[i + 1]]

    def tenant_lists(self, ptr: np.ndarray | None = None, idx: np.ndarray | None = None) -> list[np.ndarray]:
        ptr = self.vt_ptr if ptr is None else ptr
        idx = self.vt_idx if idx is None else idx
        return np.split(idx, ptr[1:-1])

    def _tenant_csr(self) -> tuple[np.ndarray, np.ndarray]:
        if self._members is None:
            vec = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.vt_ptr))
            order = np.argsort(self.vt_idx, kind="stable")
            counts = np.bincount(self.vt_idx, minlength=self.n_tenants)
            ptr = np.zeros(self.n_tenants + 1, np.int64)
            np.cumsum(counts, out=ptr[1:])
            self._members = (ptr, vec[order])  # ids within a tenant stay sorted (stable sort)
        return self._members

    def members(self, t: int) -> np.ndarray:
        """Sorted int64 ids of the base vectors tenant `t` can see."""
        ptr, vec = self._tenant_csr()
        return vec[ptr[t] : ptr[t + 1]]

    @property
    def tenant_sizes(self) -> np.ndarray:
        return np.diff(self._tenant_csr()[0])

    def small_tenants(self, quantile: float = 0.5) -> np.ndarray:
        """Bool[n_tenants]: tenants whose size is below the `quantile` of tenant sizes (the "small" ones)."""
        sizes = self.tenant_sizes
        return sizes <= np.quantile(sizes, quantile)

    def summary(self) -> dict:
        sizes = self.tenant_sizes
        return {
            "name": self.name,
            "metric": self.metric,
            "n": self.n,
            "dim": self.dim,
            "nq": self.nq,
            "n_tenants": self.n_tenants,
            "memberships": int(len(self.vt_idx)),
            "avg_tenants_per_vector": round(float(len(self.vt_idx) / max(self.n, 1)), 3),
            "tenant_size_min": int(sizes.min()),
            "tenant_size_median": float(np.median(sizes)),
            "tenant_size_max": int(sizes.max()),
            "n_insert": len(self.xins),
            **self.meta,
        }

    # ---- exact answers --------------------------------------------------------------------------

    def distances(self, q: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Proxy distances (smaller is better) of one query to rows: squared L2, or -dot for cosine."""
        if self.metric == "l2":
            return np.einsum("ij,ij->i", X, X) - 2 * (X @ q) + float(q @ q)
        return -(X @ q)

    def ground_truth(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k per query among its tenant's base vectors, by brute force:
        (ids int64[nq, k] padded with -1, proxy distances float32[nq, k] padded with +inf)."""
        if k in self._gt:
            return self._gt[k]
        ids = np.full((self.nq, k), -1, np.int64)
        dists = np.full((self.nq, k), np.inf, np.float32)
        for t in np.unique(self.q_tenant):
            rows = np.flatnonzero(self.q_tenant == t)
            mem = self.members(int(t))
            X = self.xb[mem].astype(np.float32, copy=False)
            Q = self.xq[rows]
            if self.metric == "l2":
                D = (np.einsum("ij,ij->i", X, X)[None, :] - 2 * (Q @ X.T)) + np.einsum("ij,ij->i", Q, Q)[:, None]
            else:
                D = -(Q @ X.T)
            kk = min(k, len(mem))
            part = (
                np.argpartition(D, kk - 1, axis=1)[:, :kk] if kk < len(mem) else np.tile(np.arange(kk), (len(rows), 1))
            )
            pd = np.take_along_axis(D, part, axis=1)
            order = np.argsort(pd, axis=1, kind="stable")
            ids[rows, :kk] = mem[np.take_along_axis(part, order, axis=1)]
            dists[rows, :kk] = np.take_along_axis(pd, order, axis=1)
        self._gt[k] = (ids, dists)
        return ids, dists

    def recall(self, q_row: int, found: np.ndarray, k: int) -> tuple[float, int]:
        """(recall@k of one result row, number of returned ids the tenant may not see).

        Tie-tolerant: a returned visible id counts when its true distance is within the k-th exact one.
        """
        gt_ids, gt_d = self.ground_truth(k)
        want = int((gt_ids[q_row] >= 0).sum())
        found = np.asarray(found, dtype=np.int64)
        found = found[found >= 0][:k]
        if want == 0:
            return 1.0, 0
        mem = self.members(int(self.q_tenant[q_row]))
        inside = found[(found < self.n)]
        pos = np.searchsorted(mem, inside)
        ok = (pos < len(mem)) & (mem[np.minimum(pos, len(mem) - 1)] == inside)
        leaks = int(len(found) - ok.sum())
        good = np.unique(inside[ok])
        if len(good) == 0:
            return 0.0, leaks
        d = self.distances(self.xq[q_row], self.xb[good])
        kth = gt_d[q_row, want - 1]
        hit = int((d <= kth + 1e-4 * max(1.0, abs(float(kth)))).sum())
        return min(hit, want) / want, leaks

    # ---- persistence ----------------------------------------------------------------------------

    def save(self, path: str | Path, k: int = 10) -> None:
        gt_ids, gt_d = self.ground_truth(k)
        np.savez(
            path,
            xb=self.xb,
            vt_ptr=self.vt_ptr,
            vt_idx=self.vt_idx,
            xq=self.xq,
            q_tenant=self.q_tenant,
            xins=self.xins,
            ins_ptr=self.ins_ptr,
            ins_idx=self.ins_idx,
            gt_ids=gt_ids,
            gt_d=gt_d,
            info=np.array(
                json.dumps(
                    {
                        "name": self.name,
                        "metric": self.metric,
                        "n_tenants": self.n_tenants,
                        "tenant_names": self.tenant_names,
                        "meta": self.meta,
                        "k": k,
                    }
                )
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> MultiTenantDataset:
        z = np.load(path, allow_pickle=False)
        info = json.loads(str(z["info"]))
        ds = cls.__new__(cls)
        MultiTenantDataset.__init__(
            ds,
            name=info["name"],
            metric=info["metric"],
            xb=z["xb"],
            vt_ptr=z["vt_ptr"],
            vt_idx=z["vt_idx"],
            xq=z["xq"],
            q_tenant=z["q_tenant"],
            xins=z["xins"],
            ins_ptr=z["ins_ptr"],
            ins_idx=z["ins_idx"],
            n_tenants=info["n_tenants"],
            tenant_names=info["tenant_names"],
            meta=info["meta"],
        )
        ds._gt[info["k"]] = (z["gt_ids"], z["gt_d"])
        return ds


# ---- the synthetic YFCC twin ----------------------------------------------------------------------


def _csr(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, np.int64)
    np.cumsum([len(x) for x in lists], out=ptr[1:])
    idx = np.concatenate(lists).astype(np.int32) if lists else np.zeros(0, np.int32)
    return ptr, idx


class SyntheticDataset(MultiTenantDataset):
    """Curator-style synthetic multi-tenant data (faiss `SyntheticDataset` in spirit).

    - ``n_topics`` topics; a topic is a Gaussian centroid plus a random rank-``rank`` subspace, and a
      vector is centroid + subspace noise + a little isotropic noise (real embeddings have low local
      intrinsic dimension; pure Gaussian data would make every ANN index look bad).
    - Tenant sizes follow Zipf(``zipf_a``) and add up to ``sharing`` x n memberships (capped at n/4).
    - A tenant picks a home topic (popular topics more often) and the topics nearest to it until they
      hold at least twice its size, then samples its vectors from them; so small tenants sit on one to
      three topics and big ones span many. Vectors nobody picked go to one tenant of their topic.
    - Queries: a tenant (half uniformly, half proportional to size), then a fresh point from the topic of
      one of its vectors, so every query has data near it for its tenant.
    """

    def __init__(
        self,
        n: int = 20_000,
        dim: int = 192,
        n_tenants: int = 200,
        nq: int = 500,
        n_ops: int = 1_000,
        n_topics: int | None = None,
        zipf_a: float = 1.0,
        sharing: float = 3.0,
        rank: int = 16,
        noise: float = 0.1,
        seed: int = 0,
        name: str = "yfcc",
    ):
        rng = np.random.default_rng(seed)
        n_topics = n_topics or max(10, n // 1000)
        cent = rng.standard_normal((n_topics, dim)).astype(np.float32)
        # Spread: within-topic radius ~0.6 x the centroid norm, so topics overlap a little.
        basis = rng.standard_normal((n_topics, rank, dim)).astype(np.float32) * np.float32(0.6 / np.sqrt(rank))
        pop = 1.0 / np.arange(1, n_topics + 1) ** 0.7
        pop = rng.permutation(pop / pop.sum())

        def sample(topics: np.ndarray) -> np.ndarray:
            x = rng.standard_normal((len(topics), dim), dtype=np.float32) * np.float32(noise)
            order = np.argsort(topics, kind="stable")
            bounds = np.searchsorted(topics[order], np.arange(n_topics + 1))
            for z in range(n_topics):  # one small matmul per topic keeps temporaries at O(n * dim)
                rows = order[bounds[z] : bounds[z + 1]]
                if len(rows):
                    x[rows] += cent[z] + rng.standard_normal((len(rows), rank), dtype=np.float32) @ basis[z]
            return x

        ni = n_ops
        topic_of = rng.choice(n_topics, n, p=pop)
        xb = sample(topic_of)
        by_topic = [np.flatnonzero(topic_of == z) for z in range(n_topics)]
        topic_size = np.array([len(b) for b in by_topic])

        # Zipf tenant sizes summing to ~sharing * n, at least 10 and at most n / 4 each.
        raw = 1.0 / np.arange(1, n_tenants + 1) ** zipf_a
        sizes = np.clip(np.round(raw / raw.sum() * sharing * n), 10, n // 4).astype(np.int64)
        sq = (cent**2).sum(1)
        cd = sq[:, None] + sq[None, :] - 2 * (cent @ cent.T)
        near = np.argsort(cd, axis=1)
        tenant_topics: list[np.ndarray] = []
        pairs_v, pairs_t = [], []
        for t in range(n_tenants):
            home = rng.choice(n_topics, p=pop)
            want_topics = int(rng.integers(1, 4))
            cum = np.cumsum(topic_size[near[home]])
            need = int(np.searchsorted(cum, 2 * sizes[t])) + 1
            topics = near[home][: min(n_topics, max(want_topics, need))]
            pool = np.concatenate([by_topic[z] for z in topics])
            take = min(int(sizes[t]), len(pool))
            pairs_v.append(rng.choice(pool, take, replace=False))
            pairs_t.append(np.full(take, t, np.int32))
            tenant_topics.append(topics)
        tenants_by_topic: list[list[int]] = [[] for _ in range(n_topics)]
        for t, topics in enumerate(tenant_topics):
            for z in topics:
                tenants_by_topic[z].append(t)
        v = np.concatenate(pairs_v)
        covered = np.zeros(n, bool)
        covered[v] = True
        orphan = np.flatnonzero(~covered)
        orphan_t = np.array(
            [
                rng.choice(tenants_by_topic[topic_of[i]]) if tenants_by_topic[topic_of[i]] else rng.integers(n_tenants)
                for i in orphan
            ],
            np.int32,
        )
        v = np.concatenate([v, orphan])
        tt = np.concatenate(pairs_t + [orphan_t])
        key = np.unique(v.astype(np.int64) * n_tenants + tt)
        vt_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(key // n_tenants, minlength=n), out=vt_ptr[1:])
        vt_idx = (key % n_tenants).astype(np.int32)

        # The insert batch: fresh vectors, each for 1-3 tenants that hold its topic.
        ins_topic = rng.choice(n_topics, ni, p=pop)
        xins = sample(ins_topic) if ni else np.zeros((0, dim), np.float32)
        ins_lists = []
        for z in ins_topic:
            cands = tenants_by_topic[z] or [int(rng.integers(n_tenants))]
            m = min(len(cands), int(rng.integers(1, 4)))
            ins_lists.append(np.sort(rng.choice(cands, m, replace=False)).astype(np.int32))
        ins_ptr, ins_idx = _csr(ins_lists)

        super().__init__(
            name=name,
            metric="l2",
            xb=xb,
            vt_ptr=vt_ptr,
            vt_idx=vt_idx,
            xq=np.zeros((0, dim), np.float32),
            q_tenant=np.zeros(0, np.int32),
            xins=xins,
            ins_ptr=ins_ptr,
            ins_idx=ins_idx,
            n_tenants=n_tenants,
            meta={"seed": seed, "n_topics": n_topics, "zipf_a": zipf_a, "rank": rank},
        )
        # Queries need the tenant CSR, so they come last.
        sz = self.tenant_sizes
        live = np.flatnonzero(sz > 0)
        half = nq // 2
        qt = np.concatenate([rng.choice(live, half), rng.choice(live, nq - half, p=sz[live] / sz[live].sum())])
        qt = rng.permutation(qt).astype(np.int32)
        q_topics = np.array([topic_of[rng.choice(self.members(int(t)))] for t in qt], np.int64)
        self.xq = sample(q_topics) if nq else np.zeros((0, dim), np.float32)
        self.q_tenant = qt


def yfcc(scale: str = "small", seed: int = 0) -> SyntheticDataset:
    """The synthetic YFCC twin at a named scale (see `YFCC_SCALES`)."""
    return SyntheticDataset(**YFCC_SCALES[scale], seed=seed, name="yfcc")


# ---- the write batch ------------------------------------------------------------------------------


@dataclass
class WriteOps:
    """One fixed batch of writes, applied in this order to every system after its searches.

    insert: ids, vectors, tenant lists (new vectors); grant/revoke: (tenant, ids) groups on base
    vectors; delete: base ids with the tenants each has at that point (after grant and revoke).
    """

    insert_ids: np.ndarray
    insert_vecs: np.ndarray
    insert_tenants: list[np.ndarray]
    grant: list[tuple[int, np.ndarray]]
    revoke: list[tuple[int, np.ndarray]]
    delete_ids: np.ndarray
    delete_tenants: list[np.ndarray]

    @property
    def n_insert_grant(self) -> int:
        return len(self.insert_ids) + sum(len(i) for _, i in self.grant)

    @property
    def n_delete_revoke(self) -> int:
        return len(self.delete_ids) + sum(len(i) for _, i in self.revoke)


def write_ops(ds: MultiTenantDataset, seed: int = 1, groups: int = 10) -> WriteOps:
    """The write batch for `ds`: all of ds.xins inserted, then as many grants and revokes (in `groups`
    tenants) and deletes of base vectors. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    m = len(ds.xins)
    ins_ids = np.arange(ds.n, ds.n + m, dtype=np.int64)
    per = max(1, m // groups)
    acc: dict[int, set[int]] = {}

    def tenants(i: int) -> set[int]:
        if i not in acc:
            acc[i] = set(ds.tenants_of(i).tolist())
        return acc[i]

    sizes = ds.tenant_sizes
    order = rng.permutation(np.flatnonzero(sizes >= 4))  # revoking needs tenants with a few shared vectors
    grant, revoke = [], []
    for t in order[:groups]:
        t = int(t)
        cand = rng.choice(ds.n, min(ds.n, 4 * per), replace=False)
        cand = [int(i) for i in cand if t not in tenants(int(i))][:per]
        for i in cand:
            tenants(i).add(t)
        if cand:
            grant.append((t, np.array(sorted(cand), np.int64)))
    for t in order[groups : 2 * groups]:
        t = int(t)
        mem = ds.members(t)
        cand = [int(i) for i in rng.permutation(mem) if t in tenants(int(i)) and len(tenants(int(i))) >= 2]
        cand = cand[: min(per, len(mem) // 2)]
        for i in cand:
            tenants(i).discard(t)
        if cand:
            revoke.append((t, np.array(sorted(cand), np.int64)))
    del_ids = np.sort(rng.choice(ds.n, min(m, ds.n // 2), replace=False)).astype(np.int64)
    del_tenants = [np.array(sorted(tenants(int(i))), np.int32) for i in del_ids]
    return WriteOps(ins_ids, ds.xins, ds.tenant_lists(ds.ins_ptr, ds.ins_idx), grant, revoke, del_ids, del_tenants)


def dataset_key(workload: str, scale: str, seed: int) -> str:
    return hashlib.sha1(f"{workload}|{scale}|{seed}|v2".encode()).hexdigest()[:10]


def make_dataset(workload: str, scale: str, seed: int = 0, cache_dir: str | Path | None = None) -> MultiTenantDataset:
    """The named workload at a scale ("yfcc" or "text"). Raises RuntimeError when a workload cannot be
    built here (the text workload without its embedding model)."""
    if workload == "yfcc":
        return yfcc(scale, seed)
    if workload == "text":
        from .textdata import text_dataset

        return text_dataset(scale, seed=seed, cache_dir=cache_dir)
    raise ValueError(f"unknown workload {workload!r}: expected 'yfcc' or 'text'")
