"""Ingest rate and exact (flat) search latency of vecdb against plain numpy brute force, in one run.

    python bench/bench_foundation.py [--n 100000] [--dim 128] [--queries 200]

Prints a table and writes bench/results/foundation.json. Latencies are single-thread (numba threads = 1)
except the batch row; ratios compare systems measured in the same run, since this machine is shared.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

import vecdb

RESULTS = Path(__file__).resolve().parent / "results"


def percentile_ms(times: list[float], p: float) -> float:
    return float(np.percentile(times, p) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    qs = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = vecdb.open(tmp)
        col = db.create_collection("bench", dim=args.dim, index="flat")
        t0 = time.perf_counter()
        for lo in range(0, args.n, args.batch):
            col.upsert(np.arange(lo, min(args.n, lo + args.batch)), x[lo:lo + args.batch], tenants="t")
        ingest = args.n / (time.perf_counter() - t0)
        rows.append((f"vecdb ingest (durable, batch {args.batch})", f"{ingest:,.0f} vectors/s", "", ""))
        disk = db.stats()["disk_bytes"]

        col.search(qs[0], k=10, tenant="t")  # warm: loads the tenant matrix, compiles kernels
        numba.set_num_threads(1)
        t_vec, t_np = [], []
        recall_hits = 0
        for q in qs:
            t = time.perf_counter()
            res = col.search(q, k=10, tenant="t")
            t_vec.append(time.perf_counter() - t)
            t = time.perf_counter()
            d = ((x - q) ** 2).sum(1)
            exact = np.argpartition(d, 10)[:10]
            t_np.append(time.perf_counter() - t)
            recall_hits += len(set(exact.tolist()) & set(res.ids.tolist()))
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        t = time.perf_counter()
        col.search_batch(qs, k=10, tenant="t")
        batch_qps = len(qs) / (time.perf_counter() - t)
        db.close()
    p50v, p50n = percentile_ms(t_vec, 50), percentile_ms(t_np, 50)
    rows += [
        ("vecdb flat search p50 / p99 (1 thread)", f"{p50v:.2f} ms", f"{percentile_ms(t_vec, 99):.2f} ms",
         f"{p50n / p50v:.2f}x numpy"),
        ("numpy brute force p50 / p99", f"{p50n:.2f} ms", f"{percentile_ms(t_np, 99):.2f} ms", "1.00x"),
        ("vecdb search_batch (all cores)", f"{batch_qps:,.0f} QPS", "", ""),
        ("recall@10 vs numpy", f"{recall_hits / (10 * len(qs)):.3f}", "", ""),
        ("disk bytes / raw bytes", f"{disk / x.nbytes:.2f}", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"n={args.n} dim={args.dim} queries={args.queries}")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>16}  {r[2]:>10}  {r[3]:>12}")
    RESULTS.mkdir(exist_ok=True)
    out = {"n": args.n, "dim": args.dim, "ingest_vectors_per_s": ingest, "flat_p50_ms": p50v,
           "flat_p99_ms": percentile_ms(t_vec, 99), "numpy_p50_ms": p50n, "numpy_p99_ms": percentile_ms(t_np, 99),
           "batch_qps": batch_qps, "recall_at_10": recall_hits / (10 * len(qs)), "disk_over_raw": disk / x.nbytes}
    (RESULTS / "foundation.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'foundation.json'}")


if __name__ == "__main__":
    main()
