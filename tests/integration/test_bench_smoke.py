"""The index benchmark runs end to end at toy scale (bench/bench_index.py), every system in its own
subprocess, and its exact systems agree with the brute-force ground truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("hnswlib")
pytest.importorskip("faiss")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import bench_index  # noqa: E402
from bench.workloads import SyntheticDataset, write_ops  # noqa: E402


def test_synthetic_dataset_is_deterministic_and_shared():
    a = SyntheticDataset(n=2000, dim=16, n_tenants=20, nq=40, n_ops=50, seed=3)
    b = SyntheticDataset(n=2000, dim=16, n_tenants=20, nq=40, n_ops=50, seed=3)
    assert (a.xb == b.xb).all() and (a.vt_idx == b.vt_idx).all() and (a.q_tenant == b.q_tenant).all()
    assert 1.5 <= a.summary()["avg_tenants_per_vector"] <= 4.5
    assert (a.tenant_sizes > 0).all()
    ids, dists = a.ground_truth(10)
    for row in range(a.nq):  # exact answers come from the query's own tenant, best first
        mem = set(a.members(int(a.q_tenant[row])).tolist())
        assert set(ids[row][ids[row] >= 0].tolist()) <= mem
        assert (dists[row][:-1] <= dists[row][1:]).all()
        assert a.recall(row, ids[row], 10) == (1.0, 0)
    ops = write_ops(a)
    assert len(ops.insert_ids) == 50 and ops.n_delete_revoke > 0


def test_bench_index_toy_end_to_end(tmp_path, capsys):
    reports = bench_index.main(
        [
            "--scale",
            "toy",
            "--workload",
            "yfcc",
            "--vecdb",
            "flat",
            "--out-dir",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--max-point-seconds",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert "hnsw-shared" in out and "vecdb-flat" in out
    data = json.loads((tmp_path / "index_yfcc_toy.json").read_text())
    assert (tmp_path / "index_yfcc_toy.png").stat().st_size > 0
    systems = data["systems"]
    assert set(systems) == {"brute", "hnsw-tenant", "hnsw-shared", "faiss-ivf", "vecdb-flat"}
    for name, r in systems.items():
        assert "error" not in r, (name, r.get("error"))
        assert r["leaks"] == 0, name  # no system may return another tenant's vectors
        assert r["qps"] > 0 and r["op"]["p99_ms"] > 0 and r["build_s"] >= 0
        assert r["writes"]["insert_grant_us_per_vec"] > 0
    assert systems["brute"]["op"]["recall"] == 1.0
    assert systems["vecdb-flat"]["op"]["recall"] == 1.0
    assert systems["hnsw-tenant"]["op"]["recall"] >= 0.9
    assert reports["yfcc"]["ratios"]["vecdb-flat"]["p99_vs_hnsw-tenant"] is not None


def test_the_disk_sweep_compares_latency_at_the_same_recall():
    """bench_postings' recall-matched ratio: hnsw-tenant's p50 is interpolated between the ef settings
    that bracket vecdb's recall, and nothing is claimed outside its sweep."""
    from bench.bench_postings import hnsw_p50_at, same_recall_ratios

    sweep = [{"knob": 16, "recall": 0.96, "p50_ms": 0.05}, {"knob": 10, "recall": 0.90, "p50_ms": 0.04},
             {"knob": 24, "recall": 0.98, "p50_ms": 0.07}]
    assert hnsw_p50_at(0.97, sweep) == pytest.approx(0.06)
    assert hnsw_p50_at(0.96, sweep) == pytest.approx(0.05)
    assert hnsw_p50_at(0.99, sweep) is None and hnsw_p50_at(0.5, sweep) is None
    rows = same_recall_ratios(
        [{"budget": None, "recall": 0.97, "p50_ms": 0.24}, {"budget": 512, "recall": 0.995, "p50_ms": 0.2},
         {"error": "failed"}],
        {"hnsw-tenant": {"sweep": sweep}},
    )
    assert [r["budget"] for r in rows] == [None, 512]
    assert rows[0]["p50_vs_hnsw_tenant"] == pytest.approx(4.0) and rows[1]["p50_vs_hnsw_tenant"] is None
