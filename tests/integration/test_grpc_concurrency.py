"""8 client threads search while 2 ingest over gRPC: no errors, no lost writes, isolation holds."""

from __future__ import annotations

import threading

import numpy as np

import vecdb
from server.testing import running_server

DIM = 16
BATCHES, BATCH = 20, 50  # per writer


def test_searches_during_ingest_see_no_errors_and_lose_no_writes(tmp_path):
    db = vecdb.open(tmp_path / "db", durable=False)
    base = np.random.default_rng(0).standard_normal((200, DIM)).astype(np.float32)
    db.create_collection("docs", dim=DIM).upsert(np.arange(200), base, tenants=["small"] * 100 + ["big"] * 100)
    errors: list[BaseException] = []
    done = threading.Event()
    searches = [0] * 8

    with running_server(db) as address:
        def writer(w: int) -> None:
            try:
                client = vecdb.connect(address)
                col = client.collection("docs")
                rng = np.random.default_rng(w)
                for b in range(BATCHES):
                    ids = 10_000 * (w + 1) + b * BATCH + np.arange(BATCH)
                    if b % 2:
                        col.upsert(ids, rng.standard_normal((BATCH, DIM)), tenants=f"w{w}")
                    else:
                        col.bulk_upsert([(ids[:25], rng.standard_normal((25, DIM)), f"w{w}"),
                                         (ids[25:], rng.standard_normal((25, DIM)), f"w{w}")])
                client.close()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        def reader(r: int) -> None:
            try:
                client = vecdb.connect(address)
                col = client.collection("docs")
                rng = np.random.default_rng(100 + r)
                while not done.is_set() or searches[r] < 20:
                    q = rng.standard_normal(DIM).astype(np.float32)
                    if r % 2:
                        res = col.search(q, k=10, tenant="small")
                        assert len(res) == 10 and (res.ids < 100).all()
                    else:
                        ids, _ = col.search_batch(np.stack([q, -q]), k=5, tenant="big")
                        assert ((ids >= 100) & (ids < 200)).all()
                    searches[r] += 1
                client.close()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        writers = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        readers = [threading.Thread(target=reader, args=(r,)) for r in range(8)]
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join(timeout=120)
        done.set()
        for t in readers:
            t.join(timeout=60)

        assert not errors, errors[:3]
        assert min(searches) >= 20
        check = vecdb.connect(address).collection("docs")
        assert check.count() == 200 + 2 * BATCHES * BATCH
        for w in range(2):
            assert check.count(tenant=f"w{w}") == BATCHES * BATCH
            ids = 10_000 * (w + 1) + np.arange(BATCHES * BATCH)
            assert len(check.get(ids)) == len(ids)
