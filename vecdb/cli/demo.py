"""`vecdb demo`: ingest a synthetic multi-tenant data set into a local database (or a server, with
--server), search it as a few tenants, and check every answer against exact brute force. Needs no input
files and no network."""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

from .common import add_target, open_target


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="ingest synthetic data and search it (no input needed)", description=__doc__)
    p.add_argument("--vectors", type=int, default=20_000, help="vectors to ingest (default: 20000)")
    p.add_argument("--dim", type=int, default=64, help="dimension (default: 64)")
    p.add_argument("--tenants", type=int, default=50, help="tenants (default: 50)")
    p.add_argument("--index", default=None, help="index kind (default: the library's default)")
    p.add_argument("--seed", type=int, default=0)
    add_target(p)
    p.set_defaults(func=run)


def make_data(n: int, dim: int, n_tenants: int, seed: int):
    """Clustered vectors; tenant sizes follow a Zipf law; about one vector in five is shared."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(max(8, n // 500), dim)).astype(np.float32) * 4
    vectors = centers[rng.integers(len(centers), size=n)] + rng.normal(size=(n, dim)).astype(np.float32)
    weights = 1.0 / np.arange(1, n_tenants + 1)
    owner = rng.choice(n_tenants, size=n, p=weights / weights.sum())
    tenants = []
    for i in range(n):
        names = {f"tenant-{owner[i]}"}
        if rng.random() < 0.2:
            names.add(f"tenant-{rng.integers(n_tenants)}")
        tenants.append(sorted(names))
    return vectors, tenants


def run(args: argparse.Namespace) -> int:
    vectors, tenants = make_data(args.vectors, args.dim, args.tenants, args.seed)
    ids = np.arange(len(vectors), dtype=np.int64)
    with open_target(args) as db:
        if "demo" in db.list_collections():
            db.drop_collection("demo")
        options = {} if args.index is None else {"index": args.index}
        col = db.create_collection("demo", dim=args.dim, metric="l2", **options)
        start = time.perf_counter()
        for lo in tqdm(range(0, len(ids), 5000), desc="ingest", unit="batch"):
            col.upsert(ids[lo:lo + 5000], vectors[lo:lo + 5000], tenants=tenants[lo:lo + 5000])
        ingest_s = time.perf_counter() - start
        print(f"ingested {len(ids)} x {args.dim} vectors for {len(col.tenants())} tenants "
              f"in {ingest_s:.2f} s ({len(ids) / ingest_s:,.0f} vectors/s)")
        _search_and_check(col, vectors, tenants, args.seed)
        where = f"--server {args.server}" if args.server else f"--data {args.data}"
        print(f"try: vecdb search -c demo -t tenant-0 --query-file <q.npy> {where};  vecdb stats {where}")
    return 0


def _search_and_check(col, vectors: np.ndarray, tenants: list[list[str]], seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    members: dict[str, list[int]] = {}
    for i, names in enumerate(tenants):
        for t in names:
            members.setdefault(t, []).append(i)
    by_size = sorted(members, key=lambda t: len(members[t]))
    picked = [by_size[0], by_size[len(by_size) // 2], by_size[-1]]
    print(f"{'tenant':>12} {'vectors':>8} {'recall@10':>10} {'p50 ms':>8}")
    for tenant in picked:
        rows = np.array(members[tenant])
        queries = vectors[rng.choice(rows, size=min(50, len(rows)))] + rng.normal(
            scale=0.5, size=(min(50, len(rows)), vectors.shape[1])).astype(np.float32)
        hits, times = 0, []
        for q in queries:
            t0 = time.perf_counter()
            res = col.search(q, k=10, tenant=tenant)
            times.append(time.perf_counter() - t0)
            exact = rows[np.argsort(((vectors[rows] - q) ** 2).sum(1), kind="stable")[:10]]
            hits += len(set(res.ids.tolist()) & set(exact.tolist()))
        recall = hits / (len(queries) * min(10, len(rows)))
        print(f"{tenant:>12} {len(rows):>8} {recall:>10.3f} {np.median(times) * 1e3:>8.2f}")
