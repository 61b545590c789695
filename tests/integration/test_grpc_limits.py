"""Bad input gets the right status with a useful message, and the server keeps serving afterwards."""

from __future__ import annotations

import logging

import grpc
import numpy as np
import pytest

import vecdb
from server.testing import started_server
from vecdb._proto.v1 import types_pb2, vecdb_pb2, vecdb_pb2_grpc

DIM = 8
MAX_MESSAGE = 256 << 10


@pytest.fixture
def served(tmp_path):
    db = vecdb.open(tmp_path / "db", settings=vecdb.Settings(max_k=100, max_batch=1000))
    db.create_collection("docs", dim=DIM).upsert(np.arange(50), np.random.default_rng(1).random((50, DIM)),
                                                 tenants="acme")
    with started_server(db, max_message_bytes=MAX_MESSAGE) as (server, address):
        client = vecdb.connect(address)
        channel = grpc.insecure_channel(address)
        yield client, vecdb_pb2_grpc.VecDBStub(channel)
        channel.close()
        client.close()


def still_serving(client):
    res = client.collection("docs").search(np.zeros(DIM), k=3, tenant="acme")
    assert len(res) == 3


def raw_status(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    return info.value.code(), info.value.details()


@pytest.mark.parametrize("call, cls, message", [
    (lambda c: c.collection("docs").search(np.zeros(DIM + 1), tenant="acme"), vecdb.DimensionMismatch,
     "query has dim 9, collection 'docs' expects 8"),
    (lambda c: c.collection("docs").upsert([1], np.zeros((1, 3))), vecdb.DimensionMismatch, "expects 8"),
    (lambda c: c.collection("docs").search_batch(np.zeros((2, 3)), tenant="acme"), vecdb.DimensionMismatch,
     "expects 8"),
    (lambda c: c.collection("docs").search([np.nan] * DIM, tenant="acme"), vecdb.InvalidArgumentError, "NaN"),
    (lambda c: c.collection("docs").upsert([1], [[np.inf] * DIM]), vecdb.InvalidArgumentError, "NaN or inf"),
    (lambda c: c.collection("docs").search(np.zeros(DIM), k=101, tenant="acme"), vecdb.InvalidArgumentError,
     "k=101 is out of range"),
    (lambda c: c.collection("docs").search(np.zeros(DIM), k=10**12, tenant="acme"), vecdb.InvalidArgumentError,
     "out of range"),
    (lambda c: c.collection("docs").upsert(np.arange(1001), np.zeros((1001, DIM))), vecdb.InvalidArgumentError,
     "over the limit of 1000"),
    (lambda c: c.collection("docs").search(np.zeros(DIM), tenant="nobody"), vecdb.TenantNotFound, "nobody"),
    (lambda c: c.collection("nope"), vecdb.CollectionNotFound, "nope"),
    (lambda c: c.collection("docs").search(np.zeros(DIM), tenant="acme", where={"$bogus": 1}),
     vecdb.InvalidArgumentError, "operator"),
    (lambda c: c.collection("docs").search(np.zeros(DIM), tenant="acme", no_such_option=3),
     vecdb.InvalidArgumentError, "no_such_option"),
    (lambda c: c.collection("docs").upsert([2**63], np.zeros((1, DIM))), vecdb.InvalidArgumentError,
     "out of range"),
    (lambda c: c.collection("docs").delete([]), vecdb.InvalidArgumentError, "empty"),
])
def test_bad_input_gets_the_right_error(served, call, cls, message):
    client, _ = served
    with pytest.raises(cls, match=message):
        call(client)
    still_serving(client)


def test_oversized_message_is_resource_exhausted(served):
    client, stub = served
    n = MAX_MESSAGE // (DIM * 4) + 100  # just over the limit, well under max_batch in rows
    with pytest.raises(vecdb.ResourceExhaustedError):
        client.collection("docs").upsert(np.arange(n), np.zeros((n, DIM)))
    big = vecdb_pb2.SearchRequest(collection="docs", query=b"\0" * (MAX_MESSAGE + 10), tenant="acme")
    code, _ = raw_status(stub.Search, big)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    still_serving(client)


def test_batch_search_reply_over_the_message_limit_is_refused_by_name(served):
    client, _ = served
    nq = MAX_MESSAGE // (100 * 12) + 10  # replies of nq x 100 results would exceed the limit
    with pytest.raises(vecdb.ResourceExhaustedError, match="send fewer queries per call"):
        client.collection("docs").search_batch(np.zeros((nq, DIM)), k=100, tenant="acme")
    still_serving(client)


def test_malformed_wire_data_is_invalid_argument(served):
    client, stub = served
    cases = [
        (stub.Search, vecdb_pb2.SearchRequest(collection="docs", query=b"\0" * 7, tenant="acme")),
        (stub.Search, vecdb_pb2.SearchRequest(collection="docs", query=b"\0" * 32, where_json="{not json")),
        (stub.SearchBatch, vecdb_pb2.SearchBatchRequest(collection="docs", queries=types_pb2.Vectors(dim=0))),
        (stub.SearchBatch, vecdb_pb2.SearchBatchRequest(
            collection="docs", queries=types_pb2.Vectors(dim=DIM, data=b"\0" * 33), tenant="acme")),
        (stub.Upsert, vecdb_pb2.UpsertRequest(collection="docs", ids=[1], vectors=types_pb2.Vectors(
            dim=DIM, data=b"\0" * 32), metadata_json=["[1, 2]"])),
        (stub.Upsert, vecdb_pb2.UpsertRequest(collection="docs", ids=[1, 2], vectors=types_pb2.Vectors(
            dim=DIM, data=b"\0" * 32))),
        (stub.Upsert, vecdb_pb2.UpsertRequest(collection="docs", ids=[1])),
        (stub.CreateCollection, vecdb_pb2.CreateCollectionRequest(name="x", dim=4, options_json="[1]")),
        (stub.CreateCollection, vecdb_pb2.CreateCollectionRequest(name="x", dim=0)),
        (stub.CreateCollection, vecdb_pb2.CreateCollectionRequest(name="x", dim=4, metric="hamming")),
        (stub.GetCollection, vecdb_pb2.GetCollectionRequest(name="")),
        (stub.Search, vecdb_pb2.SearchRequest(collection="docs", query=b"\0" * 32, tenant="acme",
                                              options={"tenant": '"globex"'})),
    ]
    for call, request in cases:
        code, details = raw_status(call, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (request, code, details)
        assert details
    still_serving(client)


def test_unknown_exceptions_are_internal_and_logged(served, monkeypatch, caplog):
    client, _ = served

    def boom(self, *args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(vecdb.Collection, "count", boom)
    with caplog.at_level(logging.ERROR, logger="vecdb.server"):
        with pytest.raises(vecdb.InternalError, match="internal error in Count"):
            client.collection("docs").count()
    assert any("internal error in Count" in r.getMessage() and r.exc_info for r in caplog.records)
    monkeypatch.undo()
    still_serving(client)


def test_deadline_maps_to_unavailable(served, monkeypatch):
    import time

    client, _ = served
    original = vecdb.Collection.count
    monkeypatch.setattr(vecdb.Collection, "count", lambda self, tenant=None: time.sleep(1.5) or original(self))
    slow = vecdb.connect(client.address)
    slow.timeout = 0.3  # after connecting, so a busy machine cannot fail the health check instead
    with pytest.raises(vecdb.UnavailableError, match="within 0.3s"):
        slow.collection("docs").count()
    slow.close()
