"""gRPC vs embedded: the cost of the wire on the same data.

    python -m bench.bench_grpc                       # ~1 minute on 2 cores
    python -m bench.bench_grpc --n 50000 --dim 384   # bigger

Loads the same synthetic vectors twice: in-process (`vecdb.open`) and through a `vecdb serve` subprocess
(client streaming `bulk_upsert`, and unary `upsert` batches), then measures single-query search latency
(p50/p99) for a small and a large tenant, batch-search throughput, and bulk-upsert vectors/s. The server
runs in its own process so client and server do not share a GIL, as in production. Prints a table and
writes bench/results/grpc.json.

Targets (issue 5): loopback p50 search < 2 ms for small tenants; gRPC bulk upsert >= 50% of the embedded
rate.

OMP_WAIT_POLICY defaults to PASSIVE here (for both sides; the server inherits it), as `vecdb serve` sets
it: with OpenMP's default spin-waiting, Numba's parallel kernels called from Python's main thread ran
3-20x slower on a busy 2-core machine. Export OMP_WAIT_POLICY=ACTIVE to measure the other way.
"""

# ruff: noqa: E402  (the environment must be set before numba is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before numba starts its OpenMP threads (see above)

import argparse
import json
import platform
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import vecdb

RESULTS = Path(__file__).resolve().parent / "results"


def make_data(n: int, dim: int, small: int, seed: int) -> dict[str, Any]:
    """n vectors; the first `small` belong to tenant "small", the rest to "big"; queries near the data."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((32, dim)).astype(np.float32)
    x = centers[rng.integers(0, 32, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    tenants = ["small"] * small + ["big"] * (n - small)
    queries = x[rng.integers(0, n, 1000)] + 0.1 * rng.standard_normal((1000, dim)).astype(np.float32)
    return {"ids": np.arange(n, dtype=np.int64), "x": x, "tenants": tenants, "queries": queries}


def batches(data: dict[str, Any], size: int):
    for lo in range(0, len(data["ids"]), size):
        hi = lo + size
        yield data["ids"][lo:hi], data["x"][lo:hi], data["tenants"][lo:hi]


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def latencies(col: Any, queries: np.ndarray, tenant: str, k: int, warmup: int = 20) -> dict[str, float]:
    for q in queries[:warmup]:
        col.search(q, k=k, tenant=tenant)
    times = np.array([timed(col.search, q, k, tenant) for q in queries])
    return {
        "p50_ms": 1e3 * float(np.percentile(times, 50)),
        "p99_ms": 1e3 * float(np.percentile(times, 99)),
        "qps_1_thread": float(len(times) / times.sum()),
    }


def batch_qps(col: Any, queries: np.ndarray, tenant: str, k: int, per_call: int) -> float:
    col.search_batch(queries[:per_call], k=k, tenant=tenant)  # warm-up
    t = time.perf_counter()
    for lo in range(0, len(queries), per_call):
        col.search_batch(queries[lo : lo + per_call], k=k, tenant=tenant)
    return len(queries) / (time.perf_counter() - t)


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "server.main", "--data", str(data_dir), "--port", "0", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            match = re.search(r"serving .* on \S+:(\d+) ", lines.get(timeout=1))
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if match:
            return proc, f"127.0.0.1:{match.group(1)}"
    proc.kill()
    raise SystemExit("the vecdb server did not start")


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = make_data(args.n, args.dim, args.small, args.seed)
    queries = data["queries"][: args.queries]
    out: dict[str, Any] = {
        "config": vars(args),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "vecdb": vecdb.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        # ---- embedded -------------------------------------------------------------------------
        db = vecdb.open(Path(tmp) / "embedded")
        warm = next(batches(data, args.batch))
        db.create_collection("warmup", dim=args.dim).upsert(*warm[:2], tenants=warm[2])  # JIT, page cache
        col = db.create_collection("bench", dim=args.dim, metric="l2")
        t = time.perf_counter()
        for ids, x, tenants in batches(data, args.batch):
            col.upsert(ids, x, tenants=tenants)
        emb = {"upsert_vps": args.n / (time.perf_counter() - t)}
        emb["search_small"] = latencies(col, queries, "small", args.k)
        emb["search_big"] = latencies(col, queries[: max(50, len(queries) // 4)], "big", args.k)
        emb["batch_qps_big"] = batch_qps(col, data["queries"], "big", args.k, args.batch_queries)
        db.close()

        # ---- over gRPC (server in a subprocess) -----------------------------------------------
        proc, address = start_server(Path(tmp) / "served")
        try:
            client = vecdb.connect(address)
            client.create_collection("warmup", dim=args.dim).upsert(*warm[:2], tenants=warm[2])
            rcol = client.create_collection("bench", dim=args.dim, metric="l2")
            t = time.perf_counter()
            written = rcol.bulk_upsert(batches(data, args.batch))
            rpc = {"bulk_upsert_vps": written / (time.perf_counter() - t)}
            ucol = client.create_collection("unary", dim=args.dim, metric="l2")
            t = time.perf_counter()
            for ids, x, tenants in batches(data, args.batch):
                ucol.upsert(ids, x, tenants=tenants)
            rpc["unary_upsert_vps"] = args.n / (time.perf_counter() - t)
            rpc["search_small"] = latencies(rcol, queries, "small", args.k)
            rpc["search_big"] = latencies(rcol, queries[: max(50, len(queries) // 4)], "big", args.k)
            rpc["batch_qps_big"] = batch_qps(rcol, data["queries"], "big", args.k, args.batch_queries)
            assert rcol.count() == args.n
            client.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    out["embedded"], out["grpc"] = emb, rpc
    out["targets"] = {
        "grpc_p50_small_under_2ms": rpc["search_small"]["p50_ms"] < 2.0,
        "bulk_upsert_ratio": rpc["bulk_upsert_vps"] / emb["upsert_vps"],
        "bulk_upsert_at_least_half_of_embedded": rpc["bulk_upsert_vps"] >= 0.5 * emb["upsert_vps"],
    }
    return out


def print_table(res: dict[str, Any]) -> None:
    e, g = res["embedded"], res["grpc"]
    rows = [
        ("search p50, small tenant (ms)", e["search_small"]["p50_ms"], g["search_small"]["p50_ms"]),
        ("search p99, small tenant (ms)", e["search_small"]["p99_ms"], g["search_small"]["p99_ms"]),
        ("search p50, big tenant (ms)", e["search_big"]["p50_ms"], g["search_big"]["p50_ms"]),
        ("search p99, big tenant (ms)", e["search_big"]["p99_ms"], g["search_big"]["p99_ms"]),
        ("search QPS, 1 thread, small", e["search_small"]["qps_1_thread"], g["search_small"]["qps_1_thread"]),
        ("batch search QPS, big tenant", e["batch_qps_big"], g["batch_qps_big"]),
        ("upsert vectors/s (bulk stream)", e["upsert_vps"], g["bulk_upsert_vps"]),
        ("upsert vectors/s (unary calls)", e["upsert_vps"], g["unary_upsert_vps"]),
    ]
    c = res["config"]
    print(
        f"\nvecdb gRPC vs embedded: n={c['n']} dim={c['dim']} small tenant={c['small']} vectors, k={c['k']}, "
        f"batches of {c['batch']}"
    )
    print(f"{'metric':<34}{'embedded':>12}{'gRPC':>12}{'gRPC/emb':>10}")
    for name, a, b in rows:
        print(f"{name:<34}{a:>12.3f}{b:>12.3f}{b / a:>10.2f}")
    t = res["targets"]
    print(f"\ntarget p50 < 2 ms (small tenant, gRPC): {'met' if t['grpc_p50_small_under_2ms'] else 'MISSED'}")
    print(
        f"target bulk upsert >= 50% of embedded: {t['bulk_upsert_ratio']:.0%} "
        f"({'met' if t['bulk_upsert_at_least_half_of_embedded'] else 'MISSED'})"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="vectors (default 20000)")
    p.add_argument("--dim", type=int, default=128, help="dimension (default 128)")
    p.add_argument("--small", type=int, default=300, help="vectors of the small tenant (default 300)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--batch", type=int, default=1000, help="vectors per upsert batch (default 1000)")
    p.add_argument("--queries", type=int, default=500, help="single-query searches timed (default 500)")
    p.add_argument("--batch-queries", type=int, default=100, help="queries per search_batch call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "grpc.json"))
    args = p.parse_args(argv)
    res = run(args)
    print_table(res)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
