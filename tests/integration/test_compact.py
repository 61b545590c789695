"""`vecdb.compact` / `vecdb compact`: in-place compaction of a closed database keeps every record, tenant and
search answer, shrinks the file after deletes, and refuses while anything has the database open."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vecdb
from vecdb.cli import main
from vecdb.index import DEFAULT_INDEX
from vecdb.storage.env import lock_dir

SMALL_TREE = {"tau": 16, "max_leaf": 64, "train_min": 256, "branching": 8}


def populate(path, rng, index: str | None) -> None:
    """Two collections with shared vectors, metadata and deletes (so the file has free pages); index=None
    means the default index (a curator tree small enough to be built and split here)."""
    options = SMALL_TREE if (index or DEFAULT_INDEX) == "curator" else {}
    if index is not None:
        options = {**options, "index": index}
    with vecdb.open(path) as db:
        for name, metric in (("a", "l2"), ("b", "cosine")):
            col = db.create_collection(name, dim=8, metric=metric, **options)
            n = 1500
            tenants = [["t0"] if i % 3 else ["t0", f"t{i % 5 + 1}"] for i in range(n)]
            col.upsert(np.arange(n), rng.normal(size=(n, 8)), tenants=tenants,
                       metadata=[{"i": i, "odd": bool(i % 2)} if i % 4 else None for i in range(n)])
            col.delete(np.arange(0, n, 7))
            col.revoke([1, 2], "t0")
            col.grant([3], "t9")
        db.drop_collection("b")
        db.create_collection("b", dim=8, metric="cosine", **options).upsert(
            np.arange(300), rng.normal(size=(300, 8)), tenants="x")


def snapshot(path, queries: np.ndarray) -> dict:
    """Everything a user can read: records, tenants, counts and search answers, per collection."""
    out: dict = {}
    with vecdb.open(path) as db:
        for name in db.list_collections():
            col = db.collection(name)
            ids = col.ids()
            recs = [(r.id, r.vector.tobytes(), r.tenants, r.metadata) for r in col.get(ids)]
            searches = []
            for t in col.tenants():
                res = col.search(queries[0], k=10, tenant=t)
                filtered = col.search(queries[1], k=5, tenant=t, where={"odd": True})
                bids, bd = col.search_batch(queries, k=10, tenant=t)
                searches.append((t, col.count(tenant=t), res.ids.tolist(), res.distances.tobytes(),
                                 filtered.ids.tolist(), bids.tolist(), bd.tobytes()))
            out[name] = (col.count(), ids.tolist(), recs, col.tenants(), searches)
    return out


@pytest.mark.parametrize("index", ["flat", None], ids=["flat", "default"])
def test_data_survives_compaction_exactly(tmp_path, rng, index):
    path = tmp_path / "db"
    populate(path, rng, index)
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    before = snapshot(path, queries)
    size = (path / "data.mdb").stat().st_size
    sizes = vecdb.compact(path)
    assert sizes["before_bytes"] == size and 0 < sizes["after_bytes"] <= size
    assert snapshot(path, queries) == before
    assert sorted(p.name for p in path.iterdir()) == ["data.mdb", "lock.mdb", "vecdb.lock"]
    with vecdb.open(path) as db:  # and it still takes writes
        db.collection("a").upsert([10**6], [np.ones(8)], tenants="new")
        assert db.collection("a").search(np.ones(8), k=1, tenant="new").ids.tolist() == [10**6]


def test_file_shrinks_after_deleting_most_vectors(tmp_path, rng):
    path = tmp_path / "db"
    with vecdb.open(path, durable=False) as db:
        col = db.create_collection("c", dim=32, index="flat")
        for start in range(0, 20_000, 5_000):
            col.upsert(np.arange(start, start + 5_000), rng.normal(size=(5_000, 32)), tenants="t")
        col.delete(np.arange(1_000, 20_000))
    size = (path / "data.mdb").stat().st_size
    sizes = vecdb.compact(path)
    assert sizes["before_bytes"] == size and sizes["after_bytes"] == (path / "data.mdb").stat().st_size
    assert sizes["after_bytes"] * 4 < sizes["before_bytes"], sizes
    with vecdb.open(path) as db:
        assert db.collection("c").count() == 1_000


def test_refused_while_open_in_this_process(tmp_path):
    path = tmp_path / "db"
    db = vecdb.open(path)
    db.create_collection("c", dim=2)
    with pytest.raises(vecdb.FailedPreconditionError, match="is open"):
        vecdb.compact(path)
    db.close()
    vecdb.compact(path)


def test_open_refused_while_compacting(tmp_path):
    path = tmp_path / "db"
    vecdb.open(path).close()
    held = lock_dir(path, exclusive=True)  # what compact holds while it runs
    try:
        with pytest.raises(vecdb.FailedPreconditionError, match="being compacted"):
            vecdb.open(path)
    finally:
        held.close()
    vecdb.open(path).close()


def test_refused_while_open_in_another_process(tmp_path):
    path = tmp_path / "db"
    vecdb.open(path).close()
    child = textwrap.dedent("""
        import sys, vecdb
        db = vecdb.open(sys.argv[1])
        print("open", flush=True)
        sys.stdin.read()
        db.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", child, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(vecdb.FailedPreconditionError, match="is open"):
            vecdb.compact(path)
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0
    vecdb.compact(path)


def test_failed_swap_leaves_old_database(tmp_path, rng, monkeypatch):
    path = tmp_path / "db"
    populate(path, rng, "flat")
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    before = snapshot(path, queries)
    (path / ".compact-tmp").mkdir()  # as a crash during an earlier compaction leaves it
    (path / ".compact-tmp" / "data.mdb").write_bytes(b"partial")

    def crash(*args):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr("vecdb.maintenance.os.replace", crash)
    with pytest.raises(OSError, match="simulated"):
        vecdb.compact(path)
    assert not (path / ".compact-tmp").exists()
    assert snapshot(path, queries) == before
    monkeypatch.undo()
    vecdb.compact(path, durable=False)
    assert snapshot(path, queries) == before


def test_cli_round_trip(tmp_path, rng, capsys):
    path = tmp_path / "db"
    populate(path, rng, "flat")
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    before = snapshot(path, queries)
    assert main(["compact", "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"compacted {path}: ") and out.count(" MB") == 2
    assert snapshot(path, queries) == before
    with vecdb.open(path):
        assert main(["compact", "--data", str(path)]) == 1
    assert "FailedPreconditionError" in capsys.readouterr().err


def test_missing_database(tmp_path, capsys):
    with pytest.raises(vecdb.NotFoundError, match="no database"):
        vecdb.compact(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(vecdb.NotFoundError, match="no database"):
        vecdb.compact(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []  # nothing created
    assert main(["compact", "--data", str(tmp_path / "absent")]) == 1
    assert "NotFoundError" in capsys.readouterr().err
    assert not (tmp_path / "absent").exists()
