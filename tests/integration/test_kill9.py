"""Acknowledged writes survive kill -9: a child process upserts batches and reports each one after
upsert() returns; it is killed at a random moment; every reported batch must be there after reopen."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import vecdb

CHILD = textwrap.dedent(
    """
    import sys, numpy as np, vecdb
    db = vecdb.open(sys.argv[1])
    col = db.create_collection("c", dim=16, exist_ok=True)
    rng = np.random.default_rng(0)
    for batch in range(10_000):
        ids = np.arange(batch * 100, batch * 100 + 100)
        col.upsert(ids, rng.normal(size=(100, 16)), tenants=[f"t{batch % 7}"] * 100,
                   metadata=[{"batch": batch}] * 100)
        print(batch, flush=True)
    """
)


@pytest.mark.parametrize("attempt", range(3))
def test_acknowledged_batches_survive_kill_9(tmp_path, attempt):
    path = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    acked = []
    deadline = time.monotonic() + random.Random(attempt).uniform(1.5, 4.0) + 3.0  # +3 s for start-up
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert acked, "the child acknowledged no batch before it was killed"
    with vecdb.open(path) as db:
        col = db.collection("c")
        last = acked[-1]
        assert col.count() >= (last + 1) * 100
        for batch in (0, last // 2, last):
            recs = col.get(np.arange(batch * 100, batch * 100 + 100))
            assert len(recs) == 100 and all(r.metadata == {"batch": batch} for r in recs)
        tenant = f"t{last % 7}"
        assert col.count(tenant=tenant) == sum(100 for b in range(col.count() // 100) if b % 7 == last % 7)
        # the store is intact: a write after recovery works
        col.upsert([10**9], [np.zeros(16)], tenants="after")
        assert col.search(np.zeros(16), k=1, tenant="after").ids.tolist() == [10**9]


TOMBSTONES_CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np, vecdb
    db = vecdb.open(sys.argv[1])
    col = db.create_collection("c", dim=8, index="curator")
    col.upsert(np.arange(2000), np.random.default_rng(0).normal(size=(2000, 8)),
               tenants=[["t0", "t1"]] * 1000 + [["t1"]] * 1000)
    col.delete(np.arange(0, 500))
    col.revoke(np.arange(500, 700), "t1")
    col.delete(np.arange(1000, 1100), tenant="t1")
    print(col.stats()["pending_tombstones"], flush=True)
    time.sleep(600)
    """
)


def test_acknowledged_deletes_survive_kill_9_as_tombstones(tmp_path):
    path = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-c", TOMBSTONES_CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    pending = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert pending == 800  # all still tombstones when the process died

    def check(col):
        assert col.count() == 1400
        assert col.ids(tenant="t0").tolist() == list(range(500, 1000))
        assert col.ids(tenant="t1").tolist() == list(range(700, 1000)) + list(range(1100, 2000))
        assert [r.id for r in col.get(np.arange(0, 1200, 100))] == [500, 600, 700, 800, 900, 1100]
        assert set(col.get([600])[0].tenants) == {"t0"}
        x = np.random.default_rng(0).normal(size=(2000, 8))
        for i in (5, 550, 1050):
            found = col.search(x[i], k=50, tenant="t1").ids.tolist()
            assert i not in found and len(found) == 50

    with vecdb.open(path) as db:
        col = db.collection("c")
        assert col.stats()["pending_tombstones"] == pending
        check(col)
    with vecdb.open(path) as db:  # the clean close applied them
        col = db.collection("c")
        assert col.stats()["pending_tombstones"] == 0
        check(col)
