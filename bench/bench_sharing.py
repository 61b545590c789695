"""What a vector shared by many tenants costs, in RAM and on disk.

    python bench/bench_sharing.py [--n 20000] [--dim 128]

vecdb keeps each vector once in RAM (the curator slab) and once on disk (`vectors`); each extra tenant
that can see it costs an 8-byte slot in that tenant's shortlist in RAM, plus on disk a 4-byte entry in the
vector's access list, one `members` key and an 8-byte id in the tenant's stored shortlist. A per-tenant
index (hnswlib per tenant) stores the vector again for every tenant. This script measures both as the
sharing degree grows and writes bench/results/sharing.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import vecdb

RESULTS = Path(__file__).resolve().parent / "results"


def hnsw_bytes(n: int, dim: int, m: int = 16) -> int:
    """hnswlib's own per-element layout: the vector, 2M level-0 links + count, label, and upper levels
    (1/ln(M) of elements on average, M links each)."""
    level0 = dim * 4 + (2 * m + 1) * 4 + 8
    upper = (m + 1) * 4 / np.log(m)
    return int(n * (level0 + upper))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--tenants", type=int, default=64)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    raw = x.nbytes
    rows = []
    for degree in (1, 2, 8, 32):
        owners = [[f"t{(i + j * 7) % args.tenants}" for j in range(degree)] for i in range(args.n)]
        with tempfile.TemporaryDirectory() as tmp:
            db = vecdb.open(tmp, durable=False)
            col = db.create_collection("c", dim=args.dim)
            t0 = time.perf_counter()
            for lo in range(0, args.n, 5000):
                col.upsert(np.arange(lo, lo + 5000), x[lo : lo + 5000], tenants=owners[lo : lo + 5000])
            build = time.perf_counter() - t0
            st = col.stats()["index_stats"]
            db.close()
            disk = vecdb.open(tmp).stats()["used_bytes"]
        pairs = args.n * degree
        rows.append(
            {
                "degree": degree,
                "pairs": pairs,
                "build_s": build,
                "ram_structure_bytes": st["structure_bytes"],
                "ram_tenant_bytes": st["tenant_bytes"],
                "ram_over_raw": st["structure_bytes"] / raw,
                "disk_bytes": disk,
                "disk_over_raw": disk / raw,
                "per_tenant_copies_over_raw": hnsw_bytes(pairs, args.dim) / raw,
                "ram_bytes_per_extra_pair": (st["tenant_bytes"]) / pairs,
            }
        )
    print(f"n={args.n} dim={args.dim} raw={raw / 2**20:.1f} MiB; ratios are over the raw vector bytes")
    print(f"{'tenants/vector':>14} {'vecdb RAM':>10} {'vecdb disk':>11} {'per-tenant hnsw RAM':>20} {'RAM B/pair':>11}")
    for r in rows:
        print(
            f"{r['degree']:>14} {r['ram_over_raw']:>9.2f}x {r['disk_over_raw']:>10.2f}x "
            f"{r['per_tenant_copies_over_raw']:>19.2f}x {r['ram_bytes_per_extra_pair']:>11.1f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sharing.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS / 'sharing.json'}")


if __name__ == "__main__":
    main()
