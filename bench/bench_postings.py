"""vecdb's memory/disk hybrid index: recall, latency, bytes read and RSS as the RAM cache shrinks below the
raw vector bytes; a synthetic collection larger than the cache; and disk growth under delete/re-insert.

    python -m bench.bench_postings sweep --workload yfcc --scale small [--fractions 1,0.25,0.1,0.02]
    python -m bench.bench_postings big --n 10000000 --dim 128 [--tenants 1000] [--data DIR] [--skip-build]
    python -m bench.bench_postings churn --workload yfcc --scale small [--rounds 3]

Every sub-command prints a table and writes JSON to bench/results/ (`sweep` also a PNG). Memory and
latency are measured in fresh subprocesses that open the database with `vecdb.open(path, cache_bytes=...)`.
The disk-mode counters come from `col.stats()["index_stats"]` ("mode", "queries", "postings_read",
"posting_bytes_read", "cache_hits", "cache_misses", "cache_hit_ratio", ...); where an index does not
report one, the table shows "-". See bench/README.md for the columns.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .bench_index import (
    RESULTS,
    _Blas,
    _fmt,
    _json_default,
    _machine,
    _pct,
    _table,
    latency_sweep,
    load_dataset,
    proc_status,
    pyplot,
    run_worker,
    save_figure,
)
from .systems import Vecdb
from .workloads import SCALES, MultiTenantDataset

MODULE = "bench.bench_postings"
MB = 1 / (1 << 20)
#: cumulative counters of index_stats whose per-run deltas are reported
COUNTERS = ("queries", "postings_read", "posting_bytes_read", "rows_scanned", "cache_hits", "cache_misses")
#: RSS lines of /proc/self/status whose growth is reported
RSS_KEYS = ("VmRSS", "RssAnon", "RssFile")


# ---- small shared pieces --------------------------------------------------------------------------


def dir_bytes(path: str | Path) -> dict[str, int]:
    """Sum of file sizes under path ("apparent") and of the blocks they occupy ("allocated")."""
    apparent = allocated = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                st = os.stat(os.path.join(root, f))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return {"apparent": apparent, "allocated": allocated}


def index_stats(col: Any) -> dict:
    return dict(col.stats().get("index_stats") or {})


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def counter_deltas(before: dict, after: dict) -> dict[str, float | None]:
    """after - before for each cumulative counter (None where the index does not report it)."""
    out = {}
    for key in COUNTERS:
        a, b = _num(before.get(key)), _num(after.get(key))
        out[key] = None if a is None or b is None else b - a
    return out


def per_query(deltas: dict, after: dict, nq: int) -> dict[str, float | None]:
    """Postings and bytes read per query and the hit ratio over one pass of nq queries."""
    q = deltas.get("queries") or nq  # the index's own count when it has one
    hits, misses = deltas.get("cache_hits"), deltas.get("cache_misses")
    if hits is not None and misses is not None and hits + misses > 0:
        ratio = hits / (hits + misses)
    else:
        ratio = _num(after.get("cache_hit_ratio"))
    pr, br, rs = deltas.get("postings_read"), deltas.get("posting_bytes_read"), deltas.get("rows_scanned")
    return {
        "postings_per_query": None if pr is None else pr / q,
        "rows_per_query": None if rs is None else rs / q,
        "bytes_read_per_query": None if br is None else br / q,
        "cache_hit_ratio": ratio,
    }


def rss_growth(before: dict, after: dict) -> dict[str, int | None]:
    return {k: (after[k] - before[k]) if k in after and k in before else None for k in RSS_KEYS}


def _mb(v: float | None, spec: str = ".1f") -> str:
    return _fmt(None if v is None else v * MB, spec)


def _write_json(name: str, report: dict, out_dir: str) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(report, indent=1, default=_json_default))
    return path


def _search_opts(budget: int | None) -> dict:
    return {} if budget is None else {"budget": budget}


def make_postings_current(db_dir: str, ds, raw: int) -> float:
    """Seconds to open the just-built database once in disk mode: a build in memory mode leaves the
    postings stale, and the first disk-mode open rebuilds them, which must not land in a measured row."""
    import vecdb

    t0 = time.perf_counter()
    with vecdb.open(db_dir, cache_bytes=max(1, raw // 100)) as db:
        col = db.collection(Vecdb.COLLECTION)
        col.search(ds.xq[0], 10, tenant=ds.tenant_names[int(ds.q_tenant[0])])
        assert col.stats()["index_stats"]["mode"] == "disk"
    return time.perf_counter() - t0


# ---- the query worker (a fresh process per cache size) --------------------------------------------


def write_queries(path: Path, xq: np.ndarray, tenant_names: list[str]) -> None:
    np.savez(path, xq=np.ascontiguousarray(xq, np.float32), tenants=np.array(tenant_names, dtype=str))


def warm_jit(index: str, cache_fraction: float) -> None:
    """Compile vecdb's kernels before measuring RSS: bench.systems.Vecdb.prepare, then a throw-away
    collection reopened at the same cache fraction, so the disk-mode read path is compiled too."""
    import vecdb

    Vecdb(index).prepare()
    tmp = tempfile.mkdtemp(prefix="vecdb-warm-")
    try:
        rng = np.random.default_rng(0)
        n, dim = 4096, 16
        with vecdb.open(tmp, durable=False) as db:
            col = db.create_collection("warm", dim=dim, index=index)
            tenants = [["a"]] * (n // 2) + [["a", "b"]] * (n // 2)
            col.upsert(np.arange(n), rng.standard_normal((n, dim)), tenants=tenants)
        with vecdb.open(tmp, cache_bytes=max(1, int(cache_fraction * n * dim * 4))) as db:
            col = db.collection("warm")
            for q in rng.standard_normal((8, dim)):
                col.search(q, k=10, tenant="a")
                col.search(q, k=10, tenant="b")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def query_worker(args: argparse.Namespace) -> dict:
    """Open the database with cache_bytes, run a warm-up pass over a spread of warmup-fraction of the
    queries, then every query once, one at a time on one thread. Reports ids, latencies, the index
    counters' deltas over the timed pass and RSS growth since before the open."""
    import numba

    import vecdb

    numba.set_num_threads(1)
    warm_jit(args.index, args.cache_fraction)  # JIT code is not the index's memory
    _Blas().limit(1)
    z = np.load(args.queries, allow_pickle=False)
    xq, tenants = z["xq"], [str(t) for t in z["tenants"]]
    nq, k, opts = len(xq), args.k, _search_opts(args.budget)

    mem0 = proc_status()
    t0 = time.perf_counter()
    db = vecdb.open(args.db, cache_bytes=args.cache_bytes)
    col = db.collection(args.collection)
    open_s = time.perf_counter() - t0
    mem_open = proc_status()
    n_warm = int(round(args.warmup_fraction * nq))
    warm = np.unique(np.linspace(0, nq - 1, n_warm).astype(int)) if n_warm else np.zeros(0, int)
    first_s = warm_s = None
    t0 = time.perf_counter()
    for j, r in enumerate(warm):
        col.search(xq[r], k, tenant=tenants[r], **opts)
        if j == 0:
            first_s = time.perf_counter() - t0  # the first query loads the index
    if len(warm):
        warm_s = time.perf_counter() - t0
    # Load every queried tenant's subtree once (a one-time cost per process, reported as tenant_load_s),
    # with a query that is none of the timed ones (the origin), so the cache is not primed with their
    # postings.
    t0 = time.perf_counter()
    origin = np.zeros(xq.shape[1], dtype=np.float32)
    for name in sorted(set(tenants)):
        col.search(origin, k, tenant=name, **opts)
    tenant_load_s = time.perf_counter() - t0
    mem_warm = proc_status()
    st0 = index_stats(col)

    lat = np.empty(nq)
    ids = np.full((nq, k), -1, np.int64)
    for r in range(nq):
        t1 = time.perf_counter()
        res = col.search(xq[r], k, tenant=tenants[r], **opts)
        lat[r] = time.perf_counter() - t1
        ids[r, : len(res.ids)] = res.ids
    st1 = index_stats(col)
    mem1 = proc_status()
    disk = col.stats().get("database_disk_bytes")
    db.close()
    deltas = counter_deltas(st0, st1)
    return {
        "cache_bytes": args.cache_bytes,
        "budget": args.budget,
        "nq": nq,
        "n_warmup": int(len(warm)),
        "open_s": open_s,
        "first_query_s": first_s,
        "warmup_s": warm_s,
        "tenant_load_s": tenant_load_s,
        "lat_s": lat.tolist(),
        "ids": ids.tolist(),
        "p50_ms": _pct(lat * 1e3, 50),
        "p99_ms": _pct(lat * 1e3, 99),
        "mean_ms": float(lat.mean() * 1e3) if nq else float("nan"),
        "mode": st1.get("mode"),
        "counter_deltas": deltas,
        **per_query(deltas, st1, nq),
        "index_stats": st1,
        "rss_before": {k: mem0.get(k) for k in (*RSS_KEYS, "VmHWM")},
        "rss_growth_open": rss_growth(mem0, mem_open),
        "rss_growth_warm": rss_growth(mem0, mem_warm),
        "rss_growth": rss_growth(mem0, mem1),
        "peak_rss_bytes": mem1.get("VmHWM"),
        "database_disk_bytes": disk,
    }


def run_queries(db_dir: str, queries: Path, cache_fraction: float, raw_bytes: int, args: argparse.Namespace,
                budget: int | None = None) -> dict:
    """One query_worker run; `budget` overrides args.budget (None: args.budget, None there: the default)."""
    cache_bytes, collection = int(cache_fraction * raw_bytes), Vecdb.COLLECTION
    budget = args.budget if budget is None else budget
    argv = [
        "query-worker",
        "--db",
        str(db_dir),
        "--collection",
        collection,
        "--index",
        args.index,
        "--queries",
        str(queries),
        "--cache-bytes",
        str(int(cache_bytes)),
        "--cache-fraction",
        str(cache_fraction),
        "--k",
        str(args.k),
        "--warmup-fraction",
        str(args.warmup_fraction),
    ]
    if budget is not None:
        argv += ["--budget", str(budget)]
    return run_worker(MODULE, argv, 1, args.worker_timeout)


# ---- sweep: the same collection at shrinking cache sizes ------------------------------------------


def baseline_worker(args: argparse.Namespace) -> dict:
    """Build one hnswlib baseline from the cached dataset; RSS growth of the build, and with --search the
    ef sweep of bench_index (single thread) with its operating point."""
    from .systems import make_system

    ds = MultiTenantDataset.load(args.data_file)
    system = make_system(args.spec)
    blas = _Blas()
    blas.limit(args.threads)
    system.prepare()
    mem0 = proc_status()
    t0 = time.perf_counter()
    system.build(ds, args.threads)
    out: dict[str, Any] = {"system": args.spec, "build_s": time.perf_counter() - t0}
    out["rss_growth"] = rss_growth(mem0, proc_status())
    if args.search:
        system.set_threads(1)
        blas.limit(1)
        small_q = ds.small_tenants(0.5)[ds.q_tenant]
        out["sweep"], out["op"] = latency_sweep(system, ds, args.k, small_q, args)
        out["rss_growth_after_search"] = rss_growth(mem0, proc_status())
    out["peak_rss_bytes"] = proc_status().get("VmHWM")
    system.close()
    return out


def run_baseline(spec: str, data_file: Path, search: bool, args: argparse.Namespace) -> dict:
    argv = [
        "baseline-worker",
        spec,
        "--data-file",
        str(data_file),
        "--k",
        str(args.k),
        "--threads",
        str(args.threads),
        "--target-recall",
        str(args.target_recall),
        "--repeat",
        str(args.repeat),
        "--max-point-seconds",
        str(args.max_point_seconds),
    ]
    if search:
        argv.append("--search")
    return run_worker(MODULE, argv, args.threads, args.worker_timeout)


def build_vecdb(ds: MultiTenantDataset, args: argparse.Namespace, workdir: str, cache_bytes: int | None) -> tuple:
    """Build the collection with bench.systems.Vecdb (durable=False, --threads) and close the database,
    keeping its directory. Returns (system, build seconds, col.stats() after the build)."""
    from .systems import make_system

    system = make_system(f"vecdb-{args.index}", cache_bytes=cache_bytes, workdir=workdir)
    system.prepare()
    t0 = time.perf_counter()
    system.build(ds, args.threads)
    build_s = time.perf_counter() - t0
    return system, build_s, system.col.stats()


def _recall(ds: MultiTenantDataset, ids: list, k: int) -> tuple[float, int]:
    rec, leaks = zip(*(ds.recall(r, np.asarray(row), k) for r, row in enumerate(ids)), strict=True)
    return float(np.mean(rec)), int(sum(leaks))


def cmd_sweep(args: argparse.Namespace) -> dict | None:
    loaded = load_dataset(args.workload, args)
    if loaded is None:
        return None
    ds, data_file = loaded
    raw = ds.n * ds.dim * 4
    fractions = [float(f) for f in args.fractions.split(",") if f]
    work = tempfile.mkdtemp(prefix="vecdb-postings-", dir=args.workdir)
    report: dict[str, Any] = {
        "command": "sweep",
        "workload": args.workload,
        "scale": args.scale,
        "index": args.index,
        "k": args.k,
        "budget": args.budget,
        "target_recall": args.target_recall,
        "raw_vector_bytes": raw,
        "warmup_fraction": args.warmup_fraction,
        "dataset": ds.summary(),
        "machine": _machine(),
    }
    try:
        print(f"  building vecdb-{args.index} once ...", end="", flush=True)
        system, build_s, st = build_vecdb(ds, args, work, None)
        db_dir = system.dir
        system.db.close()
        system.db = None
        postings_s = make_postings_current(db_dir, ds, raw) if args.index == "curator" else 0.0
        report["build"] = {
            "build_s": build_s,
            "postings_s": postings_s,
            "data_dir_bytes": dir_bytes(db_dir),
            "index_stats": st.get("index_stats"),
        }
        print(f" {build_s:.1f} s + postings {postings_s:.1f} s, data dir {dir_bytes(db_dir)['apparent'] * MB:.1f} MB",
              flush=True)
        qfile = Path(work) / "queries.npz"
        write_queries(qfile, ds.xq, [ds.tenant_names[t] for t in ds.q_tenant.tolist()])
        points = [scored_run(ds, db_dir, qfile, f, raw, args, None,
                             f"cache {f:g} x raw ({int(f * raw) * MB:.2f} MB)") for f in fractions]
        report["points"] = points
        report["curve_fraction"] = args.curve_fraction
        report["curve"] = budget_curve(ds, db_dir, qfile, raw, args)
        baselines = {}
        if not args.no_baselines:
            for spec, search in (("hnsw-tenant", True), ("hnsw-shared", False)):
                t0 = time.perf_counter()
                print(f"  {spec} ...", end="", flush=True)
                b = run_baseline(spec, data_file, search, args)
                baselines[spec] = b
                status = f"error: {b['error'].splitlines()[0]}" if "error" in b else "ok"
                print(f" {status} ({time.perf_counter() - t0:.1f} s)", flush=True)
        report["baselines"] = baselines
        report["ratios"] = sweep_ratios(points, baselines)
        report["same_recall"] = same_recall_ratios(
            [p for p in points if p["fraction"] == args.curve_fraction] + report["curve"], baselines
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stem = f"postings_sweep_{args.workload}_{args.scale}"
    path = _write_json(f"{stem}.json", report, args.out_dir)
    print(format_sweep(report))
    png = None if args.no_plot else plot_sweep(report, Path(args.out_dir) / f"{stem}.png")
    print(f"wrote {path}" + (f" and {png}" if png else ""))
    return report


def budget_curve(ds: MultiTenantDataset, db_dir: str, qfile: Path, raw: int, args: argparse.Namespace) -> list[dict]:
    """vecdb's recall/latency trade at one cache size: a fresh run per `budget=` of --budgets (the search
    knob; given alone it turns the adaptive stop off)."""
    f = args.curve_fraction
    return [scored_run(ds, db_dir, qfile, f, raw, args, b, f"cache {f:g} x raw, budget={b}")
            for b in [int(v) for v in args.budgets.split(",") if v]]


def scored_run(ds: MultiTenantDataset, db_dir: str, qfile: Path, fraction: float, raw: int, args: argparse.Namespace,
               budget: int | None, label: str) -> dict:
    """run_queries at one cache fraction (and budget), its ids turned into recall and leaks, with a progress
    line."""
    t0 = time.perf_counter()
    print(f"  vecdb-{args.index} {label} ...", end="", flush=True)
    r = run_queries(db_dir, qfile, fraction, raw, args, budget=budget)
    r["fraction"] = fraction
    if "error" not in r:
        r["recall"], r["leaks"] = _recall(ds, r.pop("ids"), args.k)
        r.pop("lat_s")
    status = f"error: {r['error'].splitlines()[0]}" if "error" in r else f"recall {r['recall']:.3f}"
    print(f" {status} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return r


def hnsw_p50_at(recall: float, sweep: list[dict]) -> float | None:
    """hnsw-tenant's p50 at a given recall, interpolated linearly between the two ef settings of its sweep
    whose recalls bracket it (None outside the range the sweep covers)."""
    pts = sorted((p["recall"], p["p50_ms"]) for p in sweep if p.get("recall") is not None)
    for (r0, t0), (r1, t1) in zip(pts, pts[1:], strict=False):
        if r0 <= recall <= r1:
            return t0 if r1 == r0 else t0 + (recall - r0) / (r1 - r0) * (t1 - t0)
    return None


def same_recall_ratios(points: list[dict], baselines: dict) -> list[dict]:
    """For each vecdb run of the budget curve (and the default at that cache size): its p50 against
    hnsw-tenant's at the same recall, so that neither side is charged for recall the other did not reach."""
    ht = baselines.get("hnsw-tenant", {})
    sweep = ht.get("sweep", []) if "error" not in ht else []
    out = []
    for p in points:
        if "error" in p:
            continue
        h = hnsw_p50_at(p["recall"], sweep)
        out.append({"budget": p.get("budget"), "recall": p["recall"], "p50_ms": p["p50_ms"],
                    "hnsw_tenant_p50_ms": h, "p50_vs_hnsw_tenant": p["p50_ms"] / h if h else None})
    return sorted(out, key=lambda r: r["recall"])


def sweep_ratios(points: list[dict], baselines: dict) -> list[dict]:
    """Per cache fraction: vecdb p50 / hnsw-tenant p50 (operating point) and vecdb RSS growth /
    hnsw-shared build RSS growth (< 1: vecdb better)."""
    ht, hs = baselines.get("hnsw-tenant", {}), baselines.get("hnsw-shared", {})
    ht_p50 = ht.get("op", {}).get("p50_ms") if "error" not in ht else None
    hs_rss = hs.get("rss_growth", {}).get("VmRSS") if "error" not in hs else None
    out = []
    for p in points:
        if "error" in p:
            out.append({"fraction": p["fraction"]})
            continue
        rss = p["rss_growth"].get("VmRSS")
        out.append(
            {
                "fraction": p["fraction"],
                "p50_vs_hnsw_tenant": p["p50_ms"] / ht_p50 if ht_p50 else None,
                "rss_vs_hnsw_shared": rss / hs_rss if rss is not None and hs_rss else None,
            }
        )
    return out


def format_sweep(report: dict) -> str:
    d, b = report["dataset"], report.get("build", {})
    title = (
        f"sweep {report['workload']}/{report['scale']}: n={d['n']} dim={d['dim']} tenants={d['n_tenants']} "
        f"nq={d['nq']} k={report['k']} index={report['index']} budget={report['budget'] or 'default'}; "
        f"raw vectors {report['raw_vector_bytes'] * MB:.1f} MB; built once in {_fmt(b.get('build_s'), '.1f')} s "
        f"in memory mode, postings made by a first disk-mode open in {_fmt(b.get('postings_s'), '.1f')} s "
        f"(data dir {_mb(b.get('data_dir_bytes', {}).get('apparent'))} MB). Each row: a fresh process, "
        f"warm-up pass over {report['warmup_fraction']:.0%} of the queries, every queried tenant loaded once "
        f"(a query at the origin), then every query once on 1 thread; "
        f"RSS growth from before vecdb.open to after the queries"
    )
    head = ["cache x raw", "cache MB", "mode", *QUERY_COLUMNS, "p50 / hnsw-t", "RSS / hnsw-s"]
    rows, errors = [], []
    ratios = {r["fraction"]: r for r in report.get("ratios", [])}
    for p in report.get("points", []):
        if "error" in p:
            errors.append(f"  cache {p['fraction']:g}: {p['error'].strip().splitlines()[-1] if p['error'] else ''}")
            continue
        rt = ratios.get(p["fraction"], {})
        rows.append(
            [
                f"{p['fraction']:g}",
                _mb(p["cache_bytes"], ".2f"),
                _fmt(p.get("mode")),
                *query_cells(p),
                _fmt(rt.get("p50_vs_hnsw_tenant"), ".2f"),
                _fmt(rt.get("rss_vs_hnsw_shared"), ".2f"),
            ]
        )
    out = [title, _table(head, rows)]
    bl = report.get("baselines", {})
    if bl:
        bhead = ["baseline", "op", "recall", "p50 ms", "p99 ms", "build s", "RSS MB", "anon MB", "file MB"]
        brows = []
        for name, r in bl.items():
            if "error" in r:
                errors.append(f"  {name}: {r['error'].strip().splitlines()[-1] if r['error'].strip() else 'failed'}")
                continue
            op, g = r.get("op"), r["rss_growth"]
            brows.append(
                [
                    name,
                    f"ef={op['knob']}" if op else "build only",
                    _fmt(op["recall"], ".3f") if op else "-",
                    _fmt(op["p50_ms"]) if op else "-",
                    _fmt(op["p99_ms"]) if op else "-",
                    _fmt(r["build_s"], ".1f"),
                    _mb(g.get("VmRSS")),
                    _mb(g.get("RssAnon")),
                    _mb(g.get("RssFile")),
                ]
            )
        out += [
            "baselines (fresh process each; RSS growth over the build; hnsw-tenant: fastest ef with recall >= "
            f"{report.get('target_recall', 0.95)}, one timed pass after a warm-up pass)",
            _table(bhead, brows),
            "ratios are vecdb / baseline: < 1 = vecdb faster (p50) or smaller (RSS)",
        ]
    same = report.get("same_recall") or []
    if same:
        out += [
            f"at the same recall (cache {report.get('curve_fraction', 0):g} x raw; hnsw-tenant's p50 interpolated "
            "between the two ef settings that bracket vecdb's recall; - : outside its sweep)",
            _table(["vecdb budget", "recall", "p50 ms", "hnsw-t p50 ms", "p50 / hnsw-t"],
                   [[str(r["budget"]) if r["budget"] is not None else "default", _fmt(r["recall"], ".3f"),
                     _fmt(r["p50_ms"]), _fmt(r["hnsw_tenant_p50_ms"]), _fmt(r["p50_vs_hnsw_tenant"], ".2f")]
                    for r in same]),
        ]
    runs = report.get("points", []) + report.get("curve", [])
    if any(p.get("leaks") for p in runs):
        out.append("TENANT ISOLATION VIOLATIONS: " + str([(p["fraction"], p.get("budget"), p["leaks"]) for p in runs
                                                           if p.get("leaks")]))
    if errors:
        out += ["failed:", *errors]
    return "\n".join(out)


#: the columns every table of a query run has (query_cells fills them)
QUERY_COLUMNS = ["recall", "p50 ms", "p99 ms", "postings/q", "rows/q", "KB read/q", "hit ratio", "RSS MB", "anon MB",
                 "file MB", "load s"]


def query_cells(p: dict) -> list[str]:
    """QUERY_COLUMNS of one query_worker result."""
    g = p["rss_growth"]
    kb = None if p.get("bytes_read_per_query") is None else p["bytes_read_per_query"] / 1024
    return [
        _fmt(p["recall"], ".3f"),
        _fmt(p["p50_ms"]),
        _fmt(p["p99_ms"]),
        _fmt(p.get("postings_per_query"), ".1f"),
        _fmt(p.get("rows_per_query"), ".0f"),
        _fmt(kb, ".1f"),
        _fmt(p.get("cache_hit_ratio"), ".3f"),
        _mb(g.get("VmRSS")),
        _mb(g.get("RssAnon")),
        _mb(g.get("RssFile")),
        _fmt((p["open_s"] or 0) + (p["first_query_s"] or 0), ".2f"),
    ]


def plot_sweep(report: dict, path: Path) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    pts = [p for p in report.get("points", []) if "error" not in p]
    if not pts:
        return None
    pts.sort(key=lambda p: p["fraction"])
    x = [p["fraction"] for p in pts]
    ht = report.get("baselines", {}).get("hnsw-tenant", {})
    op = ht.get("op") if "error" not in ht else None
    same = report.get("same_recall") or []
    fig, axes = plt.subplots(1, 3 if same else 2, figsize=(16.5 if same else 11, 4.2))
    for ax, key, label in ((axes[0], "recall", f"recall@{report['k']}"), (axes[1], "p50_ms", "latency (ms)")):
        ax.plot(x, [p[key] for p in pts], marker="o", label=f"vecdb-{report['index']}")
        if key == "p50_ms":
            ax.plot(x, [p["p99_ms"] for p in pts], marker="x", ls=":", label=f"vecdb-{report['index']} p99")
        if op:
            ax.axhline(op[key], color="grey", ls="--", lw=1, label=f"hnsw-tenant (ef={op['knob']})")
        ax.set_xscale("log")
        ax.set_xlabel("cache_bytes / raw vector bytes")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_yscale("log")
    if same:
        ax = axes[2]
        ax.plot([r["recall"] for r in same], [r["p50_ms"] for r in same], marker="o",
                label=f"vecdb-{report['index']}, cache {report.get('curve_fraction', 0):g} x raw (budget)")
        sweep = ht.get("sweep", []) if "error" not in ht else []
        if sweep:
            ax.plot([p["recall"] for p in sweep], [p["p50_ms"] for p in sweep], marker="x", color="grey",
                    label="hnsw-tenant, in memory (ef)")
        ax.set_xlabel(f"recall@{report['k']}")
        ax.set_ylabel("p50 latency (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(plt, fig, report, "; recall and latency vs cache size, and recall vs latency (1 thread)", path)


# ---- big: a synthetic collection generated in seeded batches --------------------------------------


@dataclass(frozen=True)
class BigSpec:
    """A clustered multi-tenant collection generated batch by batch, each batch from its own seed, so any
    batch (and so any tenant's vectors) can be regenerated without holding the collection in RAM.

    Topics are Gaussian centroids with a random rank-`rank` subspace (as bench.workloads). Tenant t gets
    weight ~ 1/(t+1)^zipf and a home topic plus its nearest topics (more for bigger tenants). A vector
    draws its tenant by weight, then one of that tenant's topics, then a point of it; with probability
    `share` a second tenant that also holds that topic sees it too. Ids are 0..n-1 in batch order.
    """

    n: int
    dim: int
    tenants: int
    seed: int = 0
    batch: int = 100_000
    share: float = 0.2
    zipf: float = 1.0
    n_topics: int = 0  # 0: clip(n // 5000, 16, 2000)
    rank: int = 16
    noise: float = 0.1

    @property
    def topics(self) -> int:
        return self.n_topics or int(np.clip(self.n // 5000, 16, 2000))

    @property
    def n_batches(self) -> int:
        return (self.n + self.batch - 1) // self.batch

    @property
    def raw_bytes(self) -> int:
        return self.n * self.dim * 4

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]

    def structure(self) -> dict:
        """Topics, tenant weights, tenant -> topics and topic -> tenants (CSR), from the seed alone."""
        if "_s" in self.__dict__:
            return self.__dict__["_s"]
        rng = np.random.default_rng([self.seed, 0])
        nt, T = self.topics, self.tenants
        cent = rng.standard_normal((nt, self.dim)).astype(np.float32)
        basis = rng.standard_normal((nt, self.rank, self.dim)).astype(np.float32) * np.float32(0.6 / np.sqrt(self.rank))
        w = 1.0 / np.arange(1, T + 1) ** self.zipf
        w /= w.sum()
        sq = (cent**2).sum(1)
        near = np.argsort(sq[:, None] + sq[None, :] - 2 * (cent @ cent.T), axis=1)
        per_topic = self.n / nt
        tt = []
        for t in range(T):
            want = max(int(rng.integers(1, 4)), int(np.ceil(w[t] * self.n / per_topic)))
            tt.append(np.sort(near[int(rng.integers(nt))][: min(nt, want)]))
        t_ptr = np.zeros(T + 1, np.int64)
        np.cumsum([len(x) for x in tt], out=t_ptr[1:])
        t_idx = np.concatenate(tt).astype(np.int32)
        # topic -> tenants holding it, with cumulative weights for drawing the second tenant
        owner = np.repeat(np.arange(T, dtype=np.int32), np.diff(t_ptr))
        order = np.lexsort((owner, t_idx))
        z_tenant = owner[order]
        z_ptr = np.zeros(nt + 1, np.int64)
        np.cumsum(np.bincount(t_idx, minlength=nt), out=z_ptr[1:])
        z_cw = np.cumsum(w[z_tenant])
        s = {"cent": cent, "basis": basis, "w": w, "t_ptr": t_ptr, "t_idx": t_idx}
        s.update(z_ptr=z_ptr, z_tenant=z_tenant, z_cw=z_cw)
        object.__setattr__(self, "_s", s)  # frozen dataclass: cache outside the fields
        return s

    def assign(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first tenant, second tenant or -1, topic) of every vector of batch b."""
        s = self.structure()
        m = min(self.batch, self.n - b * self.batch)
        rng = np.random.default_rng([self.seed, 1, b])
        first = rng.choice(self.tenants, m, p=s["w"]).astype(np.int32)
        cnt = np.diff(s["t_ptr"])[first]
        topic = s["t_idx"][s["t_ptr"][first] + (rng.random(m) * cnt).astype(np.int64)]
        second = np.full(m, -1, np.int32)
        rows = np.flatnonzero(rng.random(m) < self.share)
        if len(rows):
            z = topic[rows]
            lo, hi = s["z_ptr"][z], s["z_ptr"][z + 1]
            base = np.where(lo > 0, s["z_cw"][np.maximum(lo - 1, 0)], 0.0)
            span = s["z_cw"][hi - 1] - base
            pos = np.searchsorted(s["z_cw"], base + rng.random(len(rows)) * span, side="right")
            pick = s["z_tenant"][np.clip(pos, lo, hi - 1)]
            second[rows] = np.where(pick != first[rows], pick, -1)
        return first, second, topic

    def points(self, topic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.structure()
        x = rng.standard_normal((len(topic), self.dim), dtype=np.float32) * np.float32(self.noise)
        order = np.argsort(topic, kind="stable")
        bounds = np.searchsorted(topic[order], np.arange(self.topics + 1))
        for z in np.flatnonzero(np.diff(bounds)):  # one small matmul per topic present
            rows = order[bounds[z] : bounds[z + 1]]
            x[rows] += s["cent"][z] + rng.standard_normal((len(rows), self.rank), dtype=np.float32) @ s["basis"][z]
        return x

    def batch_data(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ids int64, vectors float32[m, dim], first tenant, second tenant or -1) of batch b."""
        first, second, topic = self.assign(b)
        x = self.points(topic, np.random.default_rng([self.seed, 2, b]))
        start = b * self.batch
        return np.arange(start, start + len(first), dtype=np.int64), x, first, second

    def tenant_sizes(self) -> np.ndarray:
        sizes = np.zeros(self.tenants, np.int64)
        for b in range(self.n_batches):
            first, second, _ = self.assign(b)
            sizes += np.bincount(first, minlength=self.tenants)
            sizes += np.bincount(second[second >= 0], minlength=self.tenants)
        return sizes

    def queries(self, nq: int, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """nq queries: the tenant half uniformly, half by size (among tenants with vectors); the query a
        fresh point from one of the tenant's topics."""
        s = self.structure()
        rng = np.random.default_rng([self.seed, 3])
        live = np.flatnonzero(sizes > 0)
        half = nq // 2
        qt = np.concatenate([rng.choice(live, half), rng.choice(live, nq - half, p=sizes[live] / sizes[live].sum())])
        qt = rng.permutation(qt).astype(np.int32)
        cnt = np.diff(s["t_ptr"])[qt]
        topic = s["t_idx"][s["t_ptr"][qt] + (rng.random(nq) * cnt).astype(np.int64)]
        return self.points(topic, rng), qt

    def ground_truth(self, xq: np.ndarray, qt: np.ndarray, k: int, progress: bool = True) -> np.ndarray:
        """Exact top-k ids (squared L2) per query among its tenant's vectors: one streaming pass that
        regenerates every batch. int64[nq, k], padded with -1."""
        nq = len(xq)
        best_d = np.full((nq, k), np.inf, np.float32)
        best_i = np.full((nq, k), -1, np.int64)
        qsq = np.einsum("ij,ij->i", xq, xq)
        rows_of = {int(t): np.flatnonzero(qt == t) for t in np.unique(qt)}
        qts = np.array(sorted(rows_of), np.int32)
        for b in _progress(range(self.n_batches), progress, "ground truth", "batch"):
            ids, x, first, second = self.batch_data(b)
            has = second >= 0
            r = np.concatenate([np.arange(len(ids)), np.flatnonzero(has)])
            t = np.concatenate([first, second[has]])
            keep = np.isin(t, qts)
            r, t = r[keep], t[keep]
            order = np.argsort(t, kind="stable")
            r, t = r[order], t[order]
            bounds = np.searchsorted(t, qts, side="left"), np.searchsorted(t, qts, side="right")
            xsq = np.einsum("ij,ij->i", x, x)
            for tt, lo, hi in zip(qts.tolist(), *bounds, strict=True):
                if hi == lo:
                    continue
                rows, sel = rows_of[tt], r[lo:hi]
                D = xsq[sel][None, :] - 2 * (xq[rows] @ x[sel].T) + qsq[rows][:, None]
                allD = np.concatenate([best_d[rows], D.astype(np.float32)], axis=1)
                allI = np.concatenate([best_i[rows], np.broadcast_to(ids[sel], D.shape)], axis=1)
                part = np.argsort(allD, axis=1, kind="stable")[:, :k]
                best_d[rows] = np.take_along_axis(allD, part, axis=1)
                best_i[rows] = np.take_along_axis(allI, part, axis=1)
        return best_i


def _progress(it, on: bool, desc: str, unit: str, total: int | None = None, scale: bool = False):
    if not on:
        return it
    try:
        from tqdm import tqdm
    except ImportError:
        return it
    return tqdm(it, desc=desc, unit=unit, total=total, file=sys.stderr, mininterval=2.0, unit_scale=scale)


def big_build_worker(args: argparse.Namespace) -> dict:
    """Ingest the BigSpec collection into DATA/db with col.upsert in batches (durable=False), at a small
    cache_bytes. Reports build time, peak RSS (VmHWM) and the data directory's size."""
    import numba

    import vecdb

    spec = BigSpec(**json.loads(args.spec))
    Vecdb(args.index).prepare()  # JIT compile first: build time is ingest time
    numba.set_num_threads(args.threads)
    _Blas().limit(args.threads)
    mem0 = proc_status()
    names = [f"t{t}" for t in range(spec.tenants)]
    singles = [[nm] for nm in names]
    db_dir = Path(args.data) / "db"
    t0 = time.perf_counter()
    gen_s = upsert_s = 0.0
    db = vecdb.open(db_dir, durable=False, cache_bytes=args.cache_bytes)
    col = db.create_collection(Vecdb.COLLECTION, dim=spec.dim, metric="l2", index=args.index)
    bar = _progress(None, True, "ingest", "vec", total=spec.n, scale=True)
    for b in range(spec.n_batches):
        t1 = time.perf_counter()
        ids, x, first, second = spec.batch_data(b)
        pairs = zip(first.tolist(), second.tolist(), strict=True)
        tenants = [singles[f] if s < 0 else [names[f], names[s]] for f, s in pairs]
        gen_s += time.perf_counter() - t1
        t1 = time.perf_counter()
        for lo in range(0, len(ids), args.upsert_batch):
            hi = lo + args.upsert_batch
            col.upsert(ids[lo:hi], x[lo:hi], tenants=tenants[lo:hi])
            if bar is not None:
                bar.update(len(ids[lo:hi]))
        upsert_s += time.perf_counter() - t1
    if bar is not None:
        bar.close()
    st = col.stats()
    mem_open = proc_status()  # with the database still open: its mapped LMDB pages count as RssFile
    t1 = time.perf_counter()
    db.close()
    close_s = time.perf_counter() - t1
    build_s = time.perf_counter() - t0
    mem1 = proc_status()
    return {
        "build_s": build_s,
        "generate_s": gen_s,
        "upsert_s": upsert_s,
        "close_s": close_s,
        "vectors_per_s": spec.n / build_s,
        "cache_bytes": args.cache_bytes,
        "rss_before_bytes": mem0.get("VmRSS"),
        "peak_rss_bytes": mem1.get("VmHWM"),
        "rss_end_bytes": mem1.get("VmRSS"),
        "rss_before_close": {k: mem_open.get(k) for k in RSS_KEYS},
        "data_dir_bytes": dir_bytes(db_dir),
        "vectors": st.get("vectors"),
        "tenants": st.get("tenants"),
        "index_stats": st.get("index_stats"),
    }


def cmd_big(args: argparse.Namespace) -> dict:
    spec = BigSpec(n=args.n, dim=args.dim, tenants=args.tenants, seed=args.seed, batch=args.batch, share=args.share)
    keep = args.data is not None
    data = Path(args.data) if keep else Path(tempfile.mkdtemp(prefix="vecdb-big-", dir=args.workdir))
    data.mkdir(parents=True, exist_ok=True)
    spec_file, build_file = data / "spec.json", data / "build.json"
    report: dict[str, Any] = {
        "command": "big",
        "spec": asdict(spec),
        "n_topics": spec.topics,
        "raw_vector_bytes": spec.raw_bytes,
        "index": args.index,
        "k": args.k,
        "budget": args.budget,
        "warmup_fraction": args.warmup_fraction,
        "machine": _machine(),
    }
    try:
        if args.skip_build:
            if not spec_file.exists() or json.loads(spec_file.read_text()) != asdict(spec):
                raise SystemExit(f"--skip-build: {spec_file} is missing or describes other data; build it first")
            report["build"] = json.loads(build_file.read_text()) if build_file.exists() else None
            print(f"[big] reusing {data / 'db'}", flush=True)
        else:
            if (data / "db").exists():
                raise SystemExit(f"{data / 'db'} exists: pass --skip-build to reuse it, or remove it")
            build_cache = int(args.build_cache_fraction * spec.raw_bytes)
            print(
                f"[big] building {spec.n} x {spec.dim}, {spec.tenants} tenants, {spec.topics} topics "
                f"(raw {spec.raw_bytes * MB:.0f} MB) in {data / 'db'}, cache_bytes {build_cache * MB:.1f} MB, "
                "durable=False",
                flush=True,
            )
            argv = [
                "big-build-worker",
                "--data",
                str(data),
                "--spec",
                json.dumps(asdict(spec)),
                "--index",
                args.index,
                "--cache-bytes",
                str(build_cache),
                "--upsert-batch",
                str(args.upsert_batch),
                "--threads",
                str(args.threads),
            ]
            b = run_worker(MODULE, argv, args.threads, args.worker_timeout, capture=False)
            if "error" in b:
                raise SystemExit(f"build failed: {b['error']}")
            spec_file.write_text(json.dumps(asdict(spec)))
            build_file.write_text(json.dumps(b, default=_json_default))
            report["build"] = b

        # Queries and exact answers, cached next to the data.
        gt_file = data / f"queries_{spec.key()}_{args.queries}_{args.k}.npz"
        if gt_file.exists():
            z = np.load(gt_file)
            xq, qt, gt, sizes = z["xq"], z["qt"], z["gt"], z["sizes"]
        else:
            t0 = time.perf_counter()
            sizes = spec.tenant_sizes()
            xq, qt = spec.queries(args.queries, sizes)
            gt = spec.ground_truth(xq, qt, args.k)
            np.savez(gt_file, xq=xq, qt=qt, gt=gt, sizes=sizes)
            print(f"[big] ground truth for {len(xq)} queries in {time.perf_counter() - t0:.1f} s", flush=True)
        report["tenant_sizes"] = {
            "min": int(sizes.min()),
            "median": float(np.median(sizes)),
            "max": int(sizes.max()),
            "empty": int((sizes == 0).sum()),
            "memberships": int(sizes.sum()),
            "query_tenants": int(len(np.unique(qt))),
        }
        qfile = data / "queries_run.npz"
        write_queries(qfile, xq, [f"t{t}" for t in qt.tolist()])
        cache = int(args.cache_fraction * spec.raw_bytes)
        print(f"[big] queries at cache_bytes {cache * MB:.1f} MB ({args.cache_fraction:g} x raw) ...", flush=True)
        r = run_queries(str(data / "db"), qfile, args.cache_fraction, spec.raw_bytes, args)
        if "error" in r:
            raise SystemExit(f"query worker failed: {r['error']}")
        ids = np.asarray(r.pop("ids"))
        r.pop("lat_s")
        rec = []
        for row in range(len(xq)):
            want = gt[row][gt[row] >= 0]
            got = ids[row][ids[row] >= 0]
            rec.append(len(np.intersect1d(want, got)) / len(want) if len(want) else 1.0)
        r["recall"] = float(np.mean(rec))
        r["fraction"] = args.cache_fraction
        r["data_dir_bytes"] = dir_bytes(data / "db")
        report["query"] = r
    finally:
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
    path = _write_json(f"postings_big_{spec.n}x{spec.dim}.json", report, args.out_dir)
    print(format_big(report))
    print(f"wrote {path}" + (f"; data kept in {data}" if keep else ""))
    return report


def format_big(report: dict) -> str:
    s, b, q, ts = report["spec"], report.get("build") or {}, report["query"], report["tenant_sizes"]
    raw = report["raw_vector_bytes"]
    disk = (b.get("data_dir_bytes") or {}).get("apparent") or q["data_dir_bytes"]["apparent"]
    title = (
        f"big: {s['n']} x {s['dim']}, {s['tenants']} tenants (sizes {ts['min']}..{ts['max']}, median "
        f"{ts['median']:g}, {ts['memberships'] / s['n']:.2f} tenants/vector), {report['n_topics']} topics, "
        f"raw vectors {raw * MB:.1f} MB"
    )
    bhead = ["build s", "vec/s", "build cache MB", "RSS before MB", "peak RSS MB", "data dir MB", "dir / raw", "mode"]
    brow = [
        _fmt(b.get("build_s"), ".1f"),
        _fmt(b.get("vectors_per_s"), ".0f"),
        _mb(b.get("cache_bytes")),
        _mb(b.get("rss_before_bytes"), ".0f"),
        _mb(b.get("peak_rss_bytes"), ".0f"),
        _mb(disk),
        _fmt(disk / raw if disk else None, ".2f"),
        _fmt((b.get("index_stats") or {}).get("mode")),
    ]
    qhead = ["cache x raw", "cache MB", "mode", "queries", *QUERY_COLUMNS]
    qrow = [f"{q['fraction']:g}", _mb(q["cache_bytes"]), _fmt(q.get("mode")), str(q["nq"]), *query_cells(q)]
    return "\n".join(
        [
            title,
            "build (fresh process, col.upsert in batches, durable=False; peak RSS = VmHWM of that process):",
            _table(bhead, [brow]),
            f"queries (fresh process; warm-up pass over {q['n_warmup']} queries, then every query once on 1 "
            "thread; recall@k against exact brute force per tenant; RSS growth from before vecdb.open):",
            _table(qhead, [qrow]),
        ]
    )


# ---- churn: delete and re-insert the same vectors -------------------------------------------------


def cmd_churn(args: argparse.Namespace) -> dict | None:
    loaded = load_dataset(args.workload, args)
    if loaded is None:
        return None
    ds, _ = loaded
    raw = ds.n * ds.dim * 4
    cache = int(args.cache_fraction * raw)
    work = tempfile.mkdtemp(prefix="vecdb-churn-", dir=args.workdir)
    blas = _Blas()
    opts = _search_opts(args.budget)
    names = ds.tenant_names
    lists = ds.tenant_lists()
    rows: list[dict] = []
    try:
        print(f"  building vecdb-{args.index} (cache_bytes {cache * MB:.2f} MB, durable=False) ...", end="", flush=True)
        system, build_s, _ = build_vecdb(ds, args, work, cache)
        print(f" {build_s:.1f} s", flush=True)
        col = system.col

        def measure(label: str, extra: dict) -> dict:
            system.set_threads(1)
            blas.limit(1)
            lat = np.empty(ds.nq)
            res = []
            for r in range(ds.nq):
                t1 = time.perf_counter()
                got = col.search(ds.xq[r], args.k, tenant=names[int(ds.q_tenant[r])], **opts)
                lat[r] = time.perf_counter() - t1
                res.append(got.ids)
            rec, leaks = _recall(ds, res, args.k)
            st = col.stats()
            disk = dir_bytes(system.dir)
            row = {
                "round": label,
                "recall": rec,
                "leaks": leaks,
                "p50_ms": _pct(lat * 1e3, 50),
                "p99_ms": _pct(lat * 1e3, 99),
                "vectors": st.get("vectors"),
                "data_dir_bytes": disk,
                "used_bytes": system.db.stats().get("used_bytes"),
                "index_stats": st.get("index_stats"),
                **extra,
            }
            row["size_vs_initial"] = disk["apparent"] / rows[0]["data_dir_bytes"]["apparent"] if rows else 1.0
            print(
                f"  {label}: recall {rec:.3f}, data dir {disk['apparent'] * MB:.1f} MB ({row['size_vs_initial']:.2f}x)",
                flush=True,
            )
            return row

        rows.append(measure("initial", {"build_s": build_s}))
        rng = np.random.default_rng(args.seed + 17)
        n_churn = int(round(args.churn_fraction * ds.n))
        for rnd in range(1, args.rounds + 1):
            system.set_threads(args.threads)
            blas.limit(args.threads)
            ids = np.sort(rng.choice(ds.n, n_churn, replace=False)).astype(np.int64)
            t0 = time.perf_counter()
            for lo in range(0, len(ids), args.batch):
                col.delete(ids[lo : lo + args.batch])
            del_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for lo in range(0, len(ids), args.batch):
                chunk = ids[lo : lo + args.batch]
                col.upsert(chunk, ds.xb[chunk], tenants=[[names[t] for t in lists[i].tolist()] for i in chunk.tolist()])
            ins_s = time.perf_counter() - t0
            rows.append(measure(f"round {rnd}", {"churned": len(ids), "delete_s": del_s, "reinsert_s": ins_s}))
        system.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "command": "churn",
        "workload": args.workload,
        "scale": args.scale,
        "index": args.index,
        "k": args.k,
        "budget": args.budget,
        "raw_vector_bytes": raw,
        "cache_bytes": cache,
        "churn_fraction": args.churn_fraction,
        "batch": args.batch,
        "dataset": ds.summary(),
        "machine": _machine(),
        "rounds": rows,
    }
    path = _write_json(f"postings_churn_{args.workload}_{args.scale}.json", report, args.out_dir)
    print(format_churn(report))
    print(f"wrote {path}")
    return report


def format_churn(report: dict) -> str:
    d = report["dataset"]
    title = (
        f"churn {report['workload']}/{report['scale']}: n={d['n']} dim={d['dim']} tenants={d['n_tenants']} "
        f"nq={d['nq']} index={report['index']}, cache_bytes {report['cache_bytes'] * MB:.2f} MB "
        f"({report['cache_bytes'] / report['raw_vector_bytes']:.2g} x raw), durable=False; each round deletes "
        f"{report['churn_fraction']:.0%} of the vectors and re-inserts them (same ids, vectors, tenants) in "
        f"batches of {report['batch']}; recall against the unchanged ground truth, queries on 1 thread, no warm-up"
    )
    head = [
        "round",
        "mode",
        "recall",
        "p50 ms",
        "p99 ms",
        "data MB",
        "vs initial",
        "LMDB used MB",
        "dead rows",
        "delete s",
        "reinsert s",
    ]
    rows = []
    for r in report["rounds"]:
        st = r.get("index_stats") or {}
        rows.append(
            [
                r["round"],
                _fmt(st.get("mode")),
                _fmt(r["recall"], ".3f"),
                _fmt(r["p50_ms"]),
                _fmt(r["p99_ms"]),
                _mb(r["data_dir_bytes"]["apparent"]),
                _fmt(r["size_vs_initial"], ".3f"),
                _mb(r.get("used_bytes")),
                _fmt(st.get("dead_rows"), ".0f"),
                _fmt(r.get("delete_s"), ".2f"),
                _fmt(r.get("reinsert_s"), ".2f"),
            ]
        )
    out = [title, _table(head, rows)]
    leaks = {r["round"]: r["leaks"] for r in report["rounds"] if r.get("leaks")}
    if leaks:
        out.append(f"TENANT ISOLATION VIOLATIONS: {leaks}")
    return "\n".join(out)


# ---- command line ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{sweep,big,churn}")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", default="curator", help="vecdb index (default curator)")
    common.add_argument("--k", type=int, default=10)
    common.add_argument("--budget", type=int, default=None, help="search budget (default: the index's default)")
    common.add_argument("--threads", type=int, default=2, help="threads for building (queries use 1)")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--workdir", default=None, help="where temporary databases go (default: system temp)")
    common.add_argument("--out-dir", default=str(RESULTS))
    common.add_argument("--worker-timeout", type=float, default=None, help="seconds per subprocess (default: none)")
    common.add_argument(
        "--warmup-fraction", type=float, default=0.1, help="untimed warm-up pass over this share of the queries"
    )

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--workload", default="yfcc", help="yfcc or text (bench/workloads.py)")
    data.add_argument("--scale", choices=SCALES, default="small")
    data.add_argument("--cache-dir", default=str(RESULTS / "cache"))
    data.add_argument("--regenerate", action="store_true", help="rebuild the cached dataset file")

    s = sub.add_parser("sweep", parents=[common, data], help="one collection at shrinking cache sizes")
    s.add_argument("--fractions", default="1,0.25,0.1,0.02", help="cache_bytes as fractions of the raw vector bytes")
    s.add_argument("--no-baselines", action="store_true", help="skip hnsw-tenant and hnsw-shared")
    s.add_argument("--target-recall", type=float, default=0.95, help="hnsw-tenant operating point")
    s.add_argument("--repeat", type=int, default=1, help="hnsw-tenant: time each query this many times")
    s.add_argument("--max-point-seconds", type=float, default=60.0)
    s.add_argument("--budgets", default="512,768,1536,2048",
                   help="budget= values for vecdb's recall/latency curve (empty: none)")
    s.add_argument("--curve-fraction", type=float, default=0.1, help="the cache size of that curve, x raw")
    s.add_argument("--no-plot", action="store_true")
    s.add_argument("-v", "--verbose", action="store_true")

    b = sub.add_parser("big", parents=[common], help="a synthetic collection generated in seeded batches")
    b.add_argument("--n", type=int, default=10_000_000)
    b.add_argument("--dim", type=int, default=128)
    b.add_argument("--tenants", type=int, default=1000)
    b.add_argument("--share", type=float, default=0.2, help="fraction of vectors seen by a second tenant")
    b.add_argument("--batch", type=int, default=100_000, help="vectors per generated (seeded) batch")
    b.add_argument("--upsert-batch", type=int, default=20_000, help="vectors per col.upsert call")
    b.add_argument("--build-cache-fraction", type=float, default=0.02, help="cache_bytes while building, x raw")
    b.add_argument("--cache-fraction", type=float, default=0.1, help="cache_bytes for the queries, x raw")
    b.add_argument("--queries", type=int, default=200)
    b.add_argument("--data", default=None, help="keep the database (and cached ground truth) in this directory")
    b.add_argument("--skip-build", action="store_true", help="reuse the database in --data")

    c = sub.add_parser("churn", parents=[common, data], help="delete and re-insert 20%% of the vectors, repeatedly")
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--churn-fraction", type=float, default=0.2)
    c.add_argument("--batch", type=int, default=2_000, help="vectors per delete / upsert call")
    c.add_argument("--cache-fraction", type=float, default=0.1, help="cache_bytes, x raw vector bytes")

    # Workers (run in fresh subprocesses by the commands above).
    w = sub.add_parser("query-worker")
    for opt in ("--db", "--collection", "--index", "--queries", "--worker-out"):
        w.add_argument(opt, required=True)
    w.add_argument("--cache-bytes", type=int, required=True)
    w.add_argument("--cache-fraction", type=float, required=True)
    w.add_argument("--k", type=int, default=10)
    w.add_argument("--budget", type=int, default=None)
    w.add_argument("--warmup-fraction", type=float, default=0.1)

    w = sub.add_parser("baseline-worker")
    w.add_argument("spec")
    w.add_argument("--data-file", required=True)
    w.add_argument("--worker-out", required=True)
    w.add_argument("--k", type=int, default=10)
    w.add_argument("--threads", type=int, default=2)
    w.add_argument("--target-recall", type=float, default=0.95)
    w.add_argument("--repeat", type=int, default=1)
    w.add_argument("--max-point-seconds", type=float, default=60.0)
    w.add_argument("--search", action="store_true")
    w.add_argument("--verbose", action="store_true")

    w = sub.add_parser("big-build-worker")
    for opt in ("--data", "--spec", "--index", "--worker-out"):
        w.add_argument(opt, required=True)
    w.add_argument("--cache-bytes", type=int, required=True)
    w.add_argument("--upsert-batch", type=int, default=20_000)
    w.add_argument("--threads", type=int, default=2)
    return p


WORKERS = {"query-worker": query_worker, "baseline-worker": baseline_worker, "big-build-worker": big_build_worker}
COMMANDS = {"sweep": cmd_sweep, "big": cmd_big, "churn": cmd_churn}


def main(argv: list[str] | None = None) -> Any:
    args = build_parser().parse_args(argv)
    if args.command in WORKERS:
        res = WORKERS[args.command](args)
        Path(args.worker_out).write_text(json.dumps(res, default=_json_default))
        return res
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    main()
