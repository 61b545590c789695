"""The gRPC client has the embedded API: same methods, same results, same return types, same errors."""

from __future__ import annotations

import inspect
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vecdb
from server.testing import started_server
from tests.conftest import brute_force
from vecdb.client import Client, RemoteCollection

DIM = 8


@pytest.fixture
def served(tmp_path):
    """(embedded db, server, client) over one database."""
    db = vecdb.open(tmp_path / "db")
    with started_server(db) as (server, address):
        client = vecdb.connect(address)
        yield db, server, client
        client.close()


@pytest.fixture
def loaded(served, rng):
    db, server, client = served
    col = client.create_collection("docs", dim=DIM, metric="l2")
    vecs = rng.standard_normal((60, DIM)).astype(np.float32)
    tenants = [["acme"] if i % 3 else ["acme", "globex"] for i in range(60)]
    metas = [{"lang": "en" if i % 2 else "de", "i": i} for i in range(60)]
    assert col.upsert(np.arange(60), vecs, tenants=tenants, metadata=metas) == 60
    return db, client, col, vecs, tenants, metas


def test_collections_crud(served):
    db, _, client = served
    col = client.create_collection("docs", dim=DIM, metric="cosine")
    assert isinstance(col, RemoteCollection)
    assert (col.name, col.dim, col.metric) == ("docs", DIM, "cosine")
    assert client.collection("docs").info == db.collection("docs").info
    assert client.create_collection("docs", dim=DIM, metric="cosine", exist_ok=True).dim == DIM
    client.create_collection("other", dim=3)
    assert client.list_collections() == db.list_collections() == ["docs", "other"]
    client.drop_collection("other")
    assert client.list_collections() == ["docs"]
    with pytest.raises(vecdb.CollectionNotFound):
        client.collection("other")
    with pytest.raises(vecdb.AlreadyExistsError):
        client.create_collection("docs", dim=DIM)
    with client as c:
        assert c is client


def test_search_matches_embedded_and_brute_force(loaded, rng):
    db, _, col, vecs, tenants, _ = loaded
    embedded = db.collection("docs")
    acme = np.array([i for i in range(60) if "acme" in tenants[i]])
    for _ in range(5):
        q = rng.standard_normal(DIM).astype(np.float32)
        res = col.search(q, k=7, tenant="acme")
        assert isinstance(res, vecdb.SearchResult)
        assert res.ids.dtype == np.int64 and res.distances.dtype == np.float32 and res.complete
        local = embedded.search(q, k=7, tenant="acme")
        np.testing.assert_array_equal(res.ids, local.ids)
        np.testing.assert_array_equal(res.distances, local.distances)
        exp_ids, exp_d = brute_force(vecs[acme], acme, q, 7)
        np.testing.assert_allclose(res.distances, exp_d, rtol=1e-4, atol=1e-4)


def test_search_with_where_options_and_query_shapes(loaded, rng):
    db, _, col, _, _, metas = loaded
    q = rng.standard_normal(DIM).astype(np.float32)
    res = col.search(q.tolist(), k=5, tenant="globex", where={"lang": {"$in": ["de"]}})
    assert len(res) == 5 and all(metas[i]["lang"] == "de" for i in res.ids)
    np.testing.assert_array_equal(res.ids, db.collection("docs").search(q, 5, "globex", {"lang": "de"}).ids)
    np.testing.assert_array_equal(col.search(q[None, :], k=3, tenant="acme").ids, col.search(q, 3, "acme").ids)


def test_search_batch_matches_embedded_with_padding(loaded, rng):
    db, _, col, _, _, _ = loaded
    qs = rng.standard_normal((4, DIM)).astype(np.float32)
    ids, dists = col.search_batch(qs, k=30, tenant="globex")  # globex sees 20 vectors
    assert ids.shape == dists.shape == (4, 30) and ids.dtype == np.int64 and dists.dtype == np.float32
    exp_ids, exp_dists = db.collection("docs").search_batch(qs, k=30, tenant="globex")
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(dists, exp_dists)
    assert (ids[:, 20:] == -1).all() and np.isinf(dists[:, 20:]).all()
    f_ids, _ = col.search_batch(qs, k=3, tenant="acme", where={"lang": "en"})
    assert f_ids.shape == (4, 3)


def test_get_count_tenants_stats(loaded):
    db, client, col, vecs, tenants, metas = loaded
    recs = col.get([3, 999, 0])
    assert [r.id for r in recs] == [3, 0] and all(isinstance(r, vecdb.Record) for r in recs)
    np.testing.assert_array_equal(recs[0].vector, vecs[3])
    assert recs[1].tenants == ["acme", "globex"] and recs[1].metadata == metas[0]
    assert [r.id for r in col.get([0, 1, 3], tenant="globex")] == [0, 3]
    assert col.count() == 60 and col.count(tenant="globex") == 20
    assert col.tenants() == ["acme", "globex"]
    assert col.stats()["vectors"] == 60
    assert client.stats()["collections"]["docs"]["vectors"] == 60


def test_ids_paging_and_update_metadata(loaded):
    db, _, col, _, _, metas = loaded
    embedded = db.collection("docs")
    ids = col.ids()
    assert ids.dtype == np.int64 and ids.tolist() == list(range(60))
    np.testing.assert_array_equal(col.ids(tenant="globex"), embedded.ids(tenant="globex"))
    page = col.ids(tenant="acme", after=10, limit=5)
    np.testing.assert_array_equal(page, embedded.ids(tenant="acme", after=10, limit=5))
    assert col.update_metadata([1, 2], [{"lang": "fr"}, None]) == 2
    assert [r.metadata for r in col.get([1, 2])] == [{"lang": "fr"}, {}]
    with pytest.raises(vecdb.NotFoundError):
        col.update_metadata([1, 999], [{}, {}])
    with pytest.raises(vecdb.InvalidArgumentError):
        col.ids(limit=0)


def test_writes_delete_grant_revoke_drop_tenant(loaded):
    db, _, col, _, _, _ = loaded
    assert col.grant([1, 2], "initech") == 2
    assert col.search(np.zeros(DIM), k=10, tenant="initech").ids.tolist() in ([1, 2], [2, 1])
    assert col.revoke([1], "initech") == 1
    assert col.count(tenant="initech") == 1
    assert col.drop_tenant("initech") == 1
    assert col.delete([0], tenant="acme") == 1  # shared with globex: just unshared
    assert col.get([0])[0].tenants == ["globex"]
    assert col.delete([0, 5, 12345]) == 2
    assert col.count() == db.collection("docs").count() == 58
    with pytest.raises(vecdb.NotFoundError):
        col.grant([12345], "acme")


def test_bulk_upsert_streams_batches(served, rng):
    _, _, client = served
    col = client.create_collection("bulk", dim=DIM)
    batches = [(np.arange(i * 100, (i + 1) * 100), rng.standard_normal((100, DIM)), "t") for i in range(5)]
    batches.append({"ids": [9000], "vectors": [[0.0] * DIM], "tenants": "u", "metadata": [{"x": 1}]})
    assert col.bulk_upsert(iter(batches)) == 501
    assert col.count() == 501 and col.count(tenant="u") == 1


def test_bulk_upsert_reports_the_failing_batch(served, rng):
    _, _, client = served
    col = client.create_collection("bulk", dim=DIM)

    def batches():
        yield np.arange(10), rng.standard_normal((10, DIM))
        yield np.arange(10, 20), rng.standard_normal((10, DIM + 1))

    with pytest.raises(vecdb.DimensionMismatch, match=f"expects {DIM}"):
        col.bulk_upsert(batches())
    assert col.count() == 10  # the batch before the bad one stays written

    def broken():
        yield np.arange(30, 40), rng.standard_normal((10, DIM))
        raise KeyError("client-side bug")

    with pytest.raises(KeyError, match="client-side bug"):
        col.bulk_upsert(broken())


def test_errors_round_trip_as_the_same_classes(loaded):
    _, client, col, _, _, _ = loaded
    cases = [
        (lambda: col.search(np.zeros(DIM + 1), tenant="acme"), vecdb.DimensionMismatch),
        (lambda: col.upsert([1], np.zeros((1, 3))), vecdb.DimensionMismatch),
        (lambda: col.search(np.zeros(DIM), tenant="nobody"), vecdb.TenantNotFound),
        (lambda: col.count(tenant="nobody"), vecdb.TenantNotFound),
        (lambda: client.collection("missing"), vecdb.CollectionNotFound),
        (lambda: client.drop_collection("missing"), vecdb.CollectionNotFound),
        (lambda: client.create_collection("bad name!", dim=3), vecdb.InvalidArgumentError),
        (lambda: col.upsert([1, 1], np.zeros((2, DIM))), vecdb.InvalidArgumentError),
        (lambda: col.search(np.zeros(DIM), k=0), vecdb.InvalidArgumentError),
    ]
    for call, cls in cases:
        with pytest.raises(cls) as info:
            call()
        assert type(info.value) is cls, (type(info.value), cls)
    with pytest.raises(KeyError):  # NotFoundError is a KeyError, remotely too
        client.collection("missing")


def test_collection_handle_after_drop(served):
    _, _, client = served
    col = client.create_collection("gone", dim=2)
    client.drop_collection("gone")
    with pytest.raises(vecdb.CollectionNotFound):
        col.count()


def test_health_reflection_and_metrics(tmp_path):
    with started_server(tmp_path / "db", metrics_port=0) as (server, address):
        client = vecdb.connect(address)
        check_health_reflection_and_metrics(server, client)
        client.close()


def check_health_reflection_and_metrics(server, client):
    client.list_collections()
    channel = grpc.insecure_channel(client.address)
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="vecdb.v1.VecDB"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"vecdb.v1.VecDB", "vecdb.v1.QAMemory", "grpc.health.v1.Health"} <= names
    channel.close()

    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    assert 'vecdb_rpc_requests_total{code="OK",method="ListCollections"}' in text
    assert 'vecdb_rpc_latency_seconds_bucket{le="0.001",method="ListCollections"}' in text


def test_unreachable_server_is_unavailable():
    with pytest.raises(vecdb.UnavailableError, match="unavailable"):
        vecdb.connect("127.0.0.1:1", timeout=5)


def test_closed_client_raises_failed_precondition(served):
    _, _, client = served
    client.close()
    with pytest.raises(vecdb.FailedPreconditionError, match="closed"):
        client.list_collections()


#: Embedded-only methods, and why.
EMBEDDED_ONLY = {"backup": "writes a directory on the server's disk: run `vecdb backup` there"}


@pytest.mark.parametrize("local_cls, remote_cls", [
    (vecdb.Database, Client),
    (vecdb.Collection, RemoteCollection),
])
def test_remote_classes_have_every_public_method_with_the_same_parameters(local_cls, remote_cls):
    for name, method in inspect.getmembers(local_cls, inspect.isfunction):
        if name.startswith("_") or name in EMBEDDED_ONLY:
            continue
        assert hasattr(remote_cls, name), f"{remote_cls.__name__} lacks {name}"
        local = [p for p in inspect.signature(method).parameters.values() if p.kind != p.VAR_KEYWORD]
        remote = [p for p in inspect.signature(getattr(remote_cls, name)).parameters.values()
                  if p.kind != p.VAR_KEYWORD]
        assert [p.name for p in remote] == [p.name for p in local], name
        for lp, rp in zip(local, remote, strict=True):
            if lp.default is not inspect.Parameter.empty and lp.name != "index":
                assert rp.default == lp.default, (name, lp.name)
    for prop in ("name", "dim", "metric"):
        if isinstance(getattr(local_cls, prop, None), property):
            assert isinstance(getattr(remote_cls, prop), property)


def test_client_side_argument_errors_are_invalid_argument(loaded):
    _, _, col, _, _, _ = loaded
    for call in (lambda: col.search(np.zeros(DIM), tenant=5), lambda: col.get([1], tenant=b"acme"),
                 lambda: col.search("not numbers"), lambda: col.upsert([-1], np.zeros((1, DIM))),
                 lambda: col.bulk_upsert([("just one element",)])):
        with pytest.raises(vecdb.InvalidArgumentError):
            call()


def test_server_stop_is_idempotent_across_threads(tmp_path):
    import threading

    from server.main import create_server

    server, _ = create_server(tmp_path / "db", "127.0.0.1:0")
    server.start()
    threads = [threading.Thread(target=server.stop, args=(1,)) for _ in range(3)]
    for t in threads:
        t.start()
    server.stop(1)  # returns only once the database is closed
    for t in threads:
        t.join()
    with pytest.raises(vecdb.FailedPreconditionError):
        server.db.list_collections()


def test_a_port_in_use_is_refused(tmp_path):
    from server.main import create_server

    with started_server(tmp_path / "a") as (_, address):
        with pytest.raises(vecdb.UnavailableError, match="cannot listen"):
            create_server(tmp_path / "b", address)
