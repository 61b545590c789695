"""Every bad input raises the right typed error naming the bad value, and writes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import vecdb


@pytest.fixture
def col(db):
    c = db.create_collection("docs", dim=3)
    c.upsert([1], [[0, 0, 0]], tenants="acme", metadata=[{"a": 1}])
    return c


def _unchanged(col):
    assert col.count() == 1 and col.tenants() == ["acme"]
    assert col.get([1])[0].metadata == {"a": 1}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ids": [2], "vectors": [[1, 2]]}, vecdb.DimensionMismatch, "dim 2, collection 'docs' expects 3"),
        ({"ids": [2], "vectors": [[1, np.nan, 2]]}, vecdb.InvalidArgumentError, "NaN"),
        ({"ids": [2], "vectors": [[1, np.inf, 2]]}, vecdb.InvalidArgumentError, "infinity"),
        ({"ids": [], "vectors": np.zeros((0, 3))}, vecdb.InvalidArgumentError, "empty"),
        ({"ids": [2, 3], "vectors": [[1, 2, 3]]}, vecdb.InvalidArgumentError, "2 ids but 1 vectors"),
        ({"ids": [-5], "vectors": [[1, 2, 3]]}, vecdb.InvalidArgumentError, "-5"),
        ({"ids": [2**63], "vectors": [[1, 2, 3]]}, vecdb.InvalidArgumentError, "out of range"),
        ({"ids": [2**64 + 1], "vectors": [[1, 2, 3]]}, vecdb.InvalidArgumentError, "out of range"),
        ({"ids": [1.5], "vectors": [[1, 2, 3]]}, vecdb.InvalidArgumentError, "integers"),
        ({"ids": ["x"], "vectors": [[1, 2, 3]]}, vecdb.InvalidArgumentError, "integers"),
        ({"ids": [2, 2], "vectors": [[1, 2, 3]] * 2}, vecdb.InvalidArgumentError, "id 2 appears more"),
        ({"ids": [2], "vectors": [["a", 1, 2]]}, vecdb.InvalidArgumentError, "float32"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "tenants": ""}, vecdb.InvalidArgumentError, "tenant"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "tenants": "x" * 257}, vecdb.InvalidArgumentError, "256"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "tenants": [[]]}, vecdb.InvalidArgumentError, "at least one"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "tenants": ["a", "b"]}, vecdb.InvalidArgumentError, "2 entries"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "metadata": [1]}, vecdb.InvalidArgumentError, "JSON object"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "metadata": [{"x": object()}]}, vecdb.InvalidArgumentError, "JSON"),
        ({"ids": [2], "vectors": [[1, 2, 3]], "metadata": [{}, {}]}, vecdb.InvalidArgumentError, "2 entries"),
    ],
)
def test_bad_upserts_raise_and_write_nothing(col, kwargs, error, match):
    kwargs.setdefault("tenants", "newtenant")
    with pytest.raises(error, match=match):
        col.upsert(**kwargs)
    _unchanged(col)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"query": [1, 2], "tenant": "acme"}, vecdb.DimensionMismatch, "dim 2"),
        ({"query": [1, np.nan, 2], "tenant": "acme"}, vecdb.InvalidArgumentError, "NaN"),
        ({"query": [1, 2, 3], "k": 0, "tenant": "acme"}, vecdb.InvalidArgumentError, "k=0"),
        ({"query": [1, 2, 3], "k": -3, "tenant": "acme"}, vecdb.InvalidArgumentError, "k=-3"),
        ({"query": [1, 2, 3], "k": 10**9, "tenant": "acme"}, vecdb.InvalidArgumentError, "k=1000000000"),
        ({"query": [1, 2, 3], "k": 2.5, "tenant": "acme"}, vecdb.InvalidArgumentError, "integer"),
        ({"query": [1, 2, 3], "tenant": "nobody"}, vecdb.TenantNotFound, "'nobody'"),
        ({"query": [1, 2, 3], "tenant": 7}, vecdb.InvalidArgumentError, "tenant 7"),
        ({"query": [1, 2, 3], "tenant": "acme", "where": {"a": {"$regex": "x"}}}, vecdb.InvalidArgumentError, "regex"),
        ({"query": [1, 2, 3], "tenant": "acme", "where": "a=1"}, vecdb.InvalidArgumentError, "JSON object"),
    ],
)
def test_bad_searches_raise(col, kwargs, error, match):
    with pytest.raises(error, match=match):
        col.search(**kwargs)


def test_bad_batch_searches_raise(col):
    with pytest.raises(vecdb.InvalidArgumentError, match="empty"):
        col.search_batch(np.zeros((0, 3)), tenant="acme")
    with pytest.raises(vecdb.DimensionMismatch):
        col.search_batch(np.zeros((2, 4)), tenant="acme")


def test_grant_of_unknown_id_writes_nothing(col):
    with pytest.raises(vecdb.NotFoundError, match="id 42"):
        col.grant([1, 42], "beta")
    assert col.tenants() == ["acme"]
    with pytest.raises(vecdb.TenantNotFound):
        col.search([0, 0, 0], tenant="beta")


def test_revoke_errors(col):
    with pytest.raises(vecdb.TenantNotFound, match="'zzz'"):
        col.revoke([1], "zzz")
    with pytest.raises(vecdb.NotFoundError, match="id 9"):
        col.revoke([9], "acme")
    _unchanged(col)


@pytest.mark.parametrize("name", ["", "has space", "-lead", ".hidden", "a" * 129, None, 5, "é"])
def test_invalid_collection_names(db, name):
    with pytest.raises(vecdb.InvalidArgumentError, match="invalid collection name"):
        db.create_collection(name, dim=3)


@pytest.mark.parametrize(("dim", "metric", "index"), [(0, "l2", "flat"), (3, "hamming", "flat"), (3, "l2", "nope"),
                                                      (True, "l2", "flat"), (10**6, "l2", "flat")])
def test_invalid_collection_parameters(db, dim, metric, index):
    with pytest.raises(vecdb.InvalidArgumentError):
        db.create_collection("c", dim=dim, metric=metric, index=index)
    assert db.list_collections() == []


def test_unknown_collection(db):
    with pytest.raises(vecdb.CollectionNotFound, match="'ghost'"):
        db.collection("ghost")
    with pytest.raises(vecdb.NotFoundError):
        db.drop_collection("ghost")


def test_errors_carry_grpc_codes_and_are_vecdb_errors():
    for cls in (vecdb.NotFoundError, vecdb.InvalidArgumentError, vecdb.AlreadyExistsError,
                vecdb.PermissionDeniedError, vecdb.TenantNotFound, vecdb.DimensionMismatch):
        assert issubclass(cls, vecdb.VecDBError) and cls.grpc_code != "UNKNOWN"
    assert str(vecdb.TenantNotFound("tenant 'x' not found")) == "tenant 'x' not found"


def test_open_rejects_bad_cache_bytes(tmp_path):
    with pytest.raises(vecdb.InvalidArgumentError):
        vecdb.open(tmp_path / "x", cache_bytes=-1)
