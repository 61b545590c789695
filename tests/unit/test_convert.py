"""server/convert.py: every to_proto_* / from_proto_* pair round-trips, bad wire data is a typed error."""

from __future__ import annotations

import numpy as np
import pytest

from server import convert as cv
from vecdb import errors
from vecdb._proto.v1 import types_pb2, vecdb_pb2
from vecdb.types import CollectionInfo, Record, SearchResult


def test_vectors_round_trip_as_little_endian_float32():
    arr = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    msg = cv.to_proto_vectors(arr)
    assert msg.dim == 3 and len(msg.data) == 5 * 3 * 4
    assert msg.data == arr.astype("<f4").tobytes()
    back = cv.from_proto_vectors(msg)
    assert back.dtype == np.float32 and back.shape == (5, 3)
    np.testing.assert_array_equal(back, arr)


def test_vectors_from_float64_and_lists():
    msg = cv.to_proto_vectors(np.array([[1.0, 2.0]], dtype=np.float64))
    np.testing.assert_array_equal(cv.from_proto_vectors(msg), [[1.0, 2.0]])


@pytest.mark.parametrize("msg", [types_pb2.Vectors(dim=0, data=b""), types_pb2.Vectors(dim=3, data=b"\0" * 8)])
def test_vectors_with_bad_shape_are_invalid_argument(msg):
    with pytest.raises(errors.InvalidArgumentError):
        cv.from_proto_vectors(msg)


def test_to_proto_vectors_needs_two_dimensions():
    with pytest.raises(errors.InvalidArgumentError, match="2-d"):
        cv.to_proto_vectors(np.zeros(3, dtype=np.float32))


def test_query_round_trip_and_bad_length():
    q = np.array([0.5, -1.0, 3.25], dtype=np.float32)
    np.testing.assert_array_equal(cv.from_proto_query(cv.to_proto_query(q)), q)
    with pytest.raises(errors.InvalidArgumentError, match="float32"):
        cv.from_proto_query(b"\0" * 5)


def test_json_helpers():
    assert cv.to_proto_json(None) == "" and cv.from_proto_json("", "x") is None
    assert cv.from_proto_json(cv.to_proto_json({"a": [1, "b"]}), "x") == {"a": [1, "b"]}
    with pytest.raises(errors.InvalidArgumentError, match="where_json is not valid JSON"):
        cv.from_proto_json("{nope", "where_json")
    with pytest.raises(errors.InvalidArgumentError, match="JSON"):
        cv.to_proto_json({"x": float("nan")})


@pytest.mark.parametrize("key", ["tenant", "k", "where", "query", "not an identifier", ""])
def test_options_may_not_smuggle_search_arguments(key):
    with pytest.raises(errors.InvalidArgumentError, match="search option"):
        cv.from_proto_options({key: '"globex"'})


def test_options_round_trip_json_values_and_bare_strings():
    opts = {"budget": 64, "exact": True, "mode": "fast", "ratio": 0.5}
    wire = cv.to_proto_options(opts)
    assert all(isinstance(v, str) for v in wire.values())
    assert cv.from_proto_options(wire) == opts
    assert cv.from_proto_options({"mode": "fast"}) == {"mode": "fast"}  # bare strings from other languages


@pytest.mark.parametrize("tenants, expected", [
    (None, None),
    ("acme", "acme"),
    (["acme", ["acme", "globex"]], [["acme"], ["acme", "globex"]]),
    ([["globex", "acme"], "acme"], [["globex", "acme"], ["acme"]]),
])
def test_tenants_round_trip(tenants, expected):
    req = vecdb_pb2.UpsertRequest(ids=[1, 2], **cv.to_proto_tenants(tenants))
    assert cv.from_proto_tenants(req) == expected


def test_identical_per_vector_tenants_travel_once():
    wire = cv.to_proto_tenants([["a", "b"], ["a", "b"]])
    assert wire == {"tenants": ["a", "b"]}
    assert cv.from_proto_tenants(vecdb_pb2.UpsertRequest(ids=[1, 2], **wire)) == [["a", "b"], ["a", "b"]]
    assert cv.from_proto_tenants(vecdb_pb2.UpsertRequest(ids=[1, 2], **cv.to_proto_tenants(["a", "a"]))) == "a"


def test_shared_tenant_field_applies_to_every_vector():
    req = vecdb_pb2.UpsertRequest(ids=[1, 2, 3], tenants=["a", "b"])
    assert cv.from_proto_tenants(req) == [["a", "b"]] * 3


def test_tenant_names_covers_every_form():
    assert cv.tenant_names(None, 2) == {"default"}
    assert cv.tenant_names("a", 2) == {"a"}
    assert cv.tenant_names(["a", ["b", "c"]], 2) == {"a", "b", "c"}


def test_bad_tenants_argument():
    with pytest.raises(errors.InvalidArgumentError):
        cv.to_proto_tenants(5)
    with pytest.raises(errors.InvalidArgumentError, match="position 1"):
        cv.to_proto_tenants(["a", [1]])


def test_metadata_round_trip():
    metas = [{"lang": "en"}, None, {"n": 1.5, "tags": ["x"]}]
    wire = cv.to_proto_metadata(metas)
    assert cv.from_proto_metadata(wire) == metas
    assert cv.to_proto_metadata(None) == [] and cv.from_proto_metadata([]) is None
    with pytest.raises(errors.InvalidArgumentError):
        cv.to_proto_metadata({"lang": "en"})
    with pytest.raises(errors.InvalidArgumentError, match="metadata at position 0"):
        cv.from_proto_metadata(["{bad"])


def test_collection_info_round_trip():
    info = CollectionInfo(name="docs", dim=384, metric="cosine", index="flat", id=7, options={"m": 16})
    assert cv.from_proto_collection_info(cv.to_proto_collection_info(info)) == info


def test_record_round_trip_and_tenant_filter():
    rec = Record(id=2**63 - 1, vector=np.array([1, 2], dtype=np.float32), tenants=["acme", "globex"],
                 metadata={"a": 1})
    back = cv.from_proto_record(cv.to_proto_record(rec))
    assert (back.id, back.tenants, back.metadata) == (rec.id, rec.tenants, rec.metadata)
    np.testing.assert_array_equal(back.vector, rec.vector)
    assert back.vector.flags.writeable
    assert cv.from_proto_record(cv.to_proto_record(rec, visible={"acme"})).tenants == ["acme"]


def test_search_result_round_trip():
    res = SearchResult(np.array([3, 1], dtype=np.int64), np.array([0.1, 0.2], dtype=np.float32), complete=False)
    back = cv.from_proto_search_result(cv.to_proto_search_result(res))
    assert back.ids.dtype == np.int64 and back.distances.dtype == np.float32
    np.testing.assert_array_equal(back.ids, res.ids)
    np.testing.assert_array_equal(back.distances, res.distances)
    assert back.complete is False


def test_search_batch_round_trip_keeps_padding():
    ids = np.array([[1, 2, -1], [4, -1, -1]], dtype=np.int64)
    dists = np.array([[0.1, 0.2, np.inf], [0.3, np.inf, np.inf]], dtype=np.float32)
    back_ids, back_dists = cv.from_proto_search_batch(cv.to_proto_search_batch(ids, dists))
    np.testing.assert_array_equal(back_ids, ids)
    np.testing.assert_array_equal(back_dists, dists)
    assert back_ids.flags.writeable and back_dists.flags.writeable


def test_ids_over_int64_stay_python_ints_for_the_library_to_reject():
    assert cv.from_proto_ids([1, 2]).dtype == np.int64
    assert cv.from_proto_ids([2**64 - 1]).dtype == object


@pytest.mark.parametrize("cls", errors.ALL_ERRORS)
def test_every_error_class_round_trips_through_a_status(cls):
    code, message, trailing = cv.to_status(cls("bad thing 'x'"))
    err = cv.from_status(code, message, trailing)
    assert type(err) is cls and str(err) == "bad thing 'x'"


def test_status_without_class_name_maps_by_code():
    assert type(cv.from_status("NOT_FOUND", "gone")) is errors.NotFoundError
    assert type(cv.from_status("RESOURCE_EXHAUSTED", "big")) is errors.ResourceExhaustedError
    assert type(cv.from_status("DEADLINE_EXCEEDED", "slow")) is errors.UnavailableError
    assert type(cv.from_status("UNIMPLEMENTED", "?")) is errors.VecDBError


def test_status_with_unknown_or_inconsistent_class_name_trusts_the_code():
    assert type(cv.from_status("NOT_FOUND", "x", [(cv.ERROR_CLASS_KEY, "Bogus")])) is errors.NotFoundError
    named = [(cv.ERROR_CLASS_KEY, "TenantNotFound")]
    assert type(cv.from_status("INVALID_ARGUMENT", "x", named)) is errors.InvalidArgumentError


def test_qa_hit_round_trip_keeps_unset_optionals_unset():
    from vecdb.qa_memory import Hit

    full = Hit(id=5, question="q?", answer="a", score=0.75, source="faq.md", offset=3, passage_id=9,
               metadata={"lang": "en"}, strength=2.0, created_at=1.5, recalled_at=2.5, retention=0.5,
               links=[1, 2], merged_from=[7], versions=3)
    assert cv.from_proto_hit(cv.to_proto_hit(full)) == full
    bare = Hit(id=6, question="q", answer="a", score=None)
    assert cv.from_proto_hit(cv.to_proto_hit(bare)) == bare


def test_qa_passage_and_ask_result_round_trip():
    from vecdb.qa_memory import AskResult, Hit, Passage

    passage = Passage(id=1, text="t", score=0.5, source=None, metadata={}, links=[4])
    assert cv.from_proto_passage(cv.to_proto_passage(passage)) == passage
    res = AskResult(query="q", answer="a", answer_id=2, hits=[Hit(id=2, question="q", answer="a", score=0.9)],
                    passages=[passage], confidence=0.9, margin=0.3, chain=[{"hop": 0, "id": 2}])
    assert cv.from_proto_ask_result(cv.to_proto_ask_result(res)) == res
    empty = AskResult(query="q", answer=None, answer_id=None, hits=[], passages=[])
    assert cv.from_proto_ask_result(cv.to_proto_ask_result(empty)) == empty


def test_json_lists():
    assert cv.from_proto_json_list(cv.to_proto_json_list(["a", None, {"source": "x"}], "sources"), "s") == \
        ["a", None, {"source": "x"}]
    assert cv.to_proto_json_list(None, "sources") == [] and cv.from_proto_json_list([], "s") is None
    with pytest.raises(errors.InvalidArgumentError):
        cv.to_proto_json_list("abc", "sources")
