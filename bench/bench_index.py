"""Multi-tenant index benchmark (issue 3): vecdb's indexes against hnswlib (per tenant; shared with a
filter), faiss IVF with a tenant selector and brute force, on the same data in the same run.

    python -m bench.bench_index --scale small
    python -m bench.bench_index --scale medium --vecdb flat,curator --vecdb-knob curator:budget=256,512,1024,2048,4096

Prints a table, writes bench/results/index_<workload>_<scale>.json and a recall-vs-latency PNG. Each
system runs in a fresh subprocess (so its RSS growth is its own), with the dataset, ground truth and write
batch read from bench/results/cache. See bench/README.md for what every column means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .workloads import SCALES, MultiTenantDataset, dataset_key, make_dataset, write_ops

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_NAMES = ["brute", "hnsw-tenant", "hnsw-shared", "faiss-ivf"]


# ---- measuring one system (runs inside the worker process) ----------------------------------------


def proc_status() -> dict[str, int]:
    """This process's memory lines of /proc/self/status in bytes: VmRSS, VmHWM (peak RSS), RssAnon,
    RssFile (mapped files: LMDB pages), RssShmem, ... ({} where there is no /proc)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if key.startswith(("Vm", "Rss")) and len(parts) == 2 and parts[1] == "kB":
            out[key] = int(parts[0]) * 1024
    return out


def _rss_bytes() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in bytes, from /proc (0, 0 where there is none)."""
    vals = proc_status()
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


def _anon_bytes() -> int | None:
    """Anonymous RSS (the process's own memory, without mapped file pages such as LMDB's, which the
    kernel can drop and re-read) in bytes, or None where /proc does not say."""
    return proc_status().get("RssAnon")


def _growth(now: int | None, before: int | None) -> int | None:
    return None if now is None or before is None else now - before


class _Blas:
    """Pins BLAS threads (numpy brute force, faiss training) with threadpoolctl when it is installed."""

    def __init__(self) -> None:
        try:
            from threadpoolctl import ThreadpoolController

            self.controller = ThreadpoolController
        except ImportError:
            self.controller = None

    def limit(self, n: int) -> None:
        if self.controller is not None:
            # A fresh controller each time: it only sees the BLAS libraries already loaded (faiss brings
            # its own with its import).
            self.controller().limit(limits=n, user_api="blas")


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else float("nan")


def _parse_value(s: str) -> Any:
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


def _point(ds: MultiTenantDataset, results: list[np.ndarray], lat: np.ndarray, k: int, small_q: np.ndarray) -> dict:
    rec = np.zeros(ds.nq)
    leaks = 0
    for row, found in enumerate(results):
        rec[row], bad = ds.recall(row, found, k)
        leaks += bad
    ms = lat * 1e3
    return {
        "recall": float(rec.mean()),
        "p50_ms": _pct(ms, 50),
        "p99_ms": _pct(ms, 99),
        "mean_ms": float(ms.mean()),
        "small_recall": float(rec[small_q].mean()) if small_q.any() else float("nan"),
        "small_p50_ms": _pct(ms[small_q], 50),
        "small_p99_ms": _pct(ms[small_q], 99),
        "large_recall": float(rec[~small_q].mean()) if (~small_q).any() else float("nan"),
        "large_p99_ms": _pct(ms[~small_q], 99),
        "leaks": leaks,
    }


def measure(spec: str, ds: MultiTenantDataset, args: argparse.Namespace) -> dict:
    """Build one system, sweep its knob single-threaded, measure 2-thread QPS and the write batch."""
    from .systems import make_system

    knobs = parse_knobs(args.vecdb_knob)
    system = make_system(spec, knobs, args.vecdb_cache_bytes, create_options=parse_create(args.vecdb_create))
    try:
        return _measure(system, spec, ds, args)
    finally:
        system.close()  # also on failure: vecdb's temporary database directory goes away


def _measure(system: Any, spec: str, ds: MultiTenantDataset, args: argparse.Namespace) -> dict:
    blas = _Blas()
    k, threads = args.k, args.threads
    small_q = ds.small_tenants(args.small_quantile)[ds.q_tenant]
    out: dict[str, Any] = {"system": spec, "knob": system.knob}

    blas.limit(threads)
    system.prepare()
    rss0, _ = _rss_bytes()
    anon0 = _anon_bytes()
    t0 = time.perf_counter()
    system.build(ds, threads)
    out["build_s"] = time.perf_counter() - t0
    rss1, _ = _rss_bytes()
    out["rss_growth_bytes"] = rss1 - rss0
    out["anon_growth_bytes"] = _growth(_anon_bytes(), anon0)
    out["structure_bytes"] = system.structure_bytes()

    # Latency: one thread everywhere, one query at a time, after one untimed warm-up pass.
    system.set_threads(1)
    blas.limit(1)
    sweep, op = latency_sweep(system, ds, k, small_q, args)
    out["sweep"] = sweep
    out["op"] = op
    out["leaks"] = sum(p["leaks"] for p in sweep)

    # Throughput 1: `threads` client threads, each sending single queries (library threads pinned to
    # one per client thread), as a server handling concurrent requests would.
    blas.limit(1)
    out["qps"] = _concurrent_qps(system, ds, k, op["knob"], threads, args.repeat)

    # Throughput 2: each tenant's queries as one batch call on `threads` threads.
    system.set_threads(threads)
    blas.limit(threads)
    groups = {int(t): np.flatnonzero(ds.q_tenant == t) for t in np.unique(ds.q_tenant)}
    batch_res: list[np.ndarray] = [np.zeros(0)] * ds.nq
    best = np.inf
    for _ in range(args.repeat):  # best of --repeat passes, as for latency
        t0 = time.perf_counter()
        for t, rows in groups.items():
            got = system.search_batch(ds.xq[rows], t, k, op["knob"], threads)
            for r, ids in zip(rows, got, strict=True):
                batch_res[r] = np.asarray(ids)
        best = min(best, time.perf_counter() - t0)
    out["batch_qps"] = ds.nq / best
    out["batch_recall"] = float(np.mean([ds.recall(r, batch_res[r], k)[0] for r in range(ds.nq)]))
    out["rss_after_search_bytes"] = _rss_bytes()[0] - rss0
    out["anon_after_search_bytes"] = _growth(_anon_bytes(), anon0)
    out["structure_bytes_after_search"] = system.structure_bytes()  # vecdb-flat fills its cache on search

    # Writes, in batches, after the searches: insert + grant, then revoke + delete.
    ops = write_ops(ds, seed=args.seed + 1)
    t0 = time.perf_counter()
    system.insert(ops)
    t_ins = time.perf_counter() - t0
    for t, ids in ops.grant:
        system.grant(t, ids)
    t_grant = time.perf_counter() - t0 - t_ins
    t0 = time.perf_counter()
    for t, ids in ops.revoke:
        system.revoke(t, ids)
    t_rev = time.perf_counter() - t0
    system.delete(ops)
    t_del = time.perf_counter() - t0 - t_rev
    # Work a system acknowledged but put off (vecdb's tombstones), timed where it is finally done.
    t0 = time.perf_counter()
    deferred = system.reclaim(ops)
    t_reclaim = time.perf_counter() - t0 if deferred else 0.0
    out["writes"] = {
        "n_insert": len(ops.insert_ids),
        "n_grant": sum(len(i) for _, i in ops.grant),
        "n_revoke": sum(len(i) for _, i in ops.revoke),
        "n_delete": len(ops.delete_ids),
        "insert_s": t_ins,
        "grant_s": t_grant,
        "revoke_s": t_rev,
        "delete_s": t_del,
        "insert_grant_us_per_vec": (t_ins + t_grant) / max(ops.n_insert_grant, 1) * 1e6,
        "delete_revoke_us_per_vec": (t_rev + t_del) / max(ops.n_delete_revoke, 1) * 1e6,
        "reclaim_s": t_reclaim,
        "reclaim_us_per_vec": t_reclaim / max(ops.n_delete_revoke, 1) * 1e6,
    }
    out["peak_rss_bytes"] = _rss_bytes()[1]
    out["extra"] = system.extra()
    return out


#: Systems whose answers are exact (their single operating point is labelled so in the table).
EXACT_SYSTEMS = frozenset({"brute", "vecdb-flat"})


def latency_sweep(
    system: Any, ds: MultiTenantDataset, k: int, small_q: np.ndarray, args: argparse.Namespace
) -> tuple[list[dict], dict]:
    """One untimed warm-up pass, then the knob sweep (single queries; the caller pins threads to one).

    Returns (sweep points, operating point); args needs target_recall, repeat, max_point_seconds,
    verbose. The operating point is the fastest (mean latency) point reaching the target recall, else
    the one with the best recall."""
    for row in range(ds.nq):
        system.search(ds.xq[row], int(ds.q_tenant[row]), k, system.knob_values[-1])
    sweep = []
    knobs = [v for v in system.knob_values if v is not None]
    for knob in knobs:
        pt = _sweep_point(system, ds, k, knob, small_q, args)
        sweep.append(pt)
        # The rest of the sweep is only slower: stop at near-perfect recall, two points past the target,
        # or after a point that took too long (shared hnswlib at full scale).
        past = sum(p["recall"] >= args.target_recall for p in sweep)
        if pt["recall"] >= 0.999 or past >= 3 or pt["seconds"] > args.repeat * args.max_point_seconds:
            break
    if None in system.knob_values:  # the defaults (exact systems, vecdb with no option) always run
        sweep.append(_sweep_point(system, ds, k, None, small_q, args))
    good = [p for p in sweep if p["recall"] >= args.target_recall]
    op = min(good, key=lambda p: p["mean_ms"]) if good else max(sweep, key=lambda p: p["recall"])
    return sweep, op


def parse_create(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """["fanout=16", "curator:leaf=128"] -> {"*": {"fanout": 16}, "curator": {"leaf": 128}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        lhs, eq, value = item.partition("=")
        target, _, key = lhs.rpartition(":")
        if not key or not eq:
            raise SystemExit(f"--vecdb-create {item!r}: expected KEY=VALUE or INDEX:KEY=VALUE")
        out.setdefault(target or "*", {})[key] = _parse_value(value)
    return out


def _sweep_point(system: Any, ds: MultiTenantDataset, k: int, knob: Any, small_q: np.ndarray, args) -> dict:
    """Every query once per repeat, one at a time; each query's latency is the best of --repeat runs: on a
    shared machine the other runs' noise is what repeats remove, while a genuinely slow query stays slow."""
    lat = np.full(ds.nq, np.inf)
    res: list[np.ndarray] = [np.zeros(0)] * ds.nq
    started, scanned = time.perf_counter(), system.rows_scanned()
    for _ in range(args.repeat):
        for row in range(ds.nq):
            q, t = ds.xq[row], int(ds.q_tenant[row])
            t1 = time.perf_counter()
            ids = system.search(q, t, k, knob)
            lat[row] = min(lat[row], time.perf_counter() - t1)
            res[row] = ids
    pt = {"knob": knob, **_point(ds, res, lat, k, small_q), "seconds": time.perf_counter() - started}
    if scanned is not None:  # a deterministic measure of work, where timings are noisy
        pt["rows_per_query"] = (system.rows_scanned() - scanned) / (args.repeat * ds.nq)
    if args.verbose:
        print(
            f"    {system.name} {system.knob}={knob}: recall {pt['recall']:.3f} p50 {pt['p50_ms']:.3f} ms "
            f"p99 {pt['p99_ms']:.3f} ms small p99 {pt['small_p99_ms']:.3f} ms",
            file=sys.stderr,
            flush=True,
        )
    return pt


def _concurrent_qps(system: Any, ds: MultiTenantDataset, k: int, knob: Any, threads: int, repeat: int) -> float:
    """Queries per second with `threads` client threads, each searching its share one query at a time."""
    from concurrent.futures import ThreadPoolExecutor

    chunks = [np.arange(i, ds.nq, threads) for i in range(threads)]

    def work(rows: np.ndarray) -> None:
        system.set_threads(1)  # numba's and OpenMP's thread counts are per calling thread
        for r in rows:
            system.search(ds.xq[r], int(ds.q_tenant[r]), k, knob)

    best = np.inf
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda _: system.set_threads(1), range(threads)))
        for _ in range(repeat):
            t0 = time.perf_counter()
            list(ex.map(work, chunks))
            best = min(best, time.perf_counter() - t0)
    return ds.nq / best


def parse_knobs(items: list[str] | None) -> dict[str, tuple[str, list[Any]]]:
    """["budget=8,16", "curator:nprobe=4,8"] -> {"*": ("budget", [8, 16]), "curator": ("nprobe", [4, 8])}."""
    out: dict[str, tuple[str, list[Any]]] = {}
    for item in items or []:
        target, _, rest = item.rpartition(":") if ":" in item.split("=")[0] else ("*", "", item)
        name, _, values = rest.partition("=")
        if not name or not values:
            raise SystemExit(f"--vecdb-knob {item!r}: expected NAME=V1,V2,... or INDEX:NAME=V1,V2,...")
        out[target] = (name, [_parse_value(v) for v in values.split(",") if v])
    return out


# ---- orchestration --------------------------------------------------------------------------------


def _worker_args(args: argparse.Namespace) -> list[str]:
    out = [
        "--k",
        str(args.k),
        "--threads",
        str(args.threads),
        "--target-recall",
        str(args.target_recall),
        "--small-quantile",
        str(args.small_quantile),
        "--seed",
        str(args.seed),
        "--max-point-seconds",
        str(args.max_point_seconds),
        "--repeat",
        str(args.repeat),
    ]
    for item in args.vecdb_knob or []:
        out += ["--vecdb-knob", item]
    for item in args.vecdb_create or []:
        out += ["--vecdb-create", item]
    if args.vecdb_cache_bytes is not None:
        out += ["--vecdb-cache-bytes", str(args.vecdb_cache_bytes)]
    if args.verbose:
        out.append("--verbose")
    return out


def run_worker(module: str, argv: list[str], threads: int, timeout: float | None, capture: bool = True) -> dict:
    """Run `python -m <module> <argv> --worker-out FILE` in a fresh process from the repository root and
    return the JSON it wrote to FILE, or {"error": ...}. capture=False lets its output through."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", module, *argv, "--worker-out", str(out)]
        env = dict(os.environ)
        try:
            import threadpoolctl  # noqa: F401
        except ImportError:
            env.setdefault("OPENBLAS_NUM_THREADS", str(threads))  # no way to pin per phase
        root = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        try:
            proc = subprocess.run(cmd, env=env, cwd=root, timeout=timeout, capture_output=capture, text=True)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or "")[-2000:] if capture else "(see stderr above)"
            return {"error": f"exit code {proc.returncode}: {tail}"}
        return json.loads(out.read_text())


def run_isolated(spec: str, data_file: Path, args: argparse.Namespace) -> dict:
    argv = ["--worker", spec, "--data-file", str(data_file), *_worker_args(args)]
    r = run_worker("bench.bench_index", argv, args.threads, args.worker_timeout, capture=not args.verbose)
    return {"system": spec, **r} if "error" in r else r


def load_dataset(workload: str, args: argparse.Namespace) -> tuple[MultiTenantDataset, Path] | None:
    """The workload at args.scale (args.seed, args.k, args.cache_dir, args.regenerate) with its ground
    truth, from the cache file or built and cached; prints a one-line summary. None (with a message)
    when the workload cannot be built here."""
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    data_file = cache / f"dataset_{workload}_{args.scale}_{dataset_key(workload, args.scale, args.seed)}.npz"
    t0 = time.perf_counter()
    if data_file.exists() and not args.regenerate:
        ds = MultiTenantDataset.load(data_file)
    else:
        try:
            ds = make_dataset(workload, args.scale, seed=args.seed, cache_dir=cache)
        except RuntimeError as e:  # the text workload without its model package
            print(f"[{workload}] skipped: {e}", flush=True)
            return None
        ds.ground_truth(args.k)
        tmp = data_file.with_suffix(".tmp.npz")
        ds.save(tmp, k=args.k)
        tmp.replace(data_file)
    summary = ds.summary()
    print(
        f"[{workload}/{args.scale}] {summary['n']} x {summary['dim']} {summary['metric']}, "
        f"{summary['n_tenants']} tenants (sizes {summary['tenant_size_min']}..{summary['tenant_size_max']}, "
        f"median {summary['tenant_size_median']:g}), {summary['avg_tenants_per_vector']} tenants/vector, "
        f"{summary['nq']} queries; data ready in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return ds, data_file


def run_workload(workload: str, args: argparse.Namespace, systems: list[str]) -> dict | None:
    loaded = load_dataset(workload, args)
    if loaded is None:
        return None
    ds, data_file = loaded
    summary = ds.summary()
    results = {}
    for spec in systems:
        t1 = time.perf_counter()
        print(f"  {spec} ...", end="" if not args.verbose else "\n", flush=True)
        if args.isolate:
            r = run_isolated(spec, data_file, args)
        else:
            try:
                r = measure(spec, ds, args)
            except Exception as e:  # noqa: BLE001 - one failing system must not sink the run
                r = {"system": spec, "error": f"{type(e).__name__}: {e}"}
        results[spec] = r
        status = f"error: {r['error'].splitlines()[0]}" if "error" in r else "ok"
        print(f" {status} ({time.perf_counter() - t1:.1f} s)", flush=True)
    report = {
        "workload": workload,
        "scale": args.scale,
        "k": args.k,
        "target_recall": args.target_recall,
        "threads": args.threads,
        "small_quantile": args.small_quantile,
        "isolated": args.isolate,
        "dataset": summary,
        "machine": _machine(),
        "systems": results,
        "ratios": ratios(results),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"index_{workload}_{args.scale}"
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=1, default=_json_default))
    print(format_table(report))
    if not args.no_plot:
        png = plot(report, out_dir / f"{stem}.png")
        if png:
            print(f"wrote {out_dir / (stem + '.json')} and {png}")
    return report


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _machine() -> dict:
    import importlib.metadata as md

    vers = {}
    for pkg in ("numpy", "numba", "hnswlib", "faiss-cpu", "vecdb"):
        try:
            vers[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            vers[pkg] = None
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(), **vers}


# ---- reporting ------------------------------------------------------------------------------------


def ratios(results: dict) -> dict:
    """Per system: baseline / system for p99, small-tenant p99 and memory (>1: the system is better)."""
    out = {}
    for name, r in results.items():
        if "error" in r:
            continue
        row = {}
        for base in ("hnsw-tenant", "hnsw-shared"):
            b = results.get(base)
            if not b or "error" in b or base == name:
                continue
            row[f"p99_vs_{base}"] = _ratio(b["op"]["p99_ms"], r["op"]["p99_ms"])
            row[f"small_p99_vs_{base}"] = _ratio(b["op"]["small_p99_ms"], r["op"]["small_p99_ms"])
            row[f"qps_vs_{base}"] = _ratio(r["qps"], b["qps"])
            row[f"mem_vs_{base}"] = _ratio(_mem(b), _mem(r))
            row[f"anon_vs_{base}"] = _ratio(_anon(b), _anon(r))
        out[name] = row
    return out


def _mem(r: dict) -> int:
    """Steady-state memory of a system: RSS growth over build and searches."""
    return _larger(r["rss_growth_bytes"], r.get("rss_after_search_bytes"))


def _anon(r: dict) -> int | None:
    """The same for anonymous RSS (None in reports from before it was measured, or without /proc)."""
    return _larger(r.get("anon_growth_bytes"), r.get("anon_after_search_bytes"))


def _larger(*readings: int | None) -> int | None:
    vals = [v for v in readings if v is not None]
    return max(vals) if vals else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b <= 0:
        return None
    return a / b


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return format(v, spec) if isinstance(v, int | float) else str(v)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def format_table(report: dict) -> str:
    res, rat = report["systems"], report["ratios"]
    mb = 1 / (1 << 20)
    head = [
        "system",
        "op",
        "recall",
        "p50 ms",
        "p99 ms",
        "small p99",
        "small rec",
        "rows/q",
        f"QPS {report['threads']}t",
        "batch QPS",
        "build s",
        "RSS MB",
        "anon MB",
        "struct MB",
        "ins+grant us",
        "del+rev us",
        "reclaim us",
    ]
    rows, errors = [], []
    for name, r in res.items():
        if "error" in r:
            errors.append(f"  {name}: {r['error'].strip().splitlines()[-1] if r['error'].strip() else 'failed'}")
            continue
        op, w = r["op"], r["writes"]
        if op["knob"] is not None:
            knob = f"{r['knob']}={op['knob']}"
        else:  # the defaults: exact for the exact systems
            knob = "exact" if name in EXACT_SYSTEMS else "default"
        sb = r.get("structure_bytes_after_search", r.get("structure_bytes"))
        rss, anon = _mem(r), _anon(r)
        rows.append(
            [
                name,
                knob,
                _fmt(op["recall"], ".3f"),
                _fmt(op["p50_ms"]),
                _fmt(op["p99_ms"]),
                _fmt(op["small_p99_ms"]),
                _fmt(op["small_recall"], ".3f"),
                _fmt(op.get("rows_per_query"), ".0f"),
                _fmt(r["qps"], ".0f"),
                _fmt(r.get("batch_qps"), ".0f"),
                _fmt(r["build_s"], ".1f"),
                _fmt(rss * mb, ".0f"),
                _fmt(anon * mb if anon is not None else None, ".0f"),
                _fmt(sb * mb if sb is not None else None, ".1f"),
                _fmt(w["insert_grant_us_per_vec"], ".0f"),
                _fmt(w["delete_revoke_us_per_vec"], ".0f"),
                _fmt(w.get("reclaim_us_per_vec"), ".0f"),
            ]
        )
    d = report["dataset"]
    title = (
        f"{report['workload']}/{report['scale']}: n={d['n']} dim={d['dim']} tenants={d['n_tenants']} "
        f"nq={d['nq']} k={report['k']}; op = fastest sweep point with recall >= {report['target_recall']}; "
        f"small = tenants <= p{int(report['small_quantile'] * 100)} size"
    )
    out = [title, _table(head, rows)]
    rhead = [
        "system",
        "p99 vs hnsw-tenant",
        "p99 vs hnsw-shared",
        "small p99 vs hnsw-shared",
        "QPS vs hnsw-tenant",
        "mem vs hnsw-tenant",
        "mem vs hnsw-shared",
        "anon vs hnsw-shared",
    ]
    rrows = [
        [
            n,
            _fmt(x.get("p99_vs_hnsw-tenant"), ".3g"),
            _fmt(x.get("p99_vs_hnsw-shared"), ".3g"),
            _fmt(x.get("small_p99_vs_hnsw-shared"), ".3g"),
            _fmt(x.get("qps_vs_hnsw-tenant"), ".3g"),
            _fmt(x.get("mem_vs_hnsw-tenant"), ".3g"),
            _fmt(x.get("mem_vs_hnsw-shared"), ".3g"),
            _fmt(x.get("anon_vs_hnsw-shared"), ".3g"),
        ]
        for n, x in rat.items()
    ]
    out += [
        "ratios (baseline / system for latency and memory, system / baseline for QPS; > 1 = system better;"
        " mem: RSS growth, anon: the same without mapped file pages)",
        _table(rhead, rrows),
    ]
    leaks = {n: r["leaks"] for n, r in res.items() if "error" not in r and r.get("leaks")}
    if leaks:
        out.append(f"TENANT ISOLATION VIOLATIONS (ids the tenant may not see): {leaks}")
    if errors:
        out += ["failed:", *errors]
    return "\n".join(out)


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None (with a note) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'vecdb[bench]')")
        return None
    return plt


def save_figure(plt: Any, fig: Any, report: dict, caption: str, path: Path) -> Path:
    """Title a figure with the report's dataset and a caption, write it to path and close it."""
    d = report["dataset"]
    fig.suptitle(f"{report['workload']}/{report['scale']}: {d['n']} x {d['dim']}, {d['n_tenants']} tenants{caption}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot(report: dict, path: Path) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    panels = [
        ("recall", "p50_ms", "all queries: recall@{k} vs p50 latency"),
        ("small_recall", "small_p99_ms", "small tenants: recall@{k} vs p99 latency"),
    ]
    for ax, (rk, lk, title) in zip(axes, panels, strict=True):
        for name, r in report["systems"].items():
            if "error" in r:
                continue
            swept = [p for p in r["sweep"] if p["knob"] is not None] or r["sweep"]
            (line,) = ax.plot([p[rk] for p in swept], [p[lk] for p in swept], marker="o", ms=3, label=name)
            for p in r["sweep"]:
                if p["knob"] is None and r["knob"] is not None:  # vecdb's defaults: a diamond
                    ax.plot([p[rk]], [p[lk]], marker="D", ms=6, color=line.get_color())
            ax.plot([r["op"][rk]], [r["op"][lk]], marker="*", ms=12, color=line.get_color())
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{report['k']}")
        ax.set_ylabel("latency (ms, 1 thread)")
        ax.axvline(report["target_recall"], color="grey", lw=0.8, ls="--")
        ax.set_title(title.format(k=report["k"]))
        ax.grid(True, which="both", alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    return save_figure(plt, fig, report, " (star = operating point, diamond = vecdb defaults)", path)


# ---- command line ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_index",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scale", choices=SCALES, default="small", help="dataset size (default small; full = 1M)")
    p.add_argument("--workload", default="yfcc,text", help="comma list of yfcc, text (default both)")
    p.add_argument(
        "--systems",
        default=",".join(BASELINE_NAMES),
        help=f"comma list of baselines (default {','.join(BASELINE_NAMES)}); '' for none",
    )
    p.add_argument(
        "--vecdb", default="flat", help="comma list of vecdb index names, run as vecdb-<name> (default flat)"
    )
    p.add_argument(
        "--vecdb-knob",
        action="append",
        metavar="[INDEX:]NAME=V1,V2",
        help="search keyword of vecdb to sweep, e.g. budget=8,16,32,64 (repeatable; flat has none)",
    )
    p.add_argument(
        "--vecdb-create",
        action="append",
        metavar="[INDEX:]KEY=VALUE",
        help="extra create_collection option for vecdb indexes (repeatable)",
    )
    p.add_argument("--vecdb-cache-bytes", type=int, default=None, help="vecdb.open(cache_bytes=...)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="threads for build and the QPS measurement (default 2)")
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--small-quantile", type=float, default=0.5, help="small tenants: size <= this quantile")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeat", type=int, default=2, help="time every query this many times and keep the fastest (default 2)"
    )
    p.add_argument(
        "--max-point-seconds",
        type=float,
        default=60.0,
        help="stop a knob sweep after a point that took longer than this",
    )
    p.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        help="run every system in this process (faster; RSS figures then mix systems)",
    )
    p.add_argument("--worker-timeout", type=float, default=3600.0)
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--cache-dir", default=str(RESULTS / "cache"))
    p.add_argument("--regenerate", action="store_true", help="rebuild the cached dataset file")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.worker:
        ds = MultiTenantDataset.load(args.data_file)
        res = measure(args.worker, ds, args)
        Path(args.worker_out).write_text(json.dumps(res, default=_json_default))
        return res
    systems = [s for s in args.systems.split(",") if s]
    systems += [f"vecdb-{i}" for i in args.vecdb.split(",") if i]
    reports = {}
    for workload in [w for w in args.workload.split(",") if w]:
        rep = run_workload(workload, args, systems)
        if rep is not None:
            reports[workload] = rep
    return reports


if __name__ == "__main__":
    main()
